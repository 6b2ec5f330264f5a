//! Any configuration file (and environment) is laid over the defaults or refused with an
//! error, never a panic; any SugarCRM mapping file is read or refused; a database URL's
//! password, once masked, stays masked.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/atiende/src/config/layers.rs"]
mod layers;

#[allow(dead_code)]
#[path = "../../crates/atiende/src/import/sugarcrm/mapping.rs"]
mod mapping;

use libfuzzer_sys::fuzz_target;

const DEFAULTS: &str = include_str!("../../crates/atiende/config.default.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The file, then after a NUL the environment as `NAME=value` lines.
    let (file, env) = text.split_once('\0').unwrap_or((text, ""));
    let env = |name: &str| {
        env.lines()
            .find_map(|l| l.split_once('=').filter(|(k, _)| *k == name))
            .map(|(_, v)| v.to_string())
    };
    let _ = layers::layered(DEFAULTS, Some(("atiende.toml", file)), &env);
    let _ = toml::from_str::<mapping::Mapping>(file);
    let masked = layers::redact_url_password(file);
    assert_eq!(layers::redact_url_password(&masked), masked);
});

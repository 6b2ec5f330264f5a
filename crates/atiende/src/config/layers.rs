//! The configuration as text: the file's TOML laid over the embedded defaults, the
//! environment over both, and passwords masked in a database URL. Nothing here knows the
//! settings' types, so the fuzz target `config_file` compiles this file on its own.

use anyhow::{Context, Result, bail};

/// The defaults, then the file (its name, for messages, and its text), then `PREFIX_*`
/// variables of the environment: each overrides the one before. An unknown setting in the
/// file is an error that names it, so that a misspelt key is never silently ignored.
pub fn layered(
    defaults: &str,
    file: Option<(&str, &str)>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<toml::Table> {
    let mut table: toml::Table = defaults.parse().context("embedded defaults")?;
    if let Some((name, text)) = file {
        let overrides: toml::Table = text.parse().with_context(|| format!("parsing {name}"))?;
        for (key, value) in overrides {
            match (table.get_mut(&key), value) {
                (None, _) => bail!("{name}: unknown setting `{key}`"),
                // A table in the file changes only the keys it names.
                (Some(toml::Value::Table(defaults)), toml::Value::Table(given)) => {
                    for (inner, value) in given {
                        if !defaults.contains_key(&inner) {
                            bail!("{name}: unknown setting `{key}.{inner}`");
                        }
                        defaults.insert(inner, value);
                    }
                }
                (Some(slot), value) => *slot = value,
            }
        }
    }
    apply_env(&mut table, "ATIENDE", env)?;
    Ok(table)
}

/// Overrides each plain value with `PREFIX_KEY` from the environment, and each plain value of a
/// table with `PREFIX_TABLE_KEY` (e.g. `ATIENDE_META_APP_SECRET`); a list takes a TOML list.
fn apply_env(
    table: &mut toml::Table,
    prefix: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let var = format!("{prefix}_{}", key.to_uppercase());
        if let Some(toml::Value::Table(inner)) = table.get_mut(&key) {
            apply_env(inner, &var, env)?;
            continue;
        }
        let Some(raw) = env(&var) else { continue };
        let value = match table.get(&key) {
            Some(toml::Value::Integer(_)) => toml::Value::Integer(
                raw.trim()
                    .parse()
                    .with_context(|| format!("{var} must be a whole number"))?,
            ),
            Some(toml::Value::Boolean(_)) => toml::Value::Boolean(
                raw.trim()
                    .parse()
                    .with_context(|| format!("{var} must be true or false"))?,
            ),
            // A list is written as TOML writes it: `["10.0.0.0/8"]`, `[]`.
            Some(toml::Value::Array(_)) => format!("value = {raw}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("value"))
                .filter(toml::Value::is_array)
                .with_context(|| format!("{var} must be a list, as in [\"a\", \"b\"]"))?,
            _ => toml::Value::String(raw),
        };
        table.insert(key, value);
    }
    Ok(())
}

/// `postgres://user:secret@host/db` → `postgres://user:********@host/db`.
/// The URL with its password masked, wherever it is given: in the user part (the last `@`
/// ends it, since a password may hold one) or as a `password=` parameter (libpq style).
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let mut out = match rest.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:********@{host}"),
            None => format!("{scheme}://{rest}"),
        },
        None => format!("{scheme}://{rest}"),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=********"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

//! Any event the telephone system posts, as a form or as JSON, is read or refused with an
//! error: never a panic.
#![no_main]

#[path = "../../crates/channels/src/cti.rs"]
mod cti;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cti::parse_event(false, data);
    let _ = cti::parse_event(true, data);
});

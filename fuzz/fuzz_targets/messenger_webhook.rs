//! Any body posted to the Messenger/Instagram webhook is read or refused with an error; long
//! answers split at character boundaries.
#![no_main]

#[allow(dead_code)]
mod chat;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chat::messenger::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        for part in chat::messenger::split(text, 2000) {
            assert!(part.chars().count() <= 2000);
        }
    }
});

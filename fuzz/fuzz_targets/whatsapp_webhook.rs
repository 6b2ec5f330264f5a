//! Any body posted to the WhatsApp webhook (once its signature holds) is read or refused with
//! an error: never a panic.
#![no_main]

#[allow(dead_code)]
mod chat;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chat::whatsapp::parse(data);
});

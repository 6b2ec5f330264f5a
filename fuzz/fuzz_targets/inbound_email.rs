//! Any bytes a mail server hands us go through parsing and the procedure's mail decisions
//! without panicking, and always yield a message id (nothing is dropped).
#![no_main]

#[path = "../../crates/channels/src/email/parse.rs"]
mod parse;

use atiende_domain::email::{folio_in_subject, header_safe, reply_subject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let email = parse::parse(data);
    assert!(!email.message_id.is_empty());
    let _ = email.is_automatic(&["cap@udgvirtual.udg.mx".to_string()]);
    let _ = email.answered_ids();
    if let Some(folio) = folio_in_subject(&email.subject) {
        let subject = reply_subject(&folio, &email.subject);
        assert!(!header_safe(&subject).contains(['\r', '\n']));
    }
    for a in &email.attachments {
        assert!(!a.filename.contains(['\r', '\n']));
    }
});

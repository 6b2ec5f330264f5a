//! Email: MIME parsing ([`parse`]), reading mailboxes over IMAP ([`imap`]) and sending over
//! SMTP ([`smtp`]). What mail means to the procedure is decided in `atiende_domain::email`; how it
//! is stored, in `atiende_store::email`.

pub mod imap;
pub mod jobs;
pub mod parse;
pub mod smtp;
pub mod trust;

pub use parse::parse;

//! Email: MIME parsing ([`parse`]), reading mailboxes over IMAP ([`imap`]) and sending over
//! SMTP ([`smtp`]), signing in by password or by an OAuth 2.0 token ([`oauth`]). What mail means to the procedure is decided in `atiende_domain::email`; how it
//! is stored, in `atiende_store::email`.

pub mod imap;
pub mod jobs;
pub mod oauth;
pub mod parse;
pub mod smtp;
pub mod trust;

pub use parse::parse;

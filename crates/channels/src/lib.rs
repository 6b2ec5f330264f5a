//! atiende's channels: where messages and calls come from and go to. Each provider is one
//! module ([`email`], [`chat`] (WhatsApp, Messenger and Instagram through Meta's Graph API), [`cti`] for phone calls), with
//! its background work beside it (`email::jobs`: polling and sending; `chat::jobs`: sending
//! replies); [`http`] is the client OAuth 2.0 libraries call. The worker in `atiende-jobs` runs that work in its rounds.

pub mod chat;
pub mod cti;
pub mod email;
pub mod http;
#[cfg(feature = "testing")]
pub mod testing;

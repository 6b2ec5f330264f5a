//! atiende's channels: where messages come from and go to. Each provider is one module, with
//! its background work beside it (`email::jobs`: polling and sending; `meta::jobs`: sending
//! replies); the worker in `atiende-jobs` runs that work in its rounds.

pub mod email;
pub mod meta;

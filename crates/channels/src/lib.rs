//! atiende's channels: where messages and calls come from and go to. Each provider is one
//! module ([`email`], [`meta`], [`cti`] for phone calls), with
//! its background work beside it (`email::jobs`: polling and sending; `meta::jobs`: sending
//! replies); the worker in `atiende-jobs` runs that work in its rounds.

pub mod cti;
pub mod email;
pub mod meta;

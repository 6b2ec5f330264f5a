//! atiende's channels: where messages come from and go to. Each provider is one module; the
//! [`worker`] runs their background work (polling, sending) claimed through the database, so
//! several instances never do the same job twice.

pub mod email;
pub mod meta;
pub mod worker;

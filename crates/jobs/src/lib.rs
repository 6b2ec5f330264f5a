//! atiende's background work. Each job waits in the store's outbox (written in the same
//! transaction as the change that causes it) or runs on a schedule; the [`worker`] claims it
//! in the database (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the single writer on SQLite) and
//! records how it ended through one call, `Store::finish_outbox`, so several instances against
//! one PostgreSQL never run a job twice.
//!
//! - [`surveys`]: closings become survey invitations once their delay has passed.
//! - [`chat`]: media of inbound chat messages, and the names of people known only by an id.
//! - [`periodic`]: nonconformity detection, retention, the queue counters' fold.
//! - The channels' own work — polling mailboxes, sending mail and chat replies — lives with the
//!   channels (`atiende_channels::email::jobs`, `atiende_channels::chat::jobs`); the worker
//!   calls it in the same rounds.

pub mod chat;
pub mod periodic;
pub mod surveys;
pub mod webhooks;
pub mod worker;

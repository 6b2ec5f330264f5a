//! Storage for atiende: SQLite by default, PostgreSQL for several instances, behind one API.
//!
//! The SQL is written once (both engines accept `$1` placeholders, `ON CONFLICT`, `RETURNING`);
//! each real difference between the engines lives in [`db`] and in the two migration folders,
//! which a test keeps in step. Every write that the procedure cares about runs in one
//! transaction with its audit record: the domain decides, this crate persists.

/// The most rows one page of a list holds. Lists take one row more than a page at most, so
/// that a caller asking for a full page and one more learns whether a next page exists.
pub const MAX_PAGE: i64 = 200;

/// The rows a list reads for `limit`: at least one, at most a full page and one more.
pub(crate) fn page_rows(limit: i64) -> i64 {
    limit.clamp(1, MAX_PAGE + 1)
}

pub mod attachments;
pub mod audit;
pub mod bulk;
pub mod calls;
pub mod canned_responses;
pub mod chat;
pub mod contacts;
pub mod db;
pub mod demo;
pub mod email;
pub mod error;
pub mod external_services;
pub mod held;
pub mod identity_providers;
pub mod import;
pub mod incidents;
pub mod indicators;
pub mod intake;
pub mod knowledge;
pub mod leases;
pub mod links;
pub mod macros;
pub mod mail_auth;
pub mod migrate;
pub mod nonconformities;
pub mod notification_emails;
pub mod notifications;
pub mod outbox;
pub mod portal;
pub mod presence;
pub mod privacy;
pub mod public;
pub mod queue;
mod replies;
pub mod saved_views;
pub mod search;
pub mod second_factor;
pub mod secrets;
pub mod seed;
pub mod service_levels;
pub mod settings;
pub mod suggestions;
pub mod surveys;
pub mod tx;
pub mod units;
pub mod users;
pub mod web_chat;
pub mod webhooks;

pub use db::{Engine, Store};
pub use error::StoreError;

use atiende_domain::ids::UserId;
use atiende_domain::user::StaffUser;

/// Who is making a change, for the rules that depend on it and for the audit trail.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Staff(&'a StaffUser),
    /// atiende itself: first run, channels, background jobs.
    System,
}

impl Actor<'_> {
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Actor::Staff(u) => Some(u.id),
            Actor::System => None,
        }
    }
}

#[cfg(feature = "testing")]
pub mod testing;

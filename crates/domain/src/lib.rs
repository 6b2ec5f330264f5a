//! The CAP procedure as types and rules, with no I/O.
//!
//! Everything here is pure: the storage crate loads what a rule needs, calls it, and writes what it
//! decided. A rule lives in exactly one place:
//!
//! - [`incident`]: the incident, its status and the procedure's rules (close, derive, reopen…);
//! - [`derivation`]: handing an incident to a unit and the unit's answer;
//! - [`email`]: when mail opens an incident, how replies thread, headers that cannot be injected;
//! - [`mail_auth`]: how a mailbox signs in (password, or an OAuth 2.0 token by XOAUTH2 or
//!   OAUTHBEARER), providers' presets, when a token is refreshed;
//! - [`chat`]: WhatsApp, Messenger and Instagram messages, delivery states, the reply window;
//! - [`call`]: phone calls reported by the telephone system, and which ones were missed;
//! - [`contact`]: the people who contact the CAP and their identifiers (parsed, normalised);
//! - [`classification`]: channels, user types, incident types, programme lines;
//! - [`access`]: which role may do what, and what a unit responsible may see;
//! - [`folio`]: the `CAP-YYYY-NNNNNN` numbers and the institution's calendar year;
//! - [`indicators`]: definitions derived from the timeline (first-contact resolution);
//! - [`import`]: how rosters' columns and values map to contacts (SugarCRM's exports are
//!   read and mapped with the import itself, in the binary);
//! - [`knowledge`]: articles, review dates and the search query language;
//! - [`canned_response`]: the CAP's ready answers and the variables they fill;
//! - [`macros`]: a frequent case's steps (classify, answer, notes, close or derive) as one;
//! - [`nonconformity`]: the PNC criteria, business days and the register's treatment;
//! - [`privacy`]: personal data — ARCO rights, blocking and suppression, the access log;
//! - [`second_factor`]: one-time codes (TOTP) and recovery codes of local accounts;
//! - [`sign_in`]: who an identity provider's answer makes a person, when a password is refused;
//! - [`suggestion`]: topic, type and criticality suggested from the CAP's own history;
//! - [`survey`]: the satisfaction survey: questionnaire versions, who is asked, answers;
//! - [`calendar`]: local days in the institution's time zone; [`period`]: months, quarters,
//!   semesters and years of measurement;
//! - [`audit`], [`user`], [`unit`], [`ids`], [`error`].

pub mod access;
pub mod attachment;
pub mod audit;
pub mod business_hours;
pub mod calendar;
pub mod call;
pub mod canned_response;
pub mod chat;
pub mod classification;
pub mod contact;
pub mod derivation;
pub mod email;
pub mod error;
pub mod external_service;
pub mod folio;
pub mod ids;
pub mod import;
pub mod incident;
pub mod indicators;
pub mod knowledge;
pub mod macros;
pub mod mail_auth;
pub mod nonconformity;
pub mod notification;
pub mod period;
pub mod privacy;
pub mod second_factor;
pub mod secret;
pub mod service_level;
pub mod sign_in;
pub mod suggestion;
pub mod survey;
pub mod unit;
pub mod user;
pub mod webhook;

pub use error::{FieldError, RuleError};

/// The institution's time zone: periods and folio years are counted in it, never in UTC.
pub const DEFAULT_TIME_ZONE: chrono_tz::Tz = chrono_tz::America::Mexico_City;

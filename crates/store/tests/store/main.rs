//! The store on both engines: the procedure's rules as they reach the database, its upkeep,
//! imports, search and upgrades. One test binary for all of them: one link instead of one per
//! file, and every test free to run beside any other.

mod attachments;
mod canned_responses;
mod chat_and_calls;
mod email;
mod import;
mod indicators;
mod intake;
mod layout;
mod leases;
mod macros;
mod nonconformities;
mod notifications;
mod portal;
mod presence;
mod privacy;
mod search;
mod service_levels;
mod storage;
mod suggestions;
mod surveys;
mod upgrade;
mod upkeep;
mod web_chat;

//! The JSON API, called in process through the whole router, on both engines.

mod attachments_api;
mod helpers;
mod indicators;
mod knowledge;
mod knowledge_api;
mod live;
mod mailbox_consent;
mod malformed;
mod pages;
mod paging;
mod privacy;
mod privacy_api;
mod public;
mod quality_api;
mod roles;
mod scope;
mod second_factor;
mod sessions;
mod settings_api;
mod sso;
mod story;
mod surveys;
mod tokens;
mod vocabulary;
mod webhooks;
mod webhooks_admin;

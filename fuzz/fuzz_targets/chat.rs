//! The providers' webhook parsers, compiled from their own files (shared by the chat targets).

#[path = "../../crates/channels/src/chat/messenger.rs"]
pub mod messenger;
#[path = "../../crates/channels/src/chat/payload.rs"]
pub mod payload;
#[path = "../../crates/channels/src/chat/whatsapp.rs"]
pub mod whatsapp;

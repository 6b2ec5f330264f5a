//! The outside services atiende depends on to receive and answer — each mailbox's reading and
//! sending, each chat account's sending — named so that an administrator recognises them, and
//! the rule for telling administrators when one keeps failing.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::Provider;
use crate::classification::coded_enum;

coded_enum!(
    /// What atiende does with an outside service.
    ExternalServiceKind {
        MailboxRead = "mailbox_read", "Lectura del buzón", "Mailbox reading";
        MailboxSend = "mailbox_send", "Envío de correo", "Mail sending";
        ChatSend = "chat_send", "Envío de mensajes", "Message sending";
    }
);

/// How long a service may keep failing before administrators are told, unless configured.
pub const DEFAULT_ALERT_MINUTES: i64 = 15;

/// One outside service: its key (one per mailbox and direction, one per chat account), what
/// atiende does with it, and the name an administrator knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalService {
    pub key: String,
    pub kind: ExternalServiceKind,
    pub name: String,
}

impl ExternalService {
    pub fn mailbox_read(mailbox: i64, address: &str) -> ExternalService {
        ExternalService {
            key: format!("mailbox_read:{mailbox}"),
            kind: ExternalServiceKind::MailboxRead,
            name: address.to_string(),
        }
    }

    pub fn mailbox_send(mailbox: i64, address: &str) -> ExternalService {
        ExternalService {
            key: format!("mailbox_send:{mailbox}"),
            kind: ExternalServiceKind::MailboxSend,
            name: address.to_string(),
        }
    }

    /// A chat account's sending through the provider's API (a WhatsApp number's id, a page).
    pub fn chat_send(provider: Provider, account: &str) -> ExternalService {
        ExternalService {
            key: format!("chat_send:{}:{account}", provider.code()),
            kind: ExternalServiceKind::ChatSend,
            name: format!(
                "{} {account}",
                provider.label(crate::classification::Lang::Es)
            ),
        }
    }
}

/// Whether a run of failures that began `failing_since` has lasted long enough to tell
/// administrators (`alert_after`), as of `now`. A run is told once.
pub fn worth_telling(
    failing_since: DateTime<Utc>,
    noticed: bool,
    alert_after: Duration,
    now: DateTime<Utc>,
) -> bool {
    !noticed && now - failing_since >= alert_after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_is_told_once_after_the_configured_time() {
        let began = DateTime::from_timestamp(1_800_000_000, 0).expect("moment");
        let after = Duration::minutes(15);
        assert!(!worth_telling(
            began,
            false,
            after,
            began + Duration::minutes(14)
        ));
        assert!(worth_telling(
            began,
            false,
            after,
            began + Duration::minutes(15)
        ));
        assert!(!worth_telling(
            began,
            true,
            after,
            began + Duration::hours(3)
        ));
    }

    #[test]
    fn each_mailbox_direction_and_chat_account_is_a_service_of_its_own() {
        let read = ExternalService::mailbox_read(3, "cap@udgvirtual.udg.mx");
        let send = ExternalService::mailbox_send(3, "cap@udgvirtual.udg.mx");
        let chat = ExternalService::chat_send(Provider::Whatsapp, "106540352242922");
        assert_ne!(read.key, send.key);
        assert_eq!(chat.key, "chat_send:whatsapp:106540352242922");
        assert_eq!(chat.name, "WhatsApp 106540352242922");
    }
}

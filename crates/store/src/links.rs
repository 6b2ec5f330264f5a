//! One-time links — a survey invitation, the link to a person's own file, the portal's sign-in
//! link — are made when their
//! message leaves, not when it is queued. The queued message (its outbox payload, its copy
//! among the sent messages) carries the link with [`TOKEN_SLOT`] where the token goes, so
//! whoever reads the outbox or the database cannot open the person's file or answer in their
//! place. At send time a fresh token fills the slot and only its hash is kept; a retried send
//! makes a new token, and the one before stops working.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::db::{Store, ms, now};
use crate::error::{Result, StoreError};
use crate::users::{random_token, token_hash};

/// Stands for the token in a queued message's text.
pub const TOKEN_SLOT: &str = "{{enlace}}";

/// The record a one-time link opens, named in the queued message that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "purpose", content = "id")]
pub enum OneTimeLink {
    /// `/encuesta/<token>`: a row of `surveys`.
    Survey(i64),
    /// `/mis-datos/<token>`: a row of `personal_data_requests`.
    PersonalFile(i64),
    /// `/mis-solicitudes/entrar/<token>`: a row of `portal_sign_ins`.
    PortalSignIn(i64),
}

/// The link as queued: the service's address and path, with the slot for the token.
pub(crate) fn link_with_slot(base_url: &str, path: &str) -> String {
    format!("{}/{path}/{TOKEN_SLOT}", base_url.trim_end_matches('/'))
}

/// A hash no token gives: what a link's row holds until its message is sent.
pub(crate) fn unusable_hash() -> String {
    token_hash(&random_token())
}

impl Store {
    /// Makes a fresh token for a link about to be sent and keeps only its hash. `None` when
    /// the link leads nowhere any more (the survey was answered or expired, the request
    /// expired): its message is not worth sending.
    async fn issue_link_token(&self, link: OneTimeLink) -> Result<Option<String>> {
        let token = random_token();
        let sql = match link {
            OneTimeLink::Survey(_) => {
                "UPDATE surveys SET token_hash = $1 WHERE id = $2 AND answered_at IS NULL AND expires_at > $3"
            }
            OneTimeLink::PersonalFile(_) => {
                "UPDATE personal_data_requests SET token_hash = $1 WHERE id = $2 AND expires_at > $3"
            }
            OneTimeLink::PortalSignIn(_) => {
                "UPDATE portal_sign_ins SET token_hash = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $3"
            }
        };
        let (OneTimeLink::Survey(id)
        | OneTimeLink::PersonalFile(id)
        | OneTimeLink::PortalSignIn(id)) = link;
        let changed = sqlx::query(sql)
            .bind(token_hash(&token))
            .bind(id)
            .bind(ms(now()))
            .execute(self.writer())
            .await?
            .rows_affected();
        Ok((changed == 1).then_some(token))
    }

    /// The message with every [`TOKEN_SLOT`] filled by a fresh token of its link, ready to
    /// leave; a message without a link comes back as it is. `None`: the link leads nowhere
    /// any more.
    pub async fn with_one_time_link<T: Serialize + DeserializeOwned>(
        &self,
        link: Option<OneTimeLink>,
        message: T,
    ) -> Result<Option<T>> {
        let Some(link) = link else {
            return Ok(Some(message));
        };
        let Some(token) = self.issue_link_token(link).await? else {
            return Ok(None);
        };
        let mut value = serde_json::to_value(message).map_err(StoreError::corrupt)?;
        fill_slots(&mut value, &token);
        serde_json::from_value(value)
            .map(Some)
            .map_err(StoreError::corrupt)
    }
}

fn fill_slots(value: &mut serde_json::Value, token: &str) {
    match value {
        serde_json::Value::String(s) if s.contains(TOKEN_SLOT) => {
            *s = s.replace(TOKEN_SLOT, token);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| fill_slots(v, token)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| fill_slots(v, token)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_in_a_message_gets_the_token_and_nothing_else_changes() {
        let mut message = serde_json::json!({
            "text": format!("Abra https://cap.example/encuesta/{TOKEN_SLOT} hoy"),
            "parameters": ["CAP-2026-000001", format!("https://cap.example/encuesta/{TOKEN_SLOT}")],
            "mailbox_id": 3,
        });
        fill_slots(&mut message, "abc");
        assert_eq!(message["text"], "Abra https://cap.example/encuesta/abc hoy");
        assert_eq!(message["parameters"][0], "CAP-2026-000001");
        assert_eq!(message["parameters"][1], "https://cap.example/encuesta/abc");
        assert_eq!(message["mailbox_id"], 3);
    }

    #[test]
    fn a_link_names_its_record_in_the_queued_payload() {
        let json = serde_json::to_value(OneTimeLink::PersonalFile(7)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"purpose": "personal_file", "id": 7})
        );
    }
}

//! Messages held for a WhatsApp number, Facebook page or Instagram account that is not
//! configured here. Meta delivers a message once and does not retry a delivery answered 200, so
//! a mistyped account id must not lose what people wrote: the message is kept, administrators
//! see it waiting, and it becomes an incident as soon as its account is configured.

use atiende_domain::chat::{InboundChat, Provider};
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::db::{Store, from_ms, ms, now};
use crate::error::{Result, StoreError};

/// What is waiting for one account: administrators see it on the administration page.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldForAccount {
    pub provider: Provider,
    pub account_id: String,
    pub messages: i64,
    pub since: DateTime<Utc>,
}

impl Store {
    /// Keeps a message for an account not configured here; a delivery repeated by Meta is
    /// kept once.
    pub async fn hold_chat(&self, msg: &InboundChat) -> Result<()> {
        let payload = serde_json::to_string(msg).map_err(StoreError::corrupt)?;
        sqlx::query(
            "INSERT INTO held_chat_messages (provider, account_id, external_id, peer_id, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, external_id) DO NOTHING",
        )
        .bind(msg.provider.code())
        .bind(msg.account_id.clone())
        .bind(msg.external_id.clone())
        .bind(msg.peer_id.clone())
        .bind(payload)
        .bind(ms(now()))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// What is held, account by account, oldest first.
    pub async fn held_chats(&self) -> Result<Vec<HeldForAccount>> {
        let rows = sqlx::query(
            "SELECT provider, account_id, COUNT(*) AS n, MIN(received_at) AS since \
             FROM held_chat_messages GROUP BY provider, account_id ORDER BY since",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HeldForAccount {
                    provider: crate::db::code(r, "provider", Provider::from_code)?,
                    account_id: r.try_get("account_id")?,
                    messages: r.try_get("n")?,
                    since: from_ms(r.try_get("since")?)?,
                })
            })
            .collect()
    }

    /// Turns the held messages of every account now configured into incidents, in the order
    /// they arrived. Safe on several instances at once: a message is ingested by its provider
    /// id, once, and only then let go. Returns how many were released.
    pub async fn release_held_chats(
        &self,
        configured: impl Fn(Provider, &str) -> bool,
    ) -> Result<usize> {
        let rows = sqlx::query(
            "SELECT id, provider, account_id, payload FROM held_chat_messages ORDER BY id",
        )
        .fetch_all(self.reader())
        .await?;
        let mut released = 0;
        for r in rows {
            let provider = crate::db::code(&r, "provider", Provider::from_code)?;
            let account: String = r.try_get("account_id")?;
            if !configured(provider, &account) {
                continue;
            }
            let payload: String = r.try_get("payload")?;
            let msg: InboundChat = serde_json::from_str(&payload).map_err(StoreError::corrupt)?;
            match self.ingest_chat(&msg).await {
                // A message that can never be an incident (a malformed sender) is let go too.
                Ok(_) | Err(StoreError::Rule(_)) => {}
                Err(e) => return Err(e),
            }
            sqlx::query("DELETE FROM held_chat_messages WHERE id = $1")
                .bind(r.try_get::<i64, _>("id")?)
                .execute(self.writer())
                .await?;
            released += 1;
        }
        Ok(released)
    }
}

//! The OAuth 2.0 tokens of mailboxes that sign in by token: given when an administrator
//! connects the mailbox through the provider's consent, refreshed by whichever instance needs
//! one (under a lease, so that two instances never spend the same refresh token), and marked
//! revoked when the provider refuses the refresh token. Every token is sealed.

use atiende_domain::audit::EntityKind;
use atiende_domain::secret::Secret;
use sqlx::Row;

use crate::Actor;
use crate::audit::{Change, record};
use crate::db::{Store, ms, now};
use crate::error::{Result, StoreError};

/// A mailbox's tokens, opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthTokens {
    pub access_token: Secret,
    /// Empty when the provider gave none (a refresh then keeps the one on record).
    pub refresh_token: Secret,
    /// When the access token expires (Unix seconds), if the provider said.
    pub expires_at: Option<i64>,
}

impl Store {
    /// The tokens on record for a mailbox (empty when it was never connected).
    pub async fn mailbox_tokens(&self, mailbox: i64) -> Result<OAuthTokens> {
        let row = sqlx::query(
            "SELECT oauth_access_token, oauth_refresh_token, oauth_expires_at FROM mailboxes WHERE id = $1",
        )
        .bind(mailbox)
        .fetch_optional(self.writer())
        .await?
        .ok_or(StoreError::NotFound("mailbox"))?;
        Ok(OAuthTokens {
            access_token: Secret::new(
                self.sealer
                    .open(&row.try_get::<String, _>("oauth_access_token")?)?,
            ),
            refresh_token: Secret::new(
                self.sealer
                    .open(&row.try_get::<String, _>("oauth_refresh_token")?)?,
            ),
            expires_at: row
                .try_get::<Option<i64>, _>("oauth_expires_at")?
                .map(|ms| ms / 1000),
        })
    }

    /// Keeps the tokens an administrator's consent gave (`connected_by`: their login); a
    /// revoked grant is mended by this.
    pub async fn connect_mailbox(
        &self,
        actor: Actor<'_>,
        mailbox: i64,
        tokens: &OAuthTokens,
        connected_by: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE mailboxes SET oauth_access_token = $1, oauth_refresh_token = $2, oauth_expires_at = $3, \
             oauth_connected_at = $4, oauth_connected_by = $5, oauth_revoked_at = NULL, last_error = NULL \
             WHERE id = $6",
        )
        .bind(self.sealer.seal(tokens.access_token.expose()))
        .bind(self.sealer.seal(tokens.refresh_token.expose()))
        .bind(tokens.expires_at.map(|s| s * 1000))
        .bind(ms(now()))
        .bind(connected_by.to_string())
        .bind(mailbox)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("mailbox"));
        }
        let change = Change {
            entity: EntityKind::Unit,
            entity_id: format!("mailbox:{mailbox}"),
            action: "mailbox.connect",
            before: None,
            after: Some(serde_json::json!({ "connected_by": connected_by })),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps the tokens a refresh gave; a provider that sent no new refresh token leaves the
    /// one on record.
    pub async fn store_refreshed_tokens(&self, mailbox: i64, tokens: &OAuthTokens) -> Result<()> {
        sqlx::query(
            "UPDATE mailboxes SET oauth_access_token = $1, oauth_expires_at = $2, \
             oauth_refresh_token = CASE WHEN $3 = '' THEN oauth_refresh_token ELSE $3 END WHERE id = $4",
        )
        .bind(self.sealer.seal(tokens.access_token.expose()))
        .bind(tokens.expires_at.map(|s| s * 1000))
        .bind(self.sealer.seal(tokens.refresh_token.expose()))
        .bind(mailbox)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The provider refused the refresh token: the mailbox needs connecting again. Its tokens
    /// are dropped (they open nothing any more), and the trail says when.
    pub async fn mark_grant_revoked(&self, mailbox: i64, detail: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE mailboxes SET oauth_access_token = '', oauth_refresh_token = '', oauth_expires_at = NULL, \
             oauth_revoked_at = $1, last_error = $2 WHERE id = $3 AND oauth_revoked_at IS NULL",
        )
        .bind(ms(now()))
        .bind(detail.to_string())
        .bind(mailbox)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            let change = Change {
                entity: EntityKind::Unit,
                entity_id: format!("mailbox:{mailbox}"),
                action: "mailbox.revoked",
                before: None,
                after: Some(serde_json::json!({ "detail": detail })),
            };
            record(&mut tx, Actor::System, change).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

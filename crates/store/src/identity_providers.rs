//! Identity providers an administrator adds from the console (the configuration file's are
//! the web edge's to merge in): each kept whole, its client secret sealed like every secret.

use atiende_domain::audit::EntityKind;
use atiende_domain::secret::Secret;
use atiende_domain::sign_in::IdentityProvider;
use sqlx::Row;

use crate::Actor;
use crate::audit::{Change, record};
use crate::db::{Store, ms};
use crate::error::{Result, StoreError};

impl Store {
    /// The providers added in the console, by id.
    pub async fn identity_providers(&self) -> Result<Vec<IdentityProvider>> {
        let rows =
            sqlx::query("SELECT settings, client_secret FROM identity_providers ORDER BY id")
                .fetch_all(self.reader())
                .await?;
        rows.iter()
            .map(|r| {
                let mut p: IdentityProvider =
                    serde_json::from_str(&r.try_get::<String, _>("settings")?)
                        .map_err(StoreError::corrupt)?;
                p.client_secret = Secret::new(
                    self.sealer
                        .open(&r.try_get::<String, _>("client_secret")?)?,
                );
                Ok(p)
            })
            .collect()
    }

    /// Adds a provider or changes the one with its id; an empty client secret keeps the one
    /// on record. Refused when it could not work or would be unsafe (`IdentityProvider::check`).
    pub async fn save_identity_provider(
        &self,
        actor: Actor<'_>,
        provider: &IdentityProvider,
    ) -> Result<()> {
        provider.check().map_err(|_| {
            atiende_domain::RuleError::invalid("issuer", "invalid_identity_provider")
        })?;
        let mut tx = self.begin().await?;
        let before: Option<String> =
            sqlx::query("SELECT client_secret FROM identity_providers WHERE id = $1")
                .bind(provider.id.clone())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("client_secret"))
                .transpose()?;
        let secret = match (provider.client_secret.expose(), &before) {
            ("", Some(kept)) => kept.clone(),
            (given, _) => self.sealer.seal(given),
        };
        // The secret goes apart: serialised, a `Secret` is only asterisks.
        let settings = serde_json::to_string(provider).map_err(StoreError::corrupt)?;
        let now = ms(crate::db::now());
        let sql = if before.is_some() {
            "UPDATE identity_providers SET settings = $2, client_secret = $3, updated_at = $4 WHERE id = $1"
        } else {
            "INSERT INTO identity_providers (id, settings, client_secret, updated_at) VALUES ($1, $2, $3, $4)"
        };
        sqlx::query(sql)
            .bind(provider.id.clone())
            .bind(settings)
            .bind(secret)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: format!("identity_provider:{}", provider.id),
            action: "identity_provider.save",
            before: None,
            after: serde_json::to_value(provider).ok(),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_identity_provider(&self, actor: Actor<'_>, id: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let gone = sqlx::query("DELETE FROM identity_providers WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(StoreError::NotFound("identity provider"));
        }
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: format!("identity_provider:{id}"),
            action: "identity_provider.delete",
            before: None,
            after: None,
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }
}

//! Settings the staff edit in the console (the survey policy, indicator targets…), kept as
//! JSON under a key. What the configuration file holds is per instance; what is here is shared
//! by every instance of one database.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;

use crate::Actor;
use crate::audit::{Change, record};
use crate::db::Store;
use crate::error::{Result, StoreError};

/// Setting keys.
pub mod key {
    pub const SURVEY_POLICY: &str = "survey_policy";
    pub const INDICATOR_TARGETS: &str = "indicator_targets";
    pub const NONCONFORMITY_CRITERIA: &str = "nonconformity_criteria";
    pub const RETENTION_POLICY: &str = "retention_policy";
    /// Service-level targets (`atiende_domain::service_level::ServicePolicy`).
    pub const SERVICE_POLICY: &str = "service_policy";
    /// Business hours and days off (`atiende_domain::business_hours::BusinessCalendar`).
    pub const BUSINESS_CALENDAR: &str = "business_calendar";
    /// How staff sign in (`atiende_domain::sign_in::SignInPolicy`).
    pub const SIGN_IN_POLICY: &str = "sign_in_policy";
    /// Every incident written before service levels has its clocks (`Store::backfill_clocks`).
    pub const CLOCKS_BACKFILLED: &str = "clocks_backfilled";
    /// When `atiende demo` loaded its data: loading it again changes nothing.
    pub const DEMO_LOADED: &str = "demo_loaded";
}

pub(crate) async fn setting_in<T: DeserializeOwned + Default>(
    conn: &mut sqlx::AnyConnection,
    key: &str,
) -> Result<T> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => {
            serde_json::from_str(&r.try_get::<String, _>("value")?).map_err(StoreError::corrupt)
        }
        None => Ok(T::default()),
    }
}

impl Store {
    /// Sets how staff sign in. When passwords are refused, the break-glass account must be an
    /// enabled administrator, or nobody could reach the administration when the provider is
    /// down.
    pub async fn save_sign_in_policy(
        &self,
        actor: Actor<'_>,
        policy: &atiende_domain::sign_in::SignInPolicy,
    ) -> Result<()> {
        let mut policy = policy.clone();
        policy.break_glass_login = policy.break_glass_login.trim().to_lowercase();
        if policy.sso_required {
            let usable = self
                .user_by_login(&policy.break_glass_login)
                .await
                .ok()
                .is_some_and(|u| u.role == atiende_domain::user::Role::Admin && !u.disabled);
            if !usable {
                return Err(atiende_domain::RuleError::invalid(
                    "break_glass_login",
                    "not_an_enabled_admin",
                )
                .into());
            }
        }
        self.save_setting(actor, key::SIGN_IN_POLICY, &policy).await
    }

    /// A random secret of this installation, made the first time it is asked for and shared by
    /// every instance (e.g. the key that signs the "known device" cookie). Never shown.
    pub async fn installation_secret(&self, name: &str) -> Result<String> {
        let key = format!("secret.{name}");
        // Read first: it exists after the first login, so logins need no write for it.
        if let Some(value) = self.setting::<Option<String>>(&key).await? {
            return self.sealer.open(&value);
        }
        let made = self.sealer.seal(&crate::users::random_token());
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key.clone())
        .bind(serde_json::Value::String(made).to_string())
        .execute(self.writer())
        .await?;
        // Another instance may have made it first: whichever was stored is the secret.
        let value: Option<String> = setting_in(&mut *self.writer().acquire().await?, &key).await?;
        self.sealer
            .open(&value.ok_or(StoreError::NotFound("secret"))?)
    }

    /// A setting, or its default when never saved.
    pub async fn setting<T: DeserializeOwned + Default>(&self, key: &str) -> Result<T> {
        setting_in(&mut *self.reader().acquire().await?, key).await
    }

    pub async fn save_setting<T: Serialize>(
        &self,
        actor: Actor<'_>,
        key: &str,
        value: &T,
    ) -> Result<()> {
        let json = serde_json::to_value(value).map_err(StoreError::corrupt)?;
        let mut tx = self.begin().await?;
        let before: Option<serde_json::Value> =
            setting_in::<Option<serde_json::Value>>(&mut tx, key).await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key.to_string())
        .bind(json.to_string())
        .execute(&mut *tx)
        .await?;
        let change = Change {
            entity: atiende_domain::audit::EntityKind::Setting,
            entity_id: key.to_string(),
            action: "setting.update",
            before,
            after: Some(json),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(())
    }
}

//! The second factor of local-password accounts, stored: the authenticator app's secret, the
//! last time step accepted and the recovery codes' hashes. The rules (what a code is, when it
//! is accepted) are `atiende_domain::second_factor`'s; here each code is spent at most once,
//! atomically, whichever instance checks it.

use atiende_domain::audit::EntityKind;
use atiende_domain::ids::UserId;
use atiende_domain::second_factor::{
    accepted_step, new_recovery_codes, new_secret, recovery_code_hash,
};
use atiende_domain::user::StaffUser;
use sqlx::Row;

use crate::Actor;
use crate::audit::{Change, record};
use crate::db::{Store, ms};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

fn unix_now() -> u64 {
    u64::try_from(crate::db::now().timestamp()).unwrap_or_default()
}

fn wrong_code() -> StoreError {
    atiende_domain::RuleError::invalid("code", "wrong_code").into()
}

impl Store {
    /// Starts enrolment (again): a new secret waits until the person proves their app holds
    /// it. Returns the secret (base32) for the QR code and for typing in.
    pub async fn begin_second_factor(&self, user: UserId) -> Result<String> {
        let secret = new_secret();
        sqlx::query("UPDATE users SET totp_pending = $1 WHERE id = $2")
            .bind(self.sealer.seal(&secret))
            .bind(user.0)
            .execute(self.writer())
            .await?;
        Ok(secret)
    }

    /// The secret waiting for confirmation, if enrolment began.
    pub async fn pending_second_factor(&self, user: UserId) -> Result<Option<String>> {
        self.stored_pending(user)
            .await?
            .map(|stored| self.sealer.open(&stored))
            .transpose()
    }

    /// The pending secret as stored (sealed).
    async fn stored_pending(&self, user: UserId) -> Result<Option<String>> {
        Ok(sqlx::query("SELECT totp_pending FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(self.reader())
            .await?
            .map(|r| r.try_get::<Option<String>, _>("totp_pending"))
            .transpose()?
            .flatten())
    }

    /// Confirms enrolment with a code from the app: the secret becomes the account's, with
    /// new recovery codes, returned this once.
    pub async fn confirm_second_factor(&self, user: &StaffUser, code: &str) -> Result<Vec<String>> {
        let stored = self.stored_pending(user.id).await?.ok_or_else(wrong_code)?;
        let pending = self.sealer.open(&stored)?;
        let step = accepted_step(&pending, code, unix_now(), None).ok_or_else(wrong_code)?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = $1 \
             WHERE id = $2 AND totp_pending = $3",
        )
        .bind(step)
        .bind(user.id.0)
        .bind(stored)
        .execute(&mut *tx)
        .await?;
        let codes = replace_recovery_codes(&mut tx, user.id).await?;
        audit(
            &mut tx,
            Actor::Staff(user),
            user.id,
            "user.second_factor_on",
        )
        .await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Whether `code` — from the app, or a recovery code — proves the second factor; either
    /// is spent by the check, so that it never works twice.
    pub async fn check_second_factor(&self, user: UserId, code: &str) -> Result<bool> {
        let row = sqlx::query("SELECT totp_secret, totp_last_step FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(false) };
        let Some(stored) = row.try_get::<Option<String>, _>("totp_secret")? else {
            return Ok(false);
        };
        let secret = self.sealer.open(&stored)?;
        let last: Option<i64> = row.try_get("totp_last_step")?;
        if let Some(step) = accepted_step(&secret, code, unix_now(), last) {
            // Only one check may spend a step, even from two instances at once.
            let spent = sqlx::query(
                "UPDATE users SET totp_last_step = $1 WHERE id = $2 \
                 AND (totp_last_step IS NULL OR totp_last_step < $1)",
            )
            .bind(step)
            .bind(user.0)
            .execute(self.writer())
            .await?
            .rows_affected();
            return Ok(spent == 1);
        }
        let used = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 \
             AND used_at IS NULL",
        )
        .bind(ms(crate::db::now()))
        .bind(user.0)
        .bind(recovery_code_hash(code))
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(used > 0)
    }

    /// Recovery codes not used yet.
    pub async fn recovery_codes_left(&self, user: UserId) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.0)
        .fetch_one(self.reader())
        .await?
        .try_get("n")?)
    }

    /// New recovery codes in place of the old ones, returned this once.
    pub async fn renew_recovery_codes(&self, user: &StaffUser) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let codes = replace_recovery_codes(&mut tx, user.id).await?;
        audit(&mut tx, Actor::Staff(user), user.id, "user.recovery_codes").await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// Removes the second factor (its owner, or an administrator for someone who lost their
    /// phone); where it is required, the person enrols again at their next sign-in.
    pub async fn remove_second_factor(&self, actor: Actor<'_>, user: UserId) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL \
             WHERE id = $1",
        )
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        audit(&mut tx, actor, user, "user.second_factor_off").await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn replace_recovery_codes(tx: &mut Tx, user: UserId) -> Result<Vec<String>> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut **tx)
        .await?;
    let codes = new_recovery_codes();
    for code in &codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user.0)
            .bind(recovery_code_hash(code))
            .execute(&mut **tx)
            .await?;
    }
    Ok(codes)
}

async fn audit(tx: &mut Tx, actor: Actor<'_>, user: UserId, action: &'static str) -> Result<()> {
    let change = Change {
        entity: EntityKind::User,
        entity_id: user.to_string(),
        action,
        before: None,
        after: None,
    };
    record(tx, actor, change).await
}

//! Staff accounts, Argon2id passwords, login sessions and API tokens.

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use atiende_domain::access::TokenScopes;
use atiende_domain::audit::EntityKind;
use atiende_domain::classification::Lang;
use atiende_domain::ids::{UnitId, UserId};
use atiende_domain::user::{Role, StaffUser, UserInput, check_password};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record, snapshot};
use crate::db::direct::Columns;
use crate::db::{Sql, Store, code, flag, from_ms, ms};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

/// A random secret with 256 bits of entropy, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The person behind a session cookie, the session's CSRF token, and the identity provider
/// it came through (None: a password).
#[derive(Debug, Clone)]
pub struct SessionOf {
    pub user: StaffUser,
    pub csrf: String,
    pub provider: Option<String>,
}

/// An open session as its owner sees it (the secret never leaves the database).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenSession {
    /// The session this request came with.
    pub current: bool,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An API token as its owner and administrators see it: never its secret.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenInfo {
    pub id: i64,
    pub name: String,
    /// What it may be used for (within its owner's role): `read`, `incidents_write`,
    /// `quality`, `knowledge`, `personal_data`, `admin`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub scopes: TokenScopes,
    pub created_at: DateTime<Utc>,
    /// After this it opens nothing.
    pub expires_at: Option<DateTime<Utc>>,
    /// Updated at most once a minute, as sessions are.
    pub last_used_at: Option<DateTime<Utc>>,
}

fn scopes_of(r: &dyn Columns) -> Result<TokenScopes> {
    let codes = r.text("scopes")?;
    TokenScopes::parse(codes.split_whitespace()).map_err(|_| StoreError::corrupt(codes))
}

/// Secrets are stored only as their SHA-256: a leaked table opens no session.
pub fn token_hash(token: &str) -> String {
    crate::secrets::sha256_hex(token)
}

/// A readable one-time password for a first login.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Argon2id with the crate's recommended parameters. CPU-heavy: runs off the async threads.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| StoreError::Hash)?
    .map_err(|_| StoreError::Hash)
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

async fn units_of(
    exec: impl sqlx::Executor<'_, Database = sqlx::Any>,
    id: i64,
) -> Result<Vec<UnitId>> {
    let rows = sqlx::query("SELECT unit_id FROM user_units WHERE user_id = $1 ORDER BY unit_id")
        .bind(id)
        .fetch_all(exec)
        .await?;
    rows.iter()
        .map(|r| Ok(UnitId(r.try_get("unit_id")?)))
        .collect()
}

fn user_from_row(row: &dyn Columns, unit_ids: Vec<UnitId>) -> Result<StaffUser> {
    Ok(StaffUser {
        id: UserId(row.int("id")?),
        login: row.text("login")?,
        name: row.text("name")?,
        email: row.text("email")?,
        role: code(row, "role", Role::from_code)?,
        unit_ids,
        language: code(row, "language", Lang::from_code)?,
        disabled: flag(row, "disabled")?,
        must_change_password: flag(row, "must_change_password")?,
        second_factor: row.opt_text("totp_secret")?.is_some(),
        phone_extension: row.text("phone_extension")?,
        created_at: from_ms(row.int("created_at")?)?,
    })
}

/// The user of a row of `users` read with [`Store::unit_list`].
fn user_of_listed_row(row: &dyn Columns) -> Result<StaffUser> {
    let mut units = row
        .opt_text("unit_list")?
        .unwrap_or_default()
        .split(',')
        .filter(|u| !u.is_empty())
        .map(|u| u.parse().map(UnitId).map_err(StoreError::corrupt))
        .collect::<Result<Vec<_>>>()?;
    units.sort_unstable();
    user_from_row(row, units)
}

async fn user_in_tx(tx: &mut Tx, id: UserId) -> Result<StaffUser> {
    let row = sqlx::query("SELECT * FROM users WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
    let units = units_of(&mut **tx, id.0).await?;
    user_from_row(&row, units)
}

/// An active person of the console by login (any case), if there is one.
pub(crate) async fn active_by_login(tx: &mut Tx, login: &str) -> Result<Option<StaffUser>> {
    let Some(row) = sqlx::query("SELECT * FROM users WHERE LOWER(login) = $1 AND disabled = 0")
        .bind(login.to_lowercase())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let id: i64 = row.try_get("id")?;
    let units = units_of(&mut **tx, id).await?;
    Ok(Some(user_from_row(&row, units)?))
}

async fn write_units(tx: &mut Tx, user: &StaffUser) -> Result<()> {
    sqlx::query("DELETE FROM user_units WHERE user_id = $1")
        .bind(user.id.0)
        .execute(&mut **tx)
        .await?;
    for unit in &user.unit_ids {
        sqlx::query("INSERT INTO user_units (user_id, unit_id) VALUES ($1, $2)")
            .bind(user.id.0)
            .bind(unit.0)
            .execute(&mut **tx)
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Rule(
                    atiende_domain::RuleError::invalid("unit_ids", "unknown_unit"),
                ),
                e => e.into(),
            })?;
    }
    Ok(())
}

/// The result of creating an account: the one-time password when atiende generated it.
pub struct CreatedUser {
    pub user: StaffUser,
    pub generated_password: Option<String>,
}

impl Store {
    pub(crate) async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(self.reader())
            .await?
            .try_get("n")?)
    }

    /// Everyone, with their units, in one query: the queue and the incident page list them
    /// (a query per person made every such page wait on as many round trips as people).
    pub async fn users(&self) -> Result<Vec<StaffUser>> {
        let sql = format!(
            "SELECT u.*, {} FROM users u ORDER BY u.login",
            self.unit_list()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| user_of_listed_row(r)).collect()
    }

    pub async fn user(&self, id: UserId) -> Result<StaffUser> {
        let sql = format!(
            "SELECT u.*, {} FROM users u WHERE u.id = $1",
            self.unit_list()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        user_of_listed_row(&row)
    }

    pub async fn user_by_login(&self, login: &str) -> Result<StaffUser> {
        let sql = format!(
            "SELECT u.*, {} FROM users u WHERE u.login = $1",
            self.unit_list()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(login.trim().to_lowercase())
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        user_of_listed_row(&row)
    }

    pub async fn create_user(&self, actor: Actor<'_>, input: &UserInput) -> Result<CreatedUser> {
        let (mut user, password) = input.apply(None, crate::db::now())?;
        let generated = password.is_none().then(generate_password);
        user.must_change_password = generated.is_some();
        let hash = hash_password(password.or(generated.clone()).unwrap_or_default()).await?;
        let mut tx = self.begin().await?;
        let now = ms(user.created_at);
        let id: i64 = sqlx::query(
            "INSERT INTO users (login, name, email, role, language, password_hash, disabled, \
             must_change_password, phone_extension, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9) RETURNING id",
        )
        .bind(user.login.clone())
        .bind(user.name.clone())
        .bind(user.email.clone())
        .bind(user.role.code())
        .bind(user.language.code())
        .bind(hash)
        .bind(i64::from(user.disabled))
        .bind(i64::from(user.must_change_password))
        .bind(now)
        .bind(user.phone_extension.clone())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if StoreError::is_unique_violation(&e) {
                StoreError::Conflict { field: "login".into(), code: "taken".into(), existing_id: None }
            } else {
                e.into()
            }
        })?
        .try_get("id")?;
        user.id = UserId(id);
        write_units(&mut tx, &user).await?;
        let change = Change {
            entity: EntityKind::User,
            entity_id: id.to_string(),
            action: "user.create",
            before: None,
            after: snapshot(&user),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(CreatedUser {
            user,
            generated_password: generated,
        })
    }

    /// Edits an account. Disabling it ends its sessions at once.
    pub async fn update_user(
        &self,
        actor: Actor<'_>,
        id: UserId,
        input: &UserInput,
    ) -> Result<StaffUser> {
        let new_hash = match &input.password {
            Some(p) => {
                // Checked again against the login and name once they are known (`apply`).
                check_password(p, &[]).map_err(|e| atiende_domain::RuleError::Invalid(vec![e]))?;
                Some(hash_password(p.clone()).await?)
            }
            None => None,
        };
        let mut tx = self.begin().await?;
        let before = user_in_tx(&mut tx, id).await?;
        let (mut after, _) = input.apply(Some(&before), crate::db::now())?;
        if new_hash.is_some() {
            // A password set by someone else is temporary: its owner chooses their own.
            after.must_change_password = actor.user_id() != Some(id);
        }
        sqlx::query(
            "UPDATE users SET name = $1, email = $2, role = $3, language = $4, disabled = $5, \
             must_change_password = $6, password_hash = COALESCE($7, password_hash), updated_at = $8, phone_extension = $10 WHERE id = $9",
        )
        .bind(after.name.clone())
        .bind(after.email.clone())
        .bind(after.role.code())
        .bind(after.language.code())
        .bind(i64::from(after.disabled))
        .bind(i64::from(after.must_change_password))
        .bind(new_hash.clone())
        .bind(ms(crate::db::now()))
        .bind(id.0)
        .bind(after.phone_extension.clone())
        .execute(&mut *tx)
        .await?;
        write_units(&mut tx, &after).await?;
        if after.disabled || new_hash.is_some() {
            // Disabling an account or setting its password ends everything that signed in
            // with the old state: sessions and API tokens alike. Re-enabling brings none back.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(ms(crate::db::now()))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        }
        let change = Change {
            entity: EntityKind::User,
            entity_id: id.to_string(),
            action: if new_hash.is_some() {
                "user.password"
            } else {
                "user.update"
            },
            before: snapshot(&before),
            after: snapshot(&after),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// The person changes their own password, proving they know the current one.
    pub async fn change_own_password(
        &self,
        user: &StaffUser,
        current: &str,
        new: &str,
    ) -> Result<()> {
        check_password(new, &[&user.login, &user.name, &user.email])
            .map_err(|e| atiende_domain::RuleError::Invalid(vec![e]))?;
        if self.verify_login(&user.login, current).await?.is_none() {
            return Err(
                atiende_domain::RuleError::invalid("current_password", "wrong_password").into(),
            );
        }
        let input = UserInput {
            password: Some(new.to_string()),
            ..Default::default()
        };
        self.update_user(Actor::Staff(user), user.id, &input)
            .await?;
        Ok(())
    }

    /// The account for a login and password, if both match and the account is enabled.
    pub async fn verify_login(&self, login: &str, password: &str) -> Result<Option<StaffUser>> {
        let row = sqlx::query("SELECT id, password_hash, disabled FROM users WHERE login = $1")
            .bind(login.trim().to_lowercase())
            .fetch_optional(self.reader())
            .await?;
        let Some(r) = row else {
            // Spend the same time as a real check, so the answer does not reveal which logins exist.
            let _ = hash_password(password.to_string()).await;
            return Ok(None);
        };
        let (id, hash, disabled) = (
            r.try_get::<i64, _>("id")?,
            r.try_get::<String, _>("password_hash")?,
            flag(&r, "disabled")?,
        );
        let ok = verify_password(password.to_string(), hash).await;
        if !ok || disabled {
            return Ok(None);
        }
        Ok(Some(self.user(UserId(id)).await?))
    }

    /// Starts a session; returns the cookie secret and the CSRF token bound to it.
    pub async fn create_session(
        &self,
        user: UserId,
        ttl: chrono::Duration,
    ) -> Result<(String, String)> {
        self.create_session_through(user, ttl, None).await
    }

    /// Starts a session, naming the identity provider it came through (None: a password).
    pub async fn create_session_through(
        &self,
        user: UserId,
        ttl: chrono::Duration,
        provider: Option<&str>,
    ) -> Result<(String, String)> {
        let token = random_token();
        let csrf = random_token();
        let now = crate::db::now();
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, signed_in_with) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(token_hash(&token))
            .bind(user.0)
            .bind(csrf.clone())
            .bind(ms(now))
            .bind(ms(now + ttl))
            .bind(provider.map(str::to_string))
            .execute(self.writer())
            .await?;
        Ok((token, csrf))
    }

    /// The identity provider a session came through, if any.
    pub async fn session_provider(&self, token: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query("SELECT signed_in_with FROM sessions WHERE token_hash = $1")
                .bind(token_hash(token))
                .fetch_optional(self.reader())
                .await?
                .map(|r| r.try_get::<Option<String>, _>("signed_in_with"))
                .transpose()?
                .flatten(),
        )
    }

    /// The accounts whose email is `email` (regardless of case), disabled ones included: the
    /// sign-in rule decides what they mean.
    pub async fn users_with_email(&self, email: &str) -> Result<Vec<StaffUser>> {
        let sql = format!(
            "SELECT u.*, {} FROM users u WHERE lower(u.email) = $1 ORDER BY u.id",
            self.unit_list()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(email.trim().to_lowercase())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| user_of_listed_row(r)).collect()
    }

    /// The enabled account behind a session cookie, with the session's CSRF token: a session
    /// ends at its expiry, or once it has gone unused for `idle`. Its use is recorded (at most
    /// once a minute, to spare the writer).
    pub async fn session_user(
        &self,
        token: &str,
        idle: chrono::Duration,
    ) -> Result<Option<SessionOf>> {
        let now = ms(crate::db::now());
        let hash = token_hash(token);
        let mut sql = Sql::new(&format!(
            "SELECT u.*, s.csrf_token, s.signed_in_with, COALESCE(s.last_seen_at, s.created_at) AS seen, {} \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ",
            self.unit_list()
        ));
        sql.bind(hash.clone());
        sql.push(" AND s.expires_at > ");
        sql.bind(now);
        sql.push(" AND u.disabled = 0 AND COALESCE(s.last_seen_at, s.created_at) > ");
        sql.bind(now - idle.num_milliseconds());
        let found = self
            .read_rows(sql, |r| {
                Ok((
                    SessionOf {
                        user: user_of_listed_row(r)?,
                        csrf: r.text("csrf_token")?,
                        provider: r.opt_text("signed_in_with")?,
                    },
                    r.int("seen")?,
                ))
            })
            .await?
            .into_iter()
            .next();
        let Some((session, seen)) = found else {
            return Ok(None);
        };
        if seen < now - 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(hash)
                .execute(self.writer())
                .await?;
        }
        Ok(Some(session))
    }

    /// A person's open sessions, newest first; `current` marks the one holding `token`.
    pub async fn sessions_of(&self, user: UserId, token: Option<&str>) -> Result<Vec<OpenSession>> {
        let current = token.map(token_hash).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT token_hash, created_at, COALESCE(last_seen_at, created_at) AS seen, expires_at \
             FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
        )
        .bind(user.0)
        .bind(ms(crate::db::now()))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let hash: String = r.try_get("token_hash")?;
                Ok(OpenSession {
                    current: hash == current,
                    started_at: from_ms(r.try_get("created_at")?)?,
                    last_seen_at: from_ms(r.try_get("seen")?)?,
                    expires_at: from_ms(r.try_get("expires_at")?)?,
                })
            })
            .collect()
    }

    /// Ends every session of `user` but the one holding `keep` ("cerrar las demás sesiones",
    /// or an administrator ending someone's). Returns how many ended.
    pub async fn end_sessions(
        &self,
        actor: Actor<'_>,
        user: UserId,
        keep: Option<&str>,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user.0)
            .bind(keep.map(token_hash).unwrap_or_default())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let change = Change {
            entity: EntityKind::User,
            entity_id: user.to_string(),
            action: "user.sessions_ended",
            before: None,
            after: Some(serde_json::json!({ "ended": ended })),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// A column `unit_list` with the user's units (`u`) as `1,2,3`: every request reads its
    /// user with the session or token that names it, in one query.
    fn unit_list(&self) -> String {
        format!(
            "(SELECT {} FROM user_units WHERE user_id = u.id) AS unit_list",
            self.engine().comma_joined("unit_id")
        )
    }

    pub async fn end_session(&self, token: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_at < $2")
            .bind(token_hash(token))
            .bind(ms(crate::db::now()))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// A bearer token for an integration, bound to a user, for `scopes` (within the user's
    /// role), until `expires_at` if given. The secret is returned once.
    pub async fn create_api_token(
        &self,
        actor: Actor<'_>,
        user: UserId,
        name: &str,
        scopes: &TokenScopes,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(i64, String)> {
        let mut check = atiende_domain::error::Validator::new();
        let name = check.text("name", name, 100, true);
        if expires_at.is_some_and(|e| ms(e) <= ms(crate::db::now())) {
            check.push("expires_at", "invalid");
        }
        check.finish()?;
        let token = format!("atd_{}", random_token());
        let mut tx = self.begin().await?;
        user_in_tx(&mut tx, user).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO api_tokens (user_id, name, token_hash, created_at, scopes, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user.0)
        .bind(name.clone())
        .bind(token_hash(&token))
        .bind(ms(crate::db::now()))
        .bind(scopes.to_codes())
        .bind(expires_at.map(ms))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let change = Change {
            entity: EntityKind::ApiToken,
            entity_id: id.to_string(),
            action: "token.create",
            before: None,
            after: Some(serde_json::json!({
                "user_id": user,
                "name": name,
                "scopes": scopes.to_codes(),
                "expires_at": expires_at,
            })),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok((id, token))
    }

    /// Revokes a token by id; returns whether one was active. With `owner`, only a token of that
    /// account is revoked (a person ending their own, or an administrator one of someone's).
    pub async fn revoke_api_token(
        &self,
        actor: Actor<'_>,
        id: i64,
        owner: Option<UserId>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 \
             WHERE id = $2 AND revoked_at IS NULL AND ($3 = 0 OR user_id = $3)",
        )
        .bind(ms(crate::db::now()))
        .bind(id)
        .bind(owner.map_or(0, |u| u.0))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            let change = Change {
                entity: EntityKind::ApiToken,
                entity_id: id.to_string(),
                action: "token.revoke",
                before: None,
                after: None,
            };
            record(&mut tx, actor, change).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The tokens of an account that still work (neither revoked nor expired), newest first.
    pub async fn tokens_of(&self, user: UserId) -> Result<Vec<ApiTokenInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, scopes, created_at, expires_at, last_used_at FROM api_tokens \
             WHERE user_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(user.0)
        .bind(ms(crate::db::now()))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(token_info).collect()
    }

    /// Every token that still works, with its owner's login, newest first (administrators
    /// review and revoke them).
    pub async fn active_tokens(&self) -> Result<Vec<(String, ApiTokenInfo)>> {
        let rows = sqlx::query(
            "SELECT t.id, t.name, t.scopes, t.created_at, t.expires_at, t.last_used_at, u.login \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1) \
             ORDER BY t.created_at DESC, t.id DESC",
        )
        .bind(ms(crate::db::now()))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("login")?, token_info(r)?)))
            .collect()
    }
}

fn token_info(r: &AnyRow) -> Result<ApiTokenInfo> {
    Ok(ApiTokenInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scopes: scopes_of(r)?,
        created_at: from_ms(r.try_get("created_at")?)?,
        expires_at: r
            .try_get::<Option<i64>, _>("expires_at")?
            .map(from_ms)
            .transpose()?,
        last_used_at: r
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(from_ms)
            .transpose()?,
    })
}

impl Store {
    /// The enabled account behind a bearer token that has not expired, and the token's
    /// scopes; marks the token used (once a minute at most, so that busy integrations do not
    /// write on every request).
    pub async fn token_user(&self, token: &str) -> Result<Option<(StaffUser, TokenScopes)>> {
        let hash = token_hash(token);
        let now = ms(crate::db::now());
        let mut sql = Sql::new(&format!(
            "SELECT u.*, t.id AS token_id, t.scopes, COALESCE(t.last_used_at, 0) AS used, {} \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ",
            self.unit_list()
        ));
        sql.bind(hash);
        sql.push(" AND t.revoked_at IS NULL AND u.disabled = 0 AND (t.expires_at IS NULL OR t.expires_at > ");
        sql.bind(now);
        sql.push(")");
        let found = self
            .read_rows(sql, |r| {
                Ok((
                    user_of_listed_row(r)?,
                    scopes_of(r)?,
                    r.int("used")?,
                    r.int("token_id")?,
                ))
            })
            .await?
            .into_iter()
            .next();
        let Some((user, scopes, used, token_id)) = found else {
            return Ok(None);
        };
        if used < now - 60_000 {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(token_id)
                .execute(self.writer())
                .await?;
        }
        Ok(Some((user, scopes)))
    }
}

impl Store {
    /// A person chooses the language of their own console.
    pub async fn set_own_language(&self, user: &StaffUser, language: Lang) -> Result<StaffUser> {
        let input = UserInput {
            language: Some(language),
            ..Default::default()
        };
        self.update_user(Actor::Staff(user), user.id, &input).await
    }
}

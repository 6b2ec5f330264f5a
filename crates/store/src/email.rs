//! The email channel's storage: mailboxes and their IMAP position, every message in and out
//! (the Message-ID is unique, so a retried delivery is recognised), attachments, and the
//! transaction that turns an inbound message into an incident or an entry of one.

use atiende_domain::audit::EntityKind;
use atiende_domain::classification::Channel;
use atiende_domain::contact::{ContactFields, Identifier, IdentifierKind, normalize_email};
use atiende_domain::email::{InboundEmail, folio_in_subject, header_safe, reply_subject};
use atiende_domain::ids::{EntryId, IncidentId};
use atiende_domain::incident::MAX_ENTRY_CHARS;
use atiende_domain::incident::{EntryKind, Incident, NewIncidentInput, Status};
use atiende_domain::unit::Unit;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use atiende_domain::mail_auth::{GrantState, MailAuth, OAuthApp};
use atiende_domain::secret::Secret;

use atiende_domain::attachment::OutgoingFile;

use crate::Actor;
use crate::attachments::MAX_ATTACHMENT_BYTES;
use crate::audit::{Change, record, snapshot};
use crate::contacts::{contact_in_tx, insert_contact};
use crate::db::{Store, flag, from_ms, ms, now, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::incidents::rows::{append, reopen_in};
use crate::outbox::{self, Job, OutgoingEmail};
use crate::secrets::Sealer;
use crate::tx::Tx;

/// The largest message kept whole (its original and attachments). A larger one is recorded
/// with its text and the names of its attachments, and noted as such: the original stays on
/// the mail server. One limit for the whole message, so that neither the copy of the original
/// nor the attachments can take more than it.
pub const MAX_MESSAGE_BYTES: usize = 25 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mailbox {
    pub id: i64,
    pub name: String,
    pub address: String,
    /// `email`, or `suggestion_box` for the buzón's address.
    pub channel: Channel,
    pub imap_host: String,
    pub imap_port: i64,
    /// `tls`, `starttls` or `plain` (local servers only).
    pub imap_security: String,
    pub imap_user: String,
    #[serde(skip_serializing)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub imap_password: Secret,
    pub imap_folder: String,
    pub smtp_host: String,
    pub smtp_port: i64,
    pub smtp_security: String,
    pub smtp_user: String,
    #[serde(skip_serializing)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub smtp_password: Secret,
    /// How it signs in to its servers: `password` (those above), or an OAuth 2.0 access
    /// token by `xoauth2` or `oauthbearer`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub auth: MailAuth,
    /// The OAuth 2.0 application it is connected through (when `auth` uses a token).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub oauth: OAuthApp,
    #[serde(skip_serializing)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub oauth_client_secret: Secret,
    /// Whether its token authorization works; the tokens themselves are read apart
    /// (`Store::mailbox_tokens`), by the code that signs in.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub grant: GrantState,
    /// Who connected it with its provider (their login), and when.
    pub oauth_connected_by: String,
    pub oauth_connected_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Answer a new incident with its folio (never to automatic mail).
    pub acknowledge: bool,
    pub active: bool,
    pub uidvalidity: Option<i64>,
    pub last_uid: i64,
    pub last_polled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_error: Option<String>,
}

/// A mailbox as configured (file, console or API); the IMAP position is kept by atiende.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    pub name: String,
    pub address: String,
    #[serde(default = "default_channel")]
    pub channel: Channel,
    #[serde(default)]
    pub imap_host: String,
    #[serde(default = "default_imap_port")]
    pub imap_port: i64,
    #[serde(default = "default_tls")]
    pub imap_security: String,
    #[serde(default)]
    pub imap_user: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, write_only))]
    pub imap_password: Secret,
    #[serde(default = "default_folder")]
    pub imap_folder: String,
    #[serde(default)]
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: i64,
    #[serde(default = "default_starttls")]
    pub smtp_security: String,
    #[serde(default)]
    pub smtp_user: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, write_only))]
    pub smtp_password: Secret,
    /// `password` (the default), `xoauth2` or `oauthbearer`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub auth: MailAuth,
    /// For a token: the provider's application (`preset = "google"` or `"microsoft"` fills
    /// in the addresses and scopes).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub oauth: OAuthApp,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String, write_only))]
    pub oauth_client_secret: Secret,
    #[serde(default = "default_true")]
    pub acknowledge: bool,
    #[serde(default = "default_true")]
    pub active: bool,
}

fn default_channel() -> Channel {
    Channel::Email
}
fn default_imap_port() -> i64 {
    993
}
fn default_smtp_port() -> i64 {
    587
}
fn default_tls() -> String {
    "tls".into()
}
fn default_starttls() -> String {
    "starttls".into()
}
fn default_folder() -> String {
    "INBOX".into()
}
fn default_true() -> bool {
    true
}

impl MailboxSettings {
    /// A password or client secret left blank keeps the one on record (forms and the API
    /// never show them, so an edit sends them only to change them).
    pub fn keeping_secrets_of(mut self, existing: Option<&Mailbox>) -> MailboxSettings {
        let Some(old) = existing else {
            return self;
        };
        for (new, old) in [
            (&mut self.imap_password, &old.imap_password),
            (&mut self.smtp_password, &old.smtp_password),
            (&mut self.oauth_client_secret, &old.oauth_client_secret),
        ] {
            if new.is_empty() {
                *new = old.clone();
            }
        }
        self
    }

    fn check(&self) -> Result<()> {
        let mut v = atiende_domain::error::Validator::new();
        v.text("name", &self.name, 100, true);
        if normalize_email(&self.address).is_none() {
            v.push("address", "invalid_email");
        }
        for (field, value) in [
            ("imap_security", &self.imap_security),
            ("smtp_security", &self.smtp_security),
        ] {
            if !matches!(value.as_str(), "tls" | "starttls" | "plain") {
                v.push(field, "invalid");
            }
        }
        if self.auth.uses_oauth() {
            self.oauth.clone().completed().check(&mut v);
        }
        Ok(v.finish()?)
    }
}

/// A mailbox as stored, its passwords opened with `sealer`; without one (paths that only
/// address a message) the passwords are left out, so that a sealed one is never taken for
/// the password.
fn mailbox_from_row(r: &AnyRow, sealer: Option<&Sealer>) -> Result<Mailbox> {
    let channel: String = r.try_get("channel")?;
    let auth: String = r.try_get("auth")?;
    let auth = MailAuth::from_code(&auth).ok_or_else(|| StoreError::corrupt(auth))?;
    let app: String = r.try_get("oauth_app")?;
    let password = |column: &str| -> Result<Secret> {
        match sealer {
            Some(s) => Ok(Secret::new(s.open(&r.try_get::<String, _>(column)?)?)),
            None => Ok(Secret::default()),
        }
    };
    Ok(Mailbox {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        address: r.try_get("address")?,
        channel: Channel::from_code(&channel).ok_or_else(|| StoreError::corrupt(channel))?,
        imap_host: r.try_get("imap_host")?,
        imap_port: r.try_get("imap_port")?,
        imap_security: r.try_get("imap_security")?,
        imap_user: r.try_get("imap_user")?,
        imap_password: password("imap_password")?,
        imap_folder: r.try_get("imap_folder")?,
        smtp_host: r.try_get("smtp_host")?,
        smtp_port: r.try_get("smtp_port")?,
        smtp_security: r.try_get("smtp_security")?,
        smtp_user: r.try_get("smtp_user")?,
        smtp_password: password("smtp_password")?,
        auth,
        oauth: if app.is_empty() {
            OAuthApp::default()
        } else {
            serde_json::from_str(&app).map_err(StoreError::corrupt)?
        },
        oauth_client_secret: password("oauth_client_secret")?,
        grant: if !auth.uses_oauth() {
            GrantState::NotUsed
        } else if r.try_get::<Option<i64>, _>("oauth_revoked_at")?.is_some() {
            GrantState::Revoked
        } else if r.try_get::<String, _>("oauth_refresh_token")?.is_empty() {
            GrantState::NotConnected
        } else {
            GrantState::Connected
        },
        oauth_connected_by: r.try_get("oauth_connected_by")?,
        oauth_connected_at: opt_from_ms(r.try_get("oauth_connected_at")?)?,
        acknowledge: flag(r, "acknowledge")?,
        active: flag(r, "active")?,
        uidvalidity: r.try_get("uidvalidity")?,
        last_uid: r.try_get("last_uid")?,
        last_polled_at: opt_from_ms(r.try_get("last_polled_at")?)?,
        last_error: r.try_get("last_error")?,
    })
}

/// What became of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A new incident was opened.
    Created(IncidentId),
    /// The message joined an incident (a reply).
    Joined(IncidentId),
    /// Seen before (same Message-ID): nothing changed.
    Duplicate(Option<IncidentId>),
    /// Written by a machine (auto-reply, bounce, list, our own): kept, no incident.
    Automatic,
}

pub(crate) fn message_id_for(mailbox: &Mailbox, folio: &str) -> String {
    let domain = mailbox
        .address
        .rsplit_once('@')
        .map_or("atiende.invalid", |(_, d)| d);
    format!(
        "{}.{}@{domain}",
        crate::users::random_token().get(..16).unwrap_or("atiende"),
        folio.to_ascii_lowercase()
    )
}

async fn mailbox_in_tx(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    sealer: Option<&Sealer>,
) -> Result<Mailbox> {
    let row = sqlx::query("SELECT * FROM mailboxes WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("mailbox"))?;
    mailbox_from_row(&row, sealer)
}

/// The incident a reply belongs to: a message atiende sent that it answers, or the folio in its
/// subject — but only when the incident is the sender's own, so that a forged reference never
/// attaches mail to another person's incident.
async fn thread_of(
    tx: &mut Tx,
    email: &InboundEmail,
    sender: Option<&Identifier>,
) -> Result<Option<IncidentId>> {
    let Some(sender) = sender else {
        return Ok(None);
    };
    let mut candidates = Vec::new();
    for id in email.answered_ids() {
        let row = sqlx::query(
            "SELECT incident_id FROM email_messages WHERE message_id = $1 AND direction = 'out'",
        )
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(incident) =
            row.and_then(|r| r.try_get::<Option<i64>, _>("incident_id").ok().flatten())
        {
            candidates.push(incident);
        }
    }
    if let Some(folio) = folio_in_subject(&email.subject) {
        let row = sqlx::query("SELECT id FROM incidents WHERE folio = $1")
            .bind(folio.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(r) = row {
            candidates.push(r.try_get("id")?);
        }
    }
    for incident in candidates {
        let owner = sqlx::query(
            "SELECT 1 AS ok FROM incidents i JOIN contact_identifiers ci ON ci.contact_id = i.contact_id \
             WHERE i.id = $1 AND ci.kind = 'email' AND ci.value = $2",
        )
        .bind(incident)
        .bind(sender.value.clone())
        .fetch_optional(&mut **tx)
        .await?;
        if owner.is_some() {
            return Ok(Some(IncidentId(incident)));
        }
    }
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
async fn insert_message(
    tx: &mut Tx,
    message_id: &str,
    direction: &str,
    mailbox: Option<i64>,
    incident: Option<IncidentId>,
    entry: Option<EntryId>,
    email: &InboundEmail,
    raw: Option<&[u8]>,
    automatic: bool,
) -> Result<i64> {
    let id = sqlx::query(
        "INSERT INTO email_messages (message_id, direction, mailbox_id, incident_id, entry_id, from_address, to_addresses, \
         subject, in_reply_to, references_ids, html, automatic, malformed, raw, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(message_id.to_string())
    .bind(direction.to_string())
    .bind(mailbox)
    .bind(incident.map(|i| i.0))
    .bind(entry.map(|e| e.0))
    .bind(email.from_address.clone().unwrap_or_default())
    .bind(email.to.join(", "))
    .bind(email.subject.clone())
    .bind(email.in_reply_to.join(" "))
    .bind(email.references.join(" "))
    .bind(email.html.clone())
    .bind(i64::from(automatic))
    .bind(i64::from(email.malformed))
    .bind(raw.map(<[u8]>::to_vec))
    .bind(ms(now()))
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    Ok(id)
}

async fn store_attachments(
    tx: &mut Tx,
    incident: IncidentId,
    entry: Option<EntryId>,
    message: i64,
    email: &InboundEmail,
    oversized: bool,
) -> Result<()> {
    for a in &email.attachments {
        let (name, data) = if oversized {
            (
                format!(
                    "{} (omitido: se conserva en el servidor de correo)",
                    a.filename
                ),
                Vec::new(),
            )
        } else if a.data.len() > MAX_ATTACHMENT_BYTES {
            (
                format!(
                    "{} (omitido: {} bytes, límite {MAX_ATTACHMENT_BYTES})",
                    a.filename,
                    a.data.len()
                ),
                Vec::new(),
            )
        } else {
            (a.filename.clone(), a.data.clone())
        };
        sqlx::query(
            "INSERT INTO attachments (incident_id, entry_id, email_message_id, filename, content_type, content_id, inline, size, data, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(incident.0)
        .bind(entry.map(|e| e.0))
        .bind(message)
        .bind(name)
        .bind(a.content_type.clone())
        .bind(a.content_id.clone())
        .bind(i64::from(a.inline))
        .bind(a.data.len() as i64)
        .bind(data)
        .bind(ms(now()))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The text an entry shows for an inbound message: at most `MAX_ENTRY_CHARS`; the whole
/// message stays in its raw copy.
fn entry_text(email: &InboundEmail, size: usize) -> String {
    let text = entry_text_of(email);
    if size > MAX_MESSAGE_BYTES {
        format!(
            "{text}\n\n[Mensaje de {} MB, mayor que el límite de {} MB: se registró su texto; el \
             original y sus adjuntos se conservan en el servidor de correo.]",
            size.div_ceil(1024 * 1024),
            MAX_MESSAGE_BYTES / (1024 * 1024)
        )
    } else {
        text
    }
}

fn entry_text_of(email: &InboundEmail) -> String {
    if email.text.chars().count() > MAX_ENTRY_CHARS {
        let mut text: String = email.text.chars().take(MAX_ENTRY_CHARS - 100).collect();
        text.push_str("\n\n[… texto recortado; el mensaje completo se conserva en el original]");
        text
    } else if email.text.trim().is_empty() && email.malformed {
        "(mensaje sin formato reconocible; se conserva el original)".into()
    } else if email.text.trim().is_empty() {
        "(mensaje sin texto)".into()
    } else {
        email.text.clone()
    }
}

impl Store {
    pub async fn mailboxes(&self) -> Result<Vec<Mailbox>> {
        let rows = sqlx::query("SELECT * FROM mailboxes ORDER BY name")
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| mailbox_from_row(r, Some(&self.sealer)))
            .collect()
    }

    /// Creates or updates the mailbox of that name (configuration file or console). The IMAP
    /// position is kept unless the server or folder changes.
    pub async fn save_mailbox(&self, actor: Actor<'_>, s: &MailboxSettings) -> Result<Mailbox> {
        s.check()?;
        let mut tx = self.begin().await?;
        let existing = sqlx::query("SELECT * FROM mailboxes WHERE name = $1")
            .bind(s.name.clone())
            .fetch_optional(&mut *tx)
            .await?;
        let before = existing
            .as_ref()
            .map(|r| mailbox_from_row(r, Some(&self.sealer)))
            .transpose()?;
        let moved = before.as_ref().is_some_and(|b| {
            b.imap_host != s.imap_host
                || b.imap_folder != s.imap_folder
                || b.imap_user != s.imap_user
        });
        let app = if s.auth.uses_oauth() {
            s.oauth.clone().completed()
        } else {
            OAuthApp::default()
        };
        // A grant belongs to the application and account it was given to: another one (or a
        // switch to passwords) needs connecting again.
        let regrant = before.as_ref().is_some_and(|b| {
            !s.auth.uses_oauth()
                || b.oauth.token_url != app.token_url
                || b.oauth.client_id != app.client_id
                || b.imap_user != s.imap_user
        });
        let t = ms(now());
        let sql = if before.is_some() {
            "UPDATE mailboxes SET address = $2, channel = $3, imap_host = $4, imap_port = $5, imap_security = $6, imap_user = $7, \
             imap_password = $8, imap_folder = $9, smtp_host = $10, smtp_port = $11, smtp_security = $12, smtp_user = $13, \
             smtp_password = $14, acknowledge = $15, active = $16, updated_at = $17, \
             auth = $18, oauth_app = $19, oauth_client_secret = $20, \
             uidvalidity = CASE WHEN $21 = 1 THEN NULL ELSE uidvalidity END, last_uid = CASE WHEN $21 = 1 THEN 0 ELSE last_uid END, \
             oauth_refresh_token = CASE WHEN $22 = 1 THEN '' ELSE oauth_refresh_token END, \
             oauth_access_token = CASE WHEN $22 = 1 THEN '' ELSE oauth_access_token END, \
             oauth_expires_at = CASE WHEN $22 = 1 THEN NULL ELSE oauth_expires_at END, \
             oauth_revoked_at = CASE WHEN $22 = 1 THEN NULL ELSE oauth_revoked_at END \
             WHERE name = $1"
        } else {
            "INSERT INTO mailboxes (name, address, channel, imap_host, imap_port, imap_security, imap_user, imap_password, imap_folder, \
             smtp_host, smtp_port, smtp_security, smtp_user, smtp_password, acknowledge, active, created_at, updated_at, \
             auth, oauth_app, oauth_client_secret, last_uid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18, $19, $20, 0)"
        };
        let query = sqlx::query(sql)
            .bind(s.name.clone())
            .bind(normalize_email(&s.address).unwrap_or_default())
            .bind(s.channel.code())
            .bind(s.imap_host.clone())
            .bind(s.imap_port)
            .bind(s.imap_security.clone())
            .bind(s.imap_user.clone())
            .bind(self.sealer.seal(s.imap_password.expose()))
            .bind(s.imap_folder.clone())
            .bind(s.smtp_host.clone())
            .bind(s.smtp_port)
            .bind(s.smtp_security.clone())
            .bind(s.smtp_user.clone())
            .bind(self.sealer.seal(s.smtp_password.expose()))
            .bind(i64::from(s.acknowledge))
            .bind(i64::from(s.active))
            .bind(t)
            .bind(s.auth.code())
            .bind(if s.auth.uses_oauth() {
                serde_json::to_string(&app).map_err(StoreError::corrupt)?
            } else {
                String::new()
            })
            .bind(self.sealer.seal(s.oauth_client_secret.expose()));
        // Moving to another server or folder starts reading it from the beginning.
        let query = if before.is_some() {
            query.bind(i64::from(moved)).bind(i64::from(regrant))
        } else {
            query
        };
        query.execute(&mut *tx).await?;
        let row = sqlx::query("SELECT * FROM mailboxes WHERE name = $1")
            .bind(s.name.clone())
            .fetch_one(&mut *tx)
            .await?;
        let after = mailbox_from_row(&row, Some(&self.sealer))?;
        let change = Change {
            entity: EntityKind::Unit,
            entity_id: format!("mailbox:{}", after.id),
            action: if before.is_some() {
                "mailbox.update"
            } else {
                "mailbox.create"
            },
            before: before.as_ref().and_then(snapshot),
            after: snapshot(&after),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Our own addresses: mail from them is never a new incident.
    pub async fn own_addresses(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT address FROM mailboxes")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| Ok(r.try_get("address")?)).collect()
    }

    /// Records how far a mailbox has been read (UIDVALIDITY and the last UID ingested).
    pub async fn set_imap_position(
        &self,
        id: i64,
        uidvalidity: i64,
        last_uid: i64,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET uidvalidity = $1, last_uid = $2, last_polled_at = $3, last_error = $4 WHERE id = $5")
            .bind(uidvalidity)
            .bind(last_uid)
            .bind(ms(now()))
            .bind(error.map(str::to_string))
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn set_mailbox_error(&self, id: i64, error: &str) -> Result<()> {
        sqlx::query("UPDATE mailboxes SET last_error = $1, last_polled_at = $2 WHERE id = $3")
            .bind(error.to_string())
            .bind(ms(now()))
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn mailbox(&self, id: i64) -> Result<Mailbox> {
        mailbox_in_tx(&mut *self.reader().acquire().await?, id, Some(&self.sealer)).await
    }

    /// Turns an inbound message into an incident (or an entry of its incident), all or nothing.
    /// The caller acknowledges the message (IMAP flag, exit code 0) only after this returns Ok.
    pub async fn ingest_email(
        &self,
        mailbox: Option<&Mailbox>,
        email: &InboundEmail,
        raw: &[u8],
    ) -> Result<IngestOutcome> {
        // Another instance (or the pipe and the poller) may be committing the same message, or
        // another message from the same new sender, at this moment: the unique keys refuse the
        // second copy; trying again then sees the committed rows (a duplicate, a known contact).
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.ingest_email_once(mailbox, email, raw).await {
                Err(e) if attempt < 4 && e.is_race() => continue,
                other => return other,
            }
        }
    }

    async fn ingest_email_once(
        &self,
        mailbox: Option<&Mailbox>,
        email: &InboundEmail,
        raw: &[u8],
    ) -> Result<IngestOutcome> {
        let size = raw.len();
        let oversized = size > MAX_MESSAGE_BYTES;
        let raw = (!oversized).then_some(raw);
        let own = self.own_addresses().await?;
        let mut tx = self.begin().await?;
        let seen = sqlx::query("SELECT incident_id FROM email_messages WHERE message_id = $1")
            .bind(email.message_id.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(r) = seen {
            return Ok(IngestOutcome::Duplicate(
                r.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
            ));
        }
        let mailbox_id = mailbox.map(|m| m.id);
        if email.is_automatic(&own) {
            insert_message(
                &mut tx,
                &email.message_id,
                "in",
                mailbox_id,
                None,
                None,
                email,
                raw,
                true,
            )
            .await?;
            tx.commit().await?;
            return Ok(IngestOutcome::Automatic);
        }
        let sender = email
            .from_address
            .as_deref()
            .and_then(|a| Identifier::parse(IdentifierKind::Email, a).ok());
        let actor = Actor::System;
        let received = now();
        if let Some(incident) = thread_of(&mut tx, email, sender.as_ref()).await? {
            let status: String = sqlx::query("SELECT status FROM incidents WHERE id = $1")
                .bind(incident.0)
                .fetch_one(&mut *tx)
                .await?
                .try_get("status")?;
            if status == Status::Closed.code() {
                reopen_in(
                    &mut tx,
                    self.engine(),
                    actor,
                    incident,
                    "El usuario respondió por correo.",
                )
                .await?;
            }
            let data =
                serde_json::json!({ "message_id": email.message_id, "from": email.from_address });
            let entry = append(
                &mut tx,
                incident,
                EntryKind::InboundMessage,
                None,
                &entry_text(email, size),
                data,
                received,
            )
            .await?;
            let message = insert_message(
                &mut tx,
                &email.message_id,
                "in",
                mailbox_id,
                Some(incident),
                Some(entry),
                email,
                raw,
                false,
            )
            .await?;
            store_attachments(&mut tx, incident, Some(entry), message, email, oversized).await?;
            crate::notifications::person_replied(&mut tx, incident).await?;
            tx.commit().await?;
            return Ok(IngestOutcome::Joined(incident));
        }
        // A new incident: find the person by address, or meet them.
        let contact = match &sender {
            Some(ident) => {
                let row = sqlx::query("SELECT contact_id FROM contact_identifiers WHERE kind = 'email' AND value = $1")
                    .bind(ident.value.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
                match row {
                    Some(r) => Some(
                        contact_in_tx(
                            &mut tx,
                            atiende_domain::ids::ContactId(r.try_get("contact_id")?),
                        )
                        .await?,
                    ),
                    None => {
                        let fields = ContactFields {
                            name: header_safe(&email.from_name).chars().take(200).collect(),
                            identifiers: vec![ident.clone()],
                            user_type: None,
                            programme_line: None,
                            opt_out_surveys: false,
                            opt_out_marketing: false,
                            notes: String::new(),
                        };
                        Some(insert_contact(&mut tx, actor, &fields).await?)
                    }
                }
            }
            None => None,
        };
        let channel = mailbox.map_or(Channel::Email, |m| m.channel);
        let subject: String = header_safe(&email.subject).chars().take(300).collect();
        let input = NewIncidentInput {
            // A message without a usable sender can only be kept as an anonymous buzón entry.
            channel: if contact.is_none() {
                Channel::SuggestionBox
            } else {
                channel
            },
            contact_id: contact.as_ref().map(|c| c.id),
            subject: subject.clone(),
            body: entry_text(email, size),
            user_type: None,
            incident_type: None,
            topic_id: None,
            critical: false,
            assigned_to: None,
            received_at: Some(received),
        };
        let (incident, entry) = self.create_incident_in(&mut tx, actor, input).await?;
        let message = insert_message(
            &mut tx,
            &email.message_id,
            "in",
            mailbox_id,
            Some(incident.id),
            entry,
            email,
            raw,
            false,
        )
        .await?;
        store_attachments(&mut tx, incident.id, entry, message, email, oversized).await?;
        if let (Some(mailbox), Some(to)) = (mailbox, email.from_address.as_deref())
            && mailbox.acknowledge
        {
            let folio = incident.folio.to_string();
            let text = format!(
                "Hola:\n\nRecibimos su mensaje en el Centro de Atención Personalizada de UDG Virtual. \
                 Su folio de atención es {folio}; consérvelo y responda a este correo si necesita agregar algo.\n\n\
                 Atentamente,\nCentro de Atención Personalizada"
            );
            // Automatic replies carry the simplified privacy notice in force.
            let text = match crate::privacy::notices::current_in(
                &mut tx,
                atiende_domain::privacy::NoticeKind::Simplified,
            )
            .await?
            {
                Some(notice) => format!("{text}\n\n--\n{}", notice.body),
                None => text,
            };
            let out = OutgoingEmail {
                mailbox_id: mailbox.id,
                to: to.to_string(),
                subject: reply_subject(&incident.folio, &subject),
                text,
                message_id: message_id_for(mailbox, &folio),
                in_reply_to: Some(email.message_id.clone()),
                references: email
                    .references
                    .iter()
                    .cloned()
                    .chain([email.message_id.clone()])
                    .collect(),
                folio: Some(folio),
                automatic: true,
                link_to_incident: false,
                one_time_link: None,
                files: Vec::new(),
            };
            queue_email(&mut tx, Some(incident.id), None, &out).await?;
        }
        tx.commit().await?;
        tracing::info!(incident.folio = %incident.folio, email.message_id = %email.message_id, "email opened an incident");
        Ok(IngestOutcome::Created(incident.id))
    }

    /// Inbound and outbound messages of an incident, oldest first.
    pub async fn email_messages(&self, incident: IncidentId) -> Result<Vec<EmailRecord>> {
        let rows = sqlx::query("SELECT * FROM email_messages WHERE incident_id = $1 ORDER BY id")
            .bind(incident.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(EmailRecord {
                    message_id: r.try_get("message_id")?,
                    direction: r.try_get("direction")?,
                    entry_id: r.try_get("entry_id")?,
                    from_address: r.try_get("from_address")?,
                    subject: r.try_get("subject")?,
                    html: r.try_get("html")?,
                    malformed: flag(r, "malformed")?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    /// The original bytes of an inbound message (shown raw when it could not be parsed).
    pub async fn email_raw(&self, message_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT raw FROM email_messages WHERE message_id = $1")
            .bind(message_id.to_string())
            .fetch_optional(self.reader())
            .await?;
        Ok(row.and_then(|r| r.try_get::<Option<Vec<u8>>, _>("raw").ok().flatten()))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EmailRecord {
    pub message_id: String,
    pub direction: String,
    pub entry_id: Option<i64>,
    pub from_address: String,
    pub subject: String,
    pub html: Option<String>,
    pub malformed: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The mailbox that sends mail not tied to an inbound message (the first active one).
pub(crate) async fn default_mailbox(tx: &mut Tx) -> Result<Option<Mailbox>> {
    let row = sqlx::query("SELECT * FROM mailboxes WHERE active = 1 ORDER BY id LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(|r| mailbox_from_row(r, None)).transpose()
}

/// The person on record who holds an email address, with the address as stored and the
/// mailbox to write from — none when nobody (not suppressed, and not blocked unless
/// `blocked_too`) holds it or no mailbox sends. What a one-time link by email starts from.
pub(crate) async fn holder_of_address(
    tx: &mut Tx,
    email: &str,
    blocked_too: bool,
) -> Result<Option<(i64, String, Mailbox)>> {
    let Ok(ident) = atiende_domain::contact::Identifier::parse(
        atiende_domain::contact::IdentifierKind::Email,
        email,
    ) else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT c.id FROM contact_identifiers ci JOIN contacts c ON c.id = ci.contact_id \
         WHERE ci.kind = $1 AND ci.value = $2 AND c.anonymised_at IS NULL \
         AND ($3 = 1 OR c.blocked_at IS NULL) ORDER BY c.id LIMIT 1",
    )
    .bind(ident.kind.code())
    .bind(ident.value.clone())
    .bind(i64::from(blocked_too))
    .fetch_optional(&mut **tx)
    .await?;
    let (Some(row), Some(mailbox)) = (row, default_mailbox(tx).await?) else {
        return Ok(None);
    };
    Ok(Some((row.try_get("id")?, ident.value, mailbox)))
}

/// Queues an automatic message, tied to no incident, carrying a one-time link (its token made
/// when it leaves); `tag` marks its message id.
pub(crate) async fn queue_link_email(
    tx: &mut Tx,
    mailbox: &Mailbox,
    (to, tag): (String, &str),
    subject: &str,
    text: String,
    link: crate::links::OneTimeLink,
) -> Result<()> {
    let out = OutgoingEmail {
        mailbox_id: mailbox.id,
        to,
        subject: subject.to_string(),
        text,
        message_id: message_id_for(mailbox, tag),
        in_reply_to: None,
        references: vec![],
        folio: None,
        automatic: true,
        link_to_incident: false,
        one_time_link: Some(link),
        files: Vec::new(),
    };
    queue_email(tx, None, None, &out).await
}

/// Queues a message and records it as ours at once, so that a reply to it threads even
/// before it has left.
pub(crate) async fn queue_email(
    tx: &mut Tx,
    incident: Option<IncidentId>,
    entry: Option<EntryId>,
    out: &OutgoingEmail,
) -> Result<()> {
    let as_record = InboundEmail {
        message_id: out.message_id.clone(),
        in_reply_to: out.in_reply_to.iter().cloned().collect(),
        references: out.references.clone(),
        from_address: None,
        to: vec![out.to.clone()],
        subject: out.subject.clone(),
        ..Default::default()
    };
    let message = insert_message(
        tx,
        &out.message_id,
        "out",
        Some(out.mailbox_id),
        incident,
        entry,
        &as_record,
        None,
        out.automatic,
    )
    .await?;
    crate::attachments::link_to_email(tx, &out.files, message).await?;
    outbox::enqueue(tx, incident, &Job::EmailSend(out.clone())).await?;
    Ok(())
}

/// An answer recorded on an email incident goes to the person, threaded under their last message.
pub(crate) async fn queue_answer(
    tx: &mut Tx,
    incident: &Incident,
    entry: EntryId,
    body: &str,
    files: &[OutgoingFile],
) -> Result<bool> {
    if !matches!(
        incident.channel,
        Channel::Email | Channel::SuggestionBox | Channel::ChatWeb
    ) {
        return Ok(false);
    }
    let last_in = sqlx::query(
        "SELECT message_id, mailbox_id, from_address, subject, references_ids FROM email_messages \
         WHERE incident_id = $1 AND direction = 'in' AND automatic = 0 ORDER BY id DESC LIMIT 1",
    )
    .bind(incident.id.0)
    .fetch_optional(&mut **tx)
    .await?;
    let (mailbox_id, to, parent, mut references) = match last_in {
        Some(r) => {
            let refs: String = r.try_get("references_ids")?;
            let parent: String = r.try_get("message_id")?;
            (
                r.try_get::<Option<i64>, _>("mailbox_id")?,
                r.try_get::<String, _>("from_address")?,
                Some(parent),
                refs.split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            )
        }
        None => {
            // Registered by an agent (e.g. from the buzón): write to the contact's address.
            let email = match incident.contact_id {
                Some(c) => contact_in_tx(tx, c)
                    .await?
                    .emails
                    .first()
                    .cloned()
                    .unwrap_or_default(),
                None => String::new(),
            };
            (None, email, None, Vec::new())
        }
    };
    if to.is_empty() {
        return Ok(false);
    }
    let mailbox = match mailbox_id {
        Some(id) => mailbox_in_tx(tx, id, None).await?,
        None => match default_mailbox(tx).await? {
            Some(m) => m,
            None => return Ok(false),
        },
    };
    if let Some(p) = &parent {
        references.push(p.clone());
    }
    let folio = incident.folio.to_string();
    let out = OutgoingEmail {
        mailbox_id: mailbox.id,
        to,
        subject: reply_subject(&incident.folio, &incident.subject),
        text: body.to_string(),
        message_id: message_id_for(&mailbox, &folio),
        in_reply_to: parent,
        references,
        folio: Some(folio),
        automatic: false,
        link_to_incident: false,
        one_time_link: None,
        files: files.to_vec(),
    };
    queue_email(tx, Some(incident.id), Some(entry), &out).await?;
    Ok(true)
}

/// A derivation by email sends the unit a summary; the link to the incident is added by the
/// sender, who knows the public address.
pub(crate) async fn queue_derivation_notice(
    tx: &mut Tx,
    incident: &Incident,
    unit: &Unit,
    reason: &str,
) -> Result<()> {
    if unit.email.is_empty() {
        return Ok(());
    }
    let Some(mailbox) = default_mailbox(tx).await? else {
        return Ok(());
    };
    let folio = incident.folio.to_string();
    let mut text = format!(
        "Se deriva a {} el incidente {folio} del Centro de Atención Personalizada.\n\nAsunto: {}\nMotivo: {reason}\n",
        unit.name, incident.subject
    );
    // Opposition travels with the derivation: the unit (Promoción above all) must not use the
    // person's data for offers.
    if let Some(contact) = incident.contact_id {
        let c = crate::contacts::contact_in_tx(tx, contact).await?;
        if c.opt_out_marketing {
            text.push_str(
                "\nLa persona se opuso a recibir promoción (derecho de oposición): atienda su solicitud sin enviarle ofertas ni publicidad.\n",
            );
        }
    }
    let out = OutgoingEmail {
        mailbox_id: mailbox.id,
        to: unit.email.clone(),
        subject: format!("[{folio}] Derivación: {}", header_safe(&incident.subject)),
        text,
        message_id: message_id_for(&mailbox, &folio),
        in_reply_to: None,
        references: vec![],
        folio: Some(folio),
        automatic: false,
        link_to_incident: true,
        one_time_link: None,
        files: Vec::new(),
    };
    queue_email(tx, Some(incident.id), None, &out).await
}

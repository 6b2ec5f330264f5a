//! The person's portal (`/mis-solicitudes`): a person of the register signs in without a
//! password — a one-time link to an email address on record, made when the message leaves
//! (`links`) — and sees their incidents as the person sees them: what they wrote and what the
//! CAP answered, never internal notes, derivations or staff beyond a first name. They reply
//! (with files) and open new incidents on channel *portal*.
//!
//! Where a WhatsApp template for it is configured, a person may instead ask for a six-digit
//! code sent to the WhatsApp number on record: made when the message leaves (only a keyed hash
//! kept), short-lived, and dead after a few wrong tries — counted in the database, so on every
//! instance.
//!
//! Nothing tells the asker whether an address is on record; a blocked or suppressed person
//! cannot sign in; sessions are apart from staff sessions and bound to one person.

use atiende_domain::RuleError;
use atiende_domain::audit::EntityKind;
use atiende_domain::classification::Channel;
use atiende_domain::folio::Folio;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{EntryKind, Incident, MAX_ENTRY_CHARS, NewIncidentInput, Status};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::Actor;
use crate::attachments::Upload;
use crate::audit::Change;
use crate::db::{Store, from_ms, ms, now};
use crate::email::{holder_of_address, queue_link_email};
use crate::error::{Result, StoreError};
use crate::links::{OneTimeLink, link_with_slot, unusable_hash};
use crate::outbox::{Job, PortalCodeJob};
use crate::users::{random_token, token_hash};

/// How long an emailed sign-in link works.
pub const LINK_MINUTES: i64 = 30;
/// How long a code sent by WhatsApp works.
pub const CODE_MINUTES: i64 = 10;
/// Wrong codes a sign-in takes before it stops working.
pub const CODE_ATTEMPTS: i64 = 5;
/// How long a portal session lasts, used or not.
pub const SESSION_HOURS: i64 = 8;

/// An incident as its person sees it in the list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortalIncident {
    pub id: IncidentId,
    pub folio: Folio,
    pub status: Status,
    pub subject: String,
    pub received_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Its satisfaction survey was sent and waits for the person's answer.
    pub survey_pending: bool,
}

/// One message of the conversation: the person's, or the CAP's answer (by a first name).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PortalMessage {
    /// Its timeline entry.
    pub id: i64,
    pub at: DateTime<Utc>,
    pub from_cap: bool,
    /// The answering agent's first name (none for the person's own messages).
    pub by: Option<String>,
    pub body: String,
    /// The files on it: id and name (downloaded through the portal).
    pub files: Vec<(i64, String)>,
}

fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Incidents as the portal lists them (`$2`: now, for a survey still open), then `$rest`.
macro_rules! portal_select {
    ($rest:literal) => {
        concat!(
            "SELECT i.id, i.folio, i.status, i.subject, i.received_at, i.closed_at, \
             (SELECT COUNT(*) FROM surveys s WHERE s.incident_id = i.id AND s.sent_at IS NOT NULL \
              AND s.answered_at IS NULL AND s.expires_at > $2) AS survey_pending \
             FROM incidents i ",
            $rest
        )
    };
}

impl Store {
    /// An incident's conversation as its person sees it — their messages and the CAP's
    /// answers, never notes or derivations, the agent by first name — after entry `after`.
    pub async fn conversation(
        &self,
        incident: IncidentId,
        after: i64,
    ) -> Result<Vec<PortalMessage>> {
        let mut messages =
            messages_in(&mut *self.reader().acquire().await?, incident, after).await?;
        if messages.is_empty() {
            return Ok(messages);
        }
        let files = self.attachments(incident).await?;
        for m in &mut messages {
            m.files = files
                .iter()
                .filter(|f| f.entry_id == Some(m.id))
                .map(|f| (f.id, f.filename.clone()))
                .collect();
        }
        Ok(messages)
    }

    /// Sends a sign-in link when the address belongs to a person on record whose data may be
    /// used (not blocked, not suppressed); otherwise does nothing, and says nothing different.
    pub async fn request_portal_link(&self, email: &str, base_url: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let Some((contact, address, mailbox)) = holder_of_address(&mut tx, email, false).await?
        else {
            return Ok(());
        };
        let at = now();
        let sign_in: i64 = sqlx::query(
            "INSERT INTO portal_sign_ins (contact_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(contact)
        .bind(unusable_hash())
        .bind(ms(at))
        .bind(ms(at + Duration::minutes(LINK_MINUTES)))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let link = link_with_slot(base_url, "mis-solicitudes/entrar");
        queue_link_email(
            &mut tx,
            &mailbox,
            (address, "portal"),
            "Su enlace para entrar a Mis solicitudes",
            format!(
                "Hola:\n\nPara ver sus solicitudes al Centro de Atención Personalizada, abra este \
                 enlace en los próximos {LINK_MINUTES} minutos (funciona una sola vez):\n\n{link}\n\n\
                 Si usted no lo pidió, ignore este mensaje: nadie entra sin él.\n\n\
                 Atentamente,\nCentro de Atención Personalizada"
            ),
            OneTimeLink::PortalSignIn(sign_in),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sends a sign-in code when `number` is the WhatsApp number on record of a person whose
    /// data may be used: a sign-in row and the job that sends the code from one of our numbers
    /// (`accounts`: the one the person last wrote to, else the first). Otherwise does nothing,
    /// and says nothing different.
    pub async fn request_portal_code(&self, number: &str, accounts: &[String]) -> Result<()> {
        let Some(number) = whatsapp_number(number) else {
            return Ok(());
        };
        let mut tx = self.begin().await?;
        let Some((contact, number)) = whatsapp_holder(&mut tx, &number).await? else {
            return Ok(());
        };
        if !usable(&mut tx, contact).await? {
            return Ok(());
        }
        let last_account: Option<String> = sqlx::query(
            "SELECT account_id FROM chat_messages WHERE provider = 'whatsapp' AND peer_id = $1 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(number.clone())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("account_id"))
        .transpose()?;
        let Some(account_id) = last_account
            .filter(|a| accounts.contains(a))
            .or_else(|| accounts.first().cloned())
        else {
            return Ok(());
        };
        let at = now();
        let sign_in: i64 = sqlx::query(
            "INSERT INTO portal_sign_ins (contact_id, token_hash, created_at, expires_at, whatsapp) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(contact)
        .bind(unusable_hash())
        .bind(ms(at))
        .bind(ms(at + Duration::minutes(CODE_MINUTES)))
        .bind(number.clone())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let job = Job::PortalCode(PortalCodeJob {
            sign_in_id: sign_in,
            account_id,
            to: number,
        });
        crate::outbox::enqueue(&mut tx, None, &job).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Makes the code of a sign-in about to be sent and keeps only its keyed hash. `None`
    /// when the sign-in no longer works (used, expired): its message is not worth sending.
    pub async fn issue_portal_code(&self, sign_in: i64) -> Result<Option<String>> {
        let code = format!(
            "{:06}",
            rand::Rng::gen_range(&mut rand::rngs::OsRng, 0..1_000_000)
        );
        let changed = sqlx::query(
            "UPDATE portal_sign_ins SET token_hash = $1, attempts = 0 WHERE id = $2 \
             AND whatsapp IS NOT NULL AND used_at IS NULL AND expires_at > $3",
        )
        .bind(self.sealer.keyed_hash(&code_key(sign_in, &code)))
        .bind(sign_in)
        .bind(ms(now()))
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok((changed == 1).then_some(code))
    }

    /// Uses the code sent to `number` (the newest sign-in sent there, once, before it expires
    /// and while it has tries left) and opens a session for its person. A wrong code counts
    /// as a try. Returns the session's token, or none.
    pub async fn open_portal_session_by_code(
        &self,
        number: &str,
        code: &str,
    ) -> Result<Option<String>> {
        let Some(number) = whatsapp_number(number) else {
            return Ok(None);
        };
        let code: String = code.chars().filter(char::is_ascii_digit).collect();
        let mut tx = self.begin().await?;
        let Some((_, number)) = whatsapp_holder(&mut tx, &number).await? else {
            return Ok(None);
        };
        let at = now();
        let row = sqlx::query(
            "UPDATE portal_sign_ins SET attempts = attempts + 1 WHERE id = \
             (SELECT MAX(id) FROM portal_sign_ins WHERE whatsapp = $1) \
             AND used_at IS NULL AND expires_at > $2 AND attempts < $3 \
             RETURNING id, token_hash, contact_id",
        )
        .bind(number)
        .bind(ms(at))
        .bind(CODE_ATTEMPTS)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let sign_in: i64 = row.try_get("id")?;
        let stored: String = row.try_get("token_hash")?;
        let given = self.sealer.keyed_hash(&code_key(sign_in, &code));
        // Hashes compared, not codes: the time a comparison takes tells nothing of the code.
        let right = code.len() == 6 && stored == given;
        if !right {
            // The wrong try is counted whatever happens next.
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE portal_sign_ins SET used_at = $2 WHERE id = $1")
            .bind(sign_in)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?;
        let contact: i64 = row.try_get("contact_id")?;
        open_session(tx, contact).await
    }

    /// Uses a sign-in link (once, before it expires) and opens a session for its person.
    /// Returns the session's token (only its hash is kept), or none for a link that does not
    /// work.
    pub async fn open_portal_session(&self, link_token: &str) -> Result<Option<String>> {
        let mut tx = self.begin().await?;
        let at = now();
        let row = sqlx::query(
            "UPDATE portal_sign_ins SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
             AND expires_at > $2 RETURNING contact_id",
        )
        .bind(token_hash(link_token))
        .bind(ms(at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let contact: i64 = row.try_get("contact_id")?;
        open_session(tx, contact).await
    }

    /// The person a portal session belongs to, while it lasts and their data may be used.
    pub async fn portal_person(&self, session_token: &str) -> Result<Option<ContactId>> {
        let row = sqlx::query(
            "SELECT s.contact_id FROM portal_sessions s JOIN contacts c ON c.id = s.contact_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND c.anonymised_at IS NULL \
             AND c.blocked_at IS NULL",
        )
        .bind(token_hash(session_token))
        .bind(ms(now()))
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| Ok(ContactId(r.try_get("contact_id")?)))
            .transpose()
    }

    /// Ends a portal session (the person signed out).
    pub async fn end_portal_session(&self, session_token: &str) -> Result<()> {
        sqlx::query("DELETE FROM portal_sessions WHERE token_hash = $1")
            .bind(token_hash(session_token))
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The person's incidents, newest first (a hundred at most).
    pub async fn portal_incidents(&self, person: ContactId) -> Result<Vec<PortalIncident>> {
        let rows = sqlx::query(portal_select!(
            "WHERE i.contact_id = $1 ORDER BY i.id DESC LIMIT 100"
        ))
        .bind(person.0)
        .bind(ms(now()))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(portal_incident_from_row).collect()
    }

    /// One of the person's incidents, with its conversation; none when it is not theirs.
    pub async fn portal_incident(
        &self,
        person: ContactId,
        folio: &str,
    ) -> Result<Option<(PortalIncident, Vec<PortalMessage>)>> {
        let Some(row) = sqlx::query(portal_select!("WHERE i.contact_id = $1 AND i.folio = $3"))
            .bind(person.0)
            .bind(ms(now()))
            .bind(folio.trim().to_uppercase())
            .fetch_optional(self.reader())
            .await?
        else {
            return Ok(None);
        };
        let incident = portal_incident_from_row(&row)?;
        let messages = self.conversation(incident.id, 0).await?;
        Ok(Some((incident, messages)))
    }

    /// The person writes on one of their incidents not yet closed: their words (and files)
    /// join its timeline as a message received on the portal, and its agent is told.
    pub async fn portal_reply(
        &self,
        person: ContactId,
        id: IncidentId,
        body: &str,
        uploads: &[Upload],
    ) -> Result<()> {
        let mut v = atiende_domain::error::Validator::new();
        let body = v.text("body", body, MAX_ENTRY_CHARS, uploads.is_empty());
        v.finish()?;
        let named: Vec<(&str, &[u8])> = uploads
            .iter()
            .map(|u| (u.filename.as_str(), u.data.as_slice()))
            .collect();
        let checked = atiende_domain::attachment::check_files(&named)?;
        let mut change = self.change_incident(id).await?;
        if change.after.contact_id != Some(person) {
            return Err(StoreError::NotFound("incident"));
        }
        if change.after.is_closed() {
            return Err(RuleError::AlreadyClosed.into());
        }
        let entry = crate::public::person_wrote(&mut change, Channel::Portal, &body, true).await?;
        let files: Vec<_> = checked
            .into_iter()
            .zip(uploads.iter().map(|u| u.data.as_slice()))
            .collect();
        crate::attachments::store_files(&mut change.tx, id, entry, &files).await?;
        let audit = Change {
            entity: EntityKind::Incident,
            entity_id: change.after.folio.to_string(),
            action: "incident.portal_reply",
            before: None,
            after: Some(serde_json::json!({ "entry_id": entry, "files": files.len() })),
        };
        change.commit_with(Actor::System, "", audit).await?;
        Ok(())
    }

    /// The person opens a new incident on the portal (having been shown the privacy notice
    /// `notice`, kept with it).
    pub async fn portal_new_incident(
        &self,
        person: ContactId,
        subject: &str,
        body: &str,
        notice: Option<i64>,
    ) -> Result<Incident> {
        let input = NewIncidentInput {
            channel: Channel::Portal,
            contact_id: Some(person),
            subject: subject.to_string(),
            body: body.to_string(),
            user_type: None,
            incident_type: None,
            topic_id: None,
            critical: false,
            assigned_to: None,
            received_at: None,
        };
        if body.trim().is_empty() {
            return Err(RuleError::invalid("body", "required").into());
        }
        let mut tx = self.begin().await?;
        let (incident, _) = self
            .create_incident_in(&mut tx, Actor::System, input)
            .await?;
        crate::public::keep_notice_shown(&mut tx, incident.id, notice).await?;
        tx.commit().await?;
        Ok(incident)
    }
}

/// Opens a session for a person who proved they hold an address or number on record, when
/// their data may still be used; commits the sign-in's use either way.
async fn open_session(mut tx: crate::tx::Tx, contact: i64) -> Result<Option<String>> {
    if !usable(&mut tx, contact).await? {
        tx.commit().await?;
        return Ok(None);
    }
    let at = now();
    let token = random_token();
    sqlx::query(
        "INSERT INTO portal_sessions (contact_id, token_hash, created_at, expires_at, seen_at) \
         VALUES ($1, $2, $3, $4, $3)",
    )
    .bind(contact)
    .bind(token_hash(&token))
    .bind(ms(at))
    .bind(ms(at + Duration::hours(SESSION_HOURS)))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// A number as the register keeps WhatsApp numbers (digits), or none when it is not one.
fn whatsapp_number(raw: &str) -> Option<String> {
    atiende_domain::contact::Identifier::parse(
        atiende_domain::contact::IdentifierKind::Whatsapp,
        raw,
    )
    .ok()
    .map(|i| i.value)
}

/// The person whose WhatsApp number is `number`, and the number as on record: exactly, or —
/// a number typed without its country code — the one person whose number ends with its ten
/// digits.
async fn whatsapp_holder(tx: &mut crate::tx::Tx, number: &str) -> Result<Option<(i64, String)>> {
    let exact = sqlx::query(
        "SELECT contact_id, value FROM contact_identifiers WHERE kind = 'whatsapp' AND value = $1",
    )
    .bind(number.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(r) = exact {
        return Ok(Some((r.try_get("contact_id")?, r.try_get("value")?)));
    }
    if number.len() != 10 {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT contact_id, value FROM contact_identifiers WHERE kind = 'whatsapp' AND value LIKE $1 LIMIT 2",
    )
    .bind(format!("%{number}"))
    .fetch_all(&mut **tx)
    .await?;
    match rows.as_slice() {
        [only] => Ok(Some((only.try_get("contact_id")?, only.try_get("value")?))),
        _ => Ok(None),
    }
}

/// What a code's keyed hash is made of: the sign-in it belongs to and the code.
fn code_key(sign_in: i64, code: &str) -> String {
    format!("portal-code:{sign_in}:{code}")
}

/// An incident's messages after entry `after`, as its person sees them (files not yet read):
/// what the portal, the web chat and its transcript show.
pub(crate) async fn messages_in(
    conn: &mut sqlx::AnyConnection,
    incident: IncidentId,
    after: i64,
) -> Result<Vec<PortalMessage>> {
    let rows = sqlx::query(
        "SELECT e.id, e.kind, e.at, e.body, u.name FROM timeline_entries e \
         LEFT JOIN users u ON u.id = e.author_id \
         WHERE e.incident_id = $1 AND e.kind IN ($2, $3) AND e.id > $4 ORDER BY e.at, e.id",
    )
    .bind(incident.0)
    .bind(EntryKind::InboundMessage.code())
    .bind(EntryKind::OutboundMessage.code())
    .bind(after)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let from_cap = r.try_get::<String, _>("kind")? == EntryKind::OutboundMessage.code();
            Ok(PortalMessage {
                id: r.try_get("id")?,
                at: from_ms(r.try_get("at")?)?,
                from_cap,
                by: if from_cap {
                    r.try_get::<Option<String>, _>("name")?
                        .map(|n| first_name(&n))
                } else {
                    None
                },
                body: r.try_get("body")?,
                files: Vec::new(),
            })
        })
        .collect()
}

/// Whether a person's data may still be used (not blocked, not suppressed).
async fn usable(tx: &mut crate::tx::Tx, contact: i64) -> Result<bool> {
    Ok(sqlx::query(
        "SELECT id FROM contacts WHERE id = $1 AND anonymised_at IS NULL AND blocked_at IS NULL",
    )
    .bind(contact)
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

fn portal_incident_from_row(r: &sqlx::any::AnyRow) -> Result<PortalIncident> {
    let folio: String = r.try_get("folio")?;
    let status: String = r.try_get("status")?;
    Ok(PortalIncident {
        id: IncidentId(r.try_get("id")?),
        folio: folio.parse().map_err(|_| StoreError::corrupt("folio"))?,
        status: Status::from_code(&status).ok_or_else(|| StoreError::corrupt("status"))?,
        subject: r.try_get("subject")?,
        received_at: from_ms(r.try_get("received_at")?)?,
        closed_at: r
            .try_get::<Option<i64>, _>("closed_at")?
            .map(from_ms)
            .transpose()?,
        survey_pending: r.try_get::<i64, _>("survey_pending")? > 0,
    })
}

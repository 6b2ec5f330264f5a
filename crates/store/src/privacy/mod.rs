//! Personal data, in one place the other capabilities call: the person's whole file (access
//! and portability), blocking and suppression (cancellation), and the append-only record of
//! who viewed, exported or changed it.
//!
//! Suppression removes what identifies the person — names, addresses, numbers, identifiers and
//! the free text of their incidents — from every table, the search index and the attachment
//! store, and keeps folios, dates and classifications, so that indicators do not move.

pub mod notices;
pub mod requests;
pub mod retention;

use atiende_domain::audit::{AuditEntry, EntityKind};
use atiende_domain::contact::Contact;
use atiende_domain::derivation::Derivation;
use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::incident::{EntryKind, Incident, TimelineEntry};
use atiende_domain::privacy::{
    Cancellation, DataAction, SUPPRESSED, anonymised_name, scrub_answers,
};
use atiende_domain::webhook::EventType;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::attachments::Attachment;
use crate::audit::{AuditQuery, Change, record};
use crate::calls::Call;
use crate::chat::ChatRecord;
use crate::contacts::contact_in_tx;
use crate::db::{Engine, Store, code, from_ms, ms, now};
use crate::email::EmailRecord;
use crate::error::{Result, StoreError};
use crate::surveys::Survey;
use crate::tx::Tx;

/// One line of the access log.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    /// Who, by login (or `atiende` for the system), kept even if the user is later removed.
    pub actor: String,
    pub contact_id: ContactId,
    pub action: DataAction,
    pub detail: String,
}

fn access_from_row(r: &AnyRow) -> Result<AccessEntry> {
    Ok(AccessEntry {
        id: r.try_get("id")?,
        at: from_ms(r.try_get("at")?)?,
        actor_id: r.try_get("actor_id")?,
        actor: r.try_get("actor")?,
        contact_id: ContactId(r.try_get("contact_id")?),
        action: code(r, "action", DataAction::from_code)?,
        detail: r.try_get("detail")?,
    })
}

/// An attachment in the person's file, with its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct FileAttachment {
    #[serde(flatten)]
    pub meta: Attachment,
    pub data_base64: String,
}

/// One incident of the person, with everything it holds.
#[derive(Debug, Clone, Serialize)]
pub struct FileIncident {
    pub incident: Incident,
    pub timeline: Vec<TimelineEntry>,
    pub derivations: Vec<Derivation>,
    pub emails: Vec<EmailRecord>,
    pub chat_messages: Vec<ChatRecord>,
    pub attachments: Vec<FileAttachment>,
    pub survey: Option<Survey>,
    /// The privacy notice shown when the person wrote (buzón), if recorded.
    pub privacy_notice: Option<notices::Notice>,
}

/// Everything atiende holds about one person (ARCO access; portable as JSON).
#[derive(Debug, Clone, Serialize)]
pub struct PersonalFile {
    pub generated_at: DateTime<Utc>,
    pub contact: Contact,
    /// Earlier records merged into this one.
    pub merged: Vec<Contact>,
    /// Every change to the contact: who, when, before and after (rectification).
    pub history: Vec<AuditEntry>,
    pub incidents: Vec<FileIncident>,
    pub calls: Vec<Call>,
    /// Who has viewed, exported or changed this person's data.
    pub access_log: Vec<AccessEntry>,
}

/// What a suppression removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suppression {
    pub contacts: u64,
    pub incidents: u64,
    pub entries: u64,
    pub messages: u64,
    pub attachments: u64,
}

fn actor_name(actor: Actor<'_>) -> String {
    match actor {
        Actor::Staff(u) => u.login.clone(),
        Actor::System => "atiende".into(),
    }
}

/// Records one access, in the caller's transaction or (given the pool) as a statement of its own.
pub(crate) async fn log_access_in(
    exec: impl sqlx::Executor<'_, Database = sqlx::Any>,
    actor: Actor<'_>,
    contact: ContactId,
    action: DataAction,
    detail: &str,
) -> Result<()> {
    insert_access(
        exec,
        actor.user_id().map(|u| u.0),
        &actor_name(actor),
        contact,
        action,
        detail,
    )
    .await
}

async fn insert_access(
    exec: impl sqlx::Executor<'_, Database = sqlx::Any>,
    actor_id: Option<i64>,
    actor: &str,
    contact: ContactId,
    action: DataAction,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO personal_data_access (at, actor_id, actor, contact_id, action, detail) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ms(now()))
    .bind(actor_id)
    .bind(actor.to_string())
    .bind(contact.0)
    .bind(action.code())
    .bind(detail.to_string())
    .execute(exec)
    .await?;
    Ok(())
}

/// The contact and every contact merged into it: suppression reaches all of them.
async fn person_ids(tx: &mut Tx, id: ContactId) -> Result<Vec<i64>> {
    let mut ids = vec![id.0];
    for r in sqlx::query("SELECT id FROM contacts WHERE merged_into = $1")
        .bind(id.0)
        .fetch_all(&mut **tx)
        .await?
    {
        ids.push(r.try_get("id")?);
    }
    Ok(ids)
}

/// `IN (…)` over a list of ids (already numbers, so nothing to bind).
fn id_list(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("({})", list.join(", "))
}

/// Removes the free text of incidents — subjects, messages, notes, derivation reasons and
/// answers, emails, chats, attachments, written survey answers, the audit trail's copies —
/// and keeps folios, dates and classifications. Used by suppression (every incident of the
/// person) and by retention (incidents closed long enough ago).
async fn suppress_incident_texts(
    tx: &mut Tx,
    incidents: &[i64],
    report: &mut Suppression,
) -> Result<()> {
    if incidents.is_empty() {
        return Ok(());
    }
    // What their documents say leaves the search's list of words with them.
    let words = crate::search::words_of(tx, crate::search::Kind::Incident, incidents).await?;
    tx.forget_words(words);
    let now_ms = ms(now());
    let inc = id_list(incidents);
    execute(
        tx,
        format!(
            "UPDATE incidents SET subject = '{SUPPRESSED}', text_suppressed_at = COALESCE(text_suppressed_at, {now_ms}) WHERE id IN {inc}"
        ),
    )
    .await?;
    // Status changes and derivations keep their data: first-contact resolution reads it.
    // Their bodies (free text) go like every other entry's.
    report.entries = execute(
        tx,
        format!(
            "UPDATE timeline_entries SET body = CASE WHEN body = '' THEN '' ELSE '{SUPPRESSED}' END, \
             data = CASE WHEN kind IN ('{}', '{}', '{}', '{}') THEN data ELSE '{{}}' END WHERE incident_id IN {inc}",
            EntryKind::StatusChange.code(),
            EntryKind::Derivation.code(),
            EntryKind::Classification.code(),
            EntryKind::Assignment.code(),
        ),
    )
    .await?;
    report.messages += execute(
        tx,
        format!(
            "UPDATE email_messages SET message_id = 'suprimido-' || CAST(id AS TEXT), from_address = '', to_addresses = '', \
             subject = '{SUPPRESSED}', in_reply_to = '', references_ids = '', html = NULL, raw = NULL WHERE incident_id IN {inc}"
        ),
    )
    .await?;
    report.messages += execute(
        tx,
        format!(
            "UPDATE chat_messages SET peer_id = 'suprimido', body = '', content = '[]', error = NULL WHERE incident_id IN {inc}"
        ),
    )
    .await?;
    report.attachments = execute(
        tx,
        format!("DELETE FROM attachments WHERE incident_id IN {inc}"),
    )
    .await?;
    for sql in [
        format!(
            "UPDATE derivations SET reason = '{SUPPRESSED}', told_address = NULL, \
             answer = CASE WHEN answer IS NULL THEN NULL ELSE '{SUPPRESSED}' END WHERE incident_id IN {inc}"
        ),
        format!("UPDATE calls SET from_number = '', to_number = '' WHERE incident_id IN {inc}"),
        format!(
            "UPDATE nonconformities SET description = '{SUPPRESSED}', \
             disposition = CASE WHEN disposition = '' THEN '' ELSE '{SUPPRESSED}' END, \
             corrective_action = CASE WHEN corrective_action = '' THEN '' ELSE '{SUPPRESSED}' END, \
             effectiveness = CASE WHEN effectiveness = '' THEN '' ELSE '{SUPPRESSED}' END WHERE incident_id IN {inc}"
        ),
        format!(
            "UPDATE surveys SET follow_up_note = CASE WHEN follow_up_note IS NULL THEN NULL ELSE '{SUPPRESSED}' END WHERE incident_id IN {inc}"
        ),
        // Sends to the person that have not left yet never will.
        format!(
            "UPDATE outbox SET status = 'failed', last_error = 'suppressed' WHERE status = 'pending' AND incident_id IN {inc}"
        ),
        format!("UPDATE outbox SET payload = '{{}}' WHERE incident_id IN {inc}"),
    ] {
        execute(tx, sql).await?;
    }
    scrub_survey_comments(tx, &format!("incident_id IN {inc}")).await?;
    let folios: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT folio FROM incidents WHERE id IN {inc}"
    )))
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("folio"))
    .collect::<std::result::Result<_, _>>()?;
    for folio in &folios {
        scrub_audit(tx, "incident", folio).await?;
    }
    Ok(())
}

/// Runs a statement built from ids and constants only; returns the rows it touched.
async fn execute(tx: &mut Tx, sql: String) -> Result<u64> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Survey answers keep their scores (the indicators are made of them) and lose what the
/// person wrote; `condition` selects the surveys (ids and constants only). Returns how many.
pub(crate) async fn scrub_survey_comments(tx: &mut Tx, condition: &str) -> Result<u64> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, answers FROM surveys WHERE answers IS NOT NULL AND comments_suppressed_at IS NULL AND {condition}"
    )))
    .fetch_all(&mut **tx)
    .await?;
    let now_ms = ms(now());
    for r in &rows {
        let raw: String = r.try_get("answers")?;
        let answers: serde_json::Value = serde_json::from_str(&raw).map_err(StoreError::corrupt)?;
        sqlx::query("UPDATE surveys SET answers = $1, comments_suppressed_at = $2 WHERE id = $3")
            .bind(scrub_answers(&answers).to_string())
            .bind(now_ms)
            .bind(r.try_get::<i64, _>("id")?)
            .execute(&mut **tx)
            .await?;
    }
    Ok(rows.len() as u64)
}

/// Messages that belong to no incident but went to (or came from) one of the person's
/// addresses — the `/mis-datos` link, mail that opened nothing — go like an incident's: the
/// copy is emptied and a send that has not left never will.
async fn suppress_messages_to(
    tx: &mut Tx,
    addresses: &[String],
    report: &mut Suppression,
) -> Result<()> {
    for address in addresses.iter().filter(|a| a.chars().count() >= 4) {
        let pattern = format!("%{}%", crate::contacts::like_escape(address));
        report.messages += sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE email_messages SET message_id = 'suprimido-' || CAST(id AS TEXT), from_address = '', \
             to_addresses = '', subject = '{SUPPRESSED}', in_reply_to = '', references_ids = '', html = NULL, \
             raw = NULL WHERE incident_id IS NULL AND (from_address = $1 OR to_addresses LIKE $2 ESCAPE '\\')"
        )))
        .bind(address.clone())
        .bind(pattern.clone())
        .execute(&mut **tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE outbox SET status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END, \
             last_error = CASE WHEN status = 'pending' THEN 'suppressed' ELSE last_error END, payload = '{}' \
             WHERE incident_id IS NULL AND payload LIKE $1 ESCAPE '\\'",
        )
        .bind(pattern)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The audit trail keeps that a change happened, not what it said about the person.
async fn scrub_audit(tx: &mut Tx, entity: &str, entity_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE audit_log SET before_json = NULL, after_json = NULL WHERE entity = $1 AND entity_id = $2",
    )
    .bind(entity.to_string())
    .bind(entity_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Records that someone viewed, exported or changed a person's data.
    pub async fn log_personal_access(
        &self,
        actor: Actor<'_>,
        contact: ContactId,
        action: DataAction,
        detail: &str,
    ) -> Result<()> {
        // One row: a statement of its own commits it, without a transaction's two more
        // round trips.
        log_access_in(self.writer(), actor, contact, action, detail).await
    }

    /// The access log, newest first: of one person, or of everyone.
    pub async fn personal_access_log(
        &self,
        contact: Option<ContactId>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AccessEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM personal_data_access WHERE ($1 = 0 OR contact_id = $1) AND ($2 = 0 OR id < $2) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(contact.map_or(0, |c| c.0))
        .bind(before_id.unwrap_or(0))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(access_from_row).collect()
    }

    /// Everything held about a person, recorded in the access log as an export.
    pub async fn personal_file(
        &self,
        actor: Actor<'_>,
        id: ContactId,
        format: &str,
    ) -> Result<PersonalFile> {
        let contact = self.contact(id).await?;
        if contact.merged_into.is_some() {
            return Err(StoreError::NotFound("contact"));
        }
        self.log_personal_access(actor, id, DataAction::Export, format)
            .await?;
        self.assemble_file(contact).await
    }

    /// The person's file, read (the caller has logged the access).
    async fn assemble_file(&self, contact: Contact) -> Result<PersonalFile> {
        let id = contact.id;
        let mut merged = Vec::new();
        for r in sqlx::query("SELECT id FROM contacts WHERE merged_into = $1 ORDER BY id")
            .bind(id.0)
            .fetch_all(self.reader())
            .await?
        {
            merged.push(self.contact(ContactId(r.try_get("id")?)).await?);
        }
        let mut history = Vec::new();
        for c in std::iter::once(&contact).chain(&merged) {
            let q = AuditQuery {
                entity: Some(EntityKind::Contact),
                entity_id: Some(c.id.to_string()),
                limit: 1000,
                with_blocked: true,
                ..Default::default()
            };
            history.extend(self.audit(&q).await?);
        }
        history.sort_by_key(|e| e.id);
        let ids: Vec<i64> = std::iter::once(id.0)
            .chain(merged.iter().map(|c| c.id.0))
            .collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM incidents WHERE contact_id IN {} ORDER BY id",
            id_list(&ids)
        )))
        .fetch_all(self.reader())
        .await?;
        let mut incidents = Vec::new();
        for r in rows {
            let iid = IncidentId(r.try_get("id")?);
            let mut attachments = Vec::new();
            for meta in self.attachments(iid).await? {
                let (meta, data) = self.attachment_data(iid, meta.id).await?;
                attachments.push(FileAttachment {
                    meta,
                    data_base64: base64::engine::general_purpose::STANDARD.encode(data),
                });
            }
            incidents.push(FileIncident {
                incident: self.incident(iid).await?,
                timeline: self.timeline(iid).await?,
                derivations: self.derivations(iid).await?,
                emails: self.email_messages(iid).await?,
                chat_messages: self.chat_messages(iid).await?,
                attachments,
                survey: self.survey_of_incident(iid).await?,
                privacy_notice: self.notice_of_incident(iid).await?,
            });
        }
        let mut calls = Vec::new();
        for c in &ids {
            calls.extend(self.calls_of_contact(ContactId(*c)).await?);
        }
        let access_log = self.personal_access_log(Some(id), None, 10_000).await?;
        Ok(PersonalFile {
            generated_at: now(),
            contact,
            merged,
            history,
            incidents,
            calls,
            access_log,
        })
    }

    /// Cancellation, first stage (*bloqueo*): the data stays, pending the legal retention
    /// period, but leaves normal use — lists, search and surveys no longer see the person.
    pub async fn block_contact(
        &self,
        actor: Actor<'_>,
        id: ContactId,
        reason: &str,
    ) -> Result<Contact> {
        self.set_blocked(actor, id, true, reason).await
    }

    /// Lifts a block made by mistake (before suppression).
    pub async fn unblock_contact(
        &self,
        actor: Actor<'_>,
        id: ContactId,
        reason: &str,
    ) -> Result<Contact> {
        self.set_blocked(actor, id, false, reason).await
    }

    async fn set_blocked(
        &self,
        actor: Actor<'_>,
        id: ContactId,
        block: bool,
        reason: &str,
    ) -> Result<Contact> {
        let mut tx = self.begin().await?;
        let before = contact_in_tx(&mut tx, id).await?;
        if before.merged_into.is_some() {
            return Err(StoreError::NotFound("contact"));
        }
        let state = Cancellation::of(before.blocked_at.is_some(), before.anonymised_at.is_some());
        if block {
            state.may_block()?;
        } else {
            state.may_unblock()?;
        }
        sqlx::query("UPDATE contacts SET blocked_at = $1, updated_at = $2 WHERE id = $3")
            .bind(block.then(|| ms(now())))
            .bind(ms(now()))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let action = if block {
            DataAction::Block
        } else {
            DataAction::Unblock
        };
        let reason = reason.trim().chars().take(500).collect::<String>();
        log_access_in(&mut *tx, actor, id, action, &reason).await?;
        let change = Change {
            entity: EntityKind::Contact,
            entity_id: id.to_string(),
            action: if block {
                "contact.block"
            } else {
                "contact.unblock"
            },
            before: None,
            after: Some(serde_json::json!({ "reason": reason })),
        };
        record(&mut tx, actor, change).await?;
        if block {
            let data = serde_json::json!({ "contact_id": id.0 });
            crate::webhooks::emit(&mut tx, EventType::ContactBlocked, None, data).await?;
        }
        crate::search::reindex_contact(&mut tx, id).await?;
        let after = contact_in_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Cancellation, second stage (*supresión*) of a blocked person: their data is removed
    /// from every table, the search index and the attachment store, in one transaction.
    pub async fn anonymise_contact(&self, actor: Actor<'_>, id: ContactId) -> Result<Suppression> {
        let mut tx = self.begin().await?;
        let contact = contact_in_tx(&mut tx, id).await?;
        if contact.merged_into.is_some() {
            return Err(StoreError::NotFound("contact"));
        }
        Cancellation::of(
            contact.blocked_at.is_some(),
            contact.anonymised_at.is_some(),
        )
        .may_anonymise()?;
        let report = self.suppress_in(&mut tx, id).await?;
        log_access_in(&mut *tx, actor, id, DataAction::Anonymise, "").await?;
        let change = Change {
            entity: EntityKind::Contact,
            entity_id: id.to_string(),
            action: "contact.anonymise",
            before: None,
            after: serde_json::to_value(&report).ok(),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        self.after_suppression().await?;
        Ok(report)
    }

    /// The suppression itself, inside the caller's transaction.
    async fn suppress_in(&self, tx: &mut Tx, id: ContactId) -> Result<Suppression> {
        let people = person_ids(tx, id).await?;
        let people_in = id_list(&people);
        let mut report = Suppression {
            contacts: people.len() as u64,
            ..Default::default()
        };
        // What names the person, collected before it goes: the audit trail is scrubbed of it.
        let mut needles: Vec<String> = Vec::new();
        let mut addresses: Vec<String> = Vec::new();
        for c in &people {
            let contact = contact_in_tx(tx, ContactId(*c)).await?;
            // The words of their document, which left the index when they were blocked.
            let values: Vec<String> = contact.identifiers().into_iter().map(|i| i.value).collect();
            let document = crate::search::contact_document(&values);
            let words =
                crate::search::words_in(tx, &format!("{}\n{document}", contact.name)).await?;
            tx.forget_words(words);
            if contact.name.trim().chars().count() >= 4 {
                needles.push(contact.name.trim().to_string());
            }
            addresses.extend(contact.identifiers().into_iter().map(|i| i.value));
        }
        needles.extend(addresses.iter().cloned());
        let incidents: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM incidents WHERE contact_id IN {people_in}"
        )))
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
        report.incidents = incidents.len() as u64;
        if !incidents.is_empty() {
            crate::suggestions::forget_model(tx).await?;
        }
        let now_ms = ms(now());
        for c in &people {
            sqlx::query(
                "UPDATE contacts SET name = $1, notes = '', anonymised_at = $2, \
                 blocked_at = COALESCE(blocked_at, $2), updated_at = $2 WHERE id = $3",
            )
            .bind(anonymised_name(ContactId(*c)))
            .bind(now_ms)
            .bind(*c)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM contact_identifiers WHERE contact_id IN {people_in}"
        )))
        .execute(&mut **tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE external_refs SET label = '' WHERE kind = 'contact' AND local_id IN {people_in}"
        )))
        .execute(&mut **tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE calls SET from_number = '', to_number = '' WHERE contact_id IN {people_in}"
        )))
        .execute(&mut **tx)
        .await?;
        suppress_incident_texts(tx, &incidents, &mut report).await?;
        suppress_messages_to(tx, &addresses, &mut report).await?;
        // Messages held for an account not configured yet, from any of the person's ids.
        for address in &addresses {
            sqlx::query("DELETE FROM held_chat_messages WHERE peer_id = $1")
                .bind(address.clone())
                .execute(&mut **tx)
                .await?;
        }
        // The audit trail keeps that something happened, not what it said about the person.
        for c in &people {
            scrub_audit(tx, "contact", &c.to_string()).await?;
        }
        for needle in needles {
            let pattern = format!("%{}%", crate::contacts::like_escape(&needle));
            sqlx::query(
                "UPDATE audit_log SET before_json = NULL, after_json = NULL \
                 WHERE before_json LIKE $1 ESCAPE '\\' OR after_json LIKE $1 ESCAPE '\\'",
            )
            .bind(pattern)
            .execute(&mut **tx)
            .await?;
        }
        for c in &people {
            crate::search::reindex_contact(tx, ContactId(*c)).await?;
        }
        for i in &incidents {
            tx.touch(IncidentId(*i));
        }
        // Written after the person's pending sends were failed above, so this one leaves.
        let data = serde_json::json!({ "contact_id": id.0 });
        crate::webhooks::emit(tx, EventType::ContactSuppressed, None, data).await?;
        Ok(report)
    }

    /// Makes removed data unrecoverable from the files as well as from the tables: SQLite
    /// merges the search index's segments (deleted terms live on in old ones until then) and
    /// moves the log back into the database, whose freed pages `secure_delete` has zeroed.
    async fn after_suppression(&self) -> Result<()> {
        self.merge_search_index().await?;
        if self.engine() != Engine::Sqlite {
            return Ok(());
        }
        // The checkpoint reports "busy" instead of failing while another one (the
        // checkpointer's, every 250 ms) or a reader holds the log: it is tried again until the
        // log is empty, or the suppression reports that it could not be.
        for _ in 0..200 {
            let busy: i64 = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(self.writer())
                .await?
                .try_get(0)?;
            if busy == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        Err(StoreError::Db(sqlx::Error::Protocol(
            "the write-ahead log stayed in use: suppressed data may remain in it until the next checkpoint".into(),
        )))
    }
}

//! The chat channels' storage (WhatsApp, Messenger, Instagram): every message in and out (the
//! provider's message id is unique, so a retried webhook is recognised), the transaction that
//! turns an inbound message into an incident or an entry of the person's open one, delivery
//! states, media kept as attachments, and replies queued within the provider's window.

use atiende_domain::RuleError;
use atiende_domain::attachment::OutgoingFile;
use atiende_domain::chat::{
    ChatContent, DeliveryStatus, InboundChat, OutgoingBody, Provider, ReplyWindow, Template,
    reply_window,
};
use atiende_domain::contact::{ContactFields, Identifier, IdentifierKind, normalize_phone};
use atiende_domain::ids::{ContactId, EntryId, IncidentId};
use atiende_domain::incident::MAX_ENTRY_CHARS;
use atiende_domain::incident::{EntryKind, Incident, NewIncidentInput, Status};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::contacts::{contact_in_tx, insert_contact};
use crate::db::{Engine, Store, from_ms, ms, now, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::incidents::rows::append;
use crate::outbox::{self, ChatSend, Job, MediaJob, ProfileJob};
use crate::tx::Tx;

/// What became of an inbound chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatIngest {
    Created(IncidentId),
    Joined(IncidentId),
    /// Seen before (same provider message id): nothing changed.
    Duplicate(Option<IncidentId>),
}

/// A chat message as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRecord {
    pub id: i64,
    pub provider: Provider,
    pub external_id: Option<String>,
    pub direction: String,
    pub account_id: String,
    pub peer_id: String,
    pub incident_id: Option<i64>,
    pub entry_id: Option<i64>,
    pub body: String,
    /// Inbound: the [`ChatContent`] list; outbound: the [`OutgoingBody`].
    pub content: serde_json::Value,
    /// `received` for inbound messages, else a [`DeliveryStatus`] code.
    pub status: String,
    pub error: Option<String>,
    pub sent_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl ChatRecord {
    pub fn delivery(&self) -> Option<DeliveryStatus> {
        DeliveryStatus::from_code(&self.status)
    }
}

fn record_from_row(r: &AnyRow) -> Result<ChatRecord> {
    let provider: String = r.try_get("provider")?;
    Ok(ChatRecord {
        id: r.try_get("id")?,
        provider: Provider::from_code(&provider).ok_or_else(|| StoreError::corrupt(provider))?,
        external_id: r.try_get("external_id")?,
        direction: r.try_get("direction")?,
        account_id: r.try_get("account_id")?,
        peer_id: r.try_get("peer_id")?,
        incident_id: r.try_get("incident_id")?,
        entry_id: r.try_get("entry_id")?,
        body: r.try_get("body")?,
        content: serde_json::from_str(&r.try_get::<String, _>("content")?).unwrap_or_default(),
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        sent_at: from_ms(r.try_get("sent_at")?)?,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

/// A contact's most recent incident on a channel that is still in progress.
async fn open_incident_of(
    tx: &mut Tx,
    contact: ContactId,
    provider: Provider,
) -> Result<Option<IncidentId>> {
    let row = sqlx::query(
        "SELECT id FROM incidents WHERE contact_id = $1 AND channel = $2 AND status <> $3 ORDER BY id DESC LIMIT 1",
    )
    .bind(contact.0)
    .bind(provider.channel().code())
    .bind(Status::Closed.code())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?.map(IncidentId))
}

/// Finds the person who wrote, or meets them. On WhatsApp the id is a phone number, so a
/// contact known by that phone is the same person.
async fn contact_for(tx: &mut Tx, msg: &InboundChat) -> Result<ContactId> {
    let ident = Identifier::parse(msg.provider.identifier_kind(), &msg.peer_id)
        .map_err(|e| RuleError::Invalid(vec![e]))?;
    let phone = (msg.provider == Provider::Whatsapp)
        .then(|| normalize_phone(&msg.peer_id))
        .flatten()
        .map(|value| Identifier {
            kind: IdentifierKind::Phone,
            value,
        });
    for candidate in std::iter::once(&ident).chain(phone.iter()) {
        let row = sqlx::query(
            "SELECT contact_id FROM contact_identifiers WHERE kind = $1 AND value = $2",
        )
        .bind(candidate.kind.code())
        .bind(candidate.value.clone())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(r) = row {
            let contact = contact_in_tx(tx, ContactId(r.try_get("contact_id")?)).await?;
            return Ok(contact.merged_into.unwrap_or(contact.id));
        }
    }
    let fields = ContactFields {
        name: msg
            .peer_name
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect(),
        identifiers: std::iter::once(ident).chain(phone).collect(),
        user_type: None,
        programme_line: None,
        opt_out_surveys: false,
        opt_out_marketing: false,
        notes: String::new(),
    };
    Ok(insert_contact(tx, Actor::System, &fields).await?.id)
}

/// Holds the person's row until the transaction ends, so that two messages from one person
/// arriving together on PostgreSQL do not both open an incident.
async fn lock_contact(tx: &mut Tx, engine: Engine, contact: ContactId) -> Result<()> {
    sqlx::query(engine.locking("SELECT id FROM contacts WHERE id = $1"))
        .bind(contact.0)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(())
}

async fn seen(tx: &mut Tx, provider: Provider, external_id: &str) -> Result<Option<ChatIngest>> {
    let row = sqlx::query(
        "SELECT incident_id FROM chat_messages WHERE provider = $1 AND external_id = $2",
    )
    .bind(provider.code())
    .bind(external_id.to_string())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row
        .map(|r| r.try_get::<Option<i64>, _>("incident_id"))
        .transpose()?
        .map(|i| ChatIngest::Duplicate(i.map(IncidentId))))
}

#[allow(clippy::too_many_arguments)]
async fn insert_chat(
    tx: &mut Tx,
    provider: Provider,
    external_id: Option<&str>,
    direction: &str,
    account_id: &str,
    peer_id: &str,
    incident: IncidentId,
    entry: Option<EntryId>,
    body: &str,
    content: serde_json::Value,
    status: &str,
    sent_at: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    let t = ms(now());
    Ok(sqlx::query(
        "INSERT INTO chat_messages (provider, external_id, direction, account_id, peer_id, incident_id, entry_id, \
         body, content, status, sent_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
    )
    .bind(provider.code())
    .bind(external_id.map(str::to_string))
    .bind(direction.to_string())
    .bind(account_id.to_string())
    .bind(peer_id.to_string())
    .bind(incident.0)
    .bind(entry.map(|e| e.0))
    .bind(body.to_string())
    .bind(content.to_string())
    .bind(status.to_string())
    .bind(ms(sent_at))
    .bind(t)
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?)
}

impl Store {
    /// Turns an inbound chat message into an incident, or an entry of the person's incident in
    /// progress on that channel, all or nothing. The webhook answers 200 only after this
    /// returns Ok, so the provider retries anything not committed.
    pub async fn ingest_chat(&self, msg: &InboundChat) -> Result<ChatIngest> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.ingest_chat_once(msg).await {
                Err(e) if attempt < 4 && e.is_race() => continue,
                other => return other,
            }
        }
    }

    async fn ingest_chat_once(&self, msg: &InboundChat) -> Result<ChatIngest> {
        let mut tx = self.begin().await?;
        if let Some(dup) = seen(&mut tx, msg.provider, &msg.external_id).await? {
            return Ok(dup);
        }
        let contact = contact_for(&mut tx, msg).await?;
        lock_contact(&mut tx, self.engine(), contact).await?;
        // Messenger and Instagram give only an id: ask the provider for the person's name.
        if msg.provider != Provider::Whatsapp
            && contact_in_tx(&mut tx, contact).await?.name.is_empty()
        {
            let job = ProfileJob {
                contact_id: contact.0,
                provider: msg.provider,
                account_id: msg.account_id.clone(),
                peer_id: msg.peer_id.clone(),
            };
            outbox::enqueue(&mut tx, None, &Job::ChatProfile(job)).await?;
        }
        if let Some(dup) = seen(&mut tx, msg.provider, &msg.external_id).await? {
            return Ok(dup);
        }
        // A delivery retried hours later keeps the time the person wrote; a clock ahead of
        // ours does not put a message in the future.
        let received = from_ms(ms(msg.sent_at.min(now())))?;
        let text: String = msg.timeline_text().chars().take(MAX_ENTRY_CHARS).collect();
        let data = serde_json::json!({
            "provider": msg.provider.code(),
            "external_id": msg.external_id,
        });
        let (incident, entry, created) =
            match open_incident_of(&mut tx, contact, msg.provider).await? {
                Some(incident) => {
                    let entry = append(
                        &mut tx,
                        incident,
                        EntryKind::InboundMessage,
                        None,
                        &text,
                        data,
                        received,
                    )
                    .await?;
                    (incident, Some(entry), false)
                }
                None => {
                    let input = NewIncidentInput {
                        channel: msg.provider.channel(),
                        contact_id: Some(contact),
                        subject: msg.subject(),
                        body: text.clone(),
                        user_type: None,
                        incident_type: None,
                        topic_id: None,
                        critical: false,
                        assigned_to: None,
                        received_at: Some(received),
                    };
                    let (incident, entry) = self
                        .create_incident_in(&mut tx, Actor::System, input)
                        .await?;
                    (incident.id, entry, true)
                }
            };
        let content = serde_json::to_value(&msg.contents).map_err(StoreError::corrupt)?;
        let chat_id = insert_chat(
            &mut tx,
            msg.provider,
            Some(&msg.external_id),
            "in",
            &msg.account_id,
            &msg.peer_id,
            incident,
            entry,
            &text,
            content,
            "received",
            received,
        )
        .await?;
        for content in &msg.contents {
            if let ChatContent::Media {
                kind,
                source,
                mime_type,
                filename,
                ..
            } = content
            {
                let job = MediaJob {
                    chat_message_id: chat_id,
                    provider: msg.provider,
                    account_id: msg.account_id.clone(),
                    source: source.clone(),
                    kind: kind.clone(),
                    mime_type: mime_type.clone(),
                    filename: filename.clone(),
                };
                outbox::enqueue(&mut tx, Some(incident), &Job::ChatMedia(job)).await?;
            }
        }
        if !created {
            crate::notifications::person_replied(&mut tx, incident).await?;
        }
        tx.commit().await?;
        if created {
            tracing::info!(
                incident.id = incident.0,
                provider = msg.provider.code(),
                "chat message opened an incident"
            );
            Ok(ChatIngest::Created(incident))
        } else {
            Ok(ChatIngest::Joined(incident))
        }
    }

    /// A provider's status callback for a message we sent. Returns false when the message is
    /// unknown (not ours, or its send is still being recorded) or the status changes nothing.
    pub async fn record_chat_status(
        &self,
        provider: Provider,
        external_id: &str,
        reported: DeliveryStatus,
        error: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT id, status FROM chat_messages WHERE provider = $1 AND external_id = $2 AND direction = 'out'",
        )
        .bind(provider.code())
        .bind(external_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let current: String = row.try_get("status")?;
        let current = DeliveryStatus::from_code(&current).unwrap_or(DeliveryStatus::Queued);
        let Some(next) = current.advance(reported) else {
            return Ok(false);
        };
        sqlx::query("UPDATE chat_messages SET status = $1, error = COALESCE($2, error), updated_at = $3 WHERE id = $4")
            .bind(next.code())
            .bind(error.map(|e| e.chars().take(1000).collect::<String>()))
            .bind(ms(now()))
            .bind(row.try_get::<i64, _>("id")?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Messenger's read receipt: the person read everything we sent them up to `watermark`.
    pub async fn record_chat_read_until(
        &self,
        provider: Provider,
        account_id: &str,
        peer_id: &str,
        watermark: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE chat_messages SET status = 'read', updated_at = $1 WHERE provider = $2 AND account_id = $3              AND peer_id = $4 AND direction = 'out' AND status IN ('sent', 'delivered') AND sent_at <= $5",
        )
        .bind(ms(now()))
        .bind(provider.code())
        .bind(account_id.to_string())
        .bind(peer_id.to_string())
        .bind(ms(watermark))
        .execute(self.writer())
        .await?
        .rows_affected())
    }

    /// Names a contact from the provider's profile, unless someone named them meanwhile.
    pub async fn name_contact_from_profile(&self, contact: ContactId, name: &str) -> Result<bool> {
        let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
        if name.trim().is_empty() {
            return Ok(false);
        }
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE contacts SET name = $1, updated_at = $2 WHERE id = $3 AND name = '' \
             AND blocked_at IS NULL AND anonymised_at IS NULL",
        )
        .bind(name.trim().to_string())
        .bind(ms(now()))
        .bind(contact.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            let change = crate::audit::Change {
                entity: atiende_domain::audit::EntityKind::Contact,
                entity_id: contact.to_string(),
                action: "contact.named_from_profile",
                before: None,
                after: Some(serde_json::json!({ "name": name.trim() })),
            };
            crate::audit::record(&mut tx, Actor::System, change).await?;
            crate::search::reindex_contact(&mut tx, contact).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// The provider accepted a message we sent and gave it its id.
    pub async fn record_chat_sent(&self, id: i64, external_id: &str) -> Result<()> {
        sqlx::query("UPDATE chat_messages SET external_id = $1, status = CASE WHEN status = 'queued' THEN 'sent' ELSE status END, \
                     error = NULL, updated_at = $2 WHERE id = $3")
            .bind(external_id.to_string())
            .bind(ms(now()))
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The provider refused a message for good (or it ran out of attempts).
    pub async fn record_chat_failed(&self, id: i64, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE chat_messages SET status = 'failed', error = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(error.chars().take(1000).collect::<String>())
        .bind(ms(now()))
        .bind(id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn chat_message(&self, id: i64) -> Result<ChatRecord> {
        let row = sqlx::query("SELECT * FROM chat_messages WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("chat message"))?;
        record_from_row(&row)
    }

    /// An incident's chat messages, oldest first.
    pub async fn chat_messages(&self, incident: IncidentId) -> Result<Vec<ChatRecord>> {
        let rows = sqlx::query("SELECT * FROM chat_messages WHERE incident_id = $1 ORDER BY id")
            .bind(incident.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Keeps downloaded media with the message's incident and entry. A repeated download (a
    /// worker that stopped before recording it done) is not kept twice.
    pub async fn save_chat_media(
        &self,
        job: &MediaJob,
        content_type: &str,
        data: &[u8],
    ) -> Result<()> {
        let msg = self.chat_message(job.chat_message_id).await?;
        let filename = job.file_name(content_type);
        let mut tx = self.begin().await?;
        let exists = sqlx::query(
            "SELECT 1 AS ok FROM attachments WHERE chat_message_id = $1 AND filename = $2",
        )
        .bind(msg.id)
        .bind(filename.clone())
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            let too_big = data.len() > crate::attachments::MAX_ATTACHMENT_BYTES;
            sqlx::query(
                "INSERT INTO attachments (incident_id, entry_id, chat_message_id, filename, content_type, inline, size, data, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $8)",
            )
            .bind(msg.incident_id)
            .bind(msg.entry_id)
            .bind(msg.id)
            .bind(filename)
            .bind(content_type.to_string())
            .bind(data.len() as i64)
            .bind(if too_big { Vec::new() } else { data.to_vec() })
            .bind(ms(now()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Where a reply on this incident would go and whether the provider still takes free text;
    /// `None` when the incident has no chat conversation to answer.
    pub async fn reply_window(
        &self,
        incident: &Incident,
    ) -> Result<Option<(Provider, ReplyWindow)>> {
        // A read: on a reader connection, without a transaction (on SQLite the writer's
        // connection is the one every write in the process waits for).
        let mut conn = self.reader().acquire().await?;
        let target = chat_target(&mut conn, incident).await?;
        Ok(target.map(|t| (t.provider, t.window)))
    }
}

pub(crate) struct ChatTarget {
    pub(crate) provider: Provider,
    account_id: String,
    peer_id: String,
    pub(crate) window: ReplyWindow,
}

/// The conversation a reply continues: the incident's last chat message, else the contact's
/// last one on the same channel (an incident an agent registered by hand).
pub(crate) async fn chat_target(
    conn: &mut sqlx::AnyConnection,
    incident: &Incident,
) -> Result<Option<ChatTarget>> {
    let by_incident = sqlx::query(
        "SELECT provider, account_id, peer_id FROM chat_messages WHERE incident_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(incident.id.0)
    .fetch_optional(&mut *conn)
    .await?;
    let row = match (by_incident, incident.contact_id) {
        (Some(r), _) => Some(r),
        (None, Some(contact)) => {
            let providers: Vec<&str> = Provider::ALL
                .iter()
                .filter(|p| p.channel() == incident.channel)
                .map(|p| p.code())
                .collect();
            sqlx::query(
                "SELECT m.provider, m.account_id, m.peer_id FROM chat_messages m JOIN incidents i ON i.id = m.incident_id \
                 WHERE i.contact_id = $1 AND m.provider IN ($2, $3) ORDER BY m.id DESC LIMIT 1",
            )
            .bind(contact.0)
            .bind(providers.first().copied().unwrap_or("").to_string())
            .bind(providers.last().copied().unwrap_or("").to_string())
            .fetch_optional(&mut *conn)
            .await?
        }
        (None, None) => None,
    };
    let Some(row) = row else {
        return Ok(None);
    };
    let provider: String = row.try_get("provider")?;
    let provider = Provider::from_code(&provider).ok_or_else(|| StoreError::corrupt(provider))?;
    let account_id: String = row.try_get("account_id")?;
    let peer_id: String = row.try_get("peer_id")?;
    let last_in = sqlx::query(
        "SELECT MAX(sent_at) AS t FROM chat_messages WHERE provider = $1 AND account_id = $2 AND peer_id = $3 AND direction = 'in'",
    )
    .bind(provider.code())
    .bind(account_id.clone())
    .bind(peer_id.clone())
    .fetch_one(&mut *conn)
    .await?;
    let last_in = opt_from_ms(last_in.try_get("t")?)?;
    Ok(Some(ChatTarget {
        provider,
        account_id,
        peer_id,
        window: reply_window(provider, last_in, now()),
    }))
}

/// A message on a chat incident (an agent's answer, a survey invitation) goes to the person
/// through the provider, if the window allows it: free text within it, an approved template
/// (WhatsApp) at any time. Returns false when the incident has no conversation to answer
/// (recorded, not sent).
pub(crate) async fn queue_message(
    tx: &mut Tx,
    incident: &Incident,
    entry: EntryId,
    body: &str,
    template: Option<(&Template, &[String])>,
    one_time_link: Option<crate::links::OneTimeLink>,
) -> Result<bool> {
    let Some(target) = chat_target(tx, incident).await? else {
        return Ok(false);
    };
    let outgoing = match template {
        Some((t, values)) if target.window.allows_template(target.provider) => {
            OutgoingBody::Template {
                name: t.name.clone(),
                language: t.language.clone(),
                parameters: t.parameters(values),
            }
        }
        None if target.window.allows_text() => OutgoingBody::Text {
            body: body.to_string(),
            human_agent: matches!(target.window, ReplyWindow::HumanAgent { .. }),
        },
        _ => return Err(RuleError::OutsideReplyWindow.into()),
    };
    let content = serde_json::to_value(&outgoing).map_err(StoreError::corrupt)?;
    let id = insert_chat(
        tx,
        target.provider,
        None,
        "out",
        &target.account_id,
        &target.peer_id,
        incident.id,
        Some(entry),
        body,
        content,
        DeliveryStatus::Queued.code(),
        now(),
    )
    .await?;
    let job = Job::ChatSend(ChatSend {
        chat_message_id: id,
        one_time_link,
    });
    outbox::enqueue(tx, Some(incident.id), &job).await?;
    Ok(true)
}

/// Files staff attached to an answer on a chat incident: one message each, after the answer's
/// text, within the window in which the provider takes free messages.
pub(crate) async fn queue_files(
    tx: &mut Tx,
    incident: &Incident,
    entry: EntryId,
    files: &[OutgoingFile],
) -> Result<bool> {
    if files.is_empty() {
        return Ok(true);
    }
    let Some(target) = chat_target(tx, incident).await? else {
        return Ok(false);
    };
    if !target.window.allows_text() {
        return Err(RuleError::OutsideReplyWindow.into());
    }
    for file in files {
        let outgoing = OutgoingBody::Media {
            file: file.clone(),
            human_agent: matches!(target.window, ReplyWindow::HumanAgent { .. }),
        };
        let content = serde_json::to_value(&outgoing).map_err(StoreError::corrupt)?;
        let id = insert_chat(
            tx,
            target.provider,
            None,
            "out",
            &target.account_id,
            &target.peer_id,
            incident.id,
            Some(entry),
            &file.filename,
            content,
            DeliveryStatus::Queued.code(),
            now(),
        )
        .await?;
        crate::attachments::link_to_chat(tx, file, id).await?;
        let job = Job::ChatSend(ChatSend {
            chat_message_id: id,
            one_time_link: None,
        });
        outbox::enqueue(tx, Some(incident.id), &job).await?;
    }
    Ok(true)
}

//! The web chat on the university's sites: a person fills the widget's form (name, an email
//! or phone, user type, topic, the privacy notice) and their first message becomes an incident
//! on channel *chat web*; the widget then holds the conversation with a bearer token (only
//! its hash kept). Their messages join the timeline as they are sent; the CAP's answers are
//! read from it. When the person was last connected and last typing are kept in the row, so
//! every instance knows whether they are there: an answer while they are goes to the widget,
//! one after they left goes by email. When the incident closes, the conversation's transcript
//! is emailed to them.

use atiende_domain::classification::{Channel, UserType};
use atiende_domain::contact::{Identifier, IdentifierKind};
use atiende_domain::folio::Folio;
use atiende_domain::ids::{EntryId, IncidentId, TopicId};
use atiende_domain::incident::{Incident, NewIncidentInput, Status};
use chrono::Duration;
use serde::Serialize;
use sqlx::Row;

use crate::Actor;
use crate::db::{Store, from_ms, ms, now};
use crate::error::{Result, StoreError};
use crate::outbox::OutgoingEmail;
use crate::tx::Tx;
use crate::users::{random_token, token_hash};

/// A person whose widget has not been heard from for this long has left: answers go by email.
pub const CONNECTED_FOR: Duration = Duration::seconds(45);
/// A keystroke shows "typing" this long.
pub const TYPING_FOR: Duration = Duration::seconds(6);
/// Longest message the widget takes.
pub const MAX_MESSAGE_CHARS: usize = 4_000;

/// What the widget's form sends.
#[derive(Debug, Clone, Default)]
pub struct WebChatStart {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub user_type: Option<UserType>,
    pub topic_id: Option<TopicId>,
    pub message: String,
    /// The version of the simplified privacy notice the form showed.
    pub privacy_notice_id: Option<i64>,
    /// The site the widget was on.
    pub origin: String,
    /// Agents are online (business hours): a live conversation; otherwise a message left, the
    /// conversation ended from the start (answers go by email).
    pub live: bool,
}

/// A conversation begun: the widget's token (shown once) and its incident.
#[derive(Debug, Clone)]
pub struct WebChatOpened {
    pub token: String,
    pub incident: Incident,
}

/// A conversation, as its token finds it.
#[derive(Debug, Clone, Serialize)]
pub struct WebChat {
    pub incident_id: IncidentId,
    pub folio: Folio,
    pub closed: bool,
    pub ended: bool,
}

/// What the widget's live stream tells besides new messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WebChatState {
    /// An agent is writing on it.
    pub agent_typing: bool,
    pub closed: bool,
}

impl Store {
    /// Begins a conversation: the person found by their email or phone, or registered; the
    /// incident on channel *chat web* with their first message; the widget's token.
    pub async fn start_web_chat(&self, start: &WebChatStart) -> Result<WebChatOpened> {
        let mut v = atiende_domain::error::Validator::new();
        let message = v.text("message", &start.message, MAX_MESSAGE_CHARS, true);
        let name = v.text("name", &start.name, 200, true);
        let mut identifiers = Vec::new();
        for (kind, raw) in [
            (IdentifierKind::Email, &start.email),
            (IdentifierKind::Phone, &start.phone),
        ] {
            if !raw.trim().is_empty()
                && let Some(id) = v.take(Identifier::parse(kind, raw))
            {
                identifiers.push(id);
            }
        }
        if start.email.trim().is_empty() && start.phone.trim().is_empty() {
            v.push("email", "required");
        }
        v.finish()?;
        let mut tx = self.begin().await?;
        let contact =
            crate::public::find_or_register(&mut tx, identifiers, name, start.user_type).await?;
        let subject = match start.topic_id {
            Some(t) => crate::units::topic_in(&mut tx, t).await?.name,
            None => String::new(),
        };
        let input = NewIncidentInput {
            channel: Channel::ChatWeb,
            contact_id: contact.map(|c| c.id),
            subject,
            body: message,
            user_type: start.user_type,
            incident_type: None,
            topic_id: start.topic_id,
            critical: false,
            assigned_to: None,
            received_at: None,
        };
        let (incident, _) = self
            .create_incident_in(&mut tx, Actor::System, input)
            .await?;
        crate::public::keep_notice_shown(&mut tx, incident.id, start.privacy_notice_id).await?;
        let token = random_token();
        let at = ms(now());
        sqlx::query(
            "INSERT INTO web_chats (incident_id, token_hash, origin, created_at, seen_at, ended_at) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(incident.id.0)
        .bind(token_hash(&token))
        .bind(start.origin.chars().take(200).collect::<String>())
        .bind(at)
        .bind((!start.live).then_some(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(WebChatOpened { token, incident })
    }

    /// The conversation a widget's token opens, if any. The person's data suppressed ends it.
    pub async fn web_chat(&self, token: &str) -> Result<Option<WebChat>> {
        let row = sqlx::query(
            "SELECT w.incident_id, w.ended_at, i.folio, i.status FROM web_chats w \
             JOIN incidents i ON i.id = w.incident_id \
             LEFT JOIN contacts c ON c.id = i.contact_id \
             WHERE w.token_hash = $1 AND c.anonymised_at IS NULL",
        )
        .bind(token_hash(token))
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            let folio: String = r.try_get("folio")?;
            Ok(WebChat {
                incident_id: IncidentId(r.try_get("incident_id")?),
                folio: folio.parse().map_err(|_| StoreError::corrupt("folio"))?,
                closed: r.try_get::<String, _>("status")? == Status::Closed.code(),
                ended: r.try_get::<Option<i64>, _>("ended_at")?.is_some(),
            })
        })
        .transpose()
    }

    /// The person writes in the widget: their words join the incident's timeline as a message
    /// received on the web chat; its agent is told when nobody has the incident open.
    pub async fn web_chat_say(&self, chat: &WebChat, body: &str) -> Result<EntryId> {
        let mut v = atiende_domain::error::Validator::new();
        let body = v.text("body", body, MAX_MESSAGE_CHARS, true);
        v.finish()?;
        let mut change = self.change_incident(chat.incident_id).await?;
        if change.after.is_closed() {
            return Err(atiende_domain::RuleError::AlreadyClosed.into());
        }
        let watched =
            crate::presence::watched(&mut change.tx, chat.incident_id, change.now).await?;
        let entry =
            crate::public::person_wrote(&mut change, Channel::ChatWeb, &body, !watched).await?;
        sqlx::query("UPDATE web_chats SET seen_at = $2, typing_at = NULL WHERE incident_id = $1")
            .bind(chat.incident_id.0)
            .bind(ms(change.now))
            .execute(&mut *change.tx)
            .await?;
        let audit = crate::audit::Change {
            entity: atiende_domain::audit::EntityKind::Incident,
            entity_id: change.after.folio.to_string(),
            action: "incident.web_chat_message",
            before: None,
            after: Some(serde_json::json!({ "entry_id": entry })),
        };
        change.commit_with(Actor::System, "", audit).await?;
        Ok(entry)
    }

    /// The widget is connected (its stream marks it every few seconds), and — `typing` — the
    /// person is writing.
    pub async fn mark_web_chat(&self, chat: &WebChat, typing: bool) -> Result<()> {
        let at = ms(now());
        let sql = if typing {
            "UPDATE web_chats SET seen_at = $2, typing_at = $2 WHERE incident_id = $1"
        } else {
            "UPDATE web_chats SET seen_at = $2 WHERE incident_id = $1"
        };
        sqlx::query(sql)
            .bind(chat.incident_id.0)
            .bind(at)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The person closed the conversation in the widget: answers from now on go by email.
    pub async fn end_web_chat(&self, chat: &WebChat) -> Result<()> {
        sqlx::query(
            "UPDATE web_chats SET ended_at = $2 WHERE incident_id = $1 AND ended_at IS NULL",
        )
        .bind(chat.incident_id.0)
        .bind(ms(now()))
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// For the widget's stream: whether an agent is writing and whether the incident closed.
    pub async fn web_chat_state(&self, incident: IncidentId) -> Result<WebChatState> {
        let at = now();
        let row = sqlx::query(
            "SELECT i.status, (SELECT COUNT(*) FROM incident_presence p WHERE p.incident_id = i.id \
             AND p.typing_at > $2) AS typing FROM incidents i WHERE i.id = $1",
        )
        .bind(incident.0)
        .bind(ms(at - TYPING_FOR))
        .fetch_one(self.reader())
        .await?;
        Ok(WebChatState {
            agent_typing: row.try_get::<i64, _>("typing")? > 0,
            closed: row.try_get::<String, _>("status")? == Status::Closed.code(),
        })
    }

    /// For the console: whether the person on a web chat incident is connected and writing.
    pub async fn visitor_typing(&self, incident: IncidentId) -> Result<Option<bool>> {
        let at = now();
        let row = sqlx::query(
            "SELECT seen_at, typing_at, ended_at FROM web_chats WHERE incident_id = $1",
        )
        .bind(incident.0)
        .fetch_optional(self.reader())
        .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let typing = r.try_get::<Option<i64>, _>("ended_at")?.is_none()
            && r.try_get::<Option<i64>, _>("typing_at")?
                .is_some_and(|t| t > ms(at - TYPING_FOR));
        Ok(Some(typing))
    }
}

/// Whether the person of a web chat incident is there to read an answer in the widget.
pub(crate) async fn connected(tx: &mut Tx, incident: IncidentId) -> Result<bool> {
    let row =
        sqlx::query("SELECT seen_at FROM web_chats WHERE incident_id = $1 AND ended_at IS NULL")
            .bind(incident.0)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(match row {
        Some(r) => from_ms(r.try_get("seen_at")?)? > now() - CONNECTED_FOR,
        None => false,
    })
}

/// A web chat incident closed: its transcript goes to the person's email, when they gave one
/// and a mailbox sends.
pub(crate) async fn send_transcript(tx: &mut Tx, incident: &Incident) -> Result<()> {
    let Some(contact) = incident.contact_id else {
        return Ok(());
    };
    let person = crate::contacts::contact_in_tx(tx, contact).await?;
    let (Some(to), Some(mailbox)) = (
        person.emails.first().cloned(),
        crate::email::default_mailbox(tx).await?,
    ) else {
        return Ok(());
    };
    let tz = tx.store().time_zone();
    let messages = crate::portal::messages_in(tx, incident.id, 0).await?;
    let lines: Vec<String> = messages
        .iter()
        .map(|m| {
            let who = match (&m.by, m.from_cap) {
                (Some(name), true) => format!("{name} (CAP)"),
                (None, true) => "CAP".to_string(),
                (_, false) => "Usted".to_string(),
            };
            format!(
                "[{}] {who}:\n{}\n",
                m.at.with_timezone(&tz).format("%d/%m/%Y %H:%M"),
                m.body
            )
        })
        .collect();
    let folio = incident.folio.to_string();
    let out = OutgoingEmail {
        mailbox_id: mailbox.id,
        to,
        subject: format!("Conversación con el CAP — folio {folio}"),
        text: format!(
            "Hola:\n\nEsta es la conversación que tuvo con el Centro de Atención Personalizada \
             en el chat, con el folio {folio}.\n\n{}\nAtentamente,\nCentro de Atención Personalizada",
            lines.join("\n")
        ),
        message_id: crate::email::message_id_for(&mailbox, &format!("chat-{folio}")),
        in_reply_to: None,
        references: vec![],
        folio: Some(folio),
        automatic: true,
        link_to_incident: false,
        one_time_link: None,
        files: Vec::new(),
    };
    crate::email::queue_email(tx, Some(incident.id), None, &out).await
}

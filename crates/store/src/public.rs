//! The public side: the buzón (suggestion box) form and the status page a person uses to follow
//! their incident. Nothing here needs a staff account.

use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::contact::{Contact, ContactFields, Identifier, IdentifierKind};
use atiende_domain::folio::Folio;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{EntryKind, Incident, NewIncidentInput, Status};
use sqlx::Row;

use crate::Actor;
use crate::contacts::{contact_in_tx, insert_contact};
use crate::db::{Store, from_ms, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::incidents::rows::{IncidentChange, append};
use crate::tx::Tx;

/// What a person wrote in the buzón. Every identifier is optional: anonymous entries are allowed.
#[derive(Debug, Clone, Default)]
pub struct SuggestionBoxEntry {
    pub kind: Option<IncidentType>,
    pub message: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub student_code: String,
    /// The version of the simplified privacy notice the form showed.
    pub privacy_notice_id: Option<i64>,
}

/// What the status page may show.
#[derive(Debug, Clone)]
pub struct PublicStatus {
    pub folio: String,
    pub status: Status,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Store {
    /// Records a buzón entry as an incident of the buzón channel. Suggestions and compliments are
    /// routed to the quality owner by the procedure's rule; complaints and questions stay with
    /// the CAP. A person who left an identifier is found or registered.
    pub async fn submit_to_suggestion_box(&self, entry: &SuggestionBoxEntry) -> Result<Incident> {
        let mut v = atiende_domain::error::Validator::new();
        let message = v.text("message", &entry.message, 10_000, true);
        if entry.kind.is_none() {
            v.push("kind", "required");
        }
        let mut identifiers = Vec::new();
        for (kind, raw) in [
            (IdentifierKind::Email, &entry.email),
            (IdentifierKind::Phone, &entry.phone),
            (IdentifierKind::StudentCode, &entry.student_code),
        ] {
            if !raw.trim().is_empty()
                && let Some(id) = v.take(Identifier::parse(kind, raw))
            {
                identifiers.push(id);
            }
        }
        let name = v.text("name", &entry.name, 200, false);
        v.finish()?;
        let mut tx = self.begin().await?;
        let contact = find_or_register(&mut tx, identifiers, name, None).await?;
        let input = NewIncidentInput {
            channel: Channel::SuggestionBox,
            contact_id: contact.map(|c| c.id),
            subject: String::new(),
            body: message,
            user_type: None,
            incident_type: entry.kind,
            topic_id: None,
            critical: false,
            assigned_to: None,
            received_at: None,
        };
        let (incident, _) = self
            .create_incident_in(&mut tx, Actor::System, input)
            .await?;
        keep_notice_shown(&mut tx, incident.id, entry.privacy_notice_id).await?;
        tx.commit().await?;
        Ok(incident)
    }

    /// The state of an incident for someone who knows its folio and the email or phone they
    /// gave. Anything else — unknown folio, other person, malformed input — is the same `None`,
    /// so the page never tells whether a folio exists.
    pub async fn public_status(&self, folio: &str, contact: &str) -> Result<Option<PublicStatus>> {
        let Ok(folio) = folio.trim().to_uppercase().parse::<Folio>() else {
            return Ok(None);
        };
        let ident = Identifier::parse(IdentifierKind::Email, contact)
            .or_else(|_| Identifier::parse(IdentifierKind::Phone, contact));
        let Ok(ident) = ident else { return Ok(None) };
        let row = sqlx::query(
            "SELECT i.folio, i.status, i.received_at, i.closed_at FROM incidents i \
             JOIN contact_identifiers ci ON ci.contact_id = i.contact_id \
             WHERE i.folio = $1 AND ci.kind = $2 AND ci.value = $3",
        )
        .bind(folio.to_string())
        .bind(ident.kind.code())
        .bind(ident.value)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            let status: String = r.try_get("status")?;
            Ok(PublicStatus {
                folio: r.try_get("folio")?,
                status: Status::from_code(&status).ok_or_else(|| StoreError::corrupt(status))?,
                received_at: from_ms(r.try_get("received_at")?)?,
                closed_at: opt_from_ms(r.try_get("closed_at")?)?,
            })
        })
        .transpose()
    }
}

/// The person who left these identifiers: the one on record holding the first of them, or —
/// a name or an identifier given — a new contact of the register. None for an anonymous entry.
pub(crate) async fn find_or_register(
    tx: &mut Tx,
    identifiers: Vec<Identifier>,
    name: String,
    user_type: Option<UserType>,
) -> Result<Option<Contact>> {
    for ident in &identifiers {
        let row = sqlx::query(
            "SELECT contact_id FROM contact_identifiers WHERE kind = $1 AND value = $2",
        )
        .bind(ident.kind.code())
        .bind(ident.value.clone())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(r) = row {
            let id = atiende_domain::ids::ContactId(r.try_get("contact_id")?);
            return Ok(Some(contact_in_tx(tx, id).await?));
        }
    }
    if identifiers.is_empty() && name.is_empty() {
        return Ok(None);
    }
    let fields = ContactFields {
        name,
        identifiers,
        user_type,
        programme_line: None,
        opt_out_surveys: false,
        opt_out_marketing: false,
        notes: String::new(),
    };
    Ok(Some(insert_contact(tx, Actor::System, &fields).await?))
}

/// Keeps with an incident which version of the simplified privacy notice its person was shown.
pub(crate) async fn keep_notice_shown(
    tx: &mut Tx,
    incident: IncidentId,
    shown: Option<i64>,
) -> Result<()> {
    let notice = crate::privacy::notices::shown_in(
        tx,
        atiende_domain::privacy::NoticeKind::Simplified,
        shown,
    )
    .await?;
    sqlx::query("UPDATE incidents SET privacy_notice_id = $1 WHERE id = $2")
        .bind(notice)
        .bind(incident.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The person wrote on one of their incidents from the public side (the portal, the web chat):
/// their words join its timeline as a message received on `channel`, and — `tell` — its agent
/// is told. Returns the entry.
pub(crate) async fn person_wrote(
    change: &mut IncidentChange,
    channel: Channel,
    body: &str,
    tell: bool,
) -> Result<atiende_domain::ids::EntryId> {
    let now = change.now;
    let entry = append(
        &mut change.tx,
        change.after.id,
        EntryKind::InboundMessage,
        None,
        body,
        serde_json::json!({ "channel": channel.code() }),
        now,
    )
    .await?;
    if tell {
        crate::notifications::person_replied(&mut change.tx, change.after.id).await?;
    }
    Ok(entry)
}

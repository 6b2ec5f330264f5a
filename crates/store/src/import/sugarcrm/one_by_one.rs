//! Records applied one at a time through the ordinary transaction upkeep (each incident
//! touched has its facts, clocks and document brought in step at commit): the records an
//! earlier import brought (only a closing since is news), notes about a person, calls with no
//! case — and, with [`Writing::OneByOne`](super::Writing), every record.

use atiende_domain::audit::EntityKind;
use atiende_domain::folio::Folio;
use atiende_domain::ids::{ContactId, IncidentId, UserId};
use atiende_domain::import::ImportReport;
use atiende_domain::incident::{EntryKind, MAX_ENTRY_CHARS, Status};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{
    CALL_SQL, Links, SOURCE, SugarCall, SugarCase, SugarContact, SugarExport, SugarNote,
    SugarReport, call_log_id, clip, contact_not_imported, local, not_linked, unknown_user,
};
use crate::Actor;
use crate::audit::{Change, record};
use crate::contacts::{contact_in_tx, update_contact_in};
use crate::db::{Store, ms, now};
use crate::error::Result;
use crate::import::remember_ref;
use crate::import::roster::upsert_person;
use crate::incidents::rows::{append, next_folio};
use crate::tx::Tx;

impl Store {
    /// Every record of the export, one by one.
    pub(super) async fn import_one_by_one(
        &self,
        tx: &mut Tx,
        actor: Actor<'_>,
        export: &SugarExport,
        links: &mut Links,
        report: &mut SugarReport,
        progress: &impl Fn(&str, usize, usize),
    ) -> Result<()> {
        let total = export.contacts.len();
        for (n, (line, c)) in export.contacts.iter().enumerate() {
            if n % 500 == 0 {
                progress("contacts", n, total);
            }
            import_contact(tx, actor, *line, c, &mut report.contacts).await?;
            links.note_account(c);
        }
        progress("contacts", total, total);
        let total = export.cases.len();
        for (n, case) in export.cases.iter().enumerate() {
            if n % 500 == 0 {
                progress("cases", n, total);
            }
            self.import_case(tx, actor, case, links, &mut report.cases)
                .await?;
        }
        progress("cases", total, total);
        let total = export.notes.len();
        for (n, note) in export.notes.iter().enumerate() {
            if n % 500 == 0 {
                progress("notes", n, total);
            }
            self.import_note(tx, actor, note, links, &mut report.notes)
                .await?;
        }
        progress("notes", total, total);
        let total = export.calls.len();
        for (n, call) in export.calls.iter().enumerate() {
            if n % 500 == 0 {
                progress("calls", n, total);
            }
            self.import_call(tx, call, links, &mut report.calls).await?;
        }
        progress("calls", total, total);
        Ok(())
    }

    pub(super) async fn import_case(
        &self,
        tx: &mut Tx,
        actor: Actor<'_>,
        case: &SugarCase,
        links: &mut Links,
        report: &mut ImportReport,
    ) -> Result<()> {
        let assigned = links.user(tx, &case.assigned).await?;
        if assigned.is_none() && !case.assigned.trim().is_empty() {
            report
                .warnings
                .push(unknown_user(case.line, &case.assigned));
        }
        let closed_at = case.closing();
        if let Some(id) = local(tx, "case", &case.id).await? {
            // Imported before: only a closing that happened since is news.
            let status: String = sqlx::query("SELECT status FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?
                .try_get("status")?;
            match closed_at {
                Some(at) if status == Status::Open.code() => {
                    close_imported(tx, IncidentId(id), case, assigned, at).await?;
                    tx.touch(IncidentId(id));
                    report.updated += 1;
                }
                _ => report.unchanged += 1,
            }
            return Ok(());
        }
        let contact = match links.contact_of_case(case) {
            Some(sugar_id) => match local(tx, "contact", &sugar_id).await? {
                Some(id) => Some(ContactId(id)),
                None => {
                    report
                        .warnings
                        .push(contact_not_imported(case.line, &sugar_id));
                    None
                }
            },
            None => None,
        };
        // A merged contact lives on in the one it was merged into.
        let person = match contact {
            Some(id) => {
                let c = contact_in_tx(tx, id).await?;
                Some(match c.merged_into {
                    Some(target) => contact_in_tx(tx, target).await?,
                    None => c,
                })
            }
            None => None,
        };
        let contact = person.as_ref().map(|c| c.id);
        let user_type = case.user_type.or(person.as_ref().and_then(|c| c.user_type));
        let folio = next_folio(tx, Folio::year_of(case.received_at, self.tz)).await?;
        let now = now();
        let id: i64 = sqlx::query(
            "INSERT INTO incidents (folio, channel, contact_id, subject, user_type, incident_type, critical, status, \
             assigned_to, received_at, first_response_at, closed_at, reopened_count, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $10, $10, 0, $11, $12, $12) RETURNING id",
        )
        .bind(folio.to_string())
        .bind(case.channel.code())
        .bind(contact.map(|c| c.0))
        .bind(case.subject_text())
        .bind(user_type.map(|t| t.code()))
        .bind(case.incident_type.map(|t| t.code()))
        .bind(Status::Open.code())
        .bind(assigned.map(|u| u.0))
        .bind(ms(case.received_at))
        .bind(None::<i64>)
        .bind(actor.user_id().map(|u| u.0))
        .bind(ms(now))
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        let incident = IncidentId(id);
        if !case.description.trim().is_empty() {
            let body = clip(&case.description, MAX_ENTRY_CHARS);
            let data = serde_json::json!({});
            append(
                tx,
                incident,
                EntryKind::InboundMessage,
                None,
                &body,
                data,
                case.received_at,
            )
            .await?;
        }
        let (origin, data) = case.origin();
        append(
            tx,
            incident,
            EntryKind::Note,
            None,
            &origin,
            data,
            case.received_at,
        )
        .await?;
        if !case.work_log.trim().is_empty() {
            let data = serde_json::json!({ "source": SOURCE });
            append(
                tx,
                incident,
                EntryKind::Note,
                assigned,
                &clip(&case.work_log, MAX_ENTRY_CHARS),
                data,
                case.received_at,
            )
            .await?;
        }
        remember_ref(tx, SOURCE, "case", &case.id, id, case.number.trim()).await?;
        if let Some(at) = closed_at {
            close_imported(tx, incident, case, assigned, at).await?;
        }
        let row = sqlx::query("SELECT * FROM incidents WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        let after = crate::incidents::rows::incident_from_row(&row)?;
        let change = Change {
            entity: EntityKind::Incident,
            entity_id: folio.to_string(),
            action: "incident.import",
            before: None,
            after: crate::audit::snapshot(&after),
        };
        record(tx, actor, change).await?;
        tx.touch(incident);
        report.created += 1;
        Ok(())
    }

    pub(super) async fn import_note(
        &self,
        tx: &mut Tx,
        actor: Actor<'_>,
        note: &SugarNote,
        links: &mut Links,
        report: &mut ImportReport,
    ) -> Result<()> {
        if local(tx, "note", &note.id).await?.is_some() {
            report.unchanged += 1;
            return Ok(());
        }
        let text = note.text();
        let author = links.user(tx, &note.author).await?;
        if let Some(incident) = local(tx, "case", &note.parents.case).await? {
            let data = serde_json::json!({ "source": SOURCE });
            let entry = append(
                tx,
                IncidentId(incident),
                EntryKind::Note,
                author,
                &text,
                data,
                note.at,
            )
            .await?;
            tx.touch(IncidentId(incident));
            remember_ref(tx, SOURCE, "note", &note.id, entry.0, "").await?;
            report.created += 1;
        } else if let Some(contact) = local(tx, "contact", &note.parents.contact).await? {
            // A note about the person rather than a case joins their contact notes.
            let current = contact_in_tx(tx, ContactId(contact)).await?;
            if let Err(rule) = current.check_in_use() {
                report.skipped.push((note.line, rule.code().into()));
                return Ok(());
            }
            let date = note.at.with_timezone(&self.tz).format("%Y-%m-%d");
            let notes = match current.notes.trim() {
                "" => format!("{date} — {text}"),
                held => format!("{held}\n\n{date} — {text}"),
            };
            let input = atiende_domain::contact::ContactInput {
                notes: Some(clip(&notes, 10_000)),
                ..Default::default()
            };
            update_contact_in(tx, actor, current.id, &input).await?;
            remember_ref(tx, SOURCE, "note", &note.id, contact, "").await?;
            report.created += 1;
        } else {
            report.skipped.push(not_linked(note.line));
        }
        Ok(())
    }

    pub(super) async fn import_call(
        &self,
        tx: &mut Tx,
        call: &SugarCall,
        links: &mut Links,
        report: &mut ImportReport,
    ) -> Result<()> {
        if local(tx, "call", &call.id).await?.is_some() {
            report.unchanged += 1;
            return Ok(());
        }
        let incident = local(tx, "case", &call.parents.case).await?.map(IncidentId);
        let mut contact = local(tx, "contact", &call.parents.contact)
            .await?
            .map(ContactId);
        if contact.is_none()
            && let Some(i) = incident
        {
            contact = sqlx::query("SELECT contact_id FROM incidents WHERE id = $1")
                .bind(i.0)
                .fetch_one(&mut **tx)
                .await?
                .try_get::<Option<i64>, _>("contact_id")?
                .map(ContactId);
        }
        if incident.is_none() && contact.is_none() {
            report.skipped.push(not_linked(call.line));
            return Ok(());
        }
        let number = match contact {
            Some(id) => contact_in_tx(tx, id).await?.phones.first().cloned(),
            None => None,
        }
        .unwrap_or_default();
        let (from, to) = call.numbers(number);
        let agent = links.user(tx, &call.agent).await?;
        let id: i64 = sqlx::query(CALL_SQL)
            .bind(call_log_id(call))
            .bind(call.direction.code())
            .bind(from)
            .bind(to)
            .bind(contact.map(|c| c.0))
            .bind(call.cause().code())
            .bind(agent.map(|u| u.0))
            .bind(call.agent.trim().to_string())
            .bind(ms(call.started_at))
            .bind(call.held.then(|| ms(call.started_at)))
            .bind(ms(call.ended_at()))
            .bind(incident.map(|i| i.0))
            .fetch_one(&mut **tx)
            .await?
            .try_get("id")?;
        if let Some(i) = incident {
            let (text, data) = call.entry(id);
            append(tx, i, EntryKind::Note, agent, &text, data, call.started_at).await?;
            if call.held {
                // Speaking with the person is the CAP's response, if nothing answered sooner.
                sqlx::query(
                    "UPDATE incidents SET first_response_at = $1 \
                     WHERE id = $2 AND received_at <= $1 AND (first_response_at IS NULL OR first_response_at > $1)",
                )
                .bind(ms(call.started_at))
                .bind(i.0)
                .execute(&mut **tx)
                .await?;
            }
            tx.touch(i);
        }
        remember_ref(tx, SOURCE, "call", &call.id, id, "").await?;
        report.created += 1;
        Ok(())
    }
}

/// A contact row: the person it was imported as before, else found by any identifier, else
/// met for the first time. Returns the contact the row is imported as, if any.
pub(super) async fn import_contact(
    tx: &mut Tx,
    actor: Actor<'_>,
    line: usize,
    c: &SugarContact,
    report: &mut ImportReport,
) -> Result<Option<ContactId>> {
    let known = local(tx, "contact", &c.id).await?.map(ContactId);
    let outcome = upsert_person(tx, actor, &c.person, known).await?;
    let id = outcome.count(line, report);
    if let Some(id) = id
        && known.is_none()
    {
        remember_ref(tx, SOURCE, "contact", &c.id, id.0, &c.person.name).await?;
    }
    Ok(id.or(known))
}

/// Closes an imported incident at the date SugarCRM gives: the resolution as the
/// intervention notes, then the status change that first-contact resolution reads. The
/// caller keeps facts and search in step.
async fn close_imported(
    tx: &mut Tx,
    incident: IncidentId,
    case: &SugarCase,
    assigned: Option<UserId>,
    at: DateTime<Utc>,
) -> Result<()> {
    if !case.resolution.trim().is_empty() {
        let data = serde_json::json!({ "source": SOURCE });
        append(
            tx,
            incident,
            EntryKind::Intervention,
            assigned,
            &clip(&case.resolution, MAX_ENTRY_CHARS),
            data,
            at,
        )
        .await?;
    }
    let data = serde_json::json!({ "from": Status::Open.code(), "to": Status::Closed.code(), "source": SOURCE });
    append(
        tx,
        incident,
        EntryKind::StatusChange,
        assigned,
        case.sugar_status.trim(),
        data,
        at,
    )
    .await?;
    sqlx::query(
        "UPDATE incidents SET status = $1, closed_at = $2, \
         first_response_at = CASE WHEN first_response_at IS NULL OR first_response_at > $2 THEN $2 ELSE first_response_at END, \
         updated_at = $3 WHERE id = $4",
    )
    .bind(Status::Closed.code())
    .bind(ms(at))
    .bind(ms(now()))
    .bind(incident.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

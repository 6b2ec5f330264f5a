//! `atiende import sugarcrm`: a SugarCRM export (contacts, cases, notes, calls) becomes
//! contacts, incidents with their original dates, timeline entries and the call log.
//!
//! History is written as it happened, not replayed through the procedure: a case closed in 2023
//! is an incident closed in 2023, with no survey sent now and no nonconformity found now. Its
//! indicator facts and search document are kept in step like any other incident's, so it
//! counts in its own period's indicators.

use std::collections::HashMap;

use atiende_domain::audit::EntityKind;
use atiende_domain::call::{CallDirection, HangupCause};
use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::folio::Folio;
use atiende_domain::ids::{ContactId, IncidentId, UserId};
use atiende_domain::import::ImportReport;
use atiende_domain::incident::MAX_ENTRY_CHARS;
use atiende_domain::incident::{EntryKind, Status};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use super::roster::{RosterRow, upsert_person};
use super::{external_ref, remember_ref};
use crate::Actor;
use crate::audit::{Change, record};
use crate::contacts::{contact_in_tx, update_contact_in};
use crate::db::{Store, ms, now};
use crate::error::Result;
use crate::incidents::rows::{append, next_folio};
use crate::tx::Tx;

const SOURCE: &str = "sugarcrm";

/// A SugarCRM contact.
#[derive(Debug, Clone, Default)]
pub struct SugarContact {
    pub id: String,
    pub person: RosterRow,
    pub account_id: String,
}

/// A SugarCRM case, its values already translated.
#[derive(Debug, Clone)]
pub struct SugarCase {
    pub line: usize,
    pub id: String,
    pub number: String,
    pub subject: String,
    pub description: String,
    pub resolution: String,
    pub work_log: String,
    pub received_at: DateTime<Utc>,
    /// When a closed case was closed.
    pub closed_at: Option<DateTime<Utc>>,
    pub status: Status,
    /// SugarCRM's own status, kept in the timeline.
    pub sugar_status: String,
    pub channel: Channel,
    pub incident_type: Option<IncidentType>,
    pub user_type: Option<UserType>,
    /// The SugarCRM id of the person, when the case names one.
    pub contact: String,
    pub account: String,
    /// The SugarCRM user it was assigned to (login or name).
    pub assigned: String,
}

/// What a note or a call hangs from in SugarCRM.
#[derive(Debug, Clone, Default)]
pub struct Parents {
    pub case: String,
    pub contact: String,
}

#[derive(Debug, Clone)]
pub struct SugarNote {
    pub line: usize,
    pub id: String,
    pub subject: String,
    pub body: String,
    pub at: DateTime<Utc>,
    pub parents: Parents,
    pub author: String,
    /// The name of a file attached in SugarCRM (files are not part of a CSV export).
    pub attachment: String,
}

#[derive(Debug, Clone)]
pub struct SugarCall {
    pub line: usize,
    pub id: String,
    pub subject: String,
    pub description: String,
    pub started_at: DateTime<Utc>,
    pub minutes: i64,
    pub direction: CallDirection,
    /// Held (someone spoke) rather than not held.
    pub held: bool,
    pub parents: Parents,
    pub agent: String,
}

/// Everything read from an export's files.
#[derive(Debug, Clone, Default)]
pub struct SugarExport {
    pub contacts: Vec<(usize, SugarContact)>,
    pub cases: Vec<SugarCase>,
    pub notes: Vec<SugarNote>,
    pub calls: Vec<SugarCall>,
    /// `(case id, contact id)` pairs from the `contacts_cases` relationship, when exported.
    pub case_contacts: Vec<(String, String)>,
}

/// What the import did, module by module.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SugarReport {
    pub contacts: ImportReport,
    pub cases: ImportReport,
    pub notes: ImportReport,
    pub calls: ImportReport,
}

/// Lookups made once per import rather than once per row.
struct Links {
    users: HashMap<String, Option<UserId>>,
    case_contact: HashMap<String, String>,
    /// Contacts by account; an account with one contact names the person of its cases.
    account_contacts: HashMap<String, Vec<String>>,
}

impl Links {
    async fn user(&mut self, tx: &mut Tx, name: &str) -> Result<Option<UserId>> {
        let key = name.trim().to_lowercase();
        if key.is_empty() {
            return Ok(None);
        }
        if let Some(found) = self.users.get(&key) {
            return Ok(*found);
        }
        let found = sqlx::query(
            "SELECT id FROM users WHERE login = $1 OR LOWER(name) = $1 OR LOWER(email) = $1 ORDER BY id LIMIT 1",
        )
        .bind(key.clone())
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?
        .map(UserId);
        self.users.insert(key, found);
        Ok(found)
    }

    /// The SugarCRM contact a case belongs to: named on the case, in the relationship export,
    /// or the only contact of its account.
    fn contact_of_case(&self, case: &SugarCase) -> Option<String> {
        if !case.contact.trim().is_empty() {
            return Some(case.contact.trim().to_string());
        }
        if let Some(c) = self.case_contact.get(&case.id) {
            return Some(c.clone());
        }
        match self
            .account_contacts
            .get(case.account.trim())
            .map(Vec::as_slice)
        {
            Some([only]) if !case.account.trim().is_empty() => Some(only.clone()),
            _ => None,
        }
    }
}

async fn local(tx: &mut Tx, kind: &str, external: &str) -> Result<Option<i64>> {
    if external.trim().is_empty() {
        return Ok(None);
    }
    external_ref(tx, SOURCE, kind, external.trim()).await
}

fn clip(s: &str, max: usize) -> String {
    s.trim().chars().take(max).collect()
}

impl Store {
    /// Imports a SugarCRM export in one transaction (rolled back on a dry run). Contacts come
    /// first so that cases find their people, then cases, then the notes and calls that hang
    /// from them.
    pub async fn import_sugarcrm(
        &self,
        actor: Actor<'_>,
        export: &SugarExport,
        dry_run: bool,
        progress: impl Fn(&str, usize, usize),
    ) -> Result<SugarReport> {
        let mut report = SugarReport::default();
        let mut links = Links {
            users: HashMap::new(),
            case_contact: export.case_contacts.iter().cloned().collect(),
            account_contacts: HashMap::new(),
        };
        let mut tx = self.begin().await?;

        let total = export.contacts.len();
        for (n, (line, c)) in export.contacts.iter().enumerate() {
            if n % 500 == 0 {
                progress("contacts", n, total);
            }
            let known = local(&mut tx, "contact", &c.id).await?.map(ContactId);
            let outcome = upsert_person(&mut tx, actor, &c.person, known).await?;
            if let Some(id) = outcome.count(*line, &mut report.contacts)
                && known.is_none()
            {
                remember_ref(&mut tx, SOURCE, "contact", &c.id, id.0, &c.person.name).await?;
            }
            if !c.account_id.trim().is_empty() {
                links
                    .account_contacts
                    .entry(c.account_id.trim().to_string())
                    .or_default()
                    .push(c.id.clone());
            }
        }
        progress("contacts", total, total);

        let total = export.cases.len();
        for (n, case) in export.cases.iter().enumerate() {
            if n % 500 == 0 {
                progress("cases", n, total);
            }
            self.import_case(&mut tx, actor, case, &mut links, &mut report.cases)
                .await?;
        }
        progress("cases", total, total);

        let total = export.notes.len();
        for (n, note) in export.notes.iter().enumerate() {
            if n % 500 == 0 {
                progress("notes", n, total);
            }
            self.import_note(&mut tx, actor, note, &mut links, &mut report.notes)
                .await?;
        }
        progress("notes", total, total);

        let total = export.calls.len();
        for (n, call) in export.calls.iter().enumerate() {
            if n % 500 == 0 {
                progress("calls", n, total);
            }
            self.import_call(&mut tx, call, &mut links, &mut report.calls)
                .await?;
        }
        progress("calls", total, total);

        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(report)
    }

    async fn import_case(
        &self,
        tx: &mut Tx,
        actor: Actor<'_>,
        case: &SugarCase,
        links: &mut Links,
        report: &mut ImportReport,
    ) -> Result<()> {
        let assigned = links.user(tx, &case.assigned).await?;
        if assigned.is_none() && !case.assigned.trim().is_empty() {
            report.warnings.push((
                case.line,
                format!(
                    "user `{}` not in atiende; left unassigned",
                    case.assigned.trim()
                ),
            ));
        }
        let closed_at = case
            .closed_at
            .filter(|_| case.status == Status::Closed)
            .map(|t| t.max(case.received_at));
        if let Some(id) = local(tx, "case", &case.id).await? {
            // Imported before: only a closing that happened since is news.
            let status: String = sqlx::query("SELECT status FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_one(&mut **tx)
                .await?
                .try_get("status")?;
            match closed_at {
                Some(at) if status == Status::Open.code() => {
                    self.close_imported(tx, IncidentId(id), case, assigned, at)
                        .await?;
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
                    report.warnings.push((
                        case.line,
                        format!("contact `{sugar_id}` not imported; the incident has no contact"),
                    ));
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
        let subject = match clip(&case.subject, 300) {
            s if s.is_empty() => atiende_domain::incident::summary_of(&case.description),
            s => s,
        };
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
        .bind(subject)
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
        let origin = format!("Caso {} importado de SugarCRM", case.number.trim());
        let data = serde_json::json!({ "source": SOURCE, "case_number": case.number.trim(), "case_id": case.id, "status": case.sugar_status });
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
            self.close_imported(tx, incident, case, assigned, at)
                .await?;
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

    /// Closes an imported incident at the date SugarCRM gives: the resolution as the
    /// intervention notes, then the status change that first-contact resolution reads. The
    /// caller keeps facts and search in step.
    async fn close_imported(
        &self,
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

    async fn import_note(
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
        let mut text = clip(&note.subject, 300);
        if !note.body.trim().is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&clip(&note.body, MAX_ENTRY_CHARS));
        }
        if !note.attachment.trim().is_empty() {
            text.push_str(&format!(
                "\n\n(Archivo adjunto en SugarCRM: {})",
                note.attachment.trim()
            ));
        }
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
            report.skipped.push((
                note.line,
                "not linked to an imported case or contact".into(),
            ));
        }
        Ok(())
    }

    async fn import_call(
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
            report.skipped.push((
                call.line,
                "not linked to an imported case or contact".into(),
            ));
            return Ok(());
        }
        let number = match contact {
            Some(id) => contact_in_tx(tx, id).await?.phones.first().cloned(),
            None => None,
        }
        .unwrap_or_default();
        let (from, to) = match call.direction {
            CallDirection::In => (number, String::new()),
            CallDirection::Out => (String::new(), number),
        };
        let agent = links.user(tx, &call.agent).await?;
        let ended = call.started_at + Duration::minutes(call.minutes.max(0));
        let cause = if call.held {
            HangupCause::NormalClearing
        } else {
            HangupCause::NoAnswer
        };
        // Not counted as missed: the missed list is today's call-back work, and a call from
        // SugarCRM's past is waiting for no one.
        let id: i64 = sqlx::query(
            "INSERT INTO calls (call_id, direction, from_number, to_number, contact_id, state, cause, user_id, agent, \
             started_at, answered_at, ended_at, missed, incident_id) \
             VALUES ($1, $2, $3, $4, $5, 'ended', $6, $7, $8, $9, $10, $11, 0, $12) RETURNING id",
        )
        .bind(format!("{SOURCE}-{}", call.id.trim()))
        .bind(call.direction.code())
        .bind(from)
        .bind(to)
        .bind(contact.map(|c| c.0))
        .bind(cause.code())
        .bind(agent.map(|u| u.0))
        .bind(call.agent.trim().to_string())
        .bind(ms(call.started_at))
        .bind(call.held.then(|| ms(call.started_at)))
        .bind(ms(ended))
        .bind(incident.map(|i| i.0))
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        if let Some(i) = incident {
            let kind = match call.direction {
                CallDirection::In => "Llamada entrante",
                CallDirection::Out => "Llamada saliente",
            };
            let outcome = if call.held {
                "realizada"
            } else {
                "no realizada"
            };
            let mut text = format!(
                "{kind} {outcome} ({} min): {}",
                call.minutes,
                clip(&call.subject, 300)
            );
            if !call.description.trim().is_empty() {
                text.push_str("\n\n");
                text.push_str(&clip(&call.description, MAX_ENTRY_CHARS));
            }
            let data = serde_json::json!({ "source": SOURCE, "call_id": id });
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

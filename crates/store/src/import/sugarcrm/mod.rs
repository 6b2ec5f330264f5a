//! `atiende import sugarcrm`: a SugarCRM export (contacts, cases, notes, calls) becomes
//! contacts, incidents with their original dates, timeline entries and the call log.
//!
//! History is written as it happened, not replayed through the procedure: a case closed in 2023
//! is an incident closed in 2023, with no survey sent now and no nonconformity found now. Its
//! indicator facts, service-level clocks and search document are those the product keeps for
//! any incident, so it counts in its own period's indicators.
//!
//! Two writers, one result: `bulk` writes the people and cases an export brings for the first
//! time (with the notes and calls that hang from those cases) a few thousand at a time, their
//! facts, clocks and documents computed in memory by the product's own functions;
//! `one_by_one` applies everything else — records imported before, notes about a person, calls
//! with no case — each through the ordinary transaction upkeep. `Writing::OneByOne` sends every
//! record through the second, as the import did before the bulk writer: the reference the bulk
//! writer is proven equal to (`tests/import.rs`).

mod bulk;
mod one_by_one;

use std::collections::HashMap;

use atiende_domain::call::{CallDirection, HangupCause};
use atiende_domain::classification::{Channel, IncidentType, UserType};
use atiende_domain::ids::UserId;
use atiende_domain::import::ImportReport;
use atiende_domain::incident::{MAX_ENTRY_CHARS, Status};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use super::external_ref;
use super::roster::RosterRow;
use crate::Actor;
use crate::db::Store;
use crate::error::Result;
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

/// How an import writes: see the module's documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// New people and cases a batch at a time; the rest one by one.
    Bulk,
    /// Every record one by one, through the ordinary transaction upkeep.
    OneByOne,
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

    /// Remembers a contact's account: an account with one contact names the person of its
    /// cases.
    fn note_account(&mut self, c: &SugarContact) {
        if !c.account_id.trim().is_empty() {
            self.account_contacts
                .entry(c.account_id.trim().to_string())
                .or_default()
                .push(c.id.clone());
        }
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

/// What the import's two writers share: the texts, moments and outcomes of each record.
impl SugarCase {
    /// The incident's subject: the case's, or the beginning of its description.
    fn subject_text(&self) -> String {
        match clip(&self.subject, 300) {
            s if s.is_empty() => atiende_domain::incident::summary_of(&self.description),
            s => s,
        }
    }

    /// When a closed case was closed (never before it was opened); none for an open one.
    fn closing(&self) -> Option<DateTime<Utc>> {
        self.closed_at
            .filter(|_| self.status == Status::Closed)
            .map(|t| t.max(self.received_at))
    }

    /// The note that says where the incident came from.
    fn origin(&self) -> (String, serde_json::Value) {
        (
            format!("Caso {} importado de SugarCRM", self.number.trim()),
            serde_json::json!({ "source": SOURCE, "case_number": self.number.trim(), "case_id": self.id, "status": self.sugar_status }),
        )
    }
}

impl SugarNote {
    /// The note's subject, body and the name of a file it had, as one text.
    fn text(&self) -> String {
        let mut text = clip(&self.subject, 300);
        if !self.body.trim().is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(&clip(&self.body, MAX_ENTRY_CHARS));
        }
        if !self.attachment.trim().is_empty() {
            text.push_str(&format!(
                "\n\n(Archivo adjunto en SugarCRM: {})",
                self.attachment.trim()
            ));
        }
        text
    }
}

impl SugarCall {
    fn ended_at(&self) -> DateTime<Utc> {
        self.started_at + Duration::minutes(self.minutes.max(0))
    }

    fn cause(&self) -> HangupCause {
        if self.held {
            HangupCause::NormalClearing
        } else {
            HangupCause::NoAnswer
        }
    }

    /// The call's numbers, `(from, to)`, given the person's.
    fn numbers(&self, person: String) -> (String, String) {
        match self.direction {
            CallDirection::In => (person, String::new()),
            CallDirection::Out => (String::new(), person),
        }
    }

    /// The note a call leaves on its incident's timeline (`call` is its row in the call log).
    fn entry(&self, call: i64) -> (String, serde_json::Value) {
        let kind = match self.direction {
            CallDirection::In => "Llamada entrante",
            CallDirection::Out => "Llamada saliente",
        };
        let outcome = if self.held {
            "realizada"
        } else {
            "no realizada"
        };
        let mut text = format!(
            "{kind} {outcome} ({} min): {}",
            self.minutes,
            clip(&self.subject, 300)
        );
        if !self.description.trim().is_empty() {
            text.push_str("\n\n");
            text.push_str(&clip(&self.description, MAX_ENTRY_CHARS));
        }
        (
            text,
            serde_json::json!({ "source": SOURCE, "call_id": call }),
        )
    }
}

/// The columns of a call-log row an import writes (`state` and `missed` are constants: a call
/// from SugarCRM's past has ended, and is waiting for no call-back).
const CALL_SQL: &str = "INSERT INTO calls (call_id, direction, from_number, to_number, contact_id, state, cause, user_id, agent, \
     started_at, answered_at, ended_at, missed, incident_id) \
     VALUES ($1, $2, $3, $4, $5, 'ended', $6, $7, $8, $9, $10, $11, 0, $12) RETURNING id";

fn call_log_id(call: &SugarCall) -> String {
    format!("{SOURCE}-{}", call.id.trim())
}

fn unknown_user(line: usize, name: &str) -> (usize, String) {
    (
        line,
        format!("user `{}` not in atiende; left unassigned", name.trim()),
    )
}

fn contact_not_imported(line: usize, sugar_id: &str) -> (usize, String) {
    (
        line,
        format!("contact `{sugar_id}` not imported; the incident has no contact"),
    )
}

fn not_linked(line: usize) -> (usize, String) {
    (line, "not linked to an imported case or contact".into())
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
        self.import_sugarcrm_as(actor, export, dry_run, Writing::Bulk, progress)
            .await
    }

    /// [`Store::import_sugarcrm`], written as `writing` says.
    pub async fn import_sugarcrm_as(
        &self,
        actor: Actor<'_>,
        export: &SugarExport,
        dry_run: bool,
        writing: Writing,
        progress: impl Fn(&str, usize, usize),
    ) -> Result<SugarReport> {
        let mut report = SugarReport::default();
        let mut links = Links {
            users: HashMap::new(),
            case_contact: export.case_contacts.iter().cloned().collect(),
            account_contacts: HashMap::new(),
        };
        let mut tx = self.begin().await?;
        let documents = match writing {
            Writing::Bulk => {
                bulk::import(
                    self,
                    &mut tx,
                    actor,
                    export,
                    &mut links,
                    &mut report,
                    &progress,
                )
                .await?
            }
            Writing::OneByOne => {
                self.import_one_by_one(&mut tx, actor, export, &mut links, &mut report, &progress)
                    .await?;
                0
            }
        };
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
            // Thousands of documents written in batches leave SQLite's index in many segments.
            if documents >= bulk::BATCH {
                self.merge_search_index().await?;
            }
        }
        Ok(report)
    }
}

//! `atiende import contacts`: a roster's people, found by any identifier and filled in, or met
//! for the first time. The same upsert serves the contacts of a SugarCRM export.

use atiende_domain::classification::{ProgrammeLine, UserType};
use atiende_domain::contact::{ContactFields, ContactInput, Identifier, IdentifierKind};
use atiende_domain::ids::ContactId;
use atiende_domain::import::ImportReport;
use sqlx::Row;

use crate::Actor;
use crate::contacts::{contact_in_tx, insert_contact, update_contact_in};
use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::tx::Tx;

/// One roster row, as read from the file.
#[derive(Debug, Clone, Default)]
pub struct RosterRow {
    /// Line in the file (for the summary).
    pub line: usize,
    pub name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub student_code: String,
    pub user_type: Option<UserType>,
    pub programme_line: Option<ProgrammeLine>,
    /// Kept as the contact's notes when it has none yet.
    pub notes: String,
}

/// The contacts an identifier set already belongs to.
async fn owners(tx: &mut Tx, identifiers: &[Identifier]) -> Result<Vec<i64>> {
    let mut found: Vec<i64> = Vec::new();
    for ident in identifiers {
        let row = sqlx::query(
            "SELECT contact_id FROM contact_identifiers WHERE kind = $1 AND value = $2",
        )
        .bind(ident.kind.code())
        .bind(ident.value.clone())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(r) = row {
            let id: i64 = r.try_get("contact_id")?;
            if !found.contains(&id) {
                found.push(id);
            }
        }
    }
    Ok(found)
}

/// What a row says about a person, parsed; the first invalid value is the reason to skip it.
pub(crate) fn identifiers_of(row: &RosterRow) -> std::result::Result<Vec<Identifier>, String> {
    let mut out = Vec::new();
    let values = row
        .emails
        .iter()
        .map(|e| (IdentifierKind::Email, e))
        .chain(row.phones.iter().map(|p| (IdentifierKind::Phone, p)))
        .chain([(IdentifierKind::StudentCode, &row.student_code)]);
    for (kind, raw) in values {
        if raw.trim().is_empty() {
            continue;
        }
        let ident = Identifier::parse(kind, raw).map_err(|e| format!("{}: {}", e.field, e.code))?;
        if !out.contains(&ident) {
            out.push(ident);
        }
    }
    Ok(out)
}

/// A person met for the first time, as a row describes them (its identifiers parsed); the
/// reason to skip the row when it cannot be a contact.
pub(crate) fn new_person(
    row: &RosterRow,
    identifiers: &[Identifier],
) -> std::result::Result<ContactFields, String> {
    let input = ContactInput {
        name: Some(row.name.trim().to_string()),
        emails: Some(row_values(identifiers, IdentifierKind::Email)),
        phones: Some(row_values(identifiers, IdentifierKind::Phone)),
        student_code: row_values(identifiers, IdentifierKind::StudentCode).pop(),
        user_type: row.user_type,
        programme_line: row.programme_line,
        notes: Some(row.notes.trim().to_string()).filter(|n| !n.is_empty()),
        ..Default::default()
    };
    ContactFields::apply(None, &input).map_err(|e| e.code().to_string())
}

/// How a person row ended.
pub(crate) enum Upsert {
    Created(ContactId),
    Updated(ContactId),
    Unchanged(ContactId),
    Skipped(String),
}

impl Upsert {
    /// Counts the outcome in a report and returns the contact, if any.
    pub(crate) fn count(self, line: usize, report: &mut ImportReport) -> Option<ContactId> {
        match self {
            Upsert::Created(id) => {
                report.created += 1;
                Some(id)
            }
            Upsert::Updated(id) => {
                report.updated += 1;
                Some(id)
            }
            Upsert::Unchanged(id) => {
                report.unchanged += 1;
                Some(id)
            }
            Upsert::Skipped(reason) => {
                report.skipped.push((line, reason));
                None
            }
        }
    }
}

/// Finds the person a row describes (the `known` contact, else by any identifier) and fills in
/// what is new, or meets a new person.
pub(crate) async fn upsert_person(
    tx: &mut Tx,
    actor: Actor<'_>,
    row: &RosterRow,
    known: Option<ContactId>,
) -> Result<Upsert> {
    let identifiers = match identifiers_of(row) {
        Ok(i) => i,
        Err(reason) => return Ok(Upsert::Skipped(reason)),
    };
    if identifiers.is_empty() && row.name.trim().is_empty() && known.is_none() {
        return Ok(Upsert::Skipped("empty".into()));
    }
    let existing = match known {
        Some(id) => Some(contact_in_tx(tx, id).await?),
        None => match owners(tx, &identifiers).await?.as_slice() {
            [] => None,
            [one] => Some(contact_in_tx(tx, ContactId(*one)).await?),
            _ => return Ok(Upsert::Skipped("identifiers_of_different_contacts".into())),
        },
    };
    let existing = match existing {
        Some(c) => match c.merged_into {
            Some(target) => Some(contact_in_tx(tx, target).await?),
            None => Some(c),
        },
        None => None,
    };
    let Some(current) = existing else {
        return Ok(match new_person(row, &identifiers) {
            Ok(fields) => Upsert::Created(insert_contact(tx, actor, &fields).await?.id),
            Err(reason) => Upsert::Skipped(reason),
        });
    };
    let notes = Some(row.notes.trim().to_string()).filter(|n| !n.is_empty());
    // Fill in: new identifiers are added, values given replace those held.
    let mut emails = current.emails.clone();
    let mut phones = current.phones.clone();
    for i in &identifiers {
        match i.kind {
            IdentifierKind::Email if !emails.contains(&i.value) => emails.push(i.value.clone()),
            IdentifierKind::Phone if !phones.contains(&i.value) => phones.push(i.value.clone()),
            _ => {}
        }
    }
    let input = ContactInput {
        name: Some(row.name.trim().to_string()).filter(|n| !n.is_empty()),
        emails: Some(emails),
        phones: Some(phones),
        student_code: row_values(&identifiers, IdentifierKind::StudentCode)
            .pop()
            .or(current.student_code.clone()),
        user_type: row.user_type.or(current.user_type),
        programme_line: row.programme_line.or(current.programme_line),
        notes: notes.filter(|_| current.notes.trim().is_empty()),
        ..Default::default()
    };
    let fields = match ContactFields::apply(Some(&current), &input) {
        Ok(f) => f,
        Err(e) => return Ok(Upsert::Skipped(e.code().to_string())),
    };
    if fields == ContactFields::of(&current) {
        return Ok(Upsert::Unchanged(current.id));
    }
    match update_contact_in(tx, actor, current.id, &input).await {
        Ok(_) => Ok(Upsert::Updated(current.id)),
        Err(StoreError::Conflict { field, code, .. }) => {
            Ok(Upsert::Skipped(format!("{field}: {code}")))
        }
        Err(StoreError::Rule(rule)) => Ok(Upsert::Skipped(rule.code().to_string())),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Loads a roster: each row finds its person by any identifier and fills in what is new, or
    /// meets a new person. With `dry_run` everything is checked and counted, then rolled back.
    pub async fn import_roster(
        &self,
        actor: Actor<'_>,
        rows: &[RosterRow],
        dry_run: bool,
        progress: impl Fn(usize, usize),
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut tx = self.begin().await?;
        for (n, row) in rows.iter().enumerate() {
            if n % 500 == 0 {
                progress(n, rows.len());
            }
            upsert_person(&mut tx, actor, row, None)
                .await?
                .count(row.line, &mut report);
        }
        progress(rows.len(), rows.len());
        if dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        Ok(report)
    }
}

fn row_values(identifiers: &[Identifier], kind: IdentifierKind) -> Vec<String> {
    identifiers
        .iter()
        .filter(|i| i.kind == kind)
        .map(|i| i.value.clone())
        .collect()
}

//! Imports, all or nothing: every row of a file is applied in one transaction, which a dry run
//! rolls back, so a failed or rehearsed import leaves nothing half-done. A row that cannot be
//! applied is skipped with its line and reason; running the same file twice changes nothing the
//! second time.

use atiende_domain::classification::{ProgrammeLine, UserType};
use atiende_domain::contact::{ContactFields, ContactInput, Identifier, IdentifierKind};
use atiende_domain::ids::ContactId;
use atiende_domain::import::ImportReport;
use sqlx::Row;

use crate::Actor;
use crate::contacts::{contact_in_tx, insert_contact, update_contact_in};
use crate::db::{Store, Tx};
use crate::error::{Result, StoreError};

/// One roster row, as read from the file.
#[derive(Debug, Clone, Default)]
pub struct RosterRow {
    /// Line in the file (for the summary).
    pub line: usize,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub student_code: String,
    pub user_type: Option<UserType>,
    pub programme_line: Option<ProgrammeLine>,
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
fn identifiers_of(row: &RosterRow) -> std::result::Result<Vec<Identifier>, String> {
    let mut out = Vec::new();
    for (kind, raw) in [
        (IdentifierKind::Email, &row.email),
        (IdentifierKind::Phone, &row.phone),
        (IdentifierKind::StudentCode, &row.student_code),
    ] {
        if raw.trim().is_empty() {
            continue;
        }
        out.push(Identifier::parse(kind, raw).map_err(|e| format!("{}: {}", e.field, e.code))?);
    }
    Ok(out)
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
            let identifiers = match identifiers_of(row) {
                Ok(i) => i,
                Err(reason) => {
                    report.skipped.push((row.line, reason));
                    continue;
                }
            };
            if identifiers.is_empty() && row.name.trim().is_empty() {
                report.skipped.push((row.line, "empty".into()));
                continue;
            }
            let owners = owners(&mut tx, &identifiers).await?;
            let existing = match owners.as_slice() {
                [] => None,
                [one] => Some(contact_in_tx(&mut tx, ContactId(*one)).await?),
                _ => {
                    report
                        .skipped
                        .push((row.line, "identifiers_of_different_contacts".into()));
                    continue;
                }
            };
            let existing = match existing {
                Some(c) => match c.merged_into {
                    Some(target) => Some(contact_in_tx(&mut tx, target).await?),
                    None => Some(c),
                },
                None => None,
            };
            match existing {
                None => {
                    let input = ContactInput {
                        name: Some(row.name.trim().to_string()),
                        emails: Some(row_values(&identifiers, IdentifierKind::Email)),
                        phones: Some(row_values(&identifiers, IdentifierKind::Phone)),
                        student_code: row_values(&identifiers, IdentifierKind::StudentCode).pop(),
                        user_type: row.user_type,
                        programme_line: row.programme_line,
                        ..Default::default()
                    };
                    match ContactFields::apply(None, &input) {
                        Ok(fields) => {
                            insert_contact(&mut tx, actor, &fields).await?;
                            report.created += 1;
                        }
                        Err(e) => report.skipped.push((row.line, e.code().to_string())),
                    }
                }
                Some(current) => {
                    // Fill in: new identifiers are added, values given replace those held.
                    let mut emails = current.emails.clone();
                    let mut phones = current.phones.clone();
                    for i in &identifiers {
                        match i.kind {
                            IdentifierKind::Email if !emails.contains(&i.value) => {
                                emails.push(i.value.clone())
                            }
                            IdentifierKind::Phone if !phones.contains(&i.value) => {
                                phones.push(i.value.clone())
                            }
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
                        ..Default::default()
                    };
                    let fields = match ContactFields::apply(Some(&current), &input) {
                        Ok(f) => f,
                        Err(e) => {
                            report.skipped.push((row.line, e.code().to_string()));
                            continue;
                        }
                    };
                    if fields == ContactFields::of(&current) {
                        report.unchanged += 1;
                        continue;
                    }
                    match update_contact_in(&mut tx, actor, current.id, &input).await {
                        Ok(_) => report.updated += 1,
                        Err(StoreError::Conflict { field, code, .. }) => {
                            report.skipped.push((row.line, format!("{field}: {code}")))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
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

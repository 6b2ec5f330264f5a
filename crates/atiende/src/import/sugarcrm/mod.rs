//! `atiende import sugarcrm DIR`: reads the CSV files SugarCRM Community Edition exports for
//! Contacts, Cases, Notes and Calls (headers as field names or as labels), translates their
//! values through the mapping, and hands the store one export to apply all or nothing.

mod mapping;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use atiende_domain::call::CallDirection;
use atiende_domain::contact::{Identifier, IdentifierKind};
use atiende_domain::import::ImportReport;
use atiende_domain::incident::Status;
use atiende_store::Actor;
use atiende_store::import::RosterRow;
use atiende_store::import::sugarcrm::{
    Parents, SugarCall, SugarCase, SugarContact, SugarExport, SugarNote, SugarReport,
};
use chrono_tz::Tz;
use mapping::{
    CallOutcome, Mapping, Module, SalutationUse, call_direction_of, call_outcome_of, field_of,
    is_deleted, split_salutation,
};

use super::{decode, print_report, progress, read_table};
use crate::config::Config;
use crate::serve::open_store;

/// One row, its values by field name.
struct Record {
    line: usize,
    values: HashMap<String, String>,
}

impl Record {
    fn get(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// A field the mapping file names (by field name or label).
    fn mapped(&self, module: Module, configured: &str) -> &str {
        if configured.trim().is_empty() {
            return "";
        }
        self.get(&field_of(module, configured))
    }
}

/// The export's files, by module.
fn files_of(dir: &Path) -> Result<BTreeMap<Module, PathBuf>> {
    let mut found: BTreeMap<Module, PathBuf> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !name.to_lowercase().ends_with(".csv") {
            continue;
        }
        if let Some(module) = Module::of_file_name(&name)
            && let Some(other) = found.insert(module, path.clone())
        {
            bail!(
                "two files for {module:?}: {} and {}",
                other.display(),
                path.display()
            );
        }
    }
    if !found.contains_key(&Module::Contacts) && !found.contains_key(&Module::Cases) {
        bail!(
            "no Contacts or Cases export in {} (expected files such as Contacts.csv, Cases.csv, Notes.csv, Calls.csv)",
            dir.display()
        );
    }
    Ok(found)
}

/// Reads one module's file into records, skipping what cannot be read and what SugarCRM had
/// deleted.
fn records(module: Module, path: &Path, report: &mut ImportReport) -> Result<Vec<Record>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (table, broken) =
        read_table(&decode(&bytes)).with_context(|| format!("reading {}", path.display()))?;
    report.skipped.extend(broken);
    let fields: Vec<String> = table.headers.iter().map(|h| field_of(module, h)).collect();
    if !fields.iter().any(|f| f == "id") {
        bail!(
            "{} has no `id` column: export it from SugarCRM with all fields",
            path.display()
        );
    }
    let mut out = Vec::new();
    for (line, values) in table.rows {
        let record = Record {
            line,
            values: fields.iter().cloned().zip(values).collect(),
        };
        if record.get("id").is_empty() {
            report.skipped.push((line, "no id".into()));
        } else if is_deleted(record.get("deleted")) {
            report.skipped.push((line, "deleted in SugarCRM".into()));
        } else {
            out.push(record);
        }
    }
    Ok(out)
}

/// A SugarCRM contact as a person, and whether a salutation was kept out of their name.
fn contact_of(r: &Record, mapping: &Mapping, report: &mut ImportReport) -> (SugarContact, bool) {
    let full = match r.get("name") {
        "" => format!("{} {}", r.get("first_name"), r.get("last_name")),
        full => full.to_string(),
    };
    let (name, salutation) = split_salutation(&full, r.get("salutation"));
    let mut notes = r.get("description").to_string();
    if let (Some(s), SalutationUse::Notes) = (&salutation, mapping.salutation) {
        let line = format!("Tratamiento: {s}");
        notes = if notes.is_empty() {
            line
        } else {
            format!("{line}\n{notes}")
        };
    }
    let mut person = RosterRow {
        line: r.line,
        name,
        notes,
        ..Default::default()
    };
    // A bad secondary phone should not cost the person: it is left out and said.
    let mut keep = |kind: IdentifierKind, field: &str, into: &mut Vec<String>| {
        let value = r.get(field);
        if value.is_empty() {
            return;
        }
        match Identifier::parse(kind, value) {
            Ok(_) => into.push(value.to_string()),
            Err(e) => report
                .warnings
                .push((r.line, format!("{field} `{value}` left out: {}", e.code))),
        }
    };
    for field in ["email1", "email2"] {
        keep(IdentifierKind::Email, field, &mut person.emails);
    }
    for field in ["phone_mobile", "phone_work", "phone_home", "phone_other"] {
        keep(IdentifierKind::Phone, field, &mut person.phones);
    }
    let code = r.mapped(Module::Contacts, &mapping.fields.student_code);
    if !code.is_empty() {
        match Identifier::parse(IdentifierKind::StudentCode, code) {
            Ok(_) => person.student_code = code.to_string(),
            Err(e) => report.warnings.push((
                r.line,
                format!("student code `{code}` left out: {}", e.code),
            )),
        }
    }
    match mapping.user_type(r.mapped(Module::Contacts, &mapping.fields.user_type)) {
        Ok(t) => person.user_type = t,
        Err(v) => report.warnings.push((
            r.line,
            format!("user type `{v}` not in the mapping ([user_type]); left empty"),
        )),
    }
    match mapping.programme_line(r.mapped(Module::Contacts, &mapping.fields.programme_line)) {
        Ok(l) => person.programme_line = l,
        Err(v) => report.warnings.push((
            r.line,
            format!("programme line `{v}` not in the mapping ([programme_line]); left empty"),
        )),
    }
    let contact = SugarContact {
        id: r.get("id").to_string(),
        person,
        account_id: r.get("account_id").to_string(),
    };
    (contact, salutation.is_some())
}

fn case_of(r: &Record, mapping: &Mapping, tz: Tz, report: &mut ImportReport) -> Option<SugarCase> {
    let Some(received_at) = mapping.datetime(r.get("date_entered"), tz) else {
        report.skipped.push((
            r.line,
            format!("date created `{}` unreadable", r.get("date_entered")),
        ));
        return None;
    };
    let status = match mapping.case_status(r.get("status"), r.get("state")) {
        Ok(s) => s,
        Err(v) => {
            report.skipped.push((
                r.line,
                format!("status `{v}` not in the mapping ([case_status])"),
            ));
            return None;
        }
    };
    let closed_raw = r.mapped(Module::Cases, &mapping.fields.closed_at);
    let closed_at = match (status, mapping.datetime(closed_raw, tz)) {
        (Status::Closed, None) => {
            report.warnings.push((
                r.line,
                format!("closing date `{closed_raw}` unreadable; closed when received"),
            ));
            Some(received_at)
        }
        (_, at) => at,
    };
    let incident_type = mapping.incident_type(r.get("type")).unwrap_or_else(|v| {
        report.warnings.push((
            r.line,
            format!("case type `{v}` not in the mapping ([case_type]); left unclassified"),
        ));
        None
    });
    let channel_raw = r.mapped(Module::Cases, &mapping.fields.channel);
    let channel = mapping.channel(channel_raw).unwrap_or_else(|v| {
        report.warnings.push((
            r.line,
            format!(
                "channel `{v}` not in the mapping ([channel]); taken as {}",
                mapping.default_channel
            ),
        ));
        mapping.default_channel
    });
    let user_type = mapping
        .user_type(r.mapped(Module::Cases, &mapping.fields.user_type))
        .unwrap_or_else(|v| {
            report.warnings.push((
                r.line,
                format!("user type `{v}` not in the mapping ([user_type]); the contact's is used"),
            ));
            None
        });
    Some(SugarCase {
        line: r.line,
        id: r.get("id").to_string(),
        number: r.get("case_number").to_string(),
        subject: r.get("name").to_string(),
        description: r.get("description").to_string(),
        resolution: r.get("resolution").to_string(),
        work_log: r.get("work_log").to_string(),
        received_at,
        closed_at,
        status,
        sugar_status: r.get("status").to_string(),
        channel,
        incident_type,
        user_type,
        contact: r.get("contact_id").to_string(),
        account: r.get("account_id").to_string(),
        assigned: r.get("assigned_user_name").to_string(),
    })
}

/// What a note or call hangs from: its parent (a case or a contact) or its contact field.
fn parents_of(r: &Record) -> Parents {
    let parent = r.get("parent_id").to_string();
    let kind = atiende_domain::import::simplify(r.get("parent_type"));
    let mut parents = Parents::default();
    match kind.as_str() {
        "cases" | "case" | "casos" | "caso" => parents.case = parent,
        "contacts" | "contact" | "contactos" | "contacto" => parents.contact = parent,
        _ => {}
    }
    if parents.contact.is_empty() {
        parents.contact = r.get("contact_id").to_string();
    }
    parents
}

fn note_of(r: &Record, mapping: &Mapping, tz: Tz, report: &mut ImportReport) -> Option<SugarNote> {
    let Some(at) = mapping.datetime(r.get("date_entered"), tz) else {
        report.skipped.push((
            r.line,
            format!("date created `{}` unreadable", r.get("date_entered")),
        ));
        return None;
    };
    Some(SugarNote {
        line: r.line,
        id: r.get("id").to_string(),
        subject: r.get("name").to_string(),
        body: r.get("description").to_string(),
        at,
        parents: parents_of(r),
        author: match r.get("assigned_user_name") {
            "" => r.get("created_by_name").to_string(),
            a => a.to_string(),
        },
        attachment: r.get("filename").to_string(),
    })
}

fn call_of(r: &Record, mapping: &Mapping, tz: Tz, report: &mut ImportReport) -> Option<SugarCall> {
    let held = match call_outcome_of(r.get("status")) {
        Some(CallOutcome::Held) => true,
        Some(CallOutcome::NotHeld) => false,
        Some(CallOutcome::Planned) => {
            report.skipped.push((r.line, "planned, never made".into()));
            return None;
        }
        None => {
            report
                .skipped
                .push((r.line, format!("call status `{}` unknown", r.get("status"))));
            return None;
        }
    };
    let start = match r.get("date_start") {
        "" => r.get("date_entered"),
        s => s,
    };
    let Some(started_at) = mapping.datetime(start, tz) else {
        report
            .skipped
            .push((r.line, format!("start date `{start}` unreadable")));
        return None;
    };
    let direction = call_direction_of(r.get("direction")).unwrap_or_else(|| {
        report.warnings.push((
            r.line,
            format!(
                "direction `{}` unknown; taken as incoming",
                r.get("direction")
            ),
        ));
        CallDirection::In
    });
    let number = |f: &str| r.get(f).parse::<i64>().unwrap_or(0);
    Some(SugarCall {
        line: r.line,
        id: r.get("id").to_string(),
        subject: r.get("name").to_string(),
        description: r.get("description").to_string(),
        started_at,
        minutes: number("duration_hours") * 60 + number("duration_minutes"),
        direction,
        held,
        parents: parents_of(r),
        agent: r.get("assigned_user_name").to_string(),
    })
}

/// Reads a whole export; what each module's reading left out is in its report.
pub fn read_export(dir: &Path, mapping: &Mapping, tz: Tz) -> Result<(SugarExport, SugarReport)> {
    let files = files_of(dir)?;
    let mut export = SugarExport::default();
    let mut report = SugarReport::default();
    for (module, path) in &files {
        match module {
            Module::Contacts => {
                let mut salutations = 0;
                for r in records(*module, path, &mut report.contacts)? {
                    let (c, had_salutation) = contact_of(&r, mapping, &mut report.contacts);
                    salutations += usize::from(had_salutation);
                    export.contacts.push((r.line, c));
                }
                if salutations > 0 {
                    report.contacts.remarks.push(match mapping.salutation {
                        SalutationUse::Notes => format!(
                            "{salutations} salutations (Sr., Lic.…) kept out of the names, in \
                             the notes (salutation = \"drop\" in the mapping leaves them out)"
                        ),
                        SalutationUse::Drop => {
                            format!("{salutations} salutations (Sr., Lic.…) left out of the names")
                        }
                    });
                }
            }
            Module::Cases => {
                for r in records(*module, path, &mut report.cases)? {
                    export
                        .cases
                        .extend(case_of(&r, mapping, tz, &mut report.cases));
                }
            }
            Module::Notes => {
                for r in records(*module, path, &mut report.notes)? {
                    export
                        .notes
                        .extend(note_of(&r, mapping, tz, &mut report.notes));
                }
            }
            Module::Calls => {
                for r in records(*module, path, &mut report.calls)? {
                    export
                        .calls
                        .extend(call_of(&r, mapping, tz, &mut report.calls));
                }
            }
            Module::ContactsCases => {
                let mut ignored = ImportReport::default();
                for r in records(*module, path, &mut ignored)? {
                    let pair = (
                        r.get("case_id").to_string(),
                        r.get("contact_id").to_string(),
                    );
                    if !pair.0.is_empty() && !pair.1.is_empty() {
                        export.case_contacts.push(pair);
                    }
                }
            }
        }
    }
    Ok((export, report))
}

fn mapping_of(dir: &Path, file: Option<&Path>) -> Result<Mapping> {
    let default = dir.join("mapping.toml");
    let path = match file {
        Some(f) => f.to_path_buf(),
        None if default.exists() => default,
        None => return Ok(Mapping::default()),
    };
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("mapping file {}", path.display()))
}

fn merge(into: &mut ImportReport, read: ImportReport) {
    into.skipped.extend(read.skipped);
    into.warnings.extend(read.warnings);
    into.remarks.extend(read.remarks);
}

pub async fn run(config: &Config, dir: &Path, mapping: Option<&Path>, dry_run: bool) -> Result<()> {
    let mapping = mapping_of(dir, mapping)?;
    // The database first: a configuration it refuses is said before seconds of reading.
    let store = open_store(config).await?;
    let (export, read) = read_export(dir, &mapping, config.time_zone()?)?;
    let mut report = store
        .import_sugarcrm(Actor::System, &export, dry_run, progress)
        .await?;
    merge(&mut report.contacts, read.contacts);
    merge(&mut report.cases, read.cases);
    merge(&mut report.notes, read.notes);
    merge(&mut report.calls, read.calls);
    if dry_run {
        println!("dry run (nothing saved)");
    }
    print_report("contacts", &report.contacts);
    print_report("cases", &report.cases);
    print_report("notes", &report.notes);
    print_report("calls", &report.calls);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::mapping::{DateOrder, Mapping};
    use atiende_domain::classification::{Channel, IncidentType};

    #[test]
    fn the_documented_mapping_file_reads_as_the_defaults() {
        let text = include_str!("../../../../../docs/import/sugarcrm-mapping.toml");
        let documented: Mapping = toml::from_str(text).expect("documented mapping");
        let default = Mapping::default();
        assert_eq!(documented.date_order, DateOrder::Mdy);
        assert_eq!(documented.default_channel, Channel::Phone);
        assert_eq!(documented.case_type, default.case_type);
        assert_eq!(documented.fields.closed_at, default.fields.closed_at);
        assert_eq!(documented.fields.user_type, default.fields.user_type);
        assert_eq!(
            documented.incident_type("Product"),
            Ok(Some(IncidentType::Question))
        );
        assert!(toml::from_str::<Mapping>("colour = \"red\"").is_err());
    }
}

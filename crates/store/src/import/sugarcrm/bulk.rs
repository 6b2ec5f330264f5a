//! The people and cases an export brings for the first time, a batch at a time: every row of a
//! batch built in memory and written with a handful of statements, and what the transaction
//! upkeep would compute for each incident — its indicator facts and their rollups, its
//! service-level clocks, its search document — computed here by the same functions from the
//! same rows (`facts_of`, `clocks_of`, `incident_document`, `contact_document`). The notes and
//! calls that hang from a new case are written with it, so its facts see its whole history at
//! once. Anything else goes one by one.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use atiende_domain::audit::EntityKind;
use atiende_domain::classification::UserType;
use atiende_domain::contact::{Contact, ContactFields, Identifier};
use atiende_domain::folio::Folio;
use atiende_domain::ids::{ContactId, EntryId, IncidentId, UserId};
use atiende_domain::incident::{EntryKind, Incident, MAX_ENTRY_CHARS, Status, TimelineEntry};
use atiende_domain::service_level::{Clock, resolved_in_time};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::one_by_one::import_contact;
use super::{
    Links, SOURCE, SugarCall, SugarCase, SugarContact, SugarExport, SugarNote, SugarReport,
    call_log_id, clip, contact_not_imported, not_linked, unknown_user,
};
use crate::Actor;
use crate::audit::{Change, push_records, snapshot};
use crate::bulk::{Value, push_insert, push_update, reserve_ids};
use crate::contacts::contact_in_tx;
use crate::db::{Script, Sql, Store, engine_of, ms, now};
use crate::error::Result;
use crate::import::roster::{identifiers_of, new_person};
use crate::incidents::rows::{ENTRY_COLUMNS, take_folios};
use crate::indicators::{RollupDelta, SurveyState, push_facts};
use crate::search::{Kind, contact_document, incident_document, push_new_documents};
use crate::service_levels::{Rules, clocks_of, push_new_clocks};
use crate::tx::Tx;

/// Records written per batch.
pub(super) const BATCH: usize = 5_000;

/// The import; returns how many search documents it wrote.
pub(super) async fn import(
    store: &Store,
    tx: &mut Tx,
    actor: Actor<'_>,
    export: &SugarExport,
    links: &mut Links,
    report: &mut SugarReport,
    progress: &impl Fn(&str, usize, usize),
) -> Result<usize> {
    let mut refs = Refs::load(tx).await?;
    let mut people = People::default();
    let mut documents = 0;

    let total = export.contacts.len();
    for (n, chunk) in export.contacts.chunks(BATCH).enumerate() {
        progress("contacts", n * BATCH, total);
        let parsed: Vec<Option<Vec<Identifier>>> = chunk
            .iter()
            .map(|(_, c)| identifiers_of(&c.person).ok())
            .collect();
        let owned = owned(tx, parsed.iter().flatten().flatten()).await?;
        let mut batch = NewPeople::default();
        for ((line, c), identifiers) in chunk.iter().zip(&parsed) {
            links.note_account(c);
            let fresh = refs.get("contact", &c.id).is_none() && !batch.sugar_ids.contains(&c.id);
            let fields = match identifiers {
                Some(ids)
                    if fresh
                        && !(ids.is_empty() && c.person.name.trim().is_empty())
                        && !ids.iter().any(|i| owned.contains(i) || batch.holds(i)) =>
                {
                    new_person(&c.person, ids).ok()
                }
                _ => None,
            };
            match fields {
                Some(fields) => batch.push(c, fields),
                None => {
                    // Someone met before, or a row to fill in, skip or report: one by one,
                    // after what the batch holds is written (the row may name it).
                    documents += batch
                        .write(tx, actor, &mut refs, &mut people, report)
                        .await?;
                    let id = import_contact(tx, actor, *line, c, &mut report.contacts).await?;
                    if let Some(id) = id {
                        refs.insert("contact", &c.id, id.0);
                        people.forget(id);
                    }
                }
            }
        }
        documents += batch
            .write(tx, actor, &mut refs, &mut people, report)
            .await?;
    }
    progress("contacts", total, total);

    // The notes and calls of each case, in the export's order.
    let mut notes_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (n, note) in export.notes.iter().enumerate() {
        notes_of
            .entry(note.parents.case.trim())
            .or_default()
            .push(n);
    }
    let mut calls_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (n, call) in export.calls.iter().enumerate() {
        calls_of
            .entry(call.parents.case.trim())
            .or_default()
            .push(n);
    }
    let mut written_notes = vec![false; export.notes.len()];
    let mut written_calls = vec![false; export.calls.len()];
    let mut seen: HashSet<(&'static str, &str)> = HashSet::new();
    let rules = store.clock_rules(tx).await?;

    let total = export.cases.len();
    for (n, chunk) in export.cases.chunks(BATCH).enumerate() {
        progress("cases", n * BATCH, total);
        let mut batch = NewCases::default();
        for case in chunk {
            if refs.get("case", &case.id).is_some() || !seen.insert(("case", case.id.trim())) {
                // Imported before (only a closing since is news), or twice in the export.
                documents += batch.write(store, tx, actor, &rules, &mut refs).await?;
                store
                    .import_case(tx, actor, case, links, &mut report.cases)
                    .await?;
                continue;
            }
            let mut new = NewCase::of(case, tx, links, &mut refs, &mut people, report).await?;
            if !case.id.trim().is_empty() {
                for &i in notes_of.get(case.id.trim()).into_iter().flatten() {
                    let note = &export.notes[i];
                    if refs.get("note", &note.id).is_none() && seen.insert(("note", note.id.trim()))
                    {
                        let author = links.user(tx, &note.author).await?;
                        new.notes.push((note, author));
                        written_notes[i] = true;
                        report.notes.created += 1;
                    }
                }
                for &i in calls_of.get(case.id.trim()).into_iter().flatten() {
                    let call = &export.calls[i];
                    if refs.get("call", &call.id).is_none() && seen.insert(("call", call.id.trim()))
                    {
                        // The person the call names, else the incident's.
                        let contact = refs
                            .get("contact", &call.parents.contact)
                            .map(ContactId)
                            .or(new.contact);
                        let number = match contact {
                            Some(id) => people.get(tx, id).await?.phones.first().cloned(),
                            None => None,
                        }
                        .unwrap_or_default();
                        let agent = links.user(tx, &call.agent).await?;
                        new.calls.push(NewCall {
                            call,
                            contact,
                            number,
                            agent,
                        });
                        written_calls[i] = true;
                        report.calls.created += 1;
                    }
                }
            }
            batch.cases.push(new);
            report.cases.created += 1;
        }
        documents += batch.write(store, tx, actor, &rules, &mut refs).await?;
    }
    progress("cases", total, total);

    let total = export.notes.len();
    let mut about_people = PeopleNotes::default();
    for (n, note) in export.notes.iter().enumerate() {
        if n % 500 == 0 {
            progress("notes", n, total);
        }
        if written_notes[n] {
            continue;
        }
        if refs.get("note", &note.id).is_some() {
            // Imported before: as `import_note` finds it, without asking again.
            report.notes.unchanged += 1;
            continue;
        }
        let on_case = refs.get("case", &note.parents.case).is_some();
        match refs.get("contact", &note.parents.contact).map(ContactId) {
            None if !on_case => report.notes.skipped.push(not_linked(note.line)),
            // A note about a person (its case, if any, not imported) joins their notes.
            Some(id) if !on_case && people.get(tx, id).await?.merged_into.is_none() => {
                let contact = people.get(tx, id).await?;
                if let Err(rule) = contact.check_in_use() {
                    report.notes.skipped.push((note.line, rule.code().into()));
                } else {
                    about_people.push(store, actor, note, contact);
                    refs.insert("note", &note.id, id.0);
                    report.notes.created += 1;
                }
            }
            _ => {
                // On a case imported before: one by one.
                about_people.write(tx).await?;
                store
                    .import_note(tx, actor, note, links, &mut report.notes)
                    .await?;
                if let Some(entry) = super::local(tx, "note", &note.id).await? {
                    refs.insert("note", &note.id, entry);
                }
                if let Some(id) = refs.get("contact", &note.parents.contact) {
                    people.forget(ContactId(id));
                }
            }
        }
    }
    about_people.write(tx).await?;
    progress("notes", total, total);
    let total = export.calls.len();
    for (n, call) in export.calls.iter().enumerate() {
        if n % 500 == 0 {
            progress("calls", n, total);
        }
        if refs.get("call", &call.id).is_some() && !written_calls[n] {
            report.calls.unchanged += 1;
        } else if !written_calls[n] {
            store
                .import_call(tx, call, links, &mut report.calls)
                .await?;
        }
    }
    progress("calls", total, total);
    Ok(documents)
}

/// What was imported from SugarCRM before (or in this import), by kind and SugarCRM id.
struct Refs(HashMap<(&'static str, String), i64>);

impl Refs {
    async fn load(tx: &mut Tx) -> Result<Refs> {
        let rows =
            sqlx::query("SELECT kind, external_id, local_id FROM external_refs WHERE source = $1")
                .bind(SOURCE)
                .fetch_all(&mut **tx)
                .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let kind = match r.try_get::<String, _>("kind")?.as_str() {
                "contact" => "contact",
                "case" => "case",
                "note" => "note",
                "call" => "call",
                _ => continue,
            };
            out.insert((kind, r.try_get("external_id")?), r.try_get("local_id")?);
        }
        Ok(Refs(out))
    }

    /// As `local` finds it: by the trimmed id, none for an empty one.
    fn get(&self, kind: &'static str, id: &str) -> Option<i64> {
        let id = id.trim();
        if id.is_empty() {
            return None;
        }
        self.0.get(&(kind, id.to_string())).copied()
    }

    fn insert(&mut self, kind: &'static str, id: &str, local: i64) {
        self.0.insert((kind, id.to_string()), local);
    }
}

/// `external_refs` rows, as `remember_ref` writes one.
fn push_refs(script: &mut Script, rows: Vec<Vec<Value>>) {
    push_insert(
        script,
        "external_refs",
        &[
            "source",
            "kind",
            "external_id",
            "local_id",
            "label",
            "imported_at",
        ],
        &rows,
        "",
    );
}

fn ref_row(kind: &str, external: &str, local: i64, label: &str, at: i64) -> Vec<Value> {
    vec![
        Value::Text(SOURCE.into()),
        Value::Text(kind.into()),
        Value::Text(external.into()),
        Value::Int(local),
        Value::Text(label.into()),
        Value::Int(at),
    ]
}

/// The identifiers among `ids` that a contact already holds.
async fn owned<'a>(
    tx: &mut Tx,
    ids: impl Iterator<Item = &'a Identifier>,
) -> Result<HashSet<Identifier>> {
    let mut by_kind: HashMap<&'static str, Vec<&str>> = HashMap::new();
    for i in ids {
        by_kind.entry(i.kind.code()).or_default().push(&i.value);
    }
    let mut out = HashSet::new();
    for (kind, values) in by_kind {
        let mut sql = Sql::new("SELECT kind, value FROM contact_identifiers WHERE kind = ");
        sql.bind(kind)
            .push(" AND value")
            .push_in_texts(engine_of(tx), &values);
        for r in sql.fetch_all(&mut **tx).await? {
            let kind: String = r.try_get("kind")?;
            if let Some(kind) = atiende_domain::contact::IdentifierKind::from_code(&kind) {
                out.insert(Identifier {
                    kind,
                    value: r.try_get("value")?,
                });
            }
        }
    }
    Ok(out)
}

/// People met in this import, and those read from the database once, as they stand.
#[derive(Default)]
struct People(HashMap<ContactId, Contact>);

impl People {
    async fn get(&mut self, tx: &mut Tx, id: ContactId) -> Result<&mut Contact> {
        match self.0.entry(id) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => Ok(e.insert(contact_in_tx(tx, id).await?)),
        }
    }

    /// Forgets a contact changed one by one: read again when next needed.
    fn forget(&mut self, id: ContactId) {
        self.0.remove(&id);
    }
}

/// People met for the first time, waiting to be written.
#[derive(Default)]
struct NewPeople<'a> {
    rows: Vec<(&'a SugarContact, ContactFields)>,
    sugar_ids: HashSet<String>,
    identifiers: HashSet<Identifier>,
}

impl<'a> NewPeople<'a> {
    fn holds(&self, identifier: &Identifier) -> bool {
        self.identifiers.contains(identifier)
    }

    fn push(&mut self, c: &'a SugarContact, fields: ContactFields) {
        self.sugar_ids.insert(c.id.clone());
        self.identifiers.extend(fields.identifiers.iter().cloned());
        self.rows.push((c, fields));
    }

    /// Writes the batch (as `insert_contact` writes one person: row, identifiers, audit
    /// record, document) and empties it; returns the documents written.
    async fn write(
        &mut self,
        tx: &mut Tx,
        actor: Actor<'_>,
        refs: &mut Refs,
        people: &mut People,
        report: &mut SugarReport,
    ) -> Result<usize> {
        let rows = std::mem::take(&mut self.rows);
        self.sugar_ids.clear();
        self.identifiers.clear();
        if rows.is_empty() {
            return Ok(0);
        }
        let ids = reserve_ids(tx, "contacts", rows.len()).await?;
        let at = now();
        let mut contacts = Vec::with_capacity(rows.len());
        let mut identifiers = Vec::new();
        let mut changes = Vec::with_capacity(rows.len());
        let mut docs = Vec::with_capacity(rows.len());
        let mut ref_rows = Vec::with_capacity(rows.len());
        for ((c, fields), id) in rows.iter().zip(ids) {
            let id = ContactId(id);
            let mut sorted = fields.identifiers.clone();
            sorted.sort_by(|a, b| (a.kind.code(), &a.value).cmp(&(b.kind.code(), &b.value)));
            let mut contact = Contact {
                id,
                name: fields.name.clone(),
                emails: vec![],
                phones: vec![],
                whatsapp_id: None,
                social_ids: vec![],
                student_code: None,
                user_type: fields.user_type,
                programme_line: fields.programme_line,
                opt_out_surveys: fields.opt_out_surveys,
                opt_out_marketing: fields.opt_out_marketing,
                notes: fields.notes.clone(),
                merged_into: None,
                blocked_at: None,
                anonymised_at: None,
                created_at: at,
                updated_at: at,
            };
            contact.set_identifiers(sorted);
            contacts.push(vec![
                Value::Int(id.0),
                Value::Text(fields.name.clone()),
                Value::OptText(fields.user_type.map(|t| t.code().to_string())),
                Value::OptText(fields.programme_line.map(|l| l.code().to_string())),
                Value::Int(i64::from(fields.opt_out_surveys)),
                Value::Text(fields.notes.clone()),
                Value::Int(ms(at)),
                Value::Int(ms(at)),
                Value::Int(i64::from(fields.opt_out_marketing)),
            ]);
            for i in &fields.identifiers {
                identifiers.push(vec![
                    Value::Text(i.kind.code().to_string()),
                    Value::Text(i.value.clone()),
                    Value::Int(id.0),
                ]);
            }
            changes.push((
                actor,
                Change {
                    entity: EntityKind::Contact,
                    entity_id: id.0.to_string(),
                    action: "contact.create",
                    before: None,
                    after: snapshot(&contact),
                },
            ));
            let values: Vec<&str> = fields
                .identifiers
                .iter()
                .map(|i| i.value.as_str())
                .collect();
            docs.push((id.0, fields.name.clone(), contact_document(&values)));
            ref_rows.push(ref_row("contact", &c.id, id.0, &c.person.name, ms(at)));
            refs.insert("contact", &c.id, id.0);
            people.0.insert(id, contact);
        }
        let mut script = Script::new(engine_of(tx));
        push_insert(
            &mut script,
            "contacts",
            &[
                "id",
                "name",
                "user_type",
                "programme_line",
                "opt_out_surveys",
                "notes",
                "created_at",
                "updated_at",
                "opt_out_marketing",
            ],
            &contacts,
            "",
        );
        push_insert(
            &mut script,
            "contact_identifiers",
            &["kind", "value", "contact_id"],
            &identifiers,
            "",
        );
        push_records(&mut script, changes);
        push_new_documents(&mut script, Kind::Contact, &docs);
        push_refs(&mut script, ref_rows);
        script.execute(tx).await?;
        report.contacts.created += rows.len();
        Ok(docs.len())
    }
}

/// A call of a new case, with what the call log needs.
struct NewCall<'a> {
    call: &'a SugarCall,
    contact: Option<ContactId>,
    number: String,
    agent: Option<UserId>,
}

/// A case met for the first time, with the notes and calls that hang from it.
struct NewCase<'a> {
    case: &'a SugarCase,
    contact: Option<ContactId>,
    user_type: Option<UserType>,
    assigned: Option<UserId>,
    notes: Vec<(&'a SugarNote, Option<UserId>)>,
    calls: Vec<NewCall<'a>>,
}

impl<'a> NewCase<'a> {
    /// The case's person and assignee, found as `import_case` finds them.
    async fn of(
        case: &'a SugarCase,
        tx: &mut Tx,
        links: &mut Links,
        refs: &mut Refs,
        people: &mut People,
        report: &mut SugarReport,
    ) -> Result<NewCase<'a>> {
        let assigned = links.user(tx, &case.assigned).await?;
        if assigned.is_none() && !case.assigned.trim().is_empty() {
            report
                .cases
                .warnings
                .push(unknown_user(case.line, &case.assigned));
        }
        let mut contact = None;
        if let Some(sugar_id) = links.contact_of_case(case) {
            match refs.get("contact", &sugar_id) {
                Some(id) => contact = Some(ContactId(id)),
                None => report
                    .cases
                    .warnings
                    .push(contact_not_imported(case.line, &sugar_id)),
            }
        }
        // A merged contact lives on in the one it was merged into.
        let mut user_type = case.user_type;
        if let Some(id) = contact {
            let mut person = people.get(tx, id).await?;
            if let Some(target) = person.merged_into {
                contact = Some(target);
                person = people.get(tx, target).await?;
            }
            user_type = user_type.or(person.user_type);
        }
        Ok(NewCase {
            case,
            contact,
            user_type,
            assigned,
            notes: Vec::new(),
            calls: Vec::new(),
        })
    }

    fn entries(&self) -> usize {
        3 + 2 + self.notes.len() + self.calls.len()
    }
}

/// New cases waiting to be written.
#[derive(Default)]
struct NewCases<'a> {
    cases: Vec<NewCase<'a>>,
}

/// The timeline of an incident being built, its entries numbered from reserved ids.
struct Timeline<'i> {
    incident: IncidentId,
    ids: &'i mut std::vec::IntoIter<i64>,
    entries: Vec<TimelineEntry>,
}

impl Timeline<'_> {
    fn add(
        &mut self,
        kind: EntryKind,
        author: Option<UserId>,
        body: String,
        data: serde_json::Value,
        at: DateTime<Utc>,
    ) -> EntryId {
        // Reserved one per entry the case can have (`NewCase::entries`).
        let id = EntryId(self.ids.next().unwrap_or_default());
        self.entries.push(TimelineEntry {
            id,
            incident_id: self.incident,
            kind,
            at,
            author_id: author,
            body,
            data,
        });
        id
    }
}

impl NewCases<'_> {
    /// Writes the batch and empties it; returns the documents written.
    async fn write(
        &mut self,
        store: &Store,
        tx: &mut Tx,
        actor: Actor<'_>,
        rules: &Rules,
        refs: &mut Refs,
    ) -> Result<usize> {
        let cases = std::mem::take(&mut self.cases);
        if cases.is_empty() {
            return Ok(0);
        }
        // Folios in the export's order within each year, one counter update per year.
        let years: Vec<i32> = cases
            .iter()
            .map(|c| Folio::year_of(c.case.received_at, store.tz))
            .collect();
        let mut next_seq: HashMap<i32, i64> = HashMap::new();
        for year in &years {
            *next_seq.entry(*year).or_default() += 1;
        }
        for (year, count) in next_seq.iter_mut() {
            *count = take_folios(tx, *year, *count).await?;
        }
        let incident_ids = reserve_ids(tx, "incidents", cases.len()).await?;
        let entry_ids = reserve_ids(
            tx,
            "timeline_entries",
            cases.iter().map(NewCase::entries).sum(),
        )
        .await?;
        let call_ids = reserve_ids(tx, "calls", cases.iter().map(|c| c.calls.len()).sum()).await?;
        let mut entry_ids = entry_ids.into_iter();
        let mut call_ids = call_ids.into_iter();
        let at = now();
        let created_by = actor.user_id().map(|u| u.0);

        let mut incidents = Vec::with_capacity(cases.len());
        let mut entries = Vec::new();
        let mut calls = Vec::new();
        let mut ref_rows = Vec::new();
        let mut changes = Vec::with_capacity(cases.len());
        let mut facts = Vec::with_capacity(cases.len());
        let mut delta = RollupDelta::default();
        let mut clocks: Vec<(IncidentId, Vec<Clock>)> = Vec::with_capacity(cases.len());
        let mut docs = Vec::with_capacity(cases.len());
        for ((new, year), id) in cases.iter().zip(years).zip(incident_ids) {
            let case = new.case;
            let seq = next_seq.entry(year).or_default();
            let folio = Folio { year, seq: *seq };
            *seq += 1;
            let mut incident = Incident {
                id: IncidentId(id),
                folio,
                channel: case.channel,
                contact_id: new.contact,
                subject: case.subject_text(),
                user_type: new.user_type,
                incident_type: case.incident_type,
                topic_id: None,
                critical: false,
                status: Status::Open,
                assigned_to: new.assigned,
                received_at: case.received_at,
                first_response_at: None,
                closed_at: None,
                reopened_count: 0,
                created_at: at,
                updated_at: at,
            };
            let mut timeline = Timeline {
                incident: incident.id,
                ids: &mut entry_ids,
                entries: Vec::new(),
            };
            // As `import_case` writes it: the person's message, where it came from, the work
            // log, then its closing.
            if !case.description.trim().is_empty() {
                timeline.add(
                    EntryKind::InboundMessage,
                    None,
                    clip(&case.description, MAX_ENTRY_CHARS),
                    serde_json::json!({}),
                    case.received_at,
                );
            }
            let (origin, data) = case.origin();
            timeline.add(EntryKind::Note, None, origin, data, case.received_at);
            if !case.work_log.trim().is_empty() {
                timeline.add(
                    EntryKind::Note,
                    new.assigned,
                    clip(&case.work_log, MAX_ENTRY_CHARS),
                    serde_json::json!({ "source": SOURCE }),
                    case.received_at,
                );
            }
            if let Some(closed) = case.closing() {
                if !case.resolution.trim().is_empty() {
                    timeline.add(
                        EntryKind::Intervention,
                        new.assigned,
                        clip(&case.resolution, MAX_ENTRY_CHARS),
                        serde_json::json!({ "source": SOURCE }),
                        closed,
                    );
                }
                timeline.add(
                    EntryKind::StatusChange,
                    new.assigned,
                    case.sugar_status.trim().to_string(),
                    serde_json::json!({ "from": Status::Open.code(), "to": Status::Closed.code(), "source": SOURCE }),
                    closed,
                );
                incident.status = Status::Closed;
                incident.closed_at = Some(closed);
                incident.first_response_at = Some(closed);
            }
            // The audit record keeps the incident as the case made it (as `import_case`).
            changes.push((
                actor,
                Change {
                    entity: EntityKind::Incident,
                    entity_id: folio.to_string(),
                    action: "incident.import",
                    before: None,
                    after: snapshot(&incident),
                },
            ));
            ref_rows.push(ref_row("case", &case.id, id, case.number.trim(), ms(at)));
            for (note, author) in &new.notes {
                let entry = timeline.add(
                    EntryKind::Note,
                    *author,
                    note.text(),
                    serde_json::json!({ "source": SOURCE }),
                    note.at,
                );
                ref_rows.push(ref_row("note", &note.id, entry.0, "", ms(at)));
                refs.insert("note", &note.id, entry.0);
            }
            for c in &new.calls {
                let call = c.call;
                let call_id = call_ids.next().unwrap_or_default();
                let (from, to) = call.numbers(c.number.clone());
                calls.push(vec![
                    Value::Int(call_id),
                    Value::Text(call_log_id(call)),
                    Value::Text(call.direction.code().to_string()),
                    Value::Text(from),
                    Value::Text(to),
                    Value::OptInt(c.contact.map(|c| c.0)),
                    Value::Text("ended".into()),
                    Value::Text(call.cause().code().to_string()),
                    Value::OptInt(c.agent.map(|u| u.0)),
                    Value::Text(call.agent.trim().to_string()),
                    Value::Int(ms(call.started_at)),
                    Value::OptInt(call.held.then(|| ms(call.started_at))),
                    Value::Int(ms(call.ended_at())),
                    Value::Int(0),
                    Value::Int(id),
                ]);
                let (text, data) = call.entry(call_id);
                timeline.add(EntryKind::Note, c.agent, text, data, call.started_at);
                // Speaking with the person is the CAP's response, if nothing answered sooner.
                if call.held
                    && incident.received_at <= call.started_at
                    && incident
                        .first_response_at
                        .is_none_or(|t| t > call.started_at)
                {
                    incident.first_response_at = Some(call.started_at);
                }
                ref_rows.push(ref_row("call", &call.id, call_id, "", ms(at)));
                refs.insert("call", &call.id, call_id);
            }
            let history = timeline.entries;
            // The upkeep's readings of the timeline: its clocks' marks by moment, its facts'
            // status changes as written, its document's texts as written.
            let mut marks: Vec<TimelineEntry> = history
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EntryKind::StatusChange
                            | EntryKind::WaitingOnPerson
                            | EntryKind::InboundMessage
                    )
                })
                .cloned()
                .collect();
            marks.sort_by_key(|e| (e.at, e.id.0));
            let computed = clocks_of(&incident, &marks, &[], rules, store.tz);
            let changes_of_status: Vec<TimelineEntry> = history
                .iter()
                .filter(|e| matches!(e.kind, EntryKind::StatusChange | EntryKind::Derivation))
                .cloned()
                .collect();
            let f = store.facts_of(
                &incident,
                &changes_of_status,
                None,
                SurveyState::default(),
                resolved_in_time(&computed),
            );
            delta.add(None, &f);
            facts.push((incident.id, f));
            clocks.push((incident.id, computed));
            let texts: Vec<&str> = history
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EntryKind::InboundMessage
                            | EntryKind::OutboundMessage
                            | EntryKind::Intervention
                    )
                })
                .map(|e| e.body.as_str())
                .collect();
            let number = case.number.trim();
            let labels: &[&str] = if number.is_empty() { &[] } else { &[number] };
            let (title, body) =
                incident_document(&folio.to_string(), &incident.subject, labels, &texts);
            docs.push((id, title, body));
            for e in &history {
                entries.push(vec![
                    Value::Int(e.id.0),
                    Value::Int(id),
                    Value::Text(e.kind.code().to_string()),
                    Value::Int(ms(e.at)),
                    Value::OptInt(e.author_id.map(|u| u.0)),
                    Value::Text(e.body.clone()),
                    Value::Text(e.data.to_string()),
                ]);
            }
            incidents.push(vec![
                Value::Int(id),
                Value::Text(folio.to_string()),
                Value::Text(incident.channel.code().to_string()),
                Value::OptInt(incident.contact_id.map(|c| c.0)),
                Value::Text(incident.subject.clone()),
                Value::OptText(incident.user_type.map(|t| t.code().to_string())),
                Value::OptText(incident.incident_type.map(|t| t.code().to_string())),
                Value::Int(0),
                Value::Text(incident.status.code().to_string()),
                Value::OptInt(incident.assigned_to.map(|u| u.0)),
                Value::Int(ms(incident.received_at)),
                Value::OptInt(incident.first_response_at.map(ms)),
                Value::OptInt(incident.closed_at.map(ms)),
                Value::Int(0),
                Value::OptInt(created_by),
                Value::Int(ms(at)),
                Value::Int(ms(at)),
            ]);
            refs.insert("case", &case.id, id);
        }
        let mut script = Script::new(engine_of(tx));
        push_insert(
            &mut script,
            "incidents",
            &[
                "id",
                "folio",
                "channel",
                "contact_id",
                "subject",
                "user_type",
                "incident_type",
                "critical",
                "status",
                "assigned_to",
                "received_at",
                "first_response_at",
                "closed_at",
                "reopened_count",
                "created_by",
                "created_at",
                "updated_at",
            ],
            &incidents,
            "",
        );
        push_insert(&mut script, "timeline_entries", ENTRY_COLUMNS, &entries, "");
        push_insert(
            &mut script,
            "calls",
            &[
                "id",
                "call_id",
                "direction",
                "from_number",
                "to_number",
                "contact_id",
                "state",
                "cause",
                "user_id",
                "agent",
                "started_at",
                "answered_at",
                "ended_at",
                "missed",
                "incident_id",
            ],
            &calls,
            "",
        );
        push_refs(&mut script, ref_rows);
        push_records(&mut script, changes);
        delta.push(&mut script);
        push_facts(&mut script, &facts)?;
        let clocks: Vec<(IncidentId, &[Clock])> =
            clocks.iter().map(|(id, c)| (*id, c.as_slice())).collect();
        push_new_clocks(&mut script, &clocks)?;
        push_new_documents(&mut script, Kind::Incident, &docs);
        script.execute(tx).await?;
        Ok(docs.len())
    }
}

/// Notes about people, each as `update_contact_in` would record it (the person's notes grow by
/// a dated line; an audit record with the person before and after; the event that their
/// notes changed), the contacts' rows written once with their last notes. Their documents
/// stay as they are: a contact's document holds no notes.
#[derive(Default)]
struct PeopleNotes<'a> {
    changes: Vec<(Actor<'a>, Change)>,
    events: Vec<(Option<IncidentId>, serde_json::Value)>,
    refs: Vec<Vec<Value>>,
    /// Each contact's notes as they end, and when.
    rows: HashMap<ContactId, (String, DateTime<Utc>)>,
}

impl<'a> PeopleNotes<'a> {
    fn push(&mut self, store: &Store, actor: Actor<'a>, note: &SugarNote, contact: &mut Contact) {
        let before = snapshot(contact);
        let date = note.at.with_timezone(&store.tz).format("%Y-%m-%d");
        let text = note.text();
        let notes = match contact.notes.trim() {
            "" => format!("{date} — {text}"),
            held => format!("{held}\n\n{date} — {text}"),
        };
        contact.notes = clip(&notes, 10_000);
        contact.updated_at = now();
        let after = snapshot(contact);
        if before.as_ref().and_then(|b| b.get("notes"))
            != after.as_ref().and_then(|a| a.get("notes"))
        {
            self.events.push((
                None,
                serde_json::json!({ "contact_id": contact.id.0, "fields": ["notes"] }),
            ));
        }
        self.changes.push((
            actor,
            Change {
                entity: EntityKind::Contact,
                entity_id: contact.id.0.to_string(),
                action: "contact.update",
                before,
                after,
            },
        ));
        self.refs.push(ref_row(
            "note",
            &note.id,
            contact.id.0,
            "",
            ms(contact.updated_at),
        ));
        self.rows
            .insert(contact.id, (contact.notes.clone(), contact.updated_at));
    }

    async fn write(&mut self, tx: &mut Tx) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows: Vec<Vec<Value>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(|(id, (notes, at))| vec![Value::Int(id.0), Value::Text(notes), Value::Int(ms(at))])
            .collect();
        let mut script = Script::new(engine_of(tx));
        push_update(&mut script, "contacts", &["notes", "updated_at"], &rows);
        push_records(&mut script, std::mem::take(&mut self.changes));
        push_refs(&mut script, std::mem::take(&mut self.refs));
        script.execute(tx).await?;
        crate::webhooks::emit_many(
            tx,
            atiende_domain::webhook::EventType::ContactChanged,
            std::mem::take(&mut self.events),
        )
        .await
    }
}

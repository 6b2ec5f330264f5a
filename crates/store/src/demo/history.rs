//! A realistic history written straight into the database: contacts, a year or more of
//! incidents with working hours and the admission and enrolment peaks, their timelines,
//! derivations (the buzón's suggestions to the SIGA), surveys with their answers and
//! knowledge-base articles — and the indicator facts and rollups the product keeps, computed
//! with the domain's own definitions (a test checks them against the product's rebuild).
//! The demo loads a year of it; the benchmarks load millions of incidents.
//!
//! Rows are written past whatever the database already holds (ids, folios), so it can be added
//! to a database in use.

use std::collections::BTreeMap;

use atiende_domain::business_hours::BusinessCalendar;
use atiende_domain::classification::{Channel, IncidentType, ProgrammeLine, UserType};
use atiende_domain::folio::Folio;
use atiende_domain::ids::{IncidentId, TopicId};
use atiende_domain::incident::{Incident, Status};
use atiende_domain::indicators::{Counters, IncidentFacts};
use atiende_domain::period::month_key;
use atiende_domain::service_level::{self, Mark, ServicePolicy};
use atiende_domain::survey::{OVERALL, RESOLVED, default_questions};
use atiende_domain::unit::UnitKind;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;

use super::{FIRST_NAMES, QUESTIONS, SURNAMES};
use crate::Store;
use crate::bulk::Value;
use crate::db::from_ms;
use crate::error::{Result, StoreError};
use crate::incidents::rows::ENTRY_COLUMNS;
use crate::indicators::RollupDelta;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    pub incidents: usize,
    pub contacts: usize,
    pub years: i64,
    /// Knowledge-base articles (a share of them public).
    pub articles: usize,
    pub seed: u64,
    /// The newest incident is received before this instant.
    pub end: DateTime<Utc>,
}

/// Who the history is about on the CAP's side.
#[derive(Debug, Clone)]
pub struct Staff {
    /// Agents (and leads) who attend; at least one.
    pub agents: Vec<i64>,
    /// Who answers for the SIGA (the buzón's suggestions and compliments), if anyone.
    pub quality_owner: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub incidents: usize,
    pub contacts: usize,
    pub entries: usize,
    pub derivations: usize,
    pub surveys: usize,
}

const BATCH: usize = 5_000;

/// What people add at the end of a survey, from the lowest score to the highest.
const COMMENTS: [&str; 5] = [
    "Nadie me dio seguimiento y tuve que llamar varias veces.",
    "Tardaron mucho en contestar mi correo.",
    "Me resolvieron, aunque la información pudo ser más clara.",
    "Buena atención, gracias.",
    "Excelente atención, muy amables y rápidos.",
];

/// Seasonality: admission and enrolment weeks (January, July, August) bring the most people.
const MONTH_WEIGHT: [f64; 12] = [1.6, 1.2, 1.0, 0.9, 0.9, 1.0, 1.5, 1.6, 1.0, 0.9, 0.9, 0.5];

fn v_int(v: i64) -> Value {
    Value::Int(v)
}
fn v_opt(v: Option<i64>) -> Value {
    Value::OptInt(v)
}
fn v_text(v: impl Into<String>) -> Value {
    Value::Text(v.into())
}

fn weights(w: &[u32]) -> Result<WeightedIndex<u32>> {
    WeightedIndex::new(w).map_err(StoreError::corrupt)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(StoreError::corrupt)
}

/// The largest id each table holds: the history is written past them.
async fn last_id(store: &Store, table: &str) -> Result<i64> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT COALESCE(MAX(id), 0) AS id FROM {table}"
    )))
    .fetch_one(store.reader())
    .await?;
    Ok(row.try_get("id")?)
}

/// A closed incident of the history, as its service-level clock needs it.
struct Closed<'a> {
    channel: Channel,
    incident_type: IncidentType,
    topic_id: Option<i64>,
    received: i64,
    closed_at: i64,
    marks: &'a [(i64, Status)],
}

/// Whether a closed incident of the history was resolved within its target, computed as the
/// product computes it from the same rows (so that a recount finds the same).
fn resolved_in_time(
    c: &Closed<'_>,
    (policy, calendar): &(ServicePolicy, BusinessCalendar),
    tz: chrono_tz::Tz,
) -> Result<Option<bool>> {
    let at = |ms: i64| from_ms(ms);
    let received_at = at(c.received)?;
    let incident = Incident {
        id: IncidentId(0),
        folio: Folio { year: 0, seq: 0 },
        channel: c.channel,
        contact_id: None,
        subject: String::new(),
        user_type: None,
        incident_type: Some(c.incident_type),
        topic_id: c.topic_id.map(TopicId),
        critical: false,
        status: Status::Closed,
        assigned_to: None,
        received_at,
        first_response_at: None,
        closed_at: Some(at(c.closed_at)?),
        reopened_count: 0,
        created_at: received_at,
        updated_at: received_at,
    };
    let marks = c
        .marks
        .iter()
        .map(|(t, s)| Ok((at(*t)?, Mark::Status(*s))))
        .collect::<Result<Vec<_>>>()?;
    Ok(service_level::resolved_in_time(&service_level::clocks(
        &incident, &marks, policy, calendar, tz,
    )))
}

/// Writes the history into a migrated, seeded database. `progress(stage, done, total)` is
/// called as batches land.
pub async fn write(
    store: &Store,
    spec: &Spec,
    staff: &Staff,
    progress: impl Fn(&str, usize, usize),
) -> Result<Generated> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let tz = store.time_zone();
    let clock_rules = (
        store.service_policy().await?,
        store.business_calendar().await?,
    );
    let agents = &staff.agents;
    if agents.is_empty() {
        return Err(StoreError::corrupt("a history needs at least one agent"));
    }
    let base_contact = last_id(store, "contacts").await?;
    let base_incident = last_id(store, "incidents").await?;
    let base_article = last_id(store, "articles").await?;
    let all_units = store.units().await?;
    let units: Vec<(i64, String)> = all_units
        .iter()
        .filter(|u| u.kind == UnitKind::Coordination)
        .map(|u| (u.id.0, u.name.clone()))
        .collect();
    // Procedure step 4: the buzón's suggestions and compliments go to the SIGA.
    let siga = all_units
        .iter()
        .find(|u| u.kind == UnitKind::Quality && u.active)
        .map(|u| (u.id.0, u.name.clone()));
    let topics: BTreeMap<String, i64> = store
        .topics()
        .await?
        .into_iter()
        .map(|t| (t.name, t.id.0))
        .collect();
    let version: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM questionnaires")
        .fetch_one(store.reader())
        .await?
        .try_get("v")?;
    let version = match version {
        Some(v) => v,
        None => {
            let questionnaire = json(&default_questions())?;
            store
                .bulk_insert(
                    "questionnaires",
                    &["version", "questions", "created_at"],
                    &[vec![
                        v_int(1),
                        v_text(questionnaire),
                        v_int(spec.end.timestamp_millis()),
                    ]],
                )
                .await?;
            1
        }
    };

    // Contacts, with the identifiers people give.
    let user_types = [
        UserType::Prospect,
        UserType::Applicant,
        UserType::Student,
        UserType::Alumnus,
    ];
    let type_weights = weights(&[15, 20, 55, 10])?;
    let lines = [
        ProgrammeLine::HighSchool,
        ProgrammeLine::Undergraduate,
        ProgrammeLine::Postgraduate,
        ProgrammeLine::ContinuingEducation,
    ];
    let line_weights = weights(&[30, 50, 15, 5])?;
    let mut contact_types = Vec::with_capacity(spec.contacts);
    let created_at = (spec.end - Duration::days(365 * spec.years)).timestamp_millis();
    for start in (0..spec.contacts).step_by(BATCH) {
        let end = (start + BATCH).min(spec.contacts);
        let mut contacts = Vec::new();
        let mut identifiers = Vec::new();
        let mut docs = Vec::new();
        for n in start..end {
            let id = base_contact + n as i64 + 1;
            let user_type = user_types[type_weights.sample(&mut rng)];
            contact_types.push(user_type);
            let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
            let last = SURNAMES[rng.gen_range(0..SURNAMES.len())];
            let last2 = SURNAMES[rng.gen_range(0..SURNAMES.len())];
            contacts.push(vec![
                v_int(id),
                v_text(format!("{first} {last} {last2}")),
                v_text(user_type.code()),
                v_text(lines[line_weights.sample(&mut rng)].code()),
                v_int(created_at),
                v_int(created_at),
            ]);
            let email = format!(
                "{}.{}.{id}@alumnos.udg.example",
                ascii(first).to_lowercase(),
                ascii(last).to_lowercase()
            );
            identifiers.push(vec![v_text("email"), v_text(email), v_int(id)]);
            if rng.gen_bool(0.6) {
                let phone = format!("5233{:08}", id % 100_000_000);
                identifiers.push(vec![v_text("phone"), v_text(phone), v_int(id)]);
            }
            let code = (user_type == UserType::Student && rng.gen_bool(0.7))
                .then(|| format!("{:09}", 210_000_000 + id));
            if let Some(code) = &code {
                identifiers.push(vec![
                    v_text("student_code"),
                    v_text(code.clone()),
                    v_int(id),
                ]);
            }
            // The search document, as the product writes it: name, and identifiers whole and in parts.
            let mut body = String::new();
            for ident in identifiers
                .iter()
                .rev()
                .take_while(|row| matches!(&row[2], Value::Int(c) if *c == id))
            {
                if let Value::Text(v) = &ident[1] {
                    body.push_str(&format!("{} {v}\n", v.replace(['@', '.', '_', '-'], " ")));
                }
            }
            docs.push((id, format!("{first} {last} {last2}"), body));
        }
        store
            .bulk_insert(
                "contacts",
                &[
                    "id",
                    "name",
                    "user_type",
                    "programme_line",
                    "created_at",
                    "updated_at",
                ],
                &contacts,
            )
            .await?;
        store
            .bulk_insert(
                "contact_identifiers",
                &["kind", "value", "contact_id"],
                &identifiers,
            )
            .await?;
        store.bulk_index("contact", &docs).await?;
        progress("usuarios", end, spec.contacts);
    }

    // Incidents and everything that hangs from them.
    let channels = [
        Channel::Email,
        Channel::Phone,
        Channel::Whatsapp,
        Channel::Social,
        Channel::InPerson,
        Channel::SuggestionBox,
    ];
    let channel_weights = weights(&[32, 26, 22, 8, 7, 5])?;
    let kinds = [
        IncidentType::Question,
        IncidentType::Complaint,
        IncidentType::Suggestion,
        IncidentType::Compliment,
    ];
    let kind_weights = weights(&[76, 10, 8, 6])?;
    let score_weights = weights(&[5, 8, 12, 30, 45])?;
    let span_ms = Duration::days(365 * spec.years).num_milliseconds();
    let start_ms = spec.end.timestamp_millis() - span_ms;
    let mut rollups = RollupDelta::default();
    let mut out = Generated {
        contacts: spec.contacts,
        ..Default::default()
    };
    let mut entry_id = last_id(store, "timeline_entries").await?;
    let mut derivation_id = last_id(store, "derivations").await?;
    let mut survey_id = last_id(store, "surveys").await?;
    let mut received_times: Vec<i64> = (0..spec.incidents)
        .map(|_| {
            loop {
                let at = start_ms + rng.gen_range(0..span_ms);
                let local = DateTime::from_timestamp_millis(at)
                    .unwrap_or(spec.end)
                    .with_timezone(&tz);
                let weight = MONTH_WEIGHT[local.month0() as usize]
                    * if (8..20).contains(&local.hour()) {
                        1.0
                    } else {
                        0.15
                    }
                    * if local.weekday().number_from_monday() >= 6 {
                        0.3
                    } else {
                        1.0
                    };
                if rng.gen_bool((weight / 1.6).min(1.0)) {
                    break at;
                }
            }
        })
        .collect();
    received_times.sort_unstable();
    // Folios follow the counters the product keeps, taken in one run per year.
    let mut per_year: BTreeMap<i32, i64> = BTreeMap::new();
    for &at in &received_times {
        let year = DateTime::from_timestamp_millis(at)
            .unwrap_or(spec.end)
            .with_timezone(&tz)
            .year();
        *per_year.entry(year).or_default() += 1;
    }
    let mut folio_seq: BTreeMap<i32, i64> = BTreeMap::new();
    let mut tx = store.begin().await?;
    for (year, count) in per_year {
        let first = crate::incidents::rows::take_folios(&mut tx, year, count).await?;
        folio_seq.insert(year, first - 1);
    }
    tx.commit().await?;
    let quality_reason = atiende_domain::incident::quality_routing_plan().reason;
    for start in (0..spec.incidents).step_by(BATCH) {
        let end = (start + BATCH).min(spec.incidents);
        let mut incidents = Vec::new();
        let mut entries = Vec::new();
        let mut derivations = Vec::new();
        let mut surveys = Vec::new();
        let mut facts_rows = Vec::new();
        let mut docs = Vec::new();
        for (n, &received) in received_times.iter().enumerate().take(end).skip(start) {
            let id = base_incident + n as i64 + 1;
            let received_at = DateTime::from_timestamp_millis(received).unwrap_or(spec.end);
            let year = received_at.with_timezone(&tz).year();
            let seq = folio_seq.entry(year).or_default();
            *seq += 1;
            let folio = format!("CAP-{year}-{:06}", *seq);
            let channel = channels[channel_weights.sample(&mut rng)];
            let anonymous = channel == Channel::SuggestionBox && rng.gen_bool(0.5);
            let contact_n = (!anonymous).then(|| rng.gen_range(0..spec.contacts.max(1)));
            let contact = contact_n.map(|c| base_contact + c as i64 + 1);
            let kind = kinds[kind_weights.sample(&mut rng)];
            let question = rng.gen_range(0..QUESTIONS.len());
            let (topic, _, _, answer) = QUESTIONS[question];
            let (subject, words) = super::message(&mut rng, question, kind);
            let (subject, words) = (subject.as_str(), words.as_str());
            let topic_id = topics.get(topic).copied();
            let agent = agents[rng.gen_range(0..agents.len())];
            let recent =
                spec.end.timestamp_millis() - received < Duration::days(14).num_milliseconds();
            let closed = rng.gen_bool(if recent { 0.6 } else { 0.97 });
            // Nobody to ask an anonymous entry's type: it closes as "no identificado".
            let user_type = match contact_n {
                Some(c) => contact_types.get(c).copied(),
                None => closed.then_some(UserType::Unidentified),
            };
            let siga_unit = siga.as_ref().filter(|_| {
                channel == Channel::SuggestionBox
                    && matches!(kind, IncidentType::Suggestion | IncidentType::Compliment)
            });
            let derived = siga_unit.is_some() || (rng.gen_bool(0.18) && !units.is_empty());
            let responded = closed || rng.gen_bool(0.5);
            let minutes = |rng: &mut StdRng, lo: i64, hi: i64| -> i64 {
                // Most answers come fast, a few take days: squares skew towards `lo`.
                let x: f64 = rng.r#gen();
                (lo as f64 + (hi - lo) as f64 * x * x) as i64 * 60_000
            };
            let first_response = responded.then(|| received + minutes(&mut rng, 2, 2 * 24 * 60));
            let mut at = first_response.unwrap_or(received + 60_000);
            let mut unit = None;
            entries.push(entry(
                &mut entry_id,
                id,
                "inbound_message",
                received,
                None,
                words,
                "{}".into(),
            ));
            entries.push(entry(
                &mut entry_id,
                id,
                "classification",
                received + 30_000,
                Some(agent),
                "",
                format!("{{\"incident_type\":\"{}\"}}", kind.code()),
            ));
            if let Some(fr) = first_response {
                entries.push(entry(
                    &mut entry_id,
                    id,
                    "intervention",
                    fr,
                    Some(agent),
                    answer,
                    "{}".into(),
                ));
            }
            if derived {
                let (unit_id, unit_name) = match siga_unit {
                    Some(siga) => siga,
                    None => &units[rng.gen_range(0..units.len())],
                };
                unit = Some(*unit_id);
                derivation_id += 1;
                // The buzón's entries are routed as they arrive, by the system.
                let (derived_at, derived_by, reason, answerer, answer) = match siga_unit {
                    Some(_) => (
                        received,
                        None,
                        quality_reason.as_str(),
                        staff.quality_owner,
                        "Se revisó con la coordinación correspondiente y se incluyó en el plan de mejora.",
                    ),
                    None => (
                        at + minutes(&mut rng, 5, 600),
                        Some(agent),
                        "Corresponde a la unidad",
                        None,
                        "Se atendió en la unidad.",
                    ),
                };
                let answered = closed && (siga_unit.is_some() || rng.gen_bool(0.9));
                let answered_at = answered.then(|| derived_at + minutes(&mut rng, 30, 5 * 24 * 60));
                let derivation_closed = closed && !answered;
                derivations.push(vec![
                    v_int(derivation_id),
                    v_int(id),
                    v_int(*unit_id),
                    v_text("email"),
                    v_text(reason),
                    v_opt(derived_by),
                    v_int(derived_at),
                    v_int(i64::from(derivation_closed)),
                    v_opt(answered_at),
                    Value::OptText(answered.then(|| answer.to_string())),
                    v_opt(answered.then_some(answerer).flatten()),
                ]);
                entries.push(entry(
                    &mut entry_id,
                    id,
                    "derivation",
                    derived_at,
                    derived_by,
                    reason,
                    format!("{{\"unit_name\":{}}}", json(unit_name)?),
                ));
                if let Some(answered_at) = answered_at {
                    entries.push(entry(
                        &mut entry_id,
                        id,
                        "derivation_answer",
                        answered_at,
                        answerer,
                        answer,
                        format!(
                            "{{\"derivation_id\":{derivation_id},\"unit_id\":{unit_id},\"unit_name\":{}}}",
                            json(unit_name)?
                        ),
                    ));
                }
                at = answered_at.unwrap_or(derived_at);
            }
            let reopened = closed && rng.gen_bool(0.02);
            let mut closed_at = None;
            // The status changes written, as the service-level clock reads them.
            let mut marks: Vec<(i64, Status)> = Vec::new();
            if closed {
                let first_close = at + minutes(&mut rng, 1, 3 * 24 * 60);
                entries.push(status(
                    &mut entry_id,
                    id,
                    first_close,
                    agent,
                    "open",
                    "closed",
                ));
                marks.push((first_close, Status::Closed));
                let mut last = first_close;
                if reopened {
                    let back = first_close + minutes(&mut rng, 60, 3 * 24 * 60);
                    entries.push(status(&mut entry_id, id, back, agent, "closed", "open"));
                    last = back + minutes(&mut rng, 10, 2 * 24 * 60);
                    entries.push(status(&mut entry_id, id, last, agent, "open", "closed"));
                    marks.push((back, Status::Open));
                    marks.push((last, Status::Closed));
                }
                closed_at = Some(last);
            }
            let survey_sent = closed && contact.is_some() && rng.gen_bool(0.55);
            let survey_answered = survey_sent && rng.gen_bool(0.4);
            let overall = survey_answered.then(|| score_weights.sample(&mut rng) as i64 + 1);
            if survey_sent {
                survey_id += 1;
                let sent_at = closed_at.unwrap_or(at) + 3_600_000;
                let answered_at =
                    survey_answered.then(|| sent_at + minutes(&mut rng, 5, 3 * 24 * 60));
                let resolved = overall.map(|o| o >= 3);
                let answers = match overall {
                    Some(o) => {
                        let near = |rng: &mut StdRng| (o + rng.gen_range(-1..=1)).clamp(1, 5);
                        let mut a = serde_json::json!({
                            OVERALL: o,
                            RESOLVED: resolved,
                            "clarity": near(&mut rng),
                            "speed": near(&mut rng),
                        });
                        if rng.gen_bool(0.3) {
                            a["comment"] =
                                COMMENTS[(o as usize - 1).min(COMMENTS.len() - 1)].into();
                        }
                        Some(a.to_string())
                    }
                    None => None,
                };
                // A low score waits for the CAP lead's follow-up; older ones were followed up.
                let follow_up = overall.filter(|o| *o <= 2).map(|_| {
                    if spec.end.timestamp_millis() - sent_at < Duration::days(21).num_milliseconds()
                    {
                        "pending"
                    } else {
                        "done"
                    }
                });
                surveys.push(vec![
                    v_int(survey_id),
                    v_int(id),
                    v_opt(contact),
                    v_text(if survey_answered { "answered" } else { "sent" }),
                    v_text("email"),
                    v_text(format!("{:016x}{:016x}", rng.r#gen::<u64>(), id)),
                    v_int(version),
                    v_int(agent),
                    v_opt(unit),
                    v_text(channel.code()),
                    v_int(closed_at.unwrap_or(at)),
                    v_int(sent_at),
                    v_int(sent_at + Duration::days(14).num_milliseconds()),
                    v_opt(answered_at),
                    v_opt(overall),
                    v_opt(resolved.map(i64::from)),
                    v_int(sent_at),
                    Value::OptText(answers),
                    Value::OptText(follow_up.map(str::to_string)),
                ]);
            }
            let updated = closed_at.unwrap_or(at);
            let mut text = format!("{words}\n");
            if first_response.is_some() {
                text.push_str(answer);
                text.push('\n');
            }
            docs.push((id, format!("{folio} {subject}"), text));
            incidents.push(vec![
                v_int(id),
                v_text(folio),
                v_text(channel.code()),
                v_opt(contact),
                v_text(subject),
                Value::OptText(user_type.map(|t| t.code().to_string())),
                v_text(kind.code()),
                v_opt(topic_id),
                v_text(if closed {
                    "closed"
                } else if derived {
                    "waiting_unit"
                } else {
                    "open"
                }),
                v_int(agent),
                v_int(received),
                v_opt(first_response),
                v_opt(closed_at),
                v_int(i64::from(reopened)),
                v_int(received),
                v_int(updated),
            ]);
            let in_time = match closed_at {
                Some(closed_at) => resolved_in_time(
                    &Closed {
                        channel,
                        incident_type: kind,
                        topic_id,
                        received,
                        closed_at,
                        marks: &marks,
                    },
                    &clock_rules,
                    tz,
                )?,
                None => None,
            };
            let facts = IncidentFacts {
                month: month_key(received_at, tz),
                channel: channel.code().to_string(),
                user_type: user_type.map(|t| t.code().to_string()),
                incident_type: Some(kind.code().to_string()),
                topic_id,
                unit_id: unit,
                agent_id: Some(agent),
                counters: Counters {
                    incidents: 1,
                    closed: i64::from(closed),
                    // Closed without derivation, and never reopened within the window.
                    fcr: i64::from(closed && !derived && !reopened),
                    derived: i64::from(derived),
                    complaints: i64::from(kind == IncidentType::Complaint),
                    surveys_sent: i64::from(survey_sent),
                    surveys_answered: i64::from(survey_answered),
                    satisfied: i64::from(overall.is_some_and(|o| o >= 4)),
                    score_sum: overall.unwrap_or(0),
                    nonconformities: 0,
                    resolution_measured: i64::from(in_time.is_some()),
                    resolution_in_time: i64::from(in_time == Some(true)),
                },
                first_response_ms: first_response.map(|t| t - received),
                close_ms: closed_at.map(|t| t - received),
            };
            rollups.add(None, &facts);
            facts_rows.push(vec![v_int(id), v_int(facts.month), v_text(json(&facts)?)]);
        }
        store
            .bulk_insert(
                "incidents",
                &[
                    "id",
                    "folio",
                    "channel",
                    "contact_id",
                    "subject",
                    "user_type",
                    "incident_type",
                    "topic_id",
                    "status",
                    "assigned_to",
                    "received_at",
                    "first_response_at",
                    "closed_at",
                    "reopened_count",
                    "created_at",
                    "updated_at",
                ],
                &incidents,
            )
            .await?;
        store
            .bulk_insert("timeline_entries", ENTRY_COLUMNS, &entries)
            .await?;
        store
            .bulk_insert(
                "derivations",
                &[
                    "id",
                    "incident_id",
                    "unit_id",
                    "medium",
                    "reason",
                    "derived_by",
                    "derived_at",
                    "closed_incident",
                    "answered_at",
                    "answer",
                    "answered_by",
                ],
                &derivations,
            )
            .await?;
        store
            .bulk_insert(
                "surveys",
                &[
                    "id",
                    "incident_id",
                    "contact_id",
                    "status",
                    "invited_by",
                    "token_hash",
                    "questionnaire_version",
                    "agent_id",
                    "unit_id",
                    "channel",
                    "closed_at",
                    "sent_at",
                    "expires_at",
                    "answered_at",
                    "overall",
                    "resolved",
                    "created_at",
                    "answers",
                    "follow_up",
                ],
                &surveys,
            )
            .await?;
        store
            .bulk_insert(
                "incident_facts",
                &["incident_id", "month", "facts"],
                &facts_rows,
            )
            .await?;
        store.bulk_index("incident", &docs).await?;
        out.incidents = end;
        out.entries += entries.len();
        out.derivations += derivations.len();
        out.surveys += surveys.len();
        progress("incidentes", end, spec.incidents);
    }
    // Knowledge-base articles: every topic's questions, in many versions of wording.
    let topic_list: Vec<(String, i64)> = topics.iter().map(|(n, i)| (n.clone(), *i)).collect();
    for start in (0..spec.articles).step_by(BATCH) {
        let end = (start + BATCH).min(spec.articles);
        let mut rows = Vec::new();
        let mut versions = Vec::new();
        let mut docs = Vec::new();
        for n in start..end {
            let id = base_article + n as i64 + 1;
            let (topic, subject, words, answer) = QUESTIONS[n % QUESTIONS.len()];
            let round = n / QUESTIONS.len();
            let title = if round == 0 {
                subject.to_string()
            } else {
                format!("{subject} ({})", round + 1)
            };
            let body = format!("**Pregunta frecuente.** {words}\n\n{answer}\n\nTema: {topic}.");
            let topic_id = topics
                .get(topic)
                .copied()
                .or_else(|| topic_list.first().map(|t| t.1));
            let public = n % 3 != 0;
            let at = spec.end.timestamp_millis();
            rows.push(vec![
                v_int(id),
                v_text(title.clone()),
                v_text(body.clone()),
                v_opt(topic_id),
                v_text(""),
                v_int(i64::from(public)),
                v_int(1),
                v_int(at),
                v_int(at),
            ]);
            versions.push(vec![
                v_int(id),
                v_int(1),
                v_text(title.clone()),
                v_text(body.clone()),
                v_opt(topic_id),
                v_text(""),
                v_int(i64::from(public)),
                v_int(at),
            ]);
            docs.push((id, title, format!("{body}\n")));
        }
        store
            .bulk_insert(
                "articles",
                &[
                    "id",
                    "title",
                    "body",
                    "topic_id",
                    "tags",
                    "public",
                    "version",
                    "created_at",
                    "updated_at",
                ],
                &rows,
            )
            .await?;
        store
            .bulk_insert(
                "article_versions",
                &[
                    "article_id",
                    "version",
                    "title",
                    "body",
                    "topic_id",
                    "tags",
                    "public",
                    "changed_at",
                ],
                &versions,
            )
            .await?;
        store.bulk_index("article", &docs).await?;
        progress("artículos", end, spec.articles);
    }
    store.apply_rollup_delta(rollups).await?;
    // A history written over years has a merged index, not one segment per loaded batch.
    store.merge_search_index().await?;
    store
        .reset_identities(&[
            "contacts",
            "incidents",
            "timeline_entries",
            "derivations",
            "surveys",
            "articles",
        ])
        .await?;
    // The incidents left open get their service-level clocks as the product computes them
    // (the closed ones are history: measured by their indicator facts), and the thresholds
    // they passed count as told, as a CAP in service would have been told them.
    store.recompute_open_clocks().await?;
    store.record_thresholds_told(crate::db::now()).await?;
    progress("listo", 1, 1);
    Ok(out)
}

/// Leaves the history as a release before service levels wrote it: no clocks, nothing told,
/// and the first start's measuring not done (what `atiende-bench scale --backfill` times).
pub async fn forget_clocks(store: &Store) -> Result<()> {
    for sql in [
        "DELETE FROM service_level_events",
        "DELETE FROM incident_clocks",
    ] {
        sqlx::query(sql).execute(store.writer()).await?;
    }
    sqlx::query("DELETE FROM settings WHERE key = $1")
        .bind(crate::settings::key::CLOCKS_BACKFILLED)
        .execute(store.writer())
        .await?;
    Ok(())
}

fn entry(
    next: &mut i64,
    incident: i64,
    kind: &str,
    at: i64,
    author: Option<i64>,
    body: &str,
    data: String,
) -> Vec<Value> {
    *next += 1;
    vec![
        v_int(*next),
        v_int(incident),
        v_text(kind),
        v_int(at),
        v_opt(author),
        v_text(body),
        v_text(data),
    ]
}

fn status(next: &mut i64, incident: i64, at: i64, agent: i64, from: &str, to: &str) -> Vec<Value> {
    entry(
        next,
        incident,
        "status_change",
        at,
        Some(agent),
        "",
        format!("{{\"from\":\"{from}\",\"to\":\"{to}\"}}"),
    )
}

/// Letters without accents, for addresses.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            'Á' => 'A',
            'É' => 'E',
            'Í' => 'I',
            'Ó' => 'O',
            'Ú' => 'U',
            'Ñ' => 'N',
            c => c,
        })
        .collect()
}

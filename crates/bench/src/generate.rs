//! A realistic history written straight into the database, for benchmarks at scale: staff,
//! contacts, years of incidents with admission and enrolment peaks, their timelines,
//! derivations and surveys — and the indicator facts and rollups the product keeps, computed
//! with the domain's own definitions (a test checks them against the product's rebuild).

use anyhow::{Context, Result};
use atiende_domain::classification::{Channel, IncidentType, ProgrammeLine, UserType};
use atiende_domain::indicators::{Counters, IncidentFacts};
use atiende_domain::period::month_key;
use atiende_domain::survey::default_questions;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::{Role, UserInput};
use atiende_store::bulk::Value;
use atiende_store::demo::{FIRST_NAMES, QUESTIONS, SURNAMES};
use atiende_store::indicators::RollupDelta;
use atiende_store::{Actor, Store};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

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

#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub incidents: usize,
    pub contacts: usize,
    pub entries: usize,
    pub derivations: usize,
    pub surveys: usize,
}

const BATCH: usize = 5_000;
const PASSWORD: &str = "clave-de-benchmark";

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

/// What an earlier run left at the store, for measuring it again: the incidents only (the
/// other counts are not kept and read as zero).
pub async fn already_generated(store: &Store) -> Result<Generated> {
    let incidents = store
        .latest_incident_id(&atiende_domain::access::Scope::All)
        .await? as usize;
    anyhow::ensure!(incidents > 0, "--reuse: the database holds no incidents");
    Ok(Generated {
        incidents,
        contacts: 0,
        entries: 0,
        derivations: 0,
        surveys: 0,
    })
}

/// Generates the history into a migrated, seeded database. `progress(stage, done, total)` is
/// called as batches land.
pub async fn generate(
    store: &Store,
    spec: &Spec,
    progress: impl Fn(&str, usize, usize),
) -> Result<Generated> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let tz = store.time_zone();
    // Staff: the CAP's agents and a lead, through the product (passwords hashed as usual).
    let mut agents = Vec::new();
    for n in 0..24 {
        let input = UserInput {
            login: Some(format!("agente{n:02}")),
            name: Some(format!(
                "{} {}",
                FIRST_NAMES[n % FIRST_NAMES.len()],
                SURNAMES[(n * 7) % SURNAMES.len()]
            )),
            role: Some(if n == 0 { Role::CapLead } else { Role::Agent }),
            password: Some(PASSWORD.into()),
            ..Default::default()
        };
        let created = store.create_user(Actor::System, &input).await?;
        agents.push(created.user.id.0);
    }
    let quality = UserInput {
        login: Some("calidad".into()),
        name: Some("Responsable del SIGA".into()),
        role: Some(Role::QualityOwner),
        password: Some(PASSWORD.into()),
        ..Default::default()
    };
    store.create_user(Actor::System, &quality).await?;
    let units: Vec<(i64, String)> = store
        .units()
        .await?
        .into_iter()
        .filter(|u| u.kind == UnitKind::Coordination)
        .map(|u| (u.id.0, u.name))
        .collect();
    let topics: BTreeMap<String, i64> = store
        .topics()
        .await?
        .into_iter()
        .map(|t| (t.name, t.id.0))
        .collect();
    let questionnaire = serde_json::to_string(&default_questions())?;
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

    // Contacts, with the identifiers people give.
    let user_types = [
        UserType::Prospect,
        UserType::Applicant,
        UserType::Student,
        UserType::Alumnus,
    ];
    let type_weights = WeightedIndex::new([15, 20, 55, 10])?;
    let lines = [
        ProgrammeLine::HighSchool,
        ProgrammeLine::Undergraduate,
        ProgrammeLine::Postgraduate,
        ProgrammeLine::ContinuingEducation,
    ];
    let line_weights = WeightedIndex::new([30, 50, 15, 5])?;
    let mut contact_types = Vec::with_capacity(spec.contacts);
    let created_at = (spec.end - Duration::days(365 * spec.years)).timestamp_millis();
    for start in (0..spec.contacts).step_by(BATCH) {
        let end = (start + BATCH).min(spec.contacts);
        let mut contacts = Vec::new();
        let mut identifiers = Vec::new();
        let mut docs = Vec::new();
        for n in start..end {
            let id = n as i64 + 1;
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
            .await
            .context("contacts")?;
        store
            .bulk_insert(
                "contact_identifiers",
                &["kind", "value", "contact_id"],
                &identifiers,
            )
            .await
            .context("identifiers")?;
        store
            .bulk_index("contact", &docs)
            .await
            .context("contact index")?;
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
    let channel_weights = WeightedIndex::new([32, 26, 22, 8, 7, 5])?;
    let kinds = [
        IncidentType::Question,
        IncidentType::Complaint,
        IncidentType::Suggestion,
        IncidentType::Compliment,
    ];
    let kind_weights = WeightedIndex::new([76, 10, 8, 6])?;
    let score_weights = WeightedIndex::new([5, 8, 12, 30, 45])?;
    let span_ms = Duration::days(365 * spec.years).num_milliseconds();
    let start_ms = spec.end.timestamp_millis() - span_ms;
    let mut folio_seq: BTreeMap<i32, i64> = BTreeMap::new();
    let mut rollups = RollupDelta::default();
    let mut out = Generated {
        contacts: spec.contacts,
        ..Default::default()
    };
    let mut entry_id = 0i64;
    let mut derivation_id = 0i64;
    let mut survey_id = 0i64;
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
    for start in (0..spec.incidents).step_by(BATCH) {
        let end = (start + BATCH).min(spec.incidents);
        let mut incidents = Vec::new();
        let mut entries = Vec::new();
        let mut derivations = Vec::new();
        let mut surveys = Vec::new();
        let mut facts_rows = Vec::new();
        let mut docs = Vec::new();
        for (n, &received) in received_times.iter().enumerate().take(end).skip(start) {
            let id = n as i64 + 1;
            let received_at = DateTime::from_timestamp_millis(received).unwrap_or(spec.end);
            let year = received_at.with_timezone(&tz).year();
            let seq = folio_seq.entry(year).or_default();
            *seq += 1;
            let folio = format!("CAP-{year}-{:06}", *seq);
            let channel = channels[channel_weights.sample(&mut rng)];
            let anonymous = channel == Channel::SuggestionBox && rng.gen_bool(0.5);
            let contact = (!anonymous).then(|| rng.gen_range(0..spec.contacts.max(1)) as i64 + 1);
            let user_type = contact.and_then(|c| contact_types.get(c as usize - 1).copied());
            let kind = kinds[kind_weights.sample(&mut rng)];
            let (topic, subject, words, answer) = QUESTIONS[rng.gen_range(0..QUESTIONS.len())];
            let topic_id = topics.get(topic).copied();
            let agent = agents[rng.gen_range(0..agents.len())];
            let recent =
                spec.end.timestamp_millis() - received < Duration::days(14).num_milliseconds();
            let closed = rng.gen_bool(if recent { 0.6 } else { 0.97 });
            let derived = rng.gen_bool(0.18) && !units.is_empty();
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
                let (unit_id, unit_name) = &units[rng.gen_range(0..units.len())];
                unit = Some(*unit_id);
                derivation_id += 1;
                let derived_at = at + minutes(&mut rng, 5, 600);
                let answered = closed && rng.gen_bool(0.9);
                let answered_at = answered.then(|| derived_at + minutes(&mut rng, 30, 5 * 24 * 60));
                let derivation_closed = closed && !answered;
                derivations.push(vec![
                    v_int(derivation_id),
                    v_int(id),
                    v_int(*unit_id),
                    v_text("email"),
                    v_text("Corresponde a la unidad"),
                    v_int(agent),
                    v_int(derived_at),
                    v_int(i64::from(derivation_closed)),
                    v_opt(answered_at),
                    Value::OptText(answered.then(|| "Se atendió en la unidad.".to_string())),
                ]);
                entries.push(entry(
                    &mut entry_id,
                    id,
                    "derivation",
                    derived_at,
                    Some(agent),
                    "Corresponde a la unidad",
                    format!("{{\"unit_name\":{}}}", serde_json::to_string(unit_name)?),
                ));
                at = answered_at.unwrap_or(derived_at);
            }
            let reopened = closed && rng.gen_bool(0.02);
            let mut closed_at = None;
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
                let mut last = first_close;
                if reopened {
                    let back = first_close + minutes(&mut rng, 60, 3 * 24 * 60);
                    entries.push(status(&mut entry_id, id, back, agent, "closed", "open"));
                    last = back + minutes(&mut rng, 10, 2 * 24 * 60);
                    entries.push(status(&mut entry_id, id, last, agent, "open", "closed"));
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
                surveys.push(vec![
                    v_int(survey_id),
                    v_int(id),
                    v_opt(contact),
                    v_text(if survey_answered { "answered" } else { "sent" }),
                    v_text("email"),
                    v_text(format!("{:016x}{:016x}", rng.r#gen::<u64>(), id)),
                    v_int(1),
                    v_int(agent),
                    v_opt(unit),
                    v_text(channel.code()),
                    v_int(closed_at.unwrap_or(at)),
                    v_int(sent_at),
                    v_int(sent_at + Duration::days(14).num_milliseconds()),
                    v_opt(answered_at),
                    v_opt(overall),
                    v_opt(survey_answered.then(|| i64::from(overall.unwrap_or(0) >= 3))),
                    v_int(sent_at),
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
                },
                first_response_ms: first_response.map(|t| t - received),
                close_ms: closed_at.map(|t| t - received),
            };
            rollups.add(None, &facts);
            facts_rows.push(vec![
                v_int(id),
                v_int(facts.month),
                v_text(serde_json::to_string(&facts)?),
            ]);
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
            .await
            .context("incidents")?;
        store
            .bulk_insert(
                "timeline_entries",
                &[
                    "id",
                    "incident_id",
                    "kind",
                    "at",
                    "author_id",
                    "body",
                    "data",
                ],
                &entries,
            )
            .await
            .context("timeline")?;
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
                ],
                &derivations,
            )
            .await
            .context("derivations")?;
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
                ],
                &surveys,
            )
            .await
            .context("surveys")?;
        store
            .bulk_insert(
                "incident_facts",
                &["incident_id", "month", "facts"],
                &facts_rows,
            )
            .await
            .context("facts")?;
        store
            .bulk_index("incident", &docs)
            .await
            .context("incident index")?;
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
            let id = n as i64 + 1;
            let (topic, subject, words, answer) = QUESTIONS[n % QUESTIONS.len()];
            let title = format!("{subject} ({})", n / QUESTIONS.len() + 1);
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
            .await
            .context("articles")?;
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
            .await
            .context("article versions")?;
        store
            .bulk_index("article", &docs)
            .await
            .context("article index")?;
        progress("artículos", end, spec.articles);
    }
    let folios: Vec<Vec<Value>> = folio_seq
        .iter()
        .map(|(year, seq)| vec![v_int(i64::from(*year)), v_int(*seq)])
        .collect();
    store
        .bulk_insert("folio_counters", &["year", "last_seq"], &folios)
        .await?;
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
    progress("listo", 1, 1);
    Ok(out)
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

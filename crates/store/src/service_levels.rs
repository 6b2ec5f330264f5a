//! Service levels in storage: the business calendar and the targets (settings), and each
//! incident's clocks, brought in step by [`Tx::commit`] whenever the incident changes (and by
//! the intake's groups for new ones), so the queue reads them as rows and the escalation job
//! finds what is due through an index.

use std::collections::{HashMap, HashSet};

use atiende_domain::business_hours::BusinessCalendar;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{EntryKind, Incident, TimelineEntry};
use atiende_domain::service_level::{
    Clock, Mark, ServicePolicy, UnitWait, clocks, pending, unit_clocks,
};
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::Actor;
use crate::bulk::{Value, push_insert};
use crate::db::{Script, Sql, Store, from_ms, ms, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::incidents::rows::{append, entry_from_row, incident_from_row};
use crate::indicators::{KEPT_FACTS_COLUMNS, KeptFacts};
use crate::settings::key;
use crate::tx::Tx;

/// What a clock computation needs besides the incident: read once per transaction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    pub(crate) policy: ServicePolicy,
    pub(crate) calendar: BusinessCalendar,
}

impl Rules {
    /// The settings the rules are made of, read in one query: `(key, value)` rows.
    pub(crate) fn settings_sql(engine: crate::db::Engine) -> Sql {
        let mut sql = Sql::new("SELECT key, value FROM settings WHERE key");
        sql.push_in_texts(
            engine,
            &[
                key::SERVICE_POLICY,
                key::BUSINESS_CALENDAR,
                key::NONCONFORMITY_CRITERIA,
            ],
        );
        sql
    }

    /// The rules from those settings' stored values, by key.
    pub(crate) fn from_settings(values: &HashMap<String, String>) -> Result<Rules> {
        Ok(Rules {
            policy: parsed(values, key::SERVICE_POLICY)?,
            calendar: calendar_of(values)?,
        })
    }
}

/// A stored setting's value, or its type's default when it was never saved.
fn parsed<T: serde::de::DeserializeOwned + Default>(
    values: &HashMap<String, String>,
    name: &str,
) -> Result<T> {
    match values.get(name) {
        Some(v) => serde_json::from_str(v).map_err(StoreError::corrupt),
        None => Ok(T::default()),
    }
}

/// The business calendar; before one was saved, the default hours with the days off the
/// nonconformity criteria used to keep (`holidays`, the only calendar of earlier releases).
fn calendar_of(values: &HashMap<String, String>) -> Result<BusinessCalendar> {
    if let Some(calendar) = parsed::<Option<BusinessCalendar>>(values, key::BUSINESS_CALENDAR)? {
        return Ok(calendar);
    }
    let criteria: serde_json::Value =
        parsed::<Option<serde_json::Value>>(values, key::NONCONFORMITY_CRITERIA)?
            .unwrap_or_default();
    let mut calendar = BusinessCalendar::default();
    for day in criteria["holidays"].as_array().into_iter().flatten() {
        if let Some(day) = day
            .as_str()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            calendar
                .days_off
                .push(atiende_domain::business_hours::DayOff {
                    from: day,
                    to: day,
                    name: String::new(),
                });
        }
    }
    Ok(calendar)
}

/// The timeline entries an incident's clocks are measured from.
const CLOCK_KINDS: [EntryKind; 3] = [
    EntryKind::StatusChange,
    EntryKind::WaitingOnPerson,
    EntryKind::InboundMessage,
];

/// The timeline entries an incident's indicator facts are counted from.
const FACT_KINDS: [EntryKind; 2] = [EntryKind::StatusChange, EntryKind::Derivation];

/// An incident's entries of `kinds`, in the order they happened.
async fn timeline_of(
    tx: &mut Tx,
    id: IncidentId,
    kinds: &[EntryKind],
) -> Result<Vec<TimelineEntry>> {
    let mut sql = Sql::new("SELECT * FROM timeline_entries WHERE incident_id = ");
    sql.bind(id.0).push(" AND kind IN (");
    for (n, kind) in kinds.iter().enumerate() {
        if n > 0 {
            sql.push(", ");
        }
        sql.bind(kind.code());
    }
    sql.push(") ORDER BY at, id");
    sql.fetch_all(&mut **tx)
        .await?
        .iter()
        .map(entry_from_row)
        .collect()
}

async fn incident_in(tx: &mut Tx, id: IncidentId) -> Result<Incident> {
    let row = sqlx::query("SELECT * FROM incidents WHERE id = $1")
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    incident_from_row(&row)
}

/// The next threshold not yet told: a warning or a due instant of a measure not yet met.
fn next_check(clocks: &[Clock], told: &HashSet<(String, String, i64)>) -> Option<i64> {
    clocks
        .iter()
        .filter(|c| c.done_at.is_none())
        .filter_map(|c| {
            let due = ms(c.due_at?);
            let mut next = Vec::new();
            for (threshold, at) in [("warning", c.warn_at), ("breach", c.due_at)] {
                let key = (c.key(), threshold.to_string(), due);
                if let Some(at) = at
                    && !told.contains(&key)
                {
                    next.push(ms(at));
                }
            }
            next.into_iter().min()
        })
        .min()
}

/// The thresholds of the running clocks reached by `now`: each with its clock, `warning` or
/// `breach`, the due instant it belongs to and when it was reached.
fn reached(
    clocks: &[Clock],
    now: DateTime<Utc>,
) -> Vec<(&Clock, &'static str, DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    for c in clocks.iter().filter(|c| c.done_at.is_none()) {
        let Some(due_at) = c.due_at else { continue };
        for (threshold, at) in [("warning", c.warn_at), ("breach", Some(due_at))] {
            if let Some(at) = at.filter(|at| *at <= now) {
                out.push((c, threshold, due_at, at));
            }
        }
    }
    out
}

/// An incident's derivations, as their units' clocks see them.
async fn unit_waits(tx: &mut Tx, id: IncidentId) -> Result<Vec<UnitWait>> {
    sqlx::query(
        "SELECT unit_id, derived_at, answered_at, closed_incident FROM derivations \
         WHERE incident_id = $1 ORDER BY id",
    )
    .bind(id.0)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| {
        Ok(UnitWait {
            unit_id: atiende_domain::ids::UnitId(r.try_get("unit_id")?),
            derived_at: from_ms(r.try_get("derived_at")?)?,
            answered_at: opt_from_ms(r.try_get("answered_at")?)?,
            closed_incident: r.try_get::<i64, _>("closed_incident")? != 0,
        })
    })
    .collect()
}

/// Writes an incident's clocks as `clocks` says.
pub(crate) async fn write_clocks(tx: &mut Tx, id: IncidentId, clocks: &[Clock]) -> Result<()> {
    let told: HashSet<(String, String, i64)> = sqlx::query(
        "SELECT measure, threshold, due_at FROM service_level_events WHERE incident_id = $1",
    )
    .bind(id.0)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("measure")?,
            r.try_get("threshold")?,
            r.try_get("due_at")?,
        ))
    })
    .collect::<Result<_>>()?;
    let (warn, due) = pending(clocks);
    let json = serde_json::to_string(clocks).map_err(StoreError::corrupt)?;
    sqlx::query(
        "INSERT INTO incident_clocks (incident_id, clocks, warn_at, due_at, next_check_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (incident_id) DO UPDATE SET clocks = excluded.clocks, warn_at = excluded.warn_at, \
         due_at = excluded.due_at, next_check_at = excluded.next_check_at",
    )
    .bind(id.0)
    .bind(json)
    .bind(warn.map(ms))
    .bind(due.map(ms))
    .bind(next_check(clocks, &told))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What an incident's history says to its resolution clock, oldest first. The first message
/// is the reception itself, not the person writing again.
fn marks_of(
    incident: &Incident,
    entries: &[atiende_domain::incident::TimelineEntry],
) -> Vec<(DateTime<Utc>, Mark)> {
    entries
        .iter()
        .filter_map(|e| match e.kind {
            EntryKind::StatusChange => e.status_change().map(|(_, to)| (e.at, Mark::Status(to))),
            EntryKind::WaitingOnPerson => Some((e.at, Mark::WaitingOnPerson)),
            EntryKind::InboundMessage if e.at > incident.received_at => {
                Some((e.at, Mark::PersonWrote))
            }
            _ => None,
        })
        .collect()
}

/// The clock rows of new incidents, which have no history yet and nothing told, added to a
/// bulk writer's script.
/// An incident's clocks from its history (`entries` in the order they happened: by moment,
/// then as written) and its waits on units.
pub(crate) fn clocks_of(
    incident: &Incident,
    entries: &[atiende_domain::incident::TimelineEntry],
    waits: &[UnitWait],
    rules: &Rules,
    tz: chrono_tz::Tz,
) -> Vec<Clock> {
    let marks = marks_of(incident, entries);
    let mut computed = clocks(incident, &marks, &rules.policy, &rules.calendar, tz);
    computed.extend(unit_clocks(
        incident,
        waits,
        &rules.policy,
        &rules.calendar,
        tz,
    ));
    computed
}

/// Writes the clocks of incidents that have none yet, nothing told of them (a group of new
/// incidents, an import's new cases).
pub(crate) fn push_new_clocks(
    script: &mut Script,
    incidents: &[(IncidentId, &[Clock])],
) -> Result<()> {
    let mut rows = Vec::with_capacity(incidents.len());
    for (id, computed) in incidents {
        let (warn, due) = pending(computed);
        rows.push(vec![
            Value::Int(id.0),
            Value::Text(serde_json::to_string(computed).map_err(StoreError::corrupt)?),
            Value::OptInt(warn.map(ms)),
            Value::OptInt(due.map(ms)),
            Value::OptInt(next_check(computed, &HashSet::new())),
        ]);
    }
    push_insert(
        script,
        "incident_clocks",
        &[
            "incident_id",
            "clocks",
            "warn_at",
            "due_at",
            "next_check_at",
        ],
        &rows,
        "",
    );
    Ok(())
}

/// A threshold reached and told: a clock's warning or its breach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Threshold {
    pub incident_id: IncidentId,
    pub measure: atiende_domain::service_level::Measure,
    /// `warning` or `breach`.
    pub threshold: &'static str,
    pub due_at: DateTime<Utc>,
}

impl Store {
    /// Tells the thresholds reached by `now` that nobody told yet, at most `limit` incidents
    /// at a time: each warning and breach is recorded once (two instances racing insert the
    /// same key, and only one of them succeeds), a breach is written on the incident's
    /// timeline, and the incident's next check moves to its next threshold. Found by the
    /// index on the next check, never by scanning open incidents. Returns what was told, for
    /// the notifications.
    pub async fn tell_service_levels(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Threshold>> {
        let due: Vec<i64> = sqlx::query(
            "SELECT incident_id FROM incident_clocks WHERE next_check_at <= $1 ORDER BY next_check_at LIMIT $2",
        )
        .bind(ms(now))
        .bind(limit)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|r| r.try_get("incident_id"))
        .collect::<std::result::Result<_, _>>()?;
        let mut told = Vec::new();
        for id in due {
            let id = IncidentId(id);
            let mut tx = self.begin().await?;
            let row = sqlx::query("SELECT clocks FROM incident_clocks WHERE incident_id = $1")
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { continue };
            let clocks: Vec<Clock> = serde_json::from_str(&row.try_get::<String, _>("clocks")?)
                .map_err(StoreError::corrupt)?;
            for (c, threshold, due_at, _) in reached(&clocks, now) {
                let inserted = sqlx::query(
                    "INSERT INTO service_level_events (incident_id, measure, threshold, due_at, at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING incident_id",
                )
                .bind(id.0)
                .bind(c.key())
                .bind(threshold)
                .bind(ms(due_at))
                .bind(ms(now))
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
                if !inserted {
                    continue;
                }
                if threshold == "breach" {
                    let data = serde_json::json!({
                        "measure": c.measure.code(),
                        "unit_id": c.unit_id.map(|u| u.0),
                        "due_at": due_at,
                        "target_minutes": c.target_minutes,
                    });
                    append(&mut tx, id, EntryKind::ServiceLevel, None, "", data, now).await?;
                }
                let kind = if threshold == "breach" {
                    atiende_domain::notification::NotificationKind::ServiceLevelBreach
                } else {
                    atiende_domain::notification::NotificationKind::ServiceLevelWarning
                };
                match c.unit_id {
                    // A unit late with its answer: its responsibles and the assignee.
                    Some(unit) => {
                        crate::notifications::unit_clock(&mut tx, kind, id, unit).await?;
                    }
                    None => crate::notifications::notify(&mut tx, kind, id, None, None).await?,
                }
                told.push(Threshold {
                    incident_id: id,
                    measure: c.measure,
                    threshold,
                    due_at,
                });
            }
            // The next check moves on (the commit's upkeep recomputes it for a breach written
            // on the timeline; a warning alone is brought forward here).
            let rules = self.clock_rules(&mut tx).await?;
            let incident = incident_in(&mut tx, id).await?;
            self.refresh_clocks(&mut tx, &incident, &rules).await?;
            tx.commit().await?;
        }
        Ok(told)
    }

    /// Measures the service level of every incident that has no clocks yet: those of a
    /// database written before service levels (the first start after the upgrade counts
    /// each once, 500 to a transaction, moving the indicators' rollups with them). Runs until
    /// done, at every start until it has finished once.
    pub async fn backfill_clocks(&self) -> Result<u64> {
        if self
            .setting::<Option<bool>>(key::CLOCKS_BACKFILLED)
            .await?
            .unwrap_or(false)
        {
            return Ok(0);
        }
        let mut done = 0;
        // Walks the incidents once, in order: each batch starts after the last one (starting
        // from the first every time read every incident measured so far again, a quadratic
        // walk that took a million incidents from a thousand a second to a few hundred).
        let mut after = 0;
        loop {
            let ids: Vec<i64> = sqlx::query(
                "SELECT i.id FROM incidents i LEFT JOIN incident_clocks k ON k.incident_id = i.id \
                 WHERE k.incident_id IS NULL AND i.id > $1 ORDER BY i.id LIMIT 500",
            )
            .bind(after)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
            let Some(last) = ids.last() else {
                break;
            };
            after = *last;
            let mut tx = self.begin().await?;
            let rules = self.clock_rules(&mut tx).await?;
            for id in &ids {
                self.refresh_measures(&mut tx, IncidentId(*id), &rules)
                    .await?;
            }
            tx.commit().await?;
            done += ids.len() as u64;
            if done % 50_000 < 500 {
                tracing::info!(
                    incidents = done,
                    "measuring the service level of earlier incidents"
                );
            }
        }
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, 'true') ON CONFLICT (key) DO UPDATE SET value = 'true'",
        )
        .bind(key::CLOCKS_BACKFILLED)
        .execute(self.writer())
        .await?;
        Ok(done)
    }

    /// The calendar and targets, as a transaction sees them.
    pub(crate) async fn clock_rules(&self, conn: &mut sqlx::AnyConnection) -> Result<Rules> {
        let mut values = HashMap::new();
        for row in Rules::settings_sql(self.engine())
            .fetch_all(&mut *conn)
            .await?
        {
            values.insert(row.try_get("key")?, row.try_get("value")?);
        }
        Rules::from_settings(&values)
    }

    /// Brings an incident's clocks and, as they say whether it was resolved in time, its
    /// indicator facts in step (the upkeep of every commit that touched it). The incident is
    /// read with what was last kept of it (clocks, survey, facts) and its timeline once for
    /// both: every change to an incident pays these round trips at its commit.
    pub(crate) async fn refresh_measures(
        &self,
        tx: &mut Tx,
        id: IncidentId,
        rules: &Rules,
    ) -> Result<()> {
        let sql = format!(
            "SELECT i.*, (SELECT clocks FROM incident_clocks WHERE incident_id = i.id) AS kept_clocks, \
             {KEPT_FACTS_COLUMNS} FROM incidents i WHERE i.id = $1"
        );
        // Composed of constants only.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_one(&mut **tx)
            .await?;
        let incident = incident_from_row(&row)?;
        // Clocks kept in a shape this release no longer reads are simply written anew.
        let kept_clocks: Option<Vec<Clock>> = row
            .try_get::<Option<String>, _>("kept_clocks")?
            .and_then(|c| serde_json::from_str(&c).ok());
        let kept_facts = KeptFacts::from_row(&row)?;
        // The clocks take their kinds as the entries happened, the facts theirs in the order
        // they were written.
        let both: Vec<EntryKind> = CLOCK_KINDS
            .iter()
            .chain(FACT_KINDS.iter().filter(|k| !CLOCK_KINDS.contains(k)))
            .copied()
            .collect();
        let entries = timeline_of(tx, id, &both).await?;
        let timed: Vec<TimelineEntry> = entries
            .iter()
            .filter(|e| CLOCK_KINDS.contains(&e.kind))
            .cloned()
            .collect();
        let mut counted: Vec<TimelineEntry> = entries
            .into_iter()
            .filter(|e| FACT_KINDS.contains(&e.kind))
            .collect();
        counted.sort_by_key(|e| e.id.0);
        let waits = unit_waits(tx, id).await?;
        let clocks = clocks_of(&incident, &timed, &waits, rules, self.tz);
        // The clocks' row also holds the next check, from the clocks and the thresholds
        // already told; whatever tells a threshold moves the next check itself, so clocks
        // as they were keep their row as it is (a classification, a note, an assignment).
        if kept_clocks.as_ref() != Some(&clocks) {
            write_clocks(tx, id, &clocks).await?;
        }
        let in_time = atiende_domain::service_level::resolved_in_time(&clocks);
        // Derivations are read in the order they were made: the last is where it went.
        let unit = waits.last().map(|w| w.unit_id.0);
        self.refresh_facts(tx, &incident, &counted, unit, kept_facts, in_time)
            .await
    }

    /// Computes and writes an incident's clocks from its status changes, waits on the person
    /// and inbound messages (in the order they happened) and its derivations.
    pub(crate) async fn refresh_clocks(
        &self,
        tx: &mut Tx,
        incident: &Incident,
        rules: &Rules,
    ) -> Result<Vec<Clock>> {
        let entries = timeline_of(tx, incident.id, &CLOCK_KINDS).await?;
        let waits = unit_waits(tx, incident.id).await?;
        let computed = clocks_of(incident, &entries, &waits, rules, self.tz);
        write_clocks(tx, incident.id, &computed).await?;
        Ok(computed)
    }

    /// An incident's clocks, as last computed.
    pub async fn incident_clocks(&self, id: IncidentId) -> Result<Vec<Clock>> {
        let row = sqlx::query("SELECT clocks FROM incident_clocks WHERE incident_id = $1")
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?;
        match row {
            Some(r) => serde_json::from_str(&r.try_get::<String, _>("clocks")?)
                .map_err(StoreError::corrupt),
            None => Ok(Vec::new()),
        }
    }

    /// The targets in force.
    pub async fn service_policy(&self) -> Result<ServicePolicy> {
        self.setting(key::SERVICE_POLICY).await
    }

    /// The business hours in force.
    pub async fn business_calendar(&self) -> Result<BusinessCalendar> {
        Ok(self
            .clock_rules(&mut *self.reader().acquire().await?)
            .await?
            .calendar)
    }

    /// Sets the targets; the clocks of incidents not closed follow at once.
    pub async fn save_service_policy(
        &self,
        actor: Actor<'_>,
        policy: &ServicePolicy,
    ) -> Result<()> {
        policy.check()?;
        self.save_setting(actor, key::SERVICE_POLICY, policy)
            .await?;
        self.recompute_open_clocks().await
    }

    /// Sets the business hours; the clocks of incidents not closed follow at once.
    pub async fn save_business_calendar(
        &self,
        actor: Actor<'_>,
        calendar: &BusinessCalendar,
    ) -> Result<()> {
        calendar.check()?;
        self.save_setting(actor, key::BUSINESS_CALENDAR, calendar)
            .await?;
        self.recompute_open_clocks().await
    }

    /// Records every threshold reached before `now` as told, without telling it: for a
    /// history written in bulk (the demo's, the benchmarks'), whose CAP would have been told
    /// each warning and breach as it came. Left to the worker, a generated million's 100,000
    /// such thresholds were told one incident to a transaction for minutes after the first
    /// start, beside whatever was being measured. 500 incidents to a transaction.
    pub async fn record_thresholds_told(&self, now: DateTime<Utc>) -> Result<()> {
        loop {
            let mut tx = self.begin().await?;
            let due = sqlx::query(
                "SELECT incident_id, clocks FROM incident_clocks WHERE next_check_at <= $1 \
                 ORDER BY next_check_at LIMIT 500",
            )
            .bind(ms(now))
            .fetch_all(&mut *tx)
            .await?;
            if due.is_empty() {
                return Ok(());
            }
            let mut events = Vec::new();
            let mut checks = Vec::new();
            for row in &due {
                let id: i64 = row.try_get("incident_id")?;
                let clocks: Vec<Clock> = serde_json::from_str(&row.try_get::<String, _>("clocks")?)
                    .map_err(StoreError::corrupt)?;
                let reached = reached(&clocks, now);
                let told = reached
                    .iter()
                    .map(|(c, threshold, due_at, _)| (c.key(), threshold.to_string(), ms(*due_at)))
                    .collect();
                events.extend(reached.iter().map(|(c, threshold, due_at, at)| {
                    vec![
                        Value::Int(id),
                        Value::Text(c.key()),
                        Value::Text(threshold.to_string()),
                        Value::Int(ms(*due_at)),
                        Value::Int(ms(*at)),
                    ]
                }));
                checks.push((id, next_check(&clocks, &told)));
            }
            let mut script = Script::new(self.engine());
            push_insert(
                &mut script,
                "service_level_events",
                &["incident_id", "measure", "threshold", "due_at", "at"],
                &events,
                " ON CONFLICT DO NOTHING",
            );
            for (id, next) in checks {
                script
                    .statement()
                    .push("UPDATE incident_clocks SET next_check_at = ")
                    .bind(next)
                    .push(" WHERE incident_id = ")
                    .bind(id);
            }
            script.execute(&mut tx).await?;
            tx.commit().await?;
        }
    }

    /// Recomputes the clocks of every incident not closed (after the rules changed), a batch
    /// per transaction. Closed incidents keep the clocks they were measured by.
    pub async fn recompute_open_clocks(&self) -> Result<()> {
        let mut after = 0i64;
        loop {
            let ids: Vec<i64> = sqlx::query(
                "SELECT id FROM incidents WHERE status IN ('open', 'waiting_unit') AND id > $1 ORDER BY id LIMIT 500",
            )
            .bind(after)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
            let Some(last) = ids.last() else {
                return Ok(());
            };
            after = *last;
            let mut tx = self.begin().await?;
            let rules = self.clock_rules(&mut tx).await?;
            for id in ids {
                let incident = incident_in(&mut tx, IncidentId(id)).await?;
                self.refresh_clocks(&mut tx, &incident, &rules).await?;
            }
            tx.commit().await?;
        }
    }
}

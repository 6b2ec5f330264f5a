//! Indicator rollups, kept in step with every change of an incident: each write recomputes the
//! incident's facts and moves its contribution in the monthly counters and duration
//! histograms, so a dashboard reads a few hundred rows per month of its period — never the
//! incidents — whatever the size of the history.

use std::collections::BTreeMap;

use atiende_domain::classification::IncidentType;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{Incident, Status, TimelineEntry};
use atiende_domain::indicators::{
    Counters, Dimension, DurationMetric, IncidentFacts, first_contact_resolution,
};
use atiende_domain::period::month_key;
use sqlx::Row;

use crate::bulk::{Value, push_insert};
use crate::db::{Script, Store, engine_of, ms};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

/// A period's rollup: totals, breakdowns and duration histograms (minutes, ascending).
#[derive(Debug, Clone, Default)]
pub struct PeriodRollup {
    pub totals: Counters,
    pub breakdowns: BTreeMap<&'static str, Vec<(String, Counters)>>,
    pub first_response: Vec<(i64, i64)>,
    pub close: Vec<(i64, i64)>,
}

impl PeriodRollup {
    pub fn breakdown(&self, dimension: Dimension) -> &[(String, Counters)] {
        self.breakdowns
            .get(dimension.code())
            .map_or(&[], Vec::as_slice)
    }
}

fn counters_from_row(r: &sqlx::any::AnyRow) -> Result<Counters> {
    let get = |c: &str| -> Result<i64> { Ok(r.try_get::<Option<i64>, _>(c)?.unwrap_or(0)) };
    Ok(Counters {
        incidents: get("incidents")?,
        closed: get("closed")?,
        fcr: get("fcr")?,
        derived: get("derived")?,
        complaints: get("complaints")?,
        surveys_sent: get("surveys_sent")?,
        surveys_answered: get("surveys_answered")?,
        satisfied: get("satisfied")?,
        score_sum: get("score_sum")?,
        nonconformities: 0,
        resolution_measured: get("resolution_measured")?,
        resolution_in_time: get("resolution_in_time")?,
    })
}

/// The columns [`KeptFacts::from_row`] reads, beside an incident `i`'s row: its survey and
/// its facts as last counted, so that every change's upkeep reads them with the incident.
pub(crate) const KEPT_FACTS_COLUMNS: &str = "(SELECT sent_at FROM surveys WHERE incident_id = i.id) AS kept_survey_sent_at, \
     (SELECT answered_at FROM surveys WHERE incident_id = i.id) AS kept_survey_answered_at, \
     (SELECT overall FROM surveys WHERE incident_id = i.id) AS kept_survey_overall, \
     (SELECT facts FROM incident_facts WHERE incident_id = i.id) AS kept_facts";

/// What an incident's facts are counted from besides its row and timeline, and the facts as
/// last counted (their rollups move by the difference).
pub(crate) struct KeptFacts {
    survey: SurveyState,
    facts: Option<IncidentFacts>,
}

impl KeptFacts {
    pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<KeptFacts> {
        Ok(KeptFacts {
            survey: SurveyState {
                sent: row
                    .try_get::<Option<i64>, _>("kept_survey_sent_at")?
                    .is_some(),
                answered: row
                    .try_get::<Option<i64>, _>("kept_survey_answered_at")?
                    .is_some(),
                overall: row.try_get::<Option<i64>, _>("kept_survey_overall")?,
            },
            facts: row
                .try_get::<Option<String>, _>("kept_facts")?
                .map(|f| serde_json::from_str(&f))
                .transpose()
                .map_err(StoreError::corrupt)?,
        })
    }
}

impl Store {
    /// Recomputes one incident's facts inside the transaction that changed it and moves its
    /// contribution in the rollups; `timeline` holds its status changes and derivations in
    /// the order they were written, `unit` is the last unit it was derived to.
    pub(crate) async fn refresh_facts(
        &self,
        tx: &mut Tx,
        incident: &Incident,
        timeline: &[TimelineEntry],
        unit: Option<i64>,
        kept: KeptFacts,
        resolved_in_time: Option<bool>,
    ) -> Result<()> {
        let facts = self.facts_of(incident, timeline, unit, kept.survey, resolved_in_time);
        if kept.facts.as_ref() == Some(&facts) {
            return Ok(());
        }
        let mut delta = RollupDelta::default();
        delta.add(kept.facts.as_ref(), &facts);
        let mut script = Script::new(engine_of(tx));
        delta.push(&mut script);
        push_facts(&mut script, &[(incident.id, facts)])?;
        script.execute(tx).await
    }

    /// What an incident counts for in the indicators, from its rows: the status changes and
    /// derivations of its timeline, the unit it was last derived to and its survey.
    pub(crate) fn facts_of(
        &self,
        incident: &Incident,
        timeline: &[TimelineEntry],
        unit: Option<i64>,
        survey: SurveyState,
        resolved_in_time: Option<bool>,
    ) -> IncidentFacts {
        let closed = incident.status == Status::Closed;
        let fcr = first_contact_resolution(incident, timeline, self.reopen_window_days);
        let answered = survey.answered;
        let counters = Counters {
            incidents: 1,
            closed: i64::from(closed),
            fcr: i64::from(fcr),
            derived: i64::from(unit.is_some()),
            complaints: i64::from(incident.incident_type == Some(IncidentType::Complaint)),
            surveys_sent: i64::from(survey.sent),
            surveys_answered: i64::from(answered),
            satisfied: i64::from(answered && survey.overall.is_some_and(|o| o >= 4)),
            score_sum: if answered {
                survey.overall.unwrap_or(0)
            } else {
                0
            },
            nonconformities: 0,
            resolution_measured: i64::from(closed && resolved_in_time.is_some()),
            resolution_in_time: i64::from(closed && resolved_in_time == Some(true)),
        };
        let received = ms(incident.received_at);
        IncidentFacts {
            month: month_key(incident.received_at, self.tz),
            channel: incident.channel.code().to_string(),
            user_type: incident.user_type.map(|t| t.code().to_string()),
            incident_type: incident.incident_type.map(|t| t.code().to_string()),
            topic_id: incident.topic_id.map(|t| t.0),
            unit_id: unit,
            agent_id: incident.assigned_to.map(|u| u.0),
            counters,
            first_response_ms: incident.first_response_at.map(|t| ms(t) - received),
            close_ms: incident
                .closed_at
                .filter(|_| closed)
                .map(|t| ms(t) - received),
        }
    }

    /// Moves the rollups by a delta computed outside the product's writes (a bulk load).
    pub(crate) async fn apply_rollup_delta(&self, delta: RollupDelta) -> Result<()> {
        let mut tx = self.begin().await?;
        let mut script = Script::new(self.engine());
        delta.push(&mut script);
        script.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Counts incidents that have no facts yet (a database from before the rollups, or rows
    /// written by an import) and counts them in; returns how many. With `all`, every incident
    /// is recounted from scratch, and so are the queue's counts.
    pub async fn rebuild_indicators(&self, all: bool) -> Result<u64> {
        if all {
            self.recount_queue_tally().await?;
            let mut tx = self.begin().await?;
            for table in ["indicator_rollup", "duration_rollup", "incident_facts"] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        let mut done = 0;
        // Once through the incidents in order, each batch after the last (not from the first
        // again, which reads every incident counted so far at each batch).
        let mut after = 0;
        loop {
            let ids: Vec<i64> = sqlx::query(
                "SELECT i.id FROM incidents i LEFT JOIN incident_facts f ON f.incident_id = i.id \
                 WHERE f.incident_id IS NULL AND i.id > $1 ORDER BY i.id LIMIT 500",
            )
            .bind(after)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
            let Some(last) = ids.last() else {
                return Ok(done);
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
        }
    }

    /// The rollup of the months `first..=last` (`yyyymm`).
    pub async fn period_rollup(
        &self,
        first: i64,
        last: i64,
        breakdowns: bool,
    ) -> Result<PeriodRollup> {
        let mut out = PeriodRollup::default();
        // SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
        let sql = "SELECT dimension, value, CAST(SUM(incidents) AS BIGINT) AS incidents, CAST(SUM(closed) AS BIGINT) AS closed, \
             CAST(SUM(fcr) AS BIGINT) AS fcr, CAST(SUM(derived) AS BIGINT) AS derived, CAST(SUM(complaints) AS BIGINT) AS complaints, \
             CAST(SUM(surveys_sent) AS BIGINT) AS surveys_sent, CAST(SUM(surveys_answered) AS BIGINT) AS surveys_answered, \
             CAST(SUM(satisfied) AS BIGINT) AS satisfied, CAST(SUM(score_sum) AS BIGINT) AS score_sum, \
             CAST(SUM(resolution_measured) AS BIGINT) AS resolution_measured, \
             CAST(SUM(resolution_in_time) AS BIGINT) AS resolution_in_time \
             FROM indicator_rollup WHERE month BETWEEN $1 AND $2 AND ($3 = 1 OR dimension = 'total') \
             GROUP BY dimension, value ORDER BY dimension, value";
        let rows = sqlx::query(sql)
            .bind(first)
            .bind(last)
            .bind(i64::from(breakdowns))
            .fetch_all(self.reader())
            .await?;
        for r in &rows {
            let dim: String = r.try_get("dimension")?;
            let c = counters_from_row(r)?;
            match Dimension::from_code(&dim) {
                Some(Dimension::Total) => out.totals = c,
                Some(d) if !c.is_zero() => out
                    .breakdowns
                    .entry(d.code())
                    .or_default()
                    .push((r.try_get("value")?, c)),
                _ => {}
            }
        }
        out.totals.nonconformities = self.count_nonconformities(first, last).await?;
        // A year holds tens of thousands of buckets: read as a stream, not held as rows.
        let mut rows = sqlx::query(
            "SELECT metric, minutes, CAST(SUM(n) AS BIGINT) AS n FROM duration_rollup WHERE month BETWEEN $1 AND $2 \
             GROUP BY metric, minutes HAVING SUM(n) > 0 ORDER BY metric, minutes",
        )
        .bind(first)
        .bind(last)
        .fetch(self.reader());
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            let metric: String = r.try_get("metric")?;
            let bucket = (r.try_get("minutes")?, r.try_get("n")?);
            match DurationMetric::from_code(&metric) {
                Some(DurationMetric::FirstResponse) => out.first_response.push(bucket),
                Some(DurationMetric::Close) => out.close.push(bucket),
                None => {}
            }
        }
        Ok(out)
    }
}

/// An incident's survey as its facts count it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SurveyState {
    pub sent: bool,
    pub answered: bool,
    pub overall: Option<i64>,
}

/// How the rollups move for one or many incidents' changed facts, merged by key so that a
/// group of writes touches each counter row once. Rows are written in key order, so two
/// transactions never lock the same rollup rows in opposite orders.
#[derive(Debug, Default)]
pub struct RollupDelta {
    counts: BTreeMap<(i64, &'static str, String), Counters>,
    durations: BTreeMap<(&'static str, i64, i64), i64>,
}

impl RollupDelta {
    /// Takes the old facts' contribution out and puts the new one in.
    pub fn add(&mut self, old: Option<&IncidentFacts>, new: &IncidentFacts) {
        for (f, sign) in old.into_iter().map(|o| (o, -1)).chain([(new, 1)]) {
            let c = if sign < 0 {
                f.counters.negated()
            } else {
                f.counters
            };
            for (dim, value) in f.keys() {
                self.counts
                    .entry((f.month, dim.code(), value))
                    .or_default()
                    .add(&c);
            }
            for (metric, minutes) in f.durations() {
                *self
                    .durations
                    .entry((metric.code(), f.month, minutes))
                    .or_default() += sign;
            }
        }
    }

    /// Appends the rollup writes to a script.
    pub(crate) fn push(self, script: &mut Script) {
        let counts: Vec<Vec<Value>> = self
            .counts
            .into_iter()
            .filter(|(_, c)| !c.is_zero())
            .map(|((month, dim, value), c)| {
                vec![
                    Value::Int(month),
                    Value::Text(dim.to_string()),
                    Value::Text(value),
                    Value::Int(c.incidents),
                    Value::Int(c.closed),
                    Value::Int(c.fcr),
                    Value::Int(c.derived),
                    Value::Int(c.complaints),
                    Value::Int(c.surveys_sent),
                    Value::Int(c.surveys_answered),
                    Value::Int(c.satisfied),
                    Value::Int(c.score_sum),
                    Value::Int(c.resolution_measured),
                    Value::Int(c.resolution_in_time),
                ]
            })
            .collect();
        push_insert(
            script,
            "indicator_rollup",
            &[
                "month",
                "dimension",
                "value",
                "incidents",
                "closed",
                "fcr",
                "derived",
                "complaints",
                "surveys_sent",
                "surveys_answered",
                "satisfied",
                "score_sum",
                "resolution_measured",
                "resolution_in_time",
            ],
            &counts,
            " ON CONFLICT (month, dimension, value) DO UPDATE SET incidents = indicator_rollup.incidents + excluded.incidents, \
             closed = indicator_rollup.closed + excluded.closed, fcr = indicator_rollup.fcr + excluded.fcr, \
             derived = indicator_rollup.derived + excluded.derived, complaints = indicator_rollup.complaints + excluded.complaints, \
             surveys_sent = indicator_rollup.surveys_sent + excluded.surveys_sent, \
             surveys_answered = indicator_rollup.surveys_answered + excluded.surveys_answered, \
             satisfied = indicator_rollup.satisfied + excluded.satisfied, score_sum = indicator_rollup.score_sum + excluded.score_sum, \
             resolution_measured = indicator_rollup.resolution_measured + excluded.resolution_measured, \
             resolution_in_time = indicator_rollup.resolution_in_time + excluded.resolution_in_time",
        );
        let durations: Vec<Vec<Value>> = self
            .durations
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((metric, month, minutes), n)| {
                vec![
                    Value::Text(metric.to_string()),
                    Value::Int(month),
                    Value::Int(minutes),
                    Value::Int(n),
                ]
            })
            .collect();
        push_insert(
            script,
            "duration_rollup",
            &["metric", "month", "minutes", "n"],
            &durations,
            " ON CONFLICT (month, metric, minutes) DO UPDATE SET n = duration_rollup.n + excluded.n",
        );
    }
}

/// Stores incidents' current facts (what the next change will take out of the rollups), as
/// part of a script.
pub(crate) fn push_facts(script: &mut Script, facts: &[(IncidentId, IncidentFacts)]) -> Result<()> {
    let rows = facts
        .iter()
        .map(|(id, f)| {
            Ok(vec![
                Value::Int(id.0),
                Value::Int(f.month),
                Value::Text(serde_json::to_string(f).map_err(StoreError::corrupt)?),
            ])
        })
        .collect::<Result<Vec<_>>>()?;
    push_insert(
        script,
        "incident_facts",
        &["incident_id", "month", "facts"],
        &rows,
        " ON CONFLICT (incident_id) DO UPDATE SET month = excluded.month, facts = excluded.facts",
    );
    Ok(())
}

//! Suggestions in storage: the model trained from the CAP's closed, classified incidents (by the
//! worker, once a day, [`Store::train_suggestions`]), what it suggested for each incident the
//! first time an agent opened it, and whether the agent's classification then confirmed or
//! corrected it ([`record_outcome`], run by every classification: the console's, the API's, a
//! macro's or a bulk action's).
//!
//! The model holds word stems seen at least twice and counts, never a message. A suppression
//! of personal data drops it ([`forget_model`]), and the next round retrains without them.

use std::sync::Arc;

use atiende_domain::classification::IncidentType;
use atiende_domain::ids::{IncidentId, TopicId};
use atiende_domain::incident::Incident;
use atiende_domain::suggestion::{Example, Model, ModelAccuracy, Outcome};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::db::{Store, from_ms, ms, now};
use crate::error::Result;
use crate::tx::Tx;

/// The newest incidents a model learns from: enough for every topic's words, and a day's
/// retraining stays within seconds.
pub const TRAINING_LIMIT: i64 = 50_000;

/// The lease that makes one instance a day retrain.
pub const LEASE: &str = "suggestions";

/// A trained model as the quality office sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelInfo {
    pub id: i64,
    pub trained_at: DateTime<Utc>,
    /// Closed incidents it learned from.
    pub examples: i64,
    /// On the fifth of that history held out of training.
    pub accuracy: ModelAccuracy,
}

/// What was suggested for one incident: the first guesses, each only when likely enough to show.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentSuggestion {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub topic_id: Option<TopicId>,
    pub topic_percent: Option<i64>,
    pub incident_type: Option<IncidentType>,
    pub type_percent: Option<i64>,
    pub critical_percent: i64,
    pub looks_critical: bool,
}

impl IncidentSuggestion {
    /// Whether it suggests anything at all.
    pub fn is_empty(&self) -> bool {
        self.topic_id.is_none() && self.incident_type.is_none() && !self.looks_critical
    }
}

/// Confirmed and corrected suggestions for one question.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutcomeCounts {
    pub confirmed: i64,
    pub corrected: i64,
}

/// The model in use and how agents received its suggestions.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuggestionReport {
    pub model: Option<ModelInfo>,
    pub topic: OutcomeCounts,
    pub incident_type: OutcomeCounts,
    pub critical: OutcomeCounts,
}

fn percent(p: f64) -> i64 {
    (p * 100.0).round() as i64
}

impl Store {
    /// Learns a new model from the newest closed incidents and makes it the one in use (older
    /// ones are dropped). Returns it, or none when there is no closed incident yet.
    pub async fn train_suggestions(&self, at: DateTime<Utc>) -> Result<Option<ModelInfo>> {
        // Each row becomes its example as it arrives: the rows kept until the last one came
        // doubled the memory the training takes.
        let mut rows = sqlx::query(
            "SELECT i.subject, i.topic_id, i.incident_type, i.critical, \
             (SELECT e.body FROM timeline_entries e WHERE e.incident_id = i.id \
              AND e.kind = 'inbound_message' ORDER BY e.id LIMIT 1) AS words \
             FROM incidents i WHERE i.status = 'closed' ORDER BY i.id DESC LIMIT $1",
        )
        .bind(TRAINING_LIMIT)
        .fetch(self.reader());
        let mut history = Vec::new();
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            let subject: String = r.try_get("subject")?;
            let words: Option<String> = r.try_get("words")?;
            history.push(Example {
                text: format!("{subject}\n{}", words.unwrap_or_default()),
                topic: r
                    .try_get::<Option<i64>, _>("topic_id")?
                    .map(|t| t.to_string()),
                incident_type: r.try_get("incident_type")?,
                critical: r.try_get::<i64, _>("critical")? != 0,
            });
        }
        drop(rows);
        if history.is_empty() {
            return Ok(None);
        }
        // Oldest first, so that the held-out fifth spreads over the whole period.
        history.reverse();
        let model = tokio::task::spawn_blocking(move || Model::train(&history))
            .await
            .map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        let examples = model.topic.documents().max(model.critical.documents()) as i64;
        let json = serde_json::to_string(&model)
            .map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO suggestion_models (trained_at, examples, model) VALUES ($1, $2, $3) \
             RETURNING id",
        )
        .bind(ms(at))
        .bind(examples)
        .bind(json)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        sqlx::query("DELETE FROM suggestion_models WHERE id < $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ModelInfo {
            id,
            trained_at: at,
            examples,
            accuracy: model.accuracy,
        }))
    }

    /// The model in use, parsed once per retraining.
    async fn suggestion_model(&self) -> Result<Option<(i64, Arc<Model>)>> {
        let newest: Option<i64> =
            sqlx::query("SELECT id FROM suggestion_models ORDER BY id DESC LIMIT 1")
                .fetch_optional(self.reader())
                .await?
                .map(|r| r.try_get("id"))
                .transpose()?;
        let Some(newest) = newest else {
            return Ok(None);
        };
        if let Some((id, model)) = self.suggestion_model.lock().ok().and_then(|c| c.clone())
            && id == newest
        {
            return Ok(Some((id, model)));
        }
        let Some(row) = sqlx::query("SELECT model FROM suggestion_models WHERE id = $1")
            .bind(newest)
            .fetch_optional(self.reader())
            .await?
        else {
            return Ok(None);
        };
        let json: String = row.try_get("model")?;
        let model: Model = serde_json::from_str(&json)
            .map_err(|e| crate::error::StoreError::Corrupt(e.to_string()))?;
        let loaded = (newest, Arc::new(model));
        if let Ok(mut cache) = self.suggestion_model.lock() {
            *cache = Some(loaded.clone());
        }
        Ok(Some(loaded))
    }

    /// What the model suggests for an incident: made the first time it is asked (an agent opens
    /// the incident) and kept, so that the agent's classification is measured against what they
    /// were shown. None without a model; none for an incident already classified before.
    pub async fn suggestion_for(&self, incident: &Incident) -> Result<Option<IncidentSuggestion>> {
        if let Some(kept) = self.kept_suggestion(incident.id).await? {
            return Ok(Some(kept));
        }
        if incident.is_closed() || incident.incident_type.is_some() {
            return Ok(None);
        }
        let Some((model_id, model)) = self.suggestion_model().await? else {
            return Ok(None);
        };
        let words: Option<String> = sqlx::query(
            "SELECT body FROM timeline_entries WHERE incident_id = $1 \
             AND kind = 'inbound_message' ORDER BY id LIMIT 1",
        )
        .bind(incident.id.0)
        .fetch_optional(self.reader())
        .await?
        .map(|r| r.try_get("body"))
        .transpose()?;
        let text = format!("{}\n{}", incident.subject, words.unwrap_or_default());
        let s = model.suggest(&text);
        let topic = s
            .topic()
            .and_then(|g| Some((TopicId(g.label.parse().ok()?), percent(g.probability))));
        let kind = s
            .incident_type()
            .and_then(|g| Some((IncidentType::from_code(&g.label)?, percent(g.probability))));
        let suggestion = IncidentSuggestion {
            topic_id: topic.map(|t| t.0),
            topic_percent: topic.map(|t| t.1),
            incident_type: kind.map(|k| k.0),
            type_percent: kind.map(|k| k.1),
            critical_percent: percent(s.critical),
            looks_critical: s.looks_critical(),
        };
        sqlx::query(
            "INSERT INTO incident_suggestions (incident_id, model_id, topic_id, topic_percent, \
             incident_type, type_percent, critical_percent, suggested_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (incident_id) DO NOTHING",
        )
        .bind(incident.id.0)
        .bind(model_id)
        .bind(suggestion.topic_id.map(|t| t.0))
        .bind(suggestion.topic_percent)
        .bind(suggestion.incident_type.map(|t| t.code()))
        .bind(suggestion.type_percent)
        .bind(suggestion.critical_percent)
        .bind(ms(now()))
        .execute(self.writer())
        .await?;
        // Another instance may have made it first: theirs is the one kept.
        self.kept_suggestion(incident.id).await
    }

    async fn kept_suggestion(&self, id: IncidentId) -> Result<Option<IncidentSuggestion>> {
        let Some(r) = sqlx::query(
            "SELECT topic_id, topic_percent, incident_type, type_percent, critical_percent \
             FROM incident_suggestions WHERE incident_id = $1",
        )
        .bind(id.0)
        .fetch_optional(self.writer())
        .await?
        else {
            return Ok(None);
        };
        let critical_percent: i64 = r.try_get("critical_percent")?;
        Ok(Some(IncidentSuggestion {
            topic_id: r.try_get::<Option<i64>, _>("topic_id")?.map(TopicId),
            topic_percent: r.try_get("topic_percent")?,
            incident_type: r
                .try_get::<Option<String>, _>("incident_type")?
                .and_then(|c| IncidentType::from_code(&c)),
            type_percent: r.try_get("type_percent")?,
            critical_percent,
            looks_critical: critical_percent >= percent(atiende_domain::suggestion::LOOKS_CRITICAL),
        }))
    }

    /// The model in use and how its suggestions were received by classifications made from
    /// `from` until `to`.
    pub async fn suggestion_report(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<SuggestionReport> {
        // The model in use, parsed once per retraining (its accuracy is part of it).
        let model = match self.suggestion_model().await? {
            Some((id, model)) => {
                sqlx::query("SELECT trained_at, examples FROM suggestion_models WHERE id = $1")
                    .bind(id)
                    .fetch_optional(self.reader())
                    .await?
                    .map(|r| {
                        Ok::<_, crate::error::StoreError>(ModelInfo {
                            id,
                            trained_at: from_ms(r.try_get("trained_at")?)?,
                            examples: r.try_get("examples")?,
                            accuracy: model.accuracy,
                        })
                    })
                    .transpose()?
            }
            None => None,
        };
        let count = |column: &'static str| async move {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {column} AS outcome, COUNT(*) AS n FROM incident_suggestions \
                 WHERE classified_at >= $1 AND classified_at < $2 AND {column} IS NOT NULL \
                 GROUP BY {column}"
            )))
            .bind(ms(from))
            .bind(ms(to))
            .fetch_all(self.reader())
            .await?;
            let mut counts = OutcomeCounts::default();
            for r in rows {
                let n: i64 = r.try_get("n")?;
                match r.try_get::<String, _>("outcome")?.as_str() {
                    "confirmed" => counts.confirmed += n,
                    _ => counts.corrected += n,
                }
            }
            Ok::<_, crate::error::StoreError>(counts)
        };
        Ok(SuggestionReport {
            model,
            topic: count("topic_outcome").await?,
            incident_type: count("type_outcome").await?,
            critical: count("critical_outcome").await?,
        })
    }
}

/// Records, at an incident's first classification after a suggestion, whether the agent kept
/// or corrected each suggested label. Later classifications change nothing: the first one is
/// what the suggestion helped with.
pub(crate) async fn record_outcome(
    tx: &mut Tx,
    incident: &Incident,
    at: DateTime<Utc>,
) -> Result<()> {
    if incident.incident_type.is_none() {
        return Ok(());
    }
    let chosen_topic = incident.topic_id.map(|t| t.0);
    let chosen_type = incident.incident_type.map(|t| t.code());
    let critical = i64::from(incident.critical);
    let [confirmed, corrected] = [Outcome::Confirmed.code(), Outcome::Corrected.code()];
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE incident_suggestions SET \
         topic_outcome = CASE WHEN topic_id IS NULL THEN NULL WHEN topic_id = $2 THEN '{confirmed}' ELSE '{corrected}' END, \
         type_outcome = CASE WHEN incident_type IS NULL THEN NULL WHEN incident_type = $3 THEN '{confirmed}' ELSE '{corrected}' END, \
         critical_outcome = CASE WHEN critical_percent >= $4 AND $5 = 1 THEN '{confirmed}' \
           WHEN critical_percent >= $4 OR $5 = 1 THEN '{corrected}' ELSE NULL END, \
         classified_at = $6 \
         WHERE incident_id = $1 AND classified_at IS NULL"
    )))
    .bind(incident.id.0)
    .bind(chosen_topic)
    .bind(chosen_type)
    .bind(percent(atiende_domain::suggestion::LOOKS_CRITICAL))
    .bind(critical)
    .bind(ms(at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops the model (a person's data was suppressed: their words may be among its counts) and
/// its lease, so that the worker's next round retrains without them.
pub(crate) async fn forget_model(tx: &mut Tx) -> Result<()> {
    sqlx::query("DELETE FROM suggestion_models")
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM leases WHERE name = $1")
        .bind(LEASE)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

//! Retention: once a category of personal data has outlived the period the institution set,
//! it is anonymised — blocked people suppressed, closed incidents' free text removed,
//! attachments deleted, written survey answers scrubbed. A dry run counts first; the worker
//! applies it once a day (claimed, so one instance does it), in batches.

use atiende_domain::ids::{ContactId, IncidentId};
use atiende_domain::privacy::{DataAction, RetentionPolicy};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Suppression, id_list, log_access_in, scrub_survey_comments, suppress_incident_texts};
use crate::Actor;
use crate::audit::{Change, record};
use crate::db::{Store, ms};
use crate::error::Result;
use crate::tx::Tx;

/// What retention anonymises (a dry run) or anonymised (a run), by category.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionReport {
    pub blocked_contacts: u64,
    pub incidents: u64,
    pub attachments: u64,
    pub surveys: u64,
}

impl RetentionReport {
    pub fn is_empty(&self) -> bool {
        *self == RetentionReport::default()
    }
}

/// Records handled per category in one run; the next run takes the rest.
const BATCH: i64 = 500;

const BLOCKED: &str = "FROM contacts WHERE blocked_at IS NOT NULL AND anonymised_at IS NULL \
                       AND merged_into IS NULL AND blocked_at < $1";
const INCIDENTS: &str =
    "FROM incidents WHERE status = 'closed' AND closed_at < $1 AND text_suppressed_at IS NULL";
const ATTACHMENTS: &str = "FROM attachments WHERE incident_id IN \
                           (SELECT id FROM incidents WHERE status = 'closed' AND closed_at < $1)";
const SURVEYS: &str = "FROM surveys WHERE answered_at < $1 AND answers IS NOT NULL \
                       AND comments_suppressed_at IS NULL";

async fn count(tx: &mut Tx, from: &str, cutoff: Option<DateTime<Utc>>) -> Result<u64> {
    let Some(cutoff) = cutoff else { return Ok(0) };
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n {from}")))
        .bind(ms(cutoff))
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    Ok(n as u64)
}

async fn ids(tx: &mut Tx, from: &str, cutoff: Option<DateTime<Utc>>) -> Result<Vec<i64>> {
    let Some(cutoff) = cutoff else {
        return Ok(vec![]);
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id {from} ORDER BY id LIMIT {BATCH}"
    )))
    .bind(ms(cutoff))
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| Ok(r.try_get("id")?))
    .collect()
}

impl Store {
    /// What a run would anonymise now (nothing is changed).
    pub async fn retention_due(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport> {
        let cut = |d| RetentionPolicy::cutoff(d, now);
        let mut tx = self.begin().await?;
        let report = RetentionReport {
            blocked_contacts: count(&mut tx, BLOCKED, cut(policy.blocked_days)).await?,
            incidents: count(&mut tx, INCIDENTS, cut(policy.closed_incident_days)).await?,
            attachments: count(&mut tx, ATTACHMENTS, cut(policy.attachment_days)).await?,
            surveys: count(&mut tx, SURVEYS, cut(policy.survey_comment_days)).await?,
        };
        tx.rollback().await?;
        Ok(report)
    }

    /// Anonymises one batch of each category whose period has run out, in one transaction.
    pub async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport> {
        let cut = |d| RetentionPolicy::cutoff(d, now);
        let mut report = RetentionReport::default();
        let mut tx = self.begin().await?;
        for id in ids(&mut tx, BLOCKED, cut(policy.blocked_days)).await? {
            let done = self.suppress_in(&mut tx, ContactId(id)).await?;
            log_access_in(
                &mut *tx,
                Actor::System,
                ContactId(id),
                DataAction::Anonymise,
                "retention",
            )
            .await?;
            let change = Change {
                entity: atiende_domain::audit::EntityKind::Contact,
                entity_id: id.to_string(),
                action: "contact.anonymise",
                before: None,
                after: serde_json::to_value(&done).ok(),
            };
            record(&mut tx, Actor::System, change).await?;
            report.blocked_contacts += 1;
        }
        // Surveys first: an incident's suppression below scrubs its survey too, and the
        // report counts each survey in its own category.
        let surveys = ids(&mut tx, SURVEYS, cut(policy.survey_comment_days)).await?;
        if !surveys.is_empty() {
            report.surveys =
                scrub_survey_comments(&mut tx, &format!("id IN {}", id_list(&surveys))).await?;
        }
        let incidents = ids(&mut tx, INCIDENTS, cut(policy.closed_incident_days)).await?;
        let mut texts = Suppression::default();
        suppress_incident_texts(&mut tx, &incidents, &mut texts).await?;
        for i in &incidents {
            tx.touch(IncidentId(*i));
        }
        report.incidents = incidents.len() as u64;
        if let Some(cutoff) = cut(policy.attachment_days) {
            report.attachments = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE {ATTACHMENTS}")))
                .bind(ms(cutoff))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        if !report.is_empty() {
            self.after_suppression().await?;
            tracing::info!(
                blocked_contacts = report.blocked_contacts,
                incidents = report.incidents,
                attachments = report.attachments,
                surveys = report.surveys,
                "retention applied"
            );
        }
        Ok(report)
    }

    /// Applies retention batch after batch until nothing is left; the total.
    pub async fn apply_retention_all(
        &self,
        policy: &RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport> {
        let mut total = RetentionReport::default();
        loop {
            let r = self.apply_retention(policy, now).await?;
            if r.is_empty() {
                return Ok(total);
            }
            total.blocked_contacts += r.blocked_contacts;
            total.incidents += r.incidents;
            total.attachments += r.attachments;
            total.surveys += r.surveys;
        }
    }

    /// Claims today's retention run for `owner`; false when another instance (or an earlier
    /// round of this one) already took it. The lease runs to the institution's next midnight.
    pub async fn claim_retention_run(&self, owner: &str, now: DateTime<Utc>) -> Result<bool> {
        let next_day = now.with_timezone(&self.tz).date_naive() + chrono::Days::new(1);
        let until = atiende_domain::calendar::day_start(next_day, self.tz);
        self.take_lease("retention", owner, now, until).await
    }
}

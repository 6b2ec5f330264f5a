//! The outbox: work for background jobs (surveys, sends), written in the same transaction as the
//! change that causes it so that it is never lost nor sent for a change that rolled back.

use atiende_domain::ids::IncidentId;
use serde::Serialize;
use sqlx::Row;

use crate::db::{Store, from_ms, ms};
use crate::error::Result;
use crate::tx::Tx;

/// Kinds of outbox work.
pub mod kind {
    /// An incident closed: its satisfaction survey is due (procedure step 13).
    pub const SURVEY_DUE: &str = "survey_due";
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub incident_id: Option<IncidentId>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub run_after: chrono::DateTime<chrono::Utc>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

pub async fn enqueue(
    tx: &mut Tx,
    kind: &str,
    incident: Option<IncidentId>,
    payload: serde_json::Value,
) -> Result<i64> {
    let now = ms(crate::db::now());
    let id = sqlx::query(
        "INSERT INTO outbox (kind, incident_id, payload, status, attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, $3, 'pending', 0, $4, $4, $4) RETURNING id",
    )
    .bind(kind.to_string())
    .bind(incident.map(|i| i.0))
    .bind(payload.to_string())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    Ok(id)
}

impl Store {
    /// Outbox entries, newest first, optionally of one incident.
    pub async fn outbox(
        &self,
        incident: Option<IncidentId>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE ($1 = 0 OR incident_id = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(incident.map_or(0, |i| i.0))
        .bind(limit.clamp(1, 500))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxItem {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    incident_id: r.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
                    payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)
                        .unwrap_or_default(),
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    run_after: from_ms(r.try_get("run_after")?)?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                })
            })
            .collect()
    }
}

/// Figures for `/metrics`.
pub struct Counts {
    pub incidents_by_status: Vec<(String, i64)>,
    pub outbox_pending: i64,
}

impl Store {
    pub async fn counts(&self) -> Result<Counts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM incidents GROUP BY status ORDER BY status",
        )
        .fetch_all(self.reader())
        .await?;
        let incidents_by_status = rows
            .iter()
            .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
            .collect::<Result<Vec<_>>>()?;
        let outbox_pending =
            sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
                .fetch_one(self.reader())
                .await?
                .try_get("n")?;
        Ok(Counts {
            incidents_by_status,
            outbox_pending,
        })
    }
}

/// After this many attempts a message is marked failed and waits for a person.
pub const MAX_ATTEMPTS: i64 = 8;

/// Claims due work of one kind. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several instances
/// claim at once without taking the same row; on SQLite the single writer does the same. A
/// claim that is not completed before `lease_secs` (a crashed worker) becomes claimable again.
const CLAIM_POSTGRES: &str = "UPDATE outbox SET status = 'sending', locked_until = $1, attempts = attempts + 1, updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $3 AND ((status = 'pending' AND run_after <= $2) \
     OR (status = 'sending' AND locked_until < $2)) ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING *";
const CLAIM_SQLITE: &str = "UPDATE outbox SET status = 'sending', locked_until = $1, attempts = attempts + 1, updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE kind = $3 AND ((status = 'pending' AND run_after <= $2) \
     OR (status = 'sending' AND locked_until < $2)) ORDER BY id LIMIT $4) RETURNING *";

fn item_from_row(r: &sqlx::any::AnyRow) -> Result<OutboxItem> {
    Ok(OutboxItem {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        incident_id: r.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?).unwrap_or_default(),
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        run_after: from_ms(r.try_get("run_after")?)?,
        created_at: from_ms(r.try_get("created_at")?)?,
    })
}

impl Store {
    pub async fn claim_outbox(
        &self,
        kind: &str,
        limit: i64,
        lease_secs: i64,
    ) -> Result<Vec<OutboxItem>> {
        let sql = match self.engine() {
            crate::Engine::Postgres => CLAIM_POSTGRES,
            crate::Engine::Sqlite => CLAIM_SQLITE,
        };
        let now = ms(crate::db::now());
        let rows = sqlx::query(sql)
            .bind(now + lease_secs * 1000)
            .bind(now)
            .bind(kind.to_string())
            .bind(limit)
            .fetch_all(self.writer())
            .await?;
        let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|i| i.id);
        Ok(items)
    }

    pub async fn complete_outbox(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'done', locked_until = NULL, last_error = NULL, updated_at = $1 WHERE id = $2")
            .bind(ms(crate::db::now()))
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Marks claimed work failed for good (the other side refused it): it waits for a person.
    pub async fn fail_outbox(&self, id: i64, error: &str) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'failed', locked_until = NULL, last_error = $1, updated_at = $2 WHERE id = $3")
            .bind(error.chars().take(1000).collect::<String>())
            .bind(ms(crate::db::now()))
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Puts claimed work back until `until` without counting the attempt (work that is not due
    /// yet, such as a survey waiting for its delay after closing).
    pub async fn defer_outbox(
        &self,
        item: &OutboxItem,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE outbox SET status = 'pending', run_after = $1, locked_until = NULL, attempts = attempts - 1, updated_at = $2 WHERE id = $3")
            .bind(ms(until))
            .bind(ms(crate::db::now()))
            .bind(item.id)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Puts claimed work back with a growing delay (30 s, 1 min, 2 min … up to an hour), or marks
    /// it failed after [`MAX_ATTEMPTS`].
    pub async fn retry_outbox(&self, item: &OutboxItem, error: &str) -> Result<()> {
        let delay_secs = (30i64 << (item.attempts - 1).clamp(0, 7)).min(3600);
        let status = if item.attempts >= MAX_ATTEMPTS {
            "failed"
        } else {
            "pending"
        };
        let now = ms(crate::db::now());
        sqlx::query("UPDATE outbox SET status = $1, run_after = $2, locked_until = NULL, last_error = $3, updated_at = $4 WHERE id = $5")
            .bind(status)
            .bind(now + delay_secs * 1000)
            .bind(error.chars().take(1000).collect::<String>())
            .bind(now)
            .bind(item.id)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

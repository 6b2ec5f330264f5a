//! The outside services' health as the worker finds it when it reads a mailbox, sends an
//! email or a chat message: the last success, since when a run of failures has lasted, how many
//! and the last error. Administración and `/metrics` read it; the scheduled checks tell the
//! administrators once about a run that outlasts the configured time.

use atiende_domain::external_service::{ExternalService, ExternalServiceKind, worth_telling};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::db::{Store, ms, now, opt_from_ms};
use crate::error::{Result, StoreError};

/// A success is written at most this often for a service that works (every send would be a
/// write otherwise); a change from failing to working is written at once.
const OK_WRITTEN_EVERY_MS: i64 = 60_000;

/// One outside service as administrators see it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExternalServiceHealth {
    pub service: String,
    pub kind: ExternalServiceKind,
    pub name: String,
    /// The last time it worked (within a minute).
    pub ok_at: Option<DateTime<Utc>>,
    /// Since when it has been failing without a success in between; none when it works.
    pub failing_since: Option<DateTime<Utc>>,
    /// Failures in a row.
    pub failures: i64,
    pub last_error: Option<String>,
    /// When the administrators were told of this run of failures.
    pub noticed_at: Option<DateTime<Utc>>,
}

impl ExternalServiceHealth {
    pub fn working(&self) -> bool {
        self.failing_since.is_none()
    }
}

fn health_from_row(r: &sqlx::any::AnyRow) -> Result<ExternalServiceHealth> {
    let kind: String = r.try_get("kind")?;
    Ok(ExternalServiceHealth {
        service: r.try_get("service")?,
        kind: ExternalServiceKind::from_code(&kind).ok_or_else(|| StoreError::corrupt(kind))?,
        name: r.try_get("name")?,
        ok_at: opt_from_ms(r.try_get("ok_at")?)?,
        failing_since: opt_from_ms(r.try_get("failing_since")?)?,
        failures: r.try_get("failures")?,
        last_error: r.try_get("last_error")?,
        noticed_at: opt_from_ms(r.try_get("noticed_at")?)?,
    })
}

impl Store {
    /// What the worker found when it used an outside service: it worked (`None`), or failed
    /// with this error. Health is what the worker tells, never a reason to fail its work, so a
    /// write that fails here is logged and left.
    pub async fn record_service(&self, service: &ExternalService, failure: Option<&str>) {
        let written = match failure {
            None => self.record_service_ok(service).await,
            Some(error) => self.record_service_failure(service, error).await,
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, service = %service.key, "an outside service's health not recorded");
        }
    }

    /// The service worked: a run of failures ends.
    async fn record_service_ok(&self, service: &ExternalService) -> Result<()> {
        let at = ms(now());
        sqlx::query(
            "INSERT INTO external_services (service, kind, name, ok_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (service) DO UPDATE SET name = excluded.name, ok_at = excluded.ok_at, \
             failing_since = NULL, failures = 0, last_error = NULL, noticed_at = NULL \
             WHERE external_services.failing_since IS NOT NULL OR external_services.ok_at IS NULL \
             OR external_services.ok_at < $5 OR external_services.name <> excluded.name",
        )
        .bind(&service.key)
        .bind(service.kind.code())
        .bind(&service.name)
        .bind(at)
        .bind(at - OK_WRITTEN_EVERY_MS)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The service failed: a run of failures begins, or goes on.
    async fn record_service_failure(&self, service: &ExternalService, error: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO external_services (service, kind, name, failing_since, failures, last_error) \
             VALUES ($1, $2, $3, $4, 1, $5) \
             ON CONFLICT (service) DO UPDATE SET name = excluded.name, \
             failing_since = COALESCE(external_services.failing_since, excluded.failing_since), \
             failures = external_services.failures + 1, last_error = excluded.last_error",
        )
        .bind(&service.key)
        .bind(service.kind.code())
        .bind(&service.name)
        .bind(ms(now()))
        .bind(error.chars().take(500).collect::<String>())
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Every outside service met so far, failing ones first.
    pub async fn external_services(&self) -> Result<Vec<ExternalServiceHealth>> {
        sqlx::query(
            "SELECT * FROM external_services \
             ORDER BY CASE WHEN failing_since IS NULL THEN 1 ELSE 0 END, kind, name",
        )
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(health_from_row)
        .collect()
    }

    /// Tells the administrators of each run of failures that has lasted `alert_after`, once
    /// per run, whichever instance gets there first. Returns how many runs were told.
    pub async fn tell_failing_services(&self, alert_after: chrono::Duration) -> Result<usize> {
        let at = now();
        let mut told = 0;
        for s in self.external_services().await? {
            let Some(since) = s.failing_since else {
                continue;
            };
            if !worth_telling(since, s.noticed_at.is_some(), alert_after, at) {
                continue;
            }
            let mut tx = self.begin().await?;
            let claimed = sqlx::query(
                "UPDATE external_services SET noticed_at = $1 \
                 WHERE service = $2 AND noticed_at IS NULL AND failing_since = $3",
            )
            .bind(ms(at))
            .bind(&s.service)
            .bind(ms(since))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 1 {
                crate::notifications::external_service_failing(&mut tx, &s.service).await?;
                told += 1;
            }
            tx.commit().await?;
        }
        Ok(told)
    }
}

//! The nonconformity register (PNC): automatic detection by the criteria in force (run by the
//! worker; the unique key per incident and criterion makes a second run, or a second instance,
//! harmless), entries added by hand, and their treatment up to the effectiveness check.

use atiende_domain::audit::EntityKind;
use atiende_domain::classification::IncidentType;
use atiende_domain::ids::{IncidentId, UserId};
use atiende_domain::incident::{EntryKind, Status};
use atiende_domain::nonconformity::{Criteria, Criterion, NcStatus, NonconformityInput};
use atiende_domain::period::month_key;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record, snapshot};
use crate::db::{Store, from_ms, ms, now, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::incidents::rows::entry_from_row;
use crate::tx::Tx;
use atiende_domain::webhook::EventType;

/// How far back detection looks: older incidents were judged when they were recent.
const LOOKBACK_DAYS: i64 = 400;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Nonconformity {
    pub id: i64,
    pub incident_id: Option<IncidentId>,
    pub folio: Option<String>,
    pub criterion: Criterion,
    pub detected_at: DateTime<Utc>,
    pub description: String,
    pub disposition: String,
    pub corrective_action: String,
    pub responsible: String,
    /// The person of the console who answers for it.
    pub responsible_user: Option<UserId>,
    pub due_date: Option<NaiveDate>,
    pub effectiveness: String,
    pub status: NcStatus,
    pub updated_at: DateTime<Utc>,
}

fn nc_from_row(r: &AnyRow) -> Result<Nonconformity> {
    let criterion: String = r.try_get("criterion")?;
    let status: String = r.try_get("status")?;
    Ok(Nonconformity {
        id: r.try_get("id")?,
        incident_id: r.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
        folio: r.try_get("folio")?,
        criterion: Criterion::from_code(&criterion)
            .ok_or_else(|| StoreError::corrupt(criterion))?,
        detected_at: from_ms(r.try_get("detected_at")?)?,
        description: r.try_get("description")?,
        disposition: r.try_get("disposition")?,
        corrective_action: r.try_get("corrective_action")?,
        responsible: r.try_get("responsible")?,
        responsible_user: r
            .try_get::<Option<i64>, _>("responsible_user_id")?
            .map(UserId),
        due_date: r
            .try_get::<Option<String>, _>("due_date")?
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()),
        effectiveness: r.try_get("effectiveness")?,
        status: NcStatus::from_code(&status).ok_or_else(|| StoreError::corrupt(status))?,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

/// Register entries with their incident's folio; the argument is the rest of the query.
macro_rules! select_nc {
    ($rest:literal) => {
        concat!(
            "SELECT n.*, i.folio FROM nonconformities n LEFT JOIN incidents i ON i.id = n.incident_id ",
            $rest
        )
    };
}

/// Filters for the register.
#[derive(Debug, Clone, Default)]
pub struct NcFilter {
    pub status: Option<NcStatus>,
    /// Detected in these months (`yyyymm`, inclusive).
    pub months: Option<(i64, i64)>,
    /// The page after this entry (newest first).
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Registers an automatic finding once per incident and criterion. Returns whether it was
    /// new.
    async fn register_finding(
        &self,
        tx: &mut Tx,
        incident: i64,
        criterion: Criterion,
        description: String,
    ) -> Result<bool> {
        let t = now();
        let n = sqlx::query(
            "INSERT INTO nonconformities (incident_id, criterion, detected_at, detected_month, description, status, updated_at) \
             SELECT $1, $2, $3, $4, $5, 'open', $3 WHERE NOT EXISTS \
             (SELECT 1 FROM nonconformities WHERE incident_id = $1 AND criterion = $2)",
        )
        .bind(incident)
        .bind(criterion.code())
        .bind(ms(t))
        .bind(month_key(t, self.tz))
        .bind(description)
        .execute(&mut **tx)
        .await;
        match n {
            Ok(r) if r.rows_affected() == 1 => {
                let data = serde_json::json!({
                    "incident_id": incident,
                    "criterion": criterion.code(),
                    "detected_at": t,
                });
                crate::webhooks::emit(
                    tx,
                    EventType::NonconformityRegistered,
                    Some(IncidentId(incident)),
                    data,
                )
                .await?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            // Another instance registered it at the same moment.
            Err(e) if StoreError::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Looks for incidents that meet an enabled criterion and registers each once. Returns how
    /// many were registered.
    pub async fn detect_nonconformities(&self, criteria: &Criteria) -> Result<usize> {
        let t = now();
        let since = ms(t - Duration::days(LOOKBACK_DAYS));
        let mut found: Vec<(i64, Criterion, String)> = Vec::new();
        // `criterion <> 'manual'` repeats the condition of the partial index on findings:
        // SQLite uses a partial index only where the query states its condition, and without
        // it every candidate scanned the whole register (24 s at a million incidents).
        let missing = |c: Criterion| {
            format!(
                "NOT EXISTS (SELECT 1 FROM nonconformities n WHERE n.incident_id = i.id AND n.criterion = '{}' \
                 AND n.criterion <> 'manual')",
                c.code()
            )
        };
        if let Some(limit) = criteria.complaint_business_days {
            let calendar = self.business_calendar().await?;
            let sql = format!(
                "SELECT i.id, i.folio, i.received_at, i.closed_at, i.status FROM incidents i WHERE i.incident_type = $1 \
                 AND i.received_at >= $2 AND i.received_at <= $3 AND {}",
                missing(Criterion::ComplaintNotClosed)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(IncidentType::Complaint.code())
                .bind(since)
                .bind(ms(t - Duration::days(limit)))
                .fetch_all(self.reader())
                .await?;
            for r in rows {
                let status: String = r.try_get("status")?;
                let closed = opt_from_ms(r.try_get("closed_at")?)?
                    .filter(|_| status == Status::Closed.code());
                let received = from_ms(r.try_get("received_at")?)?;
                if criteria.complaint_late(received, closed, t, &calendar, self.tz) {
                    found.push((
                        r.try_get("id")?,
                        Criterion::ComplaintNotClosed,
                        format!("La queja no se cerró en {limit} días hábiles."),
                    ));
                }
            }
        }
        if let Some(score) = criteria.low_survey_score {
            let sql = format!(
                "SELECT i.id, s.overall FROM surveys s JOIN incidents i ON i.id = s.incident_id \
                 WHERE s.answered_at >= $1 AND s.overall <= $2 AND {}",
                missing(Criterion::LowSurveyScore)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(since)
                .bind(score)
                .fetch_all(self.reader())
                .await?;
            for r in rows {
                let overall: i64 = r.try_get("overall")?;
                found.push((
                    r.try_get("id")?,
                    Criterion::LowSurveyScore,
                    format!("La encuesta de satisfacción calificó la atención con {overall}/5."),
                ));
            }
        }
        if criteria.closed_incomplete {
            let sql = format!(
                "SELECT i.id FROM incidents i WHERE i.status = 'closed' AND i.received_at >= $1 AND \
                 (i.user_type IS NULL OR i.incident_type IS NULL OR NOT EXISTS \
                 (SELECT 1 FROM timeline_entries t WHERE t.incident_id = i.id AND t.kind = $2)) AND {}",
                missing(Criterion::ClosedIncomplete)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(since)
                .bind(EntryKind::Intervention.code())
                .fetch_all(self.reader())
                .await?;
            for r in rows {
                found.push((
                    r.try_get("id")?,
                    Criterion::ClosedIncomplete,
                    "Se cerró sin tipo de usuario, tipo de incidencia o pormenores de la intervención.".into(),
                ));
            }
        }
        if let Some(days) = criteria.derivation_days {
            let sql = format!(
                "SELECT DISTINCT i.id, u.name FROM derivations d JOIN incidents i ON i.id = d.incident_id \
                 JOIN units u ON u.id = d.unit_id WHERE d.answered_at IS NULL AND d.closed_incident = 0 \
                 AND d.derived_at >= $1 AND d.derived_at <= $2 AND {}",
                missing(Criterion::DerivationUnanswered)
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(since)
                .bind(ms(t - Duration::days(days)))
                .fetch_all(self.reader())
                .await?;
            for r in rows {
                let unit: String = r.try_get("name")?;
                found.push((
                    r.try_get("id")?,
                    Criterion::DerivationUnanswered,
                    format!("{unit} no respondió la derivación en {days} días."),
                ));
            }
        }
        if let Some(days) = criteria.reopened_days {
            let sql = format!(
                "SELECT i.id FROM incidents i WHERE i.reopened_count > 0 AND i.received_at >= $1 AND {}",
                missing(Criterion::ReopenedSoon)
            );
            let ids: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(since)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<std::result::Result<_, _>>()?;
            for id in ids {
                let timeline = sqlx::query(
                    "SELECT * FROM timeline_entries WHERE incident_id = $1 AND kind = $2 ORDER BY id",
                )
                .bind(id)
                .bind(EntryKind::StatusChange.code())
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(entry_from_row)
                .collect::<Result<Vec<_>>>()?;
                if criteria.reopened_soon(&timeline) {
                    found.push((
                        id,
                        Criterion::ReopenedSoon,
                        format!("Se reabrió dentro de los {days} días siguientes a su cierre."),
                    ));
                }
            }
        }
        if criteria.service_level_breached {
            // Told once by the worker (`tell_service_levels`), whose record is the evidence.
            let sql = format!(
                "SELECT DISTINCT e.incident_id AS id FROM service_level_events e JOIN incidents i ON i.id = e.incident_id \
                 WHERE e.measure = 'resolution' AND e.threshold = 'breach' AND e.at >= $1 AND {}",
                missing(Criterion::ServiceLevelBreached)
            );
            let ids: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(since)
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<std::result::Result<_, _>>()?;
            for id in ids {
                found.push((
                    id,
                    Criterion::ServiceLevelBreached,
                    "Se venció su tiempo comprometido de resolución.".into(),
                ));
            }
        }
        let mut registered = 0;
        for (incident, criterion, description) in found {
            let mut tx = self.begin().await?;
            if self
                .register_finding(&mut tx, incident, criterion, description)
                .await?
            {
                registered += 1;
            }
            tx.commit().await?;
        }
        Ok(registered)
    }

    /// Staff add a nonconformity by hand, about an incident or not.
    pub async fn register_nonconformity(
        &self,
        actor: Actor<'_>,
        incident: Option<IncidentId>,
        input: &NonconformityInput,
    ) -> Result<Nonconformity> {
        input.check()?;
        let t = now();
        let mut tx = self.begin().await?;
        may_answer_for_nonconformities(&mut tx, input.responsible_user).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO nonconformities (incident_id, criterion, detected_at, detected_month, description, disposition, \
             corrective_action, responsible, due_date, effectiveness, status, created_by, updated_at, responsible_user_id) \
             VALUES ($1, 'manual', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $2, $12) RETURNING id",
        )
        .bind(incident.map(|i| i.0))
        .bind(ms(t))
        .bind(month_key(t, self.tz))
        .bind(input.description.trim().to_string())
        .bind(input.disposition.trim().to_string())
        .bind(input.corrective_action.trim().to_string())
        .bind(input.responsible.trim().to_string())
        .bind(input.due_date.map(|d| d.to_string()))
        .bind(input.effectiveness.trim().to_string())
        .bind(input.status.unwrap_or(NcStatus::Open).code())
        .bind(actor.user_id().map(|u| u.0))
        .bind(input.responsible_user.map(|u| u.0))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::Rule(atiende_domain::RuleError::invalid("folio", "unknown_incident"))
            }
            e => e.into(),
        })?
        .try_get("id")?;
        if let Some(to) = input.responsible_user {
            crate::notifications::nonconformity_assigned(&mut tx, id, to, actor.user_id()).await?;
        }
        let nc = nc_in_tx(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Nonconformity,
            entity_id: id.to_string(),
            action: "nonconformity.create",
            before: None,
            after: snapshot(&nc),
        };
        record(&mut tx, actor, change).await?;
        let data = serde_json::json!({
            "id": nc.id,
            "incident_id": nc.incident_id.map(|i| i.0),
            "folio": nc.folio,
            "criterion": nc.criterion.code(),
            "detected_at": nc.detected_at,
        });
        crate::webhooks::emit(
            &mut tx,
            EventType::NonconformityRegistered,
            nc.incident_id,
            data,
        )
        .await?;
        tx.commit().await?;
        Ok(nc)
    }

    /// Records the treatment: disposition, corrective action, responsible, due date,
    /// effectiveness check and status.
    pub async fn update_nonconformity(
        &self,
        actor: Actor<'_>,
        id: i64,
        input: &NonconformityInput,
    ) -> Result<Nonconformity> {
        input.check()?;
        let mut tx = self.begin().await?;
        let before = nc_in_tx(&mut tx, id).await?;
        may_answer_for_nonconformities(&mut tx, input.responsible_user).await?;
        sqlx::query(
            "UPDATE nonconformities SET description = $1, disposition = $2, corrective_action = $3, responsible = $4, \
             due_date = $5, effectiveness = $6, status = $7, updated_at = $8, responsible_user_id = $10 WHERE id = $9",
        )
        .bind(input.description.trim().to_string())
        .bind(input.disposition.trim().to_string())
        .bind(input.corrective_action.trim().to_string())
        .bind(input.responsible.trim().to_string())
        .bind(input.due_date.map(|d| d.to_string()))
        .bind(input.effectiveness.trim().to_string())
        .bind(input.status.unwrap_or(before.status).code())
        .bind(ms(now()))
        .bind(id)
        .bind(input.responsible_user.map(|u| u.0))
        .execute(&mut *tx)
        .await?;
        if let Some(to) = input
            .responsible_user
            .filter(|u| before.responsible_user != Some(*u))
        {
            crate::notifications::nonconformity_assigned(&mut tx, id, to, actor.user_id()).await?;
        }
        let after = nc_in_tx(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Nonconformity,
            entity_id: id.to_string(),
            action: "nonconformity.update",
            before: snapshot(&before),
            after: snapshot(&after),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn nonconformity(&self, id: i64) -> Result<Nonconformity> {
        nc_in_tx(&mut *self.reader().acquire().await?, id).await
    }

    /// The register, newest first.
    pub async fn nonconformities(&self, f: &NcFilter) -> Result<Vec<Nonconformity>> {
        let (first, last) = f.months.unwrap_or((0, 999_999));
        let rows = sqlx::query(select_nc!(
            "WHERE ($1 = '' OR n.status = $1) AND n.detected_month BETWEEN $2 AND $3 AND n.id < $4 ORDER BY n.id DESC LIMIT $5"
        ))
        .bind(f.status.map_or("", |s| s.code()))
        .bind(first)
        .bind(last)
        .bind(f.before_id.unwrap_or(i64::MAX))
        .bind(if f.limit > 0 { f.limit.min(1000) } else { 200 })
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(nc_from_row).collect()
    }

    /// Nonconformities detected in the months `first..=last`, for the indicators.
    pub(crate) async fn count_nonconformities(&self, first: i64, last: i64) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM nonconformities WHERE detected_month BETWEEN $1 AND $2",
        )
        .bind(first)
        .bind(last)
        .fetch_one(self.reader())
        .await?
        .try_get("n")?)
    }
}

/// A nonconformity is given only to an active person who may read the register.
async fn may_answer_for_nonconformities(tx: &mut Tx, user: Option<UserId>) -> Result<()> {
    let Some(user) = user else {
        return Ok(());
    };
    let row = sqlx::query("SELECT role, disabled FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_optional(&mut **tx)
        .await?;
    let allowed = match row {
        Some(r) => {
            let role: String = r.try_get("role")?;
            r.try_get::<i64, _>("disabled")? == 0
                && atiende_domain::user::Role::from_code(&role)
                    .is_some_and(|role| role.may(atiende_domain::access::Action::IndicatorRead))
        }
        None => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(StoreError::Rule(atiende_domain::RuleError::invalid(
            "responsible_user",
            "not_allowed",
        )))
    }
}

async fn nc_in_tx(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Nonconformity> {
    let row = sqlx::query(select_nc!("WHERE n.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("nonconformity"))?;
    nc_from_row(&row)
}

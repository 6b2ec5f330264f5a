//! The queue's counts: how many incidents wait, per state and assignee.
//!
//! The engine keeps them in `queue_tally` with every change to an incident (triggers in
//! migration 0012), so a queue page sums a few rows however long the backlog is. On PostgreSQL
//! each server process moves only its own rows; [`Store::fold_queue_tally`] folds the rows of
//! processes that have ended.

use atiende_domain::access::Scope;
use atiende_domain::ids::UserId;
use serde::Serialize;
use sqlx::{Executor, Row};

use crate::db::{Engine, Sql, Store};
use crate::error::{Result, StoreError};
use crate::incidents::push_scope;

/// How many incidents wait in each working queue of a person (closed ones are not counted: that
/// number only grows and the queue shows them paged).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    pub open: i64,
    pub mine: i64,
    pub unassigned: i64,
    pub waiting: i64,
    pub critical: i64,
}

/// Open incidents per agent, for the leads.
#[derive(Debug, Clone, Serialize)]
pub struct AgentLoad {
    pub user_id: UserId,
    pub name: String,
    pub open: i64,
    pub waiting: i64,
}

/// Critical incidents not yet derived to top management, through their own partial index.
/// SQLite's planner, which knows nothing of how rare they are, would walk every open incident
/// by state: it is told which index to use.
fn critical_pending(sql: &mut Sql, engine: Engine) {
    sql.push("SELECT COUNT(*) FROM incidents i");
    if engine == Engine::Sqlite {
        sql.push(" INDEXED BY incidents_critical_open");
    }
    sql.push(" WHERE i.critical = 1 AND i.status IN ('open', 'waiting_unit') AND ")
        .push(NOT_WITH_TOP_MANAGEMENT);
}

/// The incident `i` has not been derived to top management (a critical one waits for the lead).
const NOT_WITH_TOP_MANAGEMENT: &str = "NOT EXISTS (SELECT 1 FROM derivations d JOIN units u \
     ON u.id = d.unit_id WHERE d.incident_id = i.id AND u.kind = 'top_management')";

impl Store {
    pub async fn queue_counts(&self, user: UserId, scope: &Scope) -> Result<QueueCounts> {
        let sql = match scope {
            Scope::All => {
                let mut sql = Sql::new(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS open_count, \
                     CAST(COALESCE(SUM(CASE WHEN assignee = ",
                );
                sql.bind(user.0);
                sql.push(
                    " THEN n ELSE 0 END), 0) AS BIGINT) AS mine, \
                     CAST(COALESCE(SUM(CASE WHEN assignee = 0 THEN n ELSE 0 END), 0) AS BIGINT) AS unassigned, \
                     CAST(COALESCE(SUM(CASE WHEN status = 'waiting_unit' THEN n ELSE 0 END), 0) AS BIGINT) AS waiting, (",
                );
                critical_pending(&mut sql, self.engine());
                sql.push(") AS critical FROM queue_tally");
                sql
            }
            // A unit's responsible sees only what was derived to the unit: counted from the
            // derivations, which are few per unit.
            Scope::DerivedTo(_) => {
                let mut sql = Sql::new(
                    "SELECT COUNT(*) AS open_count, \
                     COALESCE(SUM(CASE WHEN i.assigned_to = ",
                );
                sql.bind(user.0);
                sql.push(
                    " THEN 1 ELSE 0 END), 0) AS mine, \
                     COALESCE(SUM(CASE WHEN i.assigned_to IS NULL THEN 1 ELSE 0 END), 0) AS unassigned, \
                     COALESCE(SUM(CASE WHEN i.status = 'waiting_unit' THEN 1 ELSE 0 END), 0) AS waiting, \
                     COALESCE(SUM(CASE WHEN i.critical = 1 AND ",
                );
                sql.push(NOT_WITH_TOP_MANAGEMENT).push(
                    " THEN 1 ELSE 0 END), 0) AS critical \
                     FROM incidents i WHERE i.status IN ('open', 'waiting_unit')",
                );
                push_scope(&mut sql, scope);
                sql
            }
        };
        let rows = sql.fetch_all(self.reader()).await?;
        let row = rows.first().ok_or(StoreError::NotFound("counts"))?;
        // PostgreSQL sums BIGINT as NUMERIC, which the `Any` driver cannot decode: cast back.
        let get = |c: &str| -> Result<i64> { Ok(row.try_get::<i64, _>(c)?) };
        Ok(QueueCounts {
            open: get("open_count")?,
            mine: get("mine")?,
            unassigned: get("unassigned")?,
            waiting: get("waiting")?,
            critical: get("critical")?,
        })
    }

    /// Incidents waiting on a unit of `kind` (the SIGA's: suggestions and compliments from the
    /// buzón) with its derivation still unanswered. Read from the unit's own derivations (a
    /// join let SQLite walk every incident waiting on any unit instead: 27 ms at a million).
    pub async fn waiting_on(&self, kind: atiende_domain::unit::UnitKind) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(DISTINCT d.incident_id) AS n FROM derivations d \
             WHERE d.unit_id IN (SELECT id FROM units WHERE kind = $1) AND d.answered_at IS NULL \
             AND EXISTS (SELECT 1 FROM incidents i WHERE i.id = d.incident_id AND i.status = 'waiting_unit')",
        )
        .bind(kind.code())
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get("n")?)
    }

    pub async fn agent_load(&self) -> Result<Vec<AgentLoad>> {
        let rows = sqlx::query(
            "SELECT u.id, u.name, \
             CAST(COALESCE(SUM(CASE WHEN t.status = 'open' THEN t.n ELSE 0 END), 0) AS BIGINT) AS open_count, \
             CAST(COALESCE(SUM(CASE WHEN t.status = 'waiting_unit' THEN t.n ELSE 0 END), 0) AS BIGINT) AS waiting_count \
             FROM users u LEFT JOIN queue_tally t ON t.assignee = u.id \
             WHERE u.disabled = 0 AND u.role IN ('agent', 'cap_lead') GROUP BY u.id, u.name ORDER BY u.name",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AgentLoad {
                    user_id: UserId(r.try_get("id")?),
                    name: r.try_get("name")?,
                    open: r.try_get("open_count")?,
                    waiting: r.try_get("waiting_count")?,
                })
            })
            .collect()
    }

    /// Folds the counters of PostgreSQL server processes that have ended into the shared rows,
    /// so that the tally stays a few rows per assignee. Safe beside live writers: a live
    /// process's rows are never touched, and one folder runs at a time. Returns the rows folded.
    pub async fn fold_queue_tally(&self) -> Result<u64> {
        if self.engine() != Engine::Postgres {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let mine: bool = sqlx::query("SELECT pg_try_advisory_xact_lock(7314) AS got")
            .fetch_one(&mut *tx)
            .await?
            .try_get("got")?;
        if !mine {
            return Ok(0);
        }
        let folded = sqlx::query(
            "WITH gone AS (DELETE FROM queue_tally WHERE backend <> 0 \
               AND backend NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL) \
               RETURNING status, assignee, n), \
             summed AS (SELECT status, assignee, SUM(n) AS n FROM gone GROUP BY status, assignee) \
             INSERT INTO queue_tally (backend, status, assignee, n) \
             SELECT 0, status, assignee, n FROM summed ORDER BY status, assignee \
             ON CONFLICT (backend, status, assignee) DO UPDATE SET n = queue_tally.n + excluded.n",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM queue_tally WHERE backend = 0 AND n = 0")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(folded)
    }

    /// Counts the queue again from the incidents (`atiende rebuild-indicators`), for a tally
    /// that someone changed by hand. Writers to the incidents wait while it counts.
    pub async fn recount_queue_tally(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        if self.engine() == Engine::Postgres {
            tx.execute("LOCK TABLE incidents IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        tx.execute("DELETE FROM queue_tally").await?;
        tx.execute(
            "INSERT INTO queue_tally (backend, status, assignee, n) \
             SELECT 0, status, COALESCE(assigned_to, 0), COUNT(*) FROM incidents \
             WHERE status IN ('open', 'waiting_unit') GROUP BY status, COALESCE(assigned_to, 0)",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

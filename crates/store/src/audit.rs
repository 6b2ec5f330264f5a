//! The audit trail, written in the same transaction as the change it records.

use atiende_domain::audit::{AuditEntry, EntityKind};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::db::{Script, Sql, Store, code, from_ms, ms};
use crate::error::Result;
use crate::tx::Tx;

/// One change to record: `before` and `after` are the entity as JSON (absent on create/delete).
pub struct Change {
    pub entity: EntityKind,
    pub entity_id: String,
    pub action: &'static str,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// The JSON kept in the trail for an entity.
pub fn snapshot<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

pub async fn record(tx: &mut Tx, actor: Actor<'_>, change: Change) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, entity, entity_id, action, before_json, after_json) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ms(crate::db::now()))
    .bind(actor.user_id().map(|u| u.0))
    .bind(change.entity.code())
    .bind(change.entity_id)
    .bind(change.action)
    .bind(change.before.map(|v| v.to_string()))
    .bind(change.after.map(|v| v.to_string()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records the changes of a group of writes as part of their script (new incidents committed
/// together).
pub(crate) fn push_records(script: &mut Script, changes: Vec<(Actor<'_>, Change)>) {
    use crate::bulk::{Value, push_insert};
    let at = ms(crate::db::now());
    let rows: Vec<Vec<Value>> = changes
        .into_iter()
        .map(|(actor, change)| {
            vec![
                Value::Int(at),
                Value::OptInt(actor.user_id().map(|u| u.0)),
                Value::Text(change.entity.code().to_string()),
                Value::Text(change.entity_id),
                Value::Text(change.action.to_string()),
                Value::OptText(change.before.map(|v| v.to_string())),
                Value::OptText(change.after.map(|v| v.to_string())),
            ]
        })
        .collect();
    push_insert(
        script,
        "audit_log",
        &[
            "at",
            "actor_id",
            "entity",
            "entity_id",
            "action",
            "before_json",
            "after_json",
        ],
        &rows,
        "",
    );
}

/// Filters for reading the trail; newest first.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub entity: Option<EntityKind>,
    pub entity_id: Option<String>,
    pub actor_id: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
    /// Show what the trail says about blocked people (cancellation, ARCO): only for whoever
    /// handles personal-data requests. Otherwise their records' before and after are left out.
    pub with_blocked: bool,
}

impl Store {
    pub async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut sql = Sql::new(if q.with_blocked {
            "SELECT a.* FROM audit_log a WHERE 1 = 1"
        } else {
            // CASE tests the entity first, so an incident's folio is never cast to a number.
            "SELECT a.id, a.at, a.actor_id, a.entity, a.entity_id, a.action, \
             CASE WHEN a.entity <> 'contact' THEN 0 WHEN EXISTS (SELECT 1 FROM contacts b \
             WHERE b.id = CAST(a.entity_id AS BIGINT) AND b.blocked_at IS NOT NULL) THEN 1 \
             ELSE 0 END AS hidden, a.before_json, a.after_json FROM audit_log a WHERE 1 = 1"
        });
        if let Some(e) = q.entity {
            sql.push(" AND a.entity = ").bind(e.code());
        }
        if let Some(id) = &q.entity_id {
            sql.push(" AND a.entity_id = ").bind(id.clone());
        }
        if let Some(a) = q.actor_id {
            sql.push(" AND a.actor_id = ").bind(a);
        }
        if let Some(b) = q.before_id {
            sql.push(" AND a.id < ").bind(b);
        }
        sql.push(" ORDER BY a.id DESC LIMIT ")
            .bind(q.limit.clamp(1, 500));
        sql.fetch_all(self.reader())
            .await?
            .iter()
            .map(|row| {
                let mut entry = audit_from_row(row)?;
                if !q.with_blocked && row.try_get::<i64, _>("hidden")? == 1 {
                    entry.before = None;
                    entry.after = None;
                }
                Ok(entry)
            })
            .collect()
    }
}

fn audit_from_row(row: &AnyRow) -> Result<AuditEntry> {
    let json = |col: &str| -> Result<Option<serde_json::Value>> {
        let raw: Option<String> = row.try_get(col)?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    };
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: from_ms(row.try_get("at")?)?,
        actor_id: row
            .try_get::<Option<i64>, _>("actor_id")?
            .map(atiende_domain::ids::UserId),
        entity: code(row, "entity", EntityKind::from_code)?,
        entity_id: row.try_get("entity_id")?,
        action: row.try_get("action")?,
        before: json("before_json")?,
        after: json("after_json")?,
    })
}

//! Units that receive derivations, and the topic catalogue.

use atiende_domain::audit::EntityKind;
use atiende_domain::error::Validator;
use atiende_domain::ids::{TopicId, UnitId};
use atiende_domain::unit::{Topic, Unit, UnitInput, UnitKind};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record, snapshot};
use crate::db::{Store, code, flag, ms};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

pub(crate) fn unit_from_row(row: &AnyRow) -> Result<Unit> {
    Ok(Unit {
        id: UnitId(row.try_get("id")?),
        name: row.try_get("name")?,
        kind: code(row, "kind", UnitKind::from_code)?,
        responsible_name: row.try_get("responsible_name")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        active: flag(row, "active")?,
    })
}

/// One topic, on a connection (a transaction's, or a reader's).
pub(crate) async fn topic_in(conn: &mut sqlx::AnyConnection, id: TopicId) -> Result<Topic> {
    let row = sqlx::query("SELECT * FROM topics WHERE id = $1")
        .bind(id.0)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound("topic"))?;
    topic_from_row(&row)
}

fn topic_from_row(row: &AnyRow) -> Result<Topic> {
    Ok(Topic {
        id: TopicId(row.try_get("id")?),
        name: row.try_get("name")?,
        active: flag(row, "active")?,
    })
}

fn name_taken(err: sqlx::Error) -> StoreError {
    if StoreError::is_unique_violation(&err) {
        StoreError::Conflict {
            field: "name".into(),
            code: "taken".into(),
            existing_id: None,
        }
    } else {
        err.into()
    }
}

pub(crate) async fn unit_in_tx(tx: &mut Tx, id: UnitId) -> Result<Unit> {
    let row = sqlx::query("SELECT * FROM units WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("unit"))?;
    unit_from_row(&row)
}

pub(crate) async fn unit_of_kind(tx: &mut Tx, kind: UnitKind) -> Result<Unit> {
    let row = sqlx::query("SELECT * FROM units WHERE kind = $1 AND active = 1 ORDER BY id LIMIT 1")
        .bind(kind.code())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("unit"))?;
    unit_from_row(&row)
}

impl Store {
    pub async fn units(&self) -> Result<Vec<Unit>> {
        let rows = sqlx::query("SELECT * FROM units ORDER BY name")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(unit_from_row).collect()
    }

    pub async fn unit(&self, id: UnitId) -> Result<Unit> {
        let row = sqlx::query("SELECT * FROM units WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("unit"))?;
        unit_from_row(&row)
    }

    pub async fn create_unit(&self, actor: Actor<'_>, input: &UnitInput) -> Result<Unit> {
        let mut unit = input.apply(None)?;
        let mut tx = self.begin().await?;
        let now = ms(crate::db::now());
        let id: i64 = sqlx::query(
            "INSERT INTO units (name, kind, responsible_name, email, phone, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
        )
        .bind(unit.name.clone())
        .bind(unit.kind.code())
        .bind(unit.responsible_name.clone())
        .bind(unit.email.clone())
        .bind(unit.phone.clone())
        .bind(i64::from(unit.active))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(name_taken)?
        .try_get("id")?;
        unit.id = UnitId(id);
        let change = Change {
            entity: EntityKind::Unit,
            entity_id: id.to_string(),
            action: "unit.create",
            before: None,
            after: snapshot(&unit),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(unit)
    }

    pub async fn update_unit(
        &self,
        actor: Actor<'_>,
        id: UnitId,
        input: &UnitInput,
    ) -> Result<Unit> {
        let mut tx = self.begin().await?;
        let before = unit_in_tx(&mut tx, id).await?;
        let after = input.apply(Some(&before))?;
        sqlx::query(
            "UPDATE units SET name = $1, kind = $2, responsible_name = $3, email = $4, phone = $5, \
             active = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(after.name.clone())
        .bind(after.kind.code())
        .bind(after.responsible_name.clone())
        .bind(after.email.clone())
        .bind(after.phone.clone())
        .bind(i64::from(after.active))
        .bind(ms(crate::db::now()))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(name_taken)?;
        let change = Change {
            entity: EntityKind::Unit,
            entity_id: id.to_string(),
            action: "unit.update",
            before: snapshot(&before),
            after: snapshot(&after),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn topics(&self) -> Result<Vec<Topic>> {
        let rows = sqlx::query("SELECT * FROM topics ORDER BY name")
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(topic_from_row).collect()
    }

    pub async fn topic(&self, id: TopicId) -> Result<Topic> {
        topic_in(&mut *self.reader().acquire().await?, id).await
    }

    /// Creates (`id` absent) or renames/deactivates a topic.
    pub async fn save_topic(
        &self,
        actor: Actor<'_>,
        id: Option<TopicId>,
        name: Option<&str>,
        active: Option<bool>,
    ) -> Result<Topic> {
        let mut tx = self.begin().await?;
        let before = match id {
            Some(id) => Some(topic_from_row(
                &sqlx::query("SELECT * FROM topics WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound("topic"))?,
            )?),
            None => None,
        };
        let mut v = Validator::new();
        let name = match (name, &before) {
            (Some(n), _) => v.text("name", n, 200, true),
            (None, Some(b)) => b.name.clone(),
            (None, None) => {
                v.push("name", "required");
                String::new()
            }
        };
        v.finish()?;
        let active = active.or(before.as_ref().map(|b| b.active)).unwrap_or(true);
        let row = match before.as_ref() {
            Some(b) => {
                sqlx::query("UPDATE topics SET name = $1, active = $2 WHERE id = $3 RETURNING *")
                    .bind(name)
                    .bind(i64::from(active))
                    .bind(b.id.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(name_taken)?
            }
            None => sqlx::query("INSERT INTO topics (name, active) VALUES ($1, $2) RETURNING *")
                .bind(name)
                .bind(i64::from(active))
                .fetch_one(&mut *tx)
                .await
                .map_err(name_taken)?,
        };
        let topic = topic_from_row(&row)?;
        let change = Change {
            entity: EntityKind::Topic,
            entity_id: topic.id.to_string(),
            action: if before.is_some() {
                "topic.update"
            } else {
                "topic.create"
            },
            before: before.as_ref().and_then(snapshot),
            after: snapshot(&topic),
        };
        record(&mut tx, actor, change).await?;
        tx.commit().await?;
        Ok(topic)
    }
}

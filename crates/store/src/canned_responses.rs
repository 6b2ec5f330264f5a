//! Canned responses in storage: the CAP's shared texts and each person's own, found by words
//! and topic from the answer box, filled for one incident (the person's name only when their
//! data may be used), and how often each was sent and how many of those incidents closed at
//! first contact. The use itself is recorded with the answer, in its transaction
//! ([`record_use`]).

use atiende_domain::RuleError;
use atiende_domain::access::Action;
use atiende_domain::audit::EntityKind;
use atiende_domain::canned_response::{CannedResponseInput, Variables, fill};
use atiende_domain::ids::{EntryId, IncidentId, TopicId, UserId};
use atiende_domain::user::StaffUser;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record, snapshot};
use crate::db::{Store, from_ms, ms, now};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

/// A canned response as the answer box and its editor show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CannedResponse {
    pub id: i64,
    pub title: String,
    pub body: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub topic_id: Option<TopicId>,
    /// The whole CAP's; otherwise its owner's alone.
    pub shared: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub owner_id: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

fn from_row(r: &AnyRow) -> Result<CannedResponse> {
    let owner = r.try_get::<Option<i64>, _>("owner_id")?.map(UserId);
    Ok(CannedResponse {
        id: r.try_get("id")?,
        title: r.try_get("title")?,
        body: r.try_get("body")?,
        topic_id: r.try_get::<Option<i64>, _>("topic_id")?.map(TopicId),
        shared: owner.is_none(),
        owner_id: owner,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

/// How often one canned response was sent in a period.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CannedUsage {
    pub id: i64,
    pub title: String,
    pub shared: bool,
    /// Answers sent from it.
    pub uses: i64,
    /// Incidents answered with it.
    pub incidents: i64,
    /// Of those, closed at first contact (closed by the CAP, not derived, not reopened soon).
    pub first_contact: i64,
}

fn refused() -> StoreError {
    StoreError::Rule(RuleError::invalid("shared", "not_allowed"))
}

/// Records that an answer was sent from a canned response the author may use, in the answer's
/// transaction.
pub(crate) async fn record_use(
    tx: &mut Tx,
    canned: i64,
    incident: IncidentId,
    entry: EntryId,
    user: Option<UserId>,
) -> Result<()> {
    let usable = sqlx::query(
        "SELECT id FROM canned_responses WHERE id = $1 AND archived = 0 AND (owner_id IS NULL OR owner_id = $2)",
    )
    .bind(canned)
    .bind(user.map_or(0, |u| u.0))
    .fetch_optional(&mut **tx)
    .await?
    .is_some();
    if !usable {
        return Err(RuleError::invalid("canned_response_id", "unknown").into());
    }
    sqlx::query(
        "INSERT INTO canned_response_uses (canned_response_id, incident_id, entry_id, user_id, used_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(canned)
    .bind(incident.0)
    .bind(entry.0)
    .bind(user.map(|u| u.0))
    .bind(ms(now()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// The canned responses `user` may use: the shared ones and their own, by title; with
    /// `words`, those whose title or text holds each word; with `topic`, those of that topic
    /// first, then those of none.
    pub async fn canned_responses(
        &self,
        user: UserId,
        words: Option<&str>,
        topic: Option<TopicId>,
    ) -> Result<Vec<CannedResponse>> {
        let mut sql = crate::db::Sql::new(
            "SELECT * FROM canned_responses WHERE archived = 0 AND (owner_id IS NULL OR owner_id = ",
        );
        sql.bind(user.0).push(")");
        for word in words.unwrap_or_default().split_whitespace().take(8) {
            let like = format!("%{}%", word.to_lowercase().replace(['%', '_'], ""));
            sql.push(" AND (LOWER(title) LIKE ")
                .bind(like.clone())
                .push(" OR LOWER(body) LIKE ")
                .bind(like)
                .push(")");
        }
        if let Some(t) = topic {
            sql.push(" AND (topic_id IS NULL OR topic_id = ")
                .bind(t.0)
                .push(")");
            sql.push(" ORDER BY CASE WHEN topic_id IS NULL THEN 1 ELSE 0 END, title, id LIMIT 200");
        } else {
            sql.push(" ORDER BY title, id LIMIT 200");
        }
        sql.fetch_all(self.reader())
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn canned_response(&self, id: i64) -> Result<CannedResponse> {
        let row = sqlx::query("SELECT * FROM canned_responses WHERE id = $1 AND archived = 0")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("canned_response"))?;
        from_row(&row)
    }

    /// One the user may use (shared, or their own); another's own is not found.
    pub async fn usable_canned_response(&self, user: UserId, id: i64) -> Result<CannedResponse> {
        let c = self.canned_response(id).await?;
        if c.owner_id.is_some_and(|o| o != user) {
            return Err(StoreError::NotFound("canned_response"));
        }
        Ok(c)
    }

    pub async fn create_canned_response(
        &self,
        user: &StaffUser,
        input: &CannedResponseInput,
    ) -> Result<CannedResponse> {
        input.check()?;
        if input.shared && !user.may(Action::CannedShare) {
            return Err(refused());
        }
        let at = ms(now());
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO canned_responses (title, body, topic_id, owner_id, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(input.title.trim().to_string())
        .bind(input.body.trim_end().to_string())
        .bind(input.topic_id.map(|t| t.0))
        .bind((!input.shared).then_some(user.id.0))
        .bind(user.id.0)
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(unknown_topic)?
        .try_get("id")?;
        let created = in_tx(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::CannedResponse,
            entity_id: id.to_string(),
            action: "canned_response.create",
            before: None,
            after: snapshot(&created),
        };
        record(&mut tx, Actor::Staff(user), change).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn update_canned_response(
        &self,
        user: &StaffUser,
        id: i64,
        input: &CannedResponseInput,
    ) -> Result<CannedResponse> {
        input.check()?;
        let mut tx = self.begin().await?;
        let before = in_tx(&mut tx, id).await?;
        if !user.may_keep(before.owner_id) || (input.shared && !user.may(Action::CannedShare)) {
            return Err(refused());
        }
        let owner = user.owner_when_saved(input.shared, before.owner_id);
        sqlx::query(
            "UPDATE canned_responses SET title = $1, body = $2, topic_id = $3, owner_id = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(input.title.trim().to_string())
        .bind(input.body.trim_end().to_string())
        .bind(input.topic_id.map(|t| t.0))
        .bind(owner.map(|o| o.0))
        .bind(ms(now()))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(unknown_topic)?;
        let after = in_tx(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::CannedResponse,
            entity_id: id.to_string(),
            action: "canned_response.update",
            before: snapshot(&before),
            after: snapshot(&after),
        };
        record(&mut tx, Actor::Staff(user), change).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Takes one out of use; its uses stay counted.
    pub async fn archive_canned_response(&self, user: &StaffUser, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let before = in_tx(&mut tx, id).await?;
        if !user.may_keep(before.owner_id) {
            return Err(refused());
        }
        sqlx::query("UPDATE canned_responses SET archived = 1, updated_at = $1 WHERE id = $2")
            .bind(ms(now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            entity: EntityKind::CannedResponse,
            entity_id: id.to_string(),
            action: "canned_response.archive",
            before: snapshot(&before),
            after: None,
        };
        record(&mut tx, Actor::Staff(user), change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The text of a canned response filled for an incident, as `user` would send it: the
    /// person's name (none for a blocked person), the folio, the user's name, and the unit the
    /// incident was last derived to.
    pub async fn fill_canned_response(
        &self,
        user: &StaffUser,
        id: i64,
        incident: IncidentId,
    ) -> Result<String> {
        let canned = self.usable_canned_response(user.id, id).await?;
        let row = sqlx::query(
            "SELECT i.folio, CASE WHEN c.blocked_at IS NULL THEN c.name END AS contact_name, \
             u.name AS unit_name, u.email AS unit_email, u.phone AS unit_phone \
             FROM incidents i LEFT JOIN contacts c ON c.id = i.contact_id \
             LEFT JOIN units u ON u.id = (SELECT d.unit_id FROM derivations d WHERE d.incident_id = i.id ORDER BY d.id DESC LIMIT 1) \
             WHERE i.id = $1",
        )
        .bind(incident.0)
        .fetch_optional(self.reader())
        .await?
        .ok_or(StoreError::NotFound("incident"))?;
        let text = |col: &str| -> Result<String> {
            Ok(row.try_get::<Option<String>, _>(col)?.unwrap_or_default())
        };
        let values = Variables {
            nombre: text("contact_name")?,
            folio: text("folio")?,
            agente: user.name.clone(),
            unidad: text("unit_name")?,
            unidad_correo: text("unit_email")?,
            unidad_telefono: text("unit_phone")?,
        };
        Ok(fill(&canned.body, &values)?)
    }

    /// How often each canned response was sent between `from` and `to`, and how many of the
    /// incidents answered with it closed at first contact; the most used first.
    pub async fn canned_usage(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<CannedUsage>> {
        let rows = sqlx::query(
            "SELECT c.id, c.title, c.owner_id, u.incident_id, f.facts FROM canned_response_uses u \
             JOIN canned_responses c ON c.id = u.canned_response_id \
             LEFT JOIN incident_facts f ON f.incident_id = u.incident_id \
             WHERE u.used_at >= $1 AND u.used_at < $2 ORDER BY c.id, u.incident_id",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(self.reader())
        .await?;
        let mut out: Vec<CannedUsage> = Vec::new();
        let mut last_incident = None;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let incident: i64 = r.try_get("incident_id")?;
            if out.last().is_none_or(|u| u.id != id) {
                out.push(CannedUsage {
                    id,
                    title: r.try_get("title")?,
                    shared: r.try_get::<Option<i64>, _>("owner_id")?.is_none(),
                    uses: 0,
                    incidents: 0,
                    first_contact: 0,
                });
                last_incident = None;
            }
            let Some(usage) = out.last_mut() else {
                continue;
            };
            usage.uses += 1;
            if last_incident == Some(incident) {
                continue;
            }
            last_incident = Some(incident);
            usage.incidents += 1;
            let facts: Option<String> = r.try_get("facts")?;
            let fcr = match facts {
                Some(f) => {
                    serde_json::from_str::<atiende_domain::indicators::IncidentFacts>(&f)
                        .map_err(StoreError::corrupt)?
                        .counters
                        .fcr
                }
                None => 0,
            };
            usage.first_contact += i64::from(fcr > 0);
        }
        out.sort_by(|a, b| b.uses.cmp(&a.uses).then(a.title.cmp(&b.title)));
        Ok(out)
    }
}

async fn in_tx(tx: &mut Tx, id: i64) -> Result<CannedResponse> {
    let row = sqlx::query("SELECT * FROM canned_responses WHERE id = $1 AND archived = 0")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("canned_response"))?;
    from_row(&row)
}

fn unknown_topic(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::Rule(RuleError::invalid("topic_id", "unknown"))
        }
        e => e.into(),
    }
}

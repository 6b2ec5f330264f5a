//! Macros in storage: the CAP's shared ones and each person's own, and applying one to an
//! incident as one change — classify, answer from its canned response, intervention notes,
//! close or derive — each step through the same rules as when taken alone, so that a step the
//! procedure refuses leaves nothing written.

use atiende_domain::RuleError;
use atiende_domain::access::Action;
use atiende_domain::audit::EntityKind;
use atiende_domain::derivation::DeriveInput;
use atiende_domain::ids::{IncidentId, UserId};
use atiende_domain::incident::{ClassifyInput, EntryKind, Incident};
use atiende_domain::macros::{MacroFinish, MacroInput, MacroSteps};
use atiende_domain::user::StaffUser;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record, snapshot};
use crate::db::{Store, from_ms, ms, now};
use crate::error::{Result, StoreError};
use crate::incidents::{
    EntryDraft, classify_step, close_step, derive_step, entry_step, record_intervention,
};
use crate::tx::Tx;

/// A macro as the incident view and its editor show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Macro {
    pub id: i64,
    pub name: String,
    pub steps: MacroSteps,
    /// The whole CAP's; otherwise its owner's alone.
    pub shared: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub owner_id: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

fn from_row(r: &AnyRow) -> Result<Macro> {
    let owner = r.try_get::<Option<i64>, _>("owner_id")?.map(UserId);
    Ok(Macro {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        steps: serde_json::from_str(&r.try_get::<String, _>("steps")?)
            .map_err(StoreError::corrupt)?,
        shared: owner.is_none(),
        owner_id: owner,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

fn refused() -> StoreError {
    StoreError::Rule(RuleError::invalid("shared", "not_allowed"))
}

async fn in_tx(tx: &mut Tx, id: i64) -> Result<Macro> {
    let row = sqlx::query("SELECT * FROM macros WHERE id = $1 AND archived = 0")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("macro"))?;
    from_row(&row)
}

impl Store {
    /// The macros `user` may apply: the CAP's and their own, by name.
    pub async fn macros(&self, user: UserId) -> Result<Vec<Macro>> {
        sqlx::query(
            "SELECT * FROM macros WHERE archived = 0 AND (owner_id IS NULL OR owner_id = $1) ORDER BY name, id",
        )
        .bind(user.0)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(from_row)
        .collect()
    }

    /// One the user may apply (the CAP's, or their own); another's own is not found.
    pub async fn usable_macro(&self, user: UserId, id: i64) -> Result<Macro> {
        let row = sqlx::query("SELECT * FROM macros WHERE id = $1 AND archived = 0")
            .bind(id)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("macro"))?;
        let m = from_row(&row)?;
        if m.owner_id.is_some_and(|o| o != user) {
            return Err(StoreError::NotFound("macro"));
        }
        Ok(m)
    }

    pub async fn create_macro(&self, user: &StaffUser, input: &MacroInput) -> Result<Macro> {
        input.check()?;
        if input.shared && !user.may(Action::CannedShare) {
            return Err(refused());
        }
        let steps = serde_json::to_string(&input.steps).map_err(StoreError::corrupt)?;
        let at = ms(now());
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO macros (name, steps, owner_id, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(input.name.trim().to_string())
        .bind(steps)
        .bind((!input.shared).then_some(user.id.0))
        .bind(user.id.0)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let created = in_tx(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Macro,
            entity_id: id.to_string(),
            action: "macro.create",
            before: None,
            after: snapshot(&created),
        };
        record(&mut tx, Actor::Staff(user), change).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn update_macro(
        &self,
        user: &StaffUser,
        id: i64,
        input: &MacroInput,
    ) -> Result<Macro> {
        input.check()?;
        let mut tx = self.begin().await?;
        let before = in_tx(&mut tx, id).await?;
        if !user.may_keep(before.owner_id) || (input.shared && !user.may(Action::CannedShare)) {
            return Err(refused());
        }
        let owner = user.owner_when_saved(input.shared, before.owner_id);
        sqlx::query(
            "UPDATE macros SET name = $1, steps = $2, owner_id = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(input.name.trim().to_string())
        .bind(serde_json::to_string(&input.steps).map_err(StoreError::corrupt)?)
        .bind(owner.map(|o| o.0))
        .bind(ms(now()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let after = in_tx(&mut tx, id).await?;
        let change = Change {
            entity: EntityKind::Macro,
            entity_id: id.to_string(),
            action: "macro.update",
            before: snapshot(&before),
            after: snapshot(&after),
        };
        record(&mut tx, Actor::Staff(user), change).await?;
        tx.commit().await?;
        Ok(after)
    }

    pub async fn archive_macro(&self, user: &StaffUser, id: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        let before = in_tx(&mut tx, id).await?;
        if !user.may_keep(before.owner_id) {
            return Err(refused());
        }
        sqlx::query("UPDATE macros SET archived = 1, updated_at = $1 WHERE id = $2")
            .bind(ms(now()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            entity: EntityKind::Macro,
            entity_id: id.to_string(),
            action: "macro.archive",
            before: snapshot(&before),
            after: None,
        };
        record(&mut tx, Actor::Staff(user), change).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a macro to an incident as one change: its classification, its canned answer
    /// (filled for the incident and sent on its channel), its intervention notes, then its
    /// closing or derivation. The first step the procedure refuses refuses the whole, and
    /// nothing of it is written.
    pub async fn apply_macro(
        &self,
        user: &StaffUser,
        id: i64,
        incident: IncidentId,
    ) -> Result<Incident> {
        let m = self.usable_macro(user.id, id).await?;
        let steps = &m.steps;
        let actor = Actor::Staff(user);
        // The canned answer is filled before the change (from what is committed: the folio,
        // the person, the unit it was last derived to).
        let answer = match steps.canned_response_id {
            Some(c) => Some((c, self.fill_canned_response(user, c, incident).await?)),
            None => None,
        };
        let mut change = self.change_incident(incident).await?;
        if steps.classifies() {
            let input = ClassifyInput {
                user_type: steps.user_type,
                incident_type: steps.incident_type,
                topic_id: steps.topic_id,
                ..Default::default()
            };
            classify_step(&mut change, actor, &input).await?;
        }
        if let Some((canned, text)) = &answer {
            let draft = EntryDraft {
                kind: EntryKind::OutboundMessage,
                body: text,
                template: None,
                files: Vec::new(),
                canned: Some(*canned),
            };
            entry_step(&mut change, actor, draft).await?;
        }
        let notes = Some(steps.notes.trim()).filter(|n| !n.is_empty());
        match &steps.finish {
            MacroFinish::Nothing => {
                if let Some(n) = notes {
                    let now = change.now;
                    record_intervention(&mut change.tx, &mut change.after, actor, n, now).await?;
                }
            }
            MacroFinish::Close => close_step(&mut change, actor, notes).await?,
            MacroFinish::Derive {
                unit_id,
                medium,
                reason,
            } => {
                let input = DeriveInput {
                    unit_id: *unit_id,
                    medium: *medium,
                    reason: reason.clone(),
                    user_told: None,
                    told_address: None,
                    close: false,
                    notes: notes.map(str::to_string),
                };
                derive_step(&mut change, actor, &input).await?;
            }
        }
        let audit = Change {
            entity: EntityKind::Incident,
            entity_id: change.after.folio.to_string(),
            action: "incident.macro",
            before: snapshot(&change.before),
            after: Some(serde_json::json!({
                "incident": change.after,
                "macro": { "id": m.id, "name": m.name },
            })),
        };
        change.commit_with(actor, "", audit).await
    }
}

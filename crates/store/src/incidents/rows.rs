//! An incident's rows, below the procedure's steps: reading and locking an incident, saving
//! it, appending to its timeline, folios, and registering a new one. Channels (email, chat)
//! and other stores build on these; the steps in [`super`] build on the channels.

use atiende_domain::RuleError;
use atiende_domain::audit::EntityKind;
use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::derivation::{Derivation, DerivationPlan};
use atiende_domain::folio::Folio;
use atiende_domain::ids::{ContactId, DerivationId, EntryId, IncidentId, TopicId, UnitId, UserId};
use atiende_domain::incident::{
    EntryKind, Incident, NewIncidentInput, Status, TimelineEntry, quality_routing_plan,
};
use atiende_domain::unit::{Unit, UnitKind};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record, snapshot};
use crate::bulk::{Value, insert_sql};
use crate::contacts::contact_in_tx;
use crate::db::Binding;
use crate::db::{Engine, Sql, Store, code, engine_of, flag, from_ms, ms, opt_code, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::tx::Tx;
use crate::units::unit_of_kind;
use atiende_domain::webhook::EventType;

pub(crate) fn incident_from_row(row: &AnyRow) -> Result<Incident> {
    let folio: String = row.try_get("folio")?;
    Ok(Incident {
        id: IncidentId(row.try_get("id")?),
        folio: folio
            .parse()
            .map_err(|_| StoreError::corrupt(format!("folio {folio}")))?,
        channel: code(row, "channel", Channel::from_code)?,
        contact_id: row.try_get::<Option<i64>, _>("contact_id")?.map(ContactId),
        subject: row.try_get("subject")?,
        user_type: opt_code(row, "user_type", UserType::from_code)?,
        incident_type: opt_code(row, "incident_type", IncidentType::from_code)?,
        topic_id: row.try_get::<Option<i64>, _>("topic_id")?.map(TopicId),
        critical: flag(row, "critical")?,
        status: code(row, "status", Status::from_code)?,
        assigned_to: row.try_get::<Option<i64>, _>("assigned_to")?.map(UserId),
        received_at: from_ms(row.try_get("received_at")?)?,
        first_response_at: opt_from_ms(row.try_get("first_response_at")?)?,
        closed_at: opt_from_ms(row.try_get("closed_at")?)?,
        reopened_count: row.try_get("reopened_count")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

pub(crate) fn entry_from_row(row: &AnyRow) -> Result<TimelineEntry> {
    let data: String = row.try_get("data")?;
    Ok(TimelineEntry {
        id: EntryId(row.try_get("id")?),
        incident_id: IncidentId(row.try_get("incident_id")?),
        kind: code(row, "kind", EntryKind::from_code)?,
        at: from_ms(row.try_get("at")?)?,
        author_id: row.try_get::<Option<i64>, _>("author_id")?.map(UserId),
        body: row.try_get("body")?,
        data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
    })
}

pub(crate) fn derivation_from_row(row: &AnyRow) -> Result<Derivation> {
    Ok(Derivation {
        id: DerivationId(row.try_get("id")?),
        incident_id: IncidentId(row.try_get("incident_id")?),
        unit_id: UnitId(row.try_get("unit_id")?),
        unit_name: row.try_get("unit_name")?,
        unit_kind: code(row, "unit_kind", UnitKind::from_code)?,
        medium: code(row, "medium", Medium::from_code)?,
        reason: row.try_get("reason")?,
        derived_by: row.try_get::<Option<i64>, _>("derived_by")?.map(UserId),
        derived_at: from_ms(row.try_get("derived_at")?)?,
        user_told: flag(row, "user_told")?,
        told_address: row.try_get("told_address")?,
        closed_incident: flag(row, "closed_incident")?,
        answer: row.try_get("answer")?,
        answered_by: row.try_get::<Option<i64>, _>("answered_by")?.map(UserId),
        answered_at: opt_from_ms(row.try_get("answered_at")?)?,
    })
}

pub(crate) const DERIVATIONS_OF: &str = "SELECT d.*, u.name AS unit_name, u.kind AS unit_kind FROM derivations d \
     JOIN units u ON u.id = d.unit_id WHERE d.incident_id = $1 ORDER BY d.id";

pub(crate) async fn derivations_in_tx(tx: &mut Tx, id: IncidentId) -> Result<Vec<Derivation>> {
    let rows = sqlx::query(DERIVATIONS_OF)
        .bind(id.0)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(derivation_from_row).collect()
}

/// Loads an incident a transaction is about to change. PostgreSQL locks the row so that two
/// instances cannot both close one incident; SQLite's write transactions already exclude each
/// other.
pub(crate) async fn load_for_update(
    tx: &mut Tx,
    engine: Engine,
    id: IncidentId,
) -> Result<Incident> {
    let sql = engine.locking("SELECT * FROM incidents WHERE id = $1");
    let row = sqlx::query(sql)
        .bind(id.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(StoreError::NotFound("incident"))?;
    incident_from_row(&row)
}

async fn save(tx: &mut Tx, i: &Incident) -> Result<()> {
    sqlx::query(
        "UPDATE incidents SET channel = $1, contact_id = $2, subject = $3, user_type = $4, incident_type = $5, \
         topic_id = $6, critical = $7, status = $8, assigned_to = $9, first_response_at = $10, closed_at = $11, \
         reopened_count = $12, updated_at = $13 WHERE id = $14",
    )
    .bind(i.channel.code())
    .bind(i.contact_id.map(|c| c.0))
    .bind(i.subject.clone())
    .bind(i.user_type.map(|t| t.code()))
    .bind(i.incident_type.map(|t| t.code()))
    .bind(i.topic_id.map(|t| t.0))
    .bind(i64::from(i.critical))
    .bind(i.status.code())
    .bind(i.assigned_to.map(|u| u.0))
    .bind(i.first_response_at.map(ms))
    .bind(i.closed_at.map(ms))
    .bind(i.reopened_count)
    .bind(ms(i.updated_at))
    .bind(i.id.0)
    .execute(&mut **tx)
    .await?;
    tx.touch(i.id);
    Ok(())
}

/// The audit record of a change to an incident, before and after.
pub(crate) fn incident_change(action: &'static str, before: &Incident, after: &Incident) -> Change {
    Change {
        entity: EntityKind::Incident,
        entity_id: after.folio.to_string(),
        action,
        before: snapshot(before),
        after: snapshot(after),
    }
}

/// A change to one incident: opened with [`Store::change_incident`] (its own transaction, the
/// incident loaded and locked), decided by the domain's rules on `after`, and written by
/// [`IncidentChange::commit`]: the row, the status change on the timeline, the audit record,
/// then the transaction's commit with its upkeep. The transaction lives inside the change, so
/// the only way to commit it is through `commit`.
#[must_use = "an incident change is written only by its commit"]
pub(crate) struct IncidentChange {
    pub(crate) tx: Tx,
    pub(crate) before: Incident,
    pub(crate) after: Incident,
    pub(crate) now: DateTime<Utc>,
}

impl Store {
    pub(crate) async fn change_incident(&self, id: IncidentId) -> Result<IncidentChange> {
        let mut tx = self.begin().await?;
        let before = load_for_update(&mut tx, self.engine(), id).await?;
        let now = crate::db::now();
        let mut after = before.clone();
        after.updated_at = now;
        Ok(IncidentChange {
            tx,
            before,
            after,
            now,
        })
    }
}

impl IncidentChange {
    /// Writes the change with the audit record `action` (the incident before and after).
    pub(crate) async fn commit(self, actor: Actor<'_>, action: &'static str) -> Result<Incident> {
        let audit = incident_change(action, &self.before, &self.after);
        self.commit_with(actor, "", audit).await
    }

    /// Writes the change with its own audit record; `note` goes with the status change.
    pub(crate) async fn commit_with(
        mut self,
        actor: Actor<'_>,
        note: &str,
        audit: Change,
    ) -> Result<Incident> {
        save(&mut self.tx, &self.after).await?;
        status_change(&mut self.tx, &self.after, self.before.status, actor, note).await?;
        record(&mut self.tx, actor, audit).await?;
        self.tx.commit().await?;
        Ok(self.after)
    }
}

/// Reopens a closed incident inside a caller's transaction (a user's reply reopens it too).
pub(crate) async fn reopen_in(
    tx: &mut Tx,
    engine: Engine,
    actor: Actor<'_>,
    id: IncidentId,
    reason: &str,
) -> Result<Incident> {
    let before = load_for_update(tx, engine, id).await?;
    let mut after = before.clone();
    after.reopen()?;
    after.updated_at = crate::db::now();
    save(tx, &after).await?;
    super::duplicates::forget_original(tx, id).await?;
    status_change(tx, &after, before.status, actor, reason).await?;
    record(
        tx,
        actor,
        incident_change("incident.reopen", &before, &after),
    )
    .await?;
    Ok(after)
}

/// Appends one entry to an incident's timeline.
pub(crate) async fn append(
    tx: &mut Tx,
    incident: IncidentId,
    kind: EntryKind,
    author: Option<UserId>,
    body: &str,
    data: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<EntryId> {
    let id = sqlx::query(
        "INSERT INTO timeline_entries (incident_id, kind, at, author_id, body, data) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(incident.0)
    .bind(kind.code())
    .bind(ms(at))
    .bind(author.map(|a| a.0))
    .bind(body.to_string())
    .bind(data.to_string())
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    tx.touch(incident);
    Ok(EntryId(id))
}

/// What an incident's outbound event says: codes, folio and moments, never the person.
/// What an incident's outbound events say of it: codes, folio and moments, never the
/// person's data.
pub(crate) fn event_data(i: &Incident, from: Status) -> serde_json::Value {
    serde_json::json!({
        "id": i.id.0,
        "folio": i.folio.to_string(),
        "status": i.status.code(),
        "previous_status": from.code(),
        "channel": i.channel.code(),
        "user_type": i.user_type.map(|t| t.code()),
        "incident_type": i.incident_type.map(|t| t.code()),
        "topic_id": i.topic_id.map(|t| t.0),
        "critical": i.critical,
        "received_at": i.received_at,
        "closed_at": i.closed_at,
    })
}

pub(crate) async fn status_change(
    tx: &mut Tx,
    i: &Incident,
    from: Status,
    actor: Actor<'_>,
    note: &str,
) -> Result<()> {
    if from != i.status {
        let data = serde_json::json!({ "from": from.code(), "to": i.status.code() });
        append(
            tx,
            i.id,
            EntryKind::StatusChange,
            actor.user_id(),
            note,
            data,
            i.updated_at,
        )
        .await?;
        // Every status change passes here: the one place its outbound event is written.
        let event = match (from, i.status) {
            (_, Status::Closed) => Some(EventType::IncidentClosed),
            (Status::Closed, _) => Some(EventType::IncidentReopened),
            (_, Status::WaitingUnit) => Some(EventType::IncidentDerived),
            _ => None,
        };
        if let Some(event) = event {
            crate::webhooks::emit(tx, event, Some(i.id), event_data(i, from)).await?;
        }
    }
    Ok(())
}

pub(crate) async fn has_intervention_notes(tx: &mut Tx, id: IncidentId) -> Result<bool> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM timeline_entries WHERE incident_id = $1 AND kind = $2",
    )
    .bind(id.0)
    .bind(EntryKind::Intervention.code())
    .fetch_one(&mut **tx)
    .await?
    .try_get("n")?;
    Ok(n > 0)
}

/// Allocates the next folio of a year. The counter row is locked until the transaction ends,
/// so concurrent incidents get distinct numbers and a rolled-back one never leaves a reused
/// number behind (it leaves a gap only if the counter had committed, which it has not).
pub(crate) async fn next_folio(tx: &mut Tx, year: i32) -> Result<Folio> {
    let seq = take_folios(tx, year, 1).await?;
    Ok(Folio { year, seq })
}

/// Takes a run of `count` folios of a year, as [`next_folio`] takes one; returns the first.
pub(crate) async fn take_folios(
    tx: &mut sqlx::AnyConnection,
    year: i32,
    count: i64,
) -> Result<i64> {
    let last: i64 = folios_sql(year, count)
        .fetch_one(&mut *tx)
        .await?
        .try_get("last_seq")?;
    Ok(last - count + 1)
}

/// The counter update that takes `count` folios of `year`; its row's `last_seq` is the last.
pub(crate) fn folios_sql(year: i32, count: i64) -> Sql {
    let mut sql = Sql::new("INSERT INTO folio_counters (year, last_seq) VALUES (");
    sql.bind(i64::from(year));
    sql.push(", ");
    sql.bind(count);
    sql.push(
        ") ON CONFLICT (year) DO UPDATE SET last_seq = folio_counters.last_seq + excluded.last_seq \
         RETURNING last_seq",
    );
    sql
}

/// The columns of a timeline entry written with its id (bulk writers number their entries).
pub(crate) const ENTRY_COLUMNS: &[&str] = &[
    "id",
    "incident_id",
    "kind",
    "at",
    "author_id",
    "body",
    "data",
];

/// The columns a new incident is written with, and its row (`created_by` is the actor).
pub(crate) const NEW_INCIDENT_COLUMNS: &[&str] = &[
    "folio",
    "channel",
    "contact_id",
    "subject",
    "user_type",
    "incident_type",
    "topic_id",
    "critical",
    "status",
    "assigned_to",
    "received_at",
    "reopened_count",
    "created_by",
    "created_at",
    "updated_at",
];

pub(crate) fn new_incident_row(i: &Incident, created_by: Option<UserId>) -> Vec<Value> {
    vec![
        Value::Text(i.folio.to_string()),
        Value::Text(i.channel.code().to_string()),
        Value::OptInt(i.contact_id.map(|c| c.0)),
        Value::Text(i.subject.clone()),
        Value::OptText(i.user_type.map(|t| t.code().to_string())),
        Value::OptText(i.incident_type.map(|t| t.code().to_string())),
        Value::OptInt(i.topic_id.map(|t| t.0)),
        Value::Int(i64::from(i.critical)),
        Value::Text(i.status.code().to_string()),
        Value::OptInt(i.assigned_to.map(|u| u.0)),
        Value::Int(ms(i.received_at)),
        Value::Int(i.reopened_count),
        Value::OptInt(created_by.map(|u| u.0)),
        Value::Int(ms(i.created_at)),
        Value::Int(ms(i.updated_at)),
    ]
}

/// Procedure step 4, applied after every change of channel or type: the entry is derived to
/// the quality owner and waits on them, as any derivation does. Returns whether it was.
pub(crate) async fn route_to_quality_if_needed(
    tx: &mut Tx,
    incident: &mut Incident,
    now: DateTime<Utc>,
) -> Result<bool> {
    let derivations = derivations_in_tx(tx, incident.id).await?;
    if !incident.needs_quality_routing(&derivations) {
        return Ok(false);
    }
    let unit = unit_of_kind(tx, UnitKind::Quality).await?;
    let plan = quality_routing_plan();
    insert_derivation(tx, incident, &unit, &plan, Actor::System, now).await?;
    incident.apply_derivation(&plan, now);
    Ok(true)
}

pub(crate) async fn insert_derivation(
    tx: &mut Tx,
    incident: &Incident,
    unit: &Unit,
    plan: &DerivationPlan,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<DerivationId> {
    let id: i64 = sqlx::query(
        "INSERT INTO derivations (incident_id, unit_id, medium, reason, derived_by, derived_at, user_told, \
         told_address, closed_incident) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(incident.id.0)
    .bind(unit.id.0)
    .bind(plan.medium.code())
    .bind(plan.reason.clone())
    .bind(actor.user_id().map(|u| u.0))
    .bind(ms(now))
    .bind(i64::from(plan.user_told))
    .bind(plan.told_address.clone())
    .bind(i64::from(plan.close))
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    let data = serde_json::json!({
        "derivation_id": id,
        "unit_id": unit.id,
        "unit_name": unit.name,
        "medium": plan.medium.code(),
        "user_told": plan.user_told,
        "told_address": plan.told_address,
    });
    append(
        tx,
        incident.id,
        EntryKind::Derivation,
        actor.user_id(),
        &plan.reason,
        data,
        now,
    )
    .await?;
    Ok(DerivationId(id))
}

impl Store {
    /// Creates an incident inside a caller's transaction (channels add their own records to
    /// it). Returns the incident and the entry of the user's first message, if any.
    pub(crate) async fn create_incident_in(
        &self,
        tx: &mut Tx,
        actor: Actor<'_>,
        mut input: NewIncidentInput,
    ) -> Result<(Incident, Option<EntryId>)> {
        let now = crate::db::now();
        let contact = match input.contact_id {
            Some(id) => {
                let c = contact_in_tx(tx, id).await.map_err(|e| match e {
                    StoreError::NotFound(_) => {
                        RuleError::invalid("contact_id", "unknown_contact").into()
                    }
                    e => e,
                })?;
                // A merged contact lives on in the one it was merged into.
                let c = match c.merged_into {
                    Some(target) => contact_in_tx(tx, target).await?,
                    None => c,
                };
                // Staff cannot put a blocked person back into use with a new incident; a
                // person who writes again on a channel is still heard.
                if matches!(actor, Actor::Staff(_)) {
                    c.check_in_use()?;
                }
                Some(c)
            }
            None => None,
        };
        input.contact_id = contact.as_ref().map(|c| c.id);
        input.validate(contact.as_ref().and_then(|c| c.user_type), now)?;
        // Stored in milliseconds: answer with what a later read returns.
        let received_at = from_ms(ms(input.received_at.unwrap_or(now)))?;
        let folio = next_folio(tx, Folio::year_of(received_at, self.tz)).await?;
        let mut incident = input.open_incident(folio, received_at, now);
        let row = new_incident_row(&incident, actor.user_id());
        let id: i64 = insert_sql(
            engine_of(tx),
            Binding::Json,
            "incidents",
            NEW_INCIDENT_COLUMNS,
            &[row],
            " RETURNING id",
        )
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| match e {
            StoreError::Db(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                StoreError::Rule(RuleError::invalid("topic_id", "unknown_topic_or_user"))
            }
            e => e,
        })?
        .try_get("id")?;
        incident.id = IncidentId(id);
        let entry = if input.body.is_empty() {
            None
        } else {
            let data = serde_json::json!({});
            Some(
                append(
                    tx,
                    incident.id,
                    EntryKind::InboundMessage,
                    None,
                    &input.body,
                    data,
                    received_at,
                )
                .await?,
            )
        };
        if route_to_quality_if_needed(tx, &mut incident, now).await? {
            sqlx::query("UPDATE incidents SET status = $1 WHERE id = $2")
                .bind(incident.status.code())
                .bind(incident.id.0)
                .execute(&mut **tx)
                .await?;
        }
        let change = Change {
            entity: EntityKind::Incident,
            entity_id: folio.to_string(),
            action: "incident.create",
            before: None,
            after: snapshot(&incident),
        };
        record(tx, actor, change).await?;
        let data = event_data(&incident, incident.status);
        crate::webhooks::emit(tx, EventType::IncidentCreated, Some(incident.id), data).await?;
        tx.touch(incident.id);
        Ok((incident, entry))
    }
}

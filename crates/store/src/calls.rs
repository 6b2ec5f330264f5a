//! The call log: events from the telephone system update one row per call (whichever instance
//! receives them), the caller is matched to a contact by number, the agent who answered by
//! extension or name, and unanswered incoming calls wait in the missed list for a call-back.

use atiende_domain::call::{
    CallDirection, CallEvent, CallEventInput, CallState, HangupCause, is_missed,
};
use atiende_domain::contact::normalize_phone;
use atiende_domain::ids::{ContactId, IncidentId, UserId};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record};
use crate::db::{Store, code, from_ms, ms, now, opt_code, opt_from_ms};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Call {
    pub id: i64,
    pub call_id: String,
    pub direction: CallDirection,
    pub from_number: String,
    pub to_number: String,
    pub contact_id: Option<ContactId>,
    pub contact_name: Option<String>,
    pub state: CallState,
    pub cause: Option<HangupCause>,
    pub user_id: Option<UserId>,
    pub agent: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub answered_at: Option<chrono::DateTime<chrono::Utc>>,
    pub ended_at: Option<chrono::DateTime<chrono::Utc>>,
    pub missed: bool,
    pub incident_id: Option<IncidentId>,
    /// The folio of the incident registered from the call.
    pub folio: Option<String>,
    pub called_back_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Call {
    /// The other party's number: who called us, or whom we called.
    pub fn their_number(&self) -> &str {
        match self.direction {
            CallDirection::In => &self.from_number,
            CallDirection::Out => &self.to_number,
        }
    }
}

/// Calls with their contact's name; the argument is the rest of the query.
macro_rules! select_calls {
    ($rest:literal) => {
        concat!(
            "SELECT k.*, CASE WHEN c.blocked_at IS NULL THEN c.name END AS contact_name, i.folio AS folio FROM calls k \
             LEFT JOIN contacts c ON c.id = k.contact_id LEFT JOIN incidents i ON i.id = k.incident_id ",
            $rest
        )
    };
}

fn call_from_row(r: &AnyRow) -> Result<Call> {
    Ok(Call {
        id: r.try_get("id")?,
        call_id: r.try_get("call_id")?,
        direction: code(r, "direction", CallDirection::from_code)?,
        from_number: r.try_get("from_number")?,
        to_number: r.try_get("to_number")?,
        contact_id: r.try_get::<Option<i64>, _>("contact_id")?.map(ContactId),
        contact_name: r.try_get("contact_name")?,
        state: code(r, "state", CallState::from_code)?,
        cause: opt_code(r, "cause", HangupCause::from_code)?,
        user_id: r.try_get::<Option<i64>, _>("user_id")?.map(UserId),
        agent: r.try_get("agent")?,
        started_at: from_ms(r.try_get("started_at")?)?,
        answered_at: opt_from_ms(r.try_get("answered_at")?)?,
        ended_at: opt_from_ms(r.try_get("ended_at")?)?,
        missed: crate::db::flag(r, "missed")?,
        incident_id: r.try_get::<Option<i64>, _>("incident_id")?.map(IncidentId),
        folio: r.try_get("folio")?,
        called_back_at: opt_from_ms(r.try_get("called_back_at")?)?,
    })
}

/// The contact a number belongs to (as a phone or a WhatsApp number).
async fn contact_by_number(tx: &mut Tx, number: &str) -> Result<Option<ContactId>> {
    let Some(phone) = normalize_phone(number) else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT contact_id FROM contact_identifiers WHERE (kind = 'phone' AND value = $1) OR (kind = 'whatsapp' AND value = $2) \
         ORDER BY kind LIMIT 1",
    )
    .bind(phone.clone())
    .bind(number.chars().filter(char::is_ascii_digit).collect::<String>())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row
        .map(|r| r.try_get("contact_id"))
        .transpose()?
        .map(ContactId))
}

/// The agent who answered: by the extension that answered, else by login or name.
async fn agent_of(tx: &mut Tx, e: &CallEventInput) -> Result<Option<UserId>> {
    if let Some(ext) = e
        .answering_number
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        let row =
            sqlx::query("SELECT id FROM users WHERE phone_extension = $1 AND disabled = 0 LIMIT 1")
                .bind(ext.to_string())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(r) = row {
            return Ok(Some(UserId(r.try_get("id")?)));
        }
    }
    // Zammad's answeringNumber may also be a login or an address; user[] holds real names.
    let names = e.users.iter().chain(e.answering_number.iter());
    for name in names {
        let row = sqlx::query(
            "SELECT id FROM users WHERE (login = $1 OR LOWER(name) = $1 OR email = $1) AND disabled = 0 LIMIT 1",
        )
        .bind(name.trim().to_lowercase())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(r) = row {
            return Ok(Some(UserId(r.try_get("id")?)));
        }
    }
    Ok(None)
}

impl Store {
    /// Applies one event to its call, creating the call on its first event (whichever arrives
    /// first). Repeated events change nothing.
    pub async fn record_call_event(&self, e: &CallEventInput) -> Result<Call> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.record_call_event_once(e).await {
                Err(err) if attempt < 4 && err.is_race() => continue,
                other => return other,
            }
        }
    }

    async fn record_call_event_once(&self, e: &CallEventInput) -> Result<Call> {
        let mut tx = self.begin().await?;
        let sql = self
            .engine()
            .locking("SELECT * FROM calls WHERE call_id = $1");
        let existing = sqlx::query(sql)
            .bind(e.call_id.clone())
            .fetch_optional(&mut *tx)
            .await?;
        let t = ms(now());
        let id: i64 = match existing {
            Some(r) => r.try_get("id")?,
            None => {
                let number = match e.direction {
                    CallDirection::In => &e.from,
                    CallDirection::Out => &e.to,
                };
                let contact = contact_by_number(&mut tx, number).await?;
                sqlx::query(
                    "INSERT INTO calls (call_id, direction, from_number, to_number, contact_id, state, started_at, agent) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, '') RETURNING id",
                )
                .bind(e.call_id.clone())
                .bind(e.direction.code())
                .bind(e.from.chars().take(40).collect::<String>())
                .bind(e.to.chars().take(40).collect::<String>())
                .bind(contact.map(|c| c.0))
                .bind(CallState::Ringing.code())
                .bind(t)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?
            }
        };
        let call = call_in_tx(&mut tx, id).await?;
        let state = call.state.after(e.event);
        match e.event {
            CallEvent::Answer if call.state == CallState::Ringing => {
                let user = agent_of(&mut tx, e).await?;
                let agent = e
                    .users
                    .first()
                    .cloned()
                    .or(e.answering_number.clone())
                    .unwrap_or_default();
                sqlx::query(
                    "UPDATE calls SET state = $1, answered_at = $2, user_id = $3, agent = $4 WHERE id = $5",
                )
                .bind(state.code())
                .bind(t)
                .bind(user.map(|u| u.0))
                .bind(agent.chars().take(100).collect::<String>())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            CallEvent::Hangup(cause) if call.state != CallState::Ended => {
                let missed = is_missed(call.direction, call.answered_at.is_some(), cause);
                sqlx::query(
                    "UPDATE calls SET state = $1, ended_at = $2, cause = $3, missed = $4 WHERE id = $5",
                )
                .bind(state.code())
                .bind(t)
                .bind(cause.map(|c| c.code()))
                .bind(i64::from(missed))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            _ => {}
        }
        let call = call_in_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(call)
    }

    pub async fn call(&self, id: i64) -> Result<Call> {
        call_in_tx(&mut *self.reader().acquire().await?, id).await
    }

    /// Recent calls, newest first.
    pub async fn calls(&self, limit: i64) -> Result<Vec<Call>> {
        let rows = sqlx::query(select_calls!("ORDER BY k.id DESC LIMIT $1"))
            .bind(limit.clamp(1, 500))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Calls newest first, a page at a time; only the missed ones not called back when asked.
    pub async fn call_list(
        &self,
        missed_only: bool,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Call>> {
        let rows = sqlx::query(select_calls!(
            "WHERE ($1 = 0 OR (k.missed = 1 AND k.called_back_at IS NULL)) AND k.id < $2 ORDER BY k.id DESC LIMIT $3"
        ))
        .bind(i64::from(missed_only))
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, crate::MAX_PAGE + 1))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Every call with a person, oldest first.
    pub(crate) async fn calls_of_contact(&self, contact: ContactId) -> Result<Vec<Call>> {
        let rows = sqlx::query(select_calls!("WHERE k.contact_id = $1 ORDER BY k.id"))
            .bind(contact.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Missed calls nobody has called back yet, oldest first (the order to call them back).
    pub async fn missed_calls(&self) -> Result<Vec<Call>> {
        let rows = sqlx::query(select_calls!(
            "WHERE k.missed = 1 AND k.called_back_at IS NULL ORDER BY k.id LIMIT 500"
        ))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Calls this agent answered that have no incident yet and that are newer than `after`:
    /// what the console pops up. Read from the database, so it works on any instance.
    pub async fn calls_to_pop(&self, user: UserId, after: i64, since_ms: i64) -> Result<Vec<Call>> {
        let rows = sqlx::query(select_calls!("WHERE k.user_id = $1 AND k.id > $2 AND k.answered_at >= $3 AND k.incident_id IS NULL ORDER BY k.id LIMIT 5"))
        .bind(user.0)
        .bind(after)
        .bind(since_ms)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(call_from_row).collect()
    }

    /// Someone called the person back.
    pub async fn mark_called_back(&self, actor: Actor<'_>, id: i64) -> Result<Call> {
        let mut tx = self.begin().await?;
        let call = call_in_tx(&mut tx, id).await?;
        if call.called_back_at.is_none() {
            sqlx::query("UPDATE calls SET called_back_at = $1, called_back_by = $2 WHERE id = $3")
                .bind(ms(now()))
                .bind(actor.user_id().map(|u| u.0))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let change = Change {
                entity: atiende_domain::audit::EntityKind::Contact,
                entity_id: format!("call:{id}"),
                action: "call.called_back",
                before: None,
                after: Some(serde_json::json!({ "call_id": call.call_id })),
            };
            record(&mut tx, actor, change).await?;
        }
        let call = call_in_tx(&mut tx, id).await?;
        tx.commit().await?;
        Ok(call)
    }

    /// Ties a call to the incident registered from it.
    pub async fn link_call(&self, id: i64, incident: IncidentId) -> Result<()> {
        sqlx::query("UPDATE calls SET incident_id = $1 WHERE id = $2 AND incident_id IS NULL")
            .bind(incident.0)
            .bind(id)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

async fn call_in_tx(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Call> {
    let row = sqlx::query(select_calls!("WHERE k.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound("call"))?;
    call_from_row(&row)
}

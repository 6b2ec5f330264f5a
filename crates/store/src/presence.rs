//! Working together on an incident: who else has it open and who is writing on it (marked by
//! each console's live stream and keystrokes, read by every instance from the same rows), and
//! what was added since a page was made (an answer written on a stale view is checked against
//! it before it is sent).

use atiende_domain::ids::{IncidentId, UserId};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::db::{Store, ms};
use crate::error::Result;

/// A page not marked for this long is taken as closed (its stream marks it every few seconds).
pub const PRESENT_FOR: Duration = Duration::seconds(20);

/// A keystroke shows its writer as writing for this long.
pub const TYPING_FOR: Duration = Duration::seconds(8);

/// Someone else on an incident.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Present {
    #[serde(skip)]
    pub user_id: UserId,
    pub name: String,
    pub typing: bool,
}

/// An entry added to an incident after a page of it was made.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Added {
    pub entry_id: i64,
    pub kind: atiende_domain::incident::EntryKind,
    /// Who wrote it: a person of the console, or none (the person, a unit's email, the system).
    pub author: Option<String>,
}

impl Store {
    /// Marks `user` as having the incident open at `at`, and as writing on it too when `typing`.
    pub async fn mark_present(
        &self,
        incident: IncidentId,
        user: UserId,
        typing: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let typing_at = typing.then(|| ms(at));
        sqlx::query(
            "INSERT INTO incident_presence (incident_id, user_id, seen_at, typing_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id, user_id) DO UPDATE SET \
             seen_at = excluded.seen_at, \
             typing_at = COALESCE(excluded.typing_at, incident_presence.typing_at)",
        )
        .bind(incident.0)
        .bind(user.0)
        .bind(ms(at))
        .bind(typing_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The page was closed: the others stop seeing its reader at once.
    pub async fn leave_incident(&self, incident: IncidentId, user: UserId) -> Result<()> {
        sqlx::query("DELETE FROM incident_presence WHERE incident_id = $1 AND user_id = $2")
            .bind(incident.0)
            .bind(user.0)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Who else has the incident open at `at`, and whether they are writing, by name.
    pub async fn present_on(
        &self,
        incident: IncidentId,
        except: UserId,
        at: DateTime<Utc>,
    ) -> Result<Vec<Present>> {
        let rows = sqlx::query(
            "SELECT p.user_id, u.name, p.typing_at FROM incident_presence p \
             JOIN users u ON u.id = p.user_id \
             WHERE p.incident_id = $1 AND p.user_id <> $2 AND p.seen_at > $3 ORDER BY u.name",
        )
        .bind(incident.0)
        .bind(except.0)
        .bind(ms(at - PRESENT_FOR))
        .fetch_all(self.reader())
        .await?;
        let typing_since = ms(at - TYPING_FOR);
        rows.iter()
            .map(|r| {
                Ok(Present {
                    user_id: UserId(r.try_get("user_id")?),
                    name: r.try_get("name")?,
                    typing: r
                        .try_get::<Option<i64>, _>("typing_at")?
                        .is_some_and(|t| t > typing_since),
                })
            })
            .collect()
    }

    /// The newest timeline entry of an incident (0 for none): a page remembers it, and what is
    /// newer was added since.
    pub async fn newest_entry(&self, incident: IncidentId) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(id), 0) AS newest FROM timeline_entries WHERE incident_id = $1",
        )
        .bind(incident.0)
        .fetch_one(self.reader())
        .await?;
        Ok(row.try_get("newest")?)
    }

    /// What others added to an incident after entry `seen`: the person's messages, other
    /// agents' answers and notes, units' answers, changes of status. The reader's own entries
    /// are not news to them.
    pub async fn added_since(
        &self,
        incident: IncidentId,
        seen: i64,
        reader: UserId,
    ) -> Result<Vec<Added>> {
        let rows = sqlx::query(
            "SELECT e.id, e.kind, u.name FROM timeline_entries e \
             LEFT JOIN users u ON u.id = e.author_id \
             WHERE e.incident_id = $1 AND e.id > $2 \
             AND (e.author_id IS NULL OR e.author_id <> $3) ORDER BY e.id LIMIT 20",
        )
        .bind(incident.0)
        .bind(seen)
        .bind(reader.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(Added {
                    entry_id: r.try_get("id")?,
                    kind: atiende_domain::incident::EntryKind::from_code(&kind)
                        .ok_or_else(|| crate::error::StoreError::corrupt("entry kind"))?,
                    author: r.try_get("name")?,
                })
            })
            .collect()
    }

    /// Forgets the marks of pages closed long ago (a stream that ended without saying so).
    pub async fn prune_presence(&self, at: DateTime<Utc>) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM incident_presence WHERE seen_at < $1")
                .bind(ms(at - Duration::hours(1)))
                .execute(self.writer())
                .await?
                .rows_affected(),
        )
    }
}

/// Whether anyone of the staff has the incident open now.
pub(crate) async fn watched(
    tx: &mut crate::tx::Tx,
    incident: IncidentId,
    at: DateTime<Utc>,
) -> Result<bool> {
    Ok(sqlx::query(
        "SELECT 1 AS one FROM incident_presence WHERE incident_id = $1 AND seen_at > $2 LIMIT 1",
    )
    .bind(incident.0)
    .bind(ms(at - PRESENT_FOR))
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

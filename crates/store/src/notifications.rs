//! Notifications in storage: who is told of what (written in the transaction of the event, so a
//! rolled-back step tells nobody), each person's list and unread count, and marking them read.

use atiende_domain::ids::{IncidentId, UnitId, UserId};
use atiende_domain::notification::{Audience, NotificationKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::db::{Store, from_ms, ms, now};
use crate::error::{Result, StoreError};
use crate::tx::Tx;

async fn ids(tx: &mut Tx, sql: &str, bind: Option<i64>) -> Result<Vec<i64>> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
    if let Some(b) = bind {
        q = q.bind(b);
    }
    q.fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("id").map_err(StoreError::from))
        .collect()
}

/// Tells the audience of `kind` about an incident, in the event's transaction: its assignee
/// (as the incident's row has it), the leads, or the responsibles of `unit`. `actor` is never
/// told of their own act.
pub(crate) async fn notify(
    tx: &mut Tx,
    kind: NotificationKind,
    incident: IncidentId,
    unit: Option<UnitId>,
    actor: Option<UserId>,
) -> Result<()> {
    let assignee: Option<i64> = sqlx::query("SELECT assigned_to FROM incidents WHERE id = $1")
        .bind(incident.0)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("assigned_to"))
        .transpose()?
        .flatten();
    let leads = "SELECT id FROM users WHERE role = 'cap_lead' AND disabled = 0";
    let to: Vec<i64> = match (kind.audience(), assignee) {
        (Audience::Assignee, Some(a)) | (Audience::AssigneeElseLeads, Some(a)) => vec![a],
        (Audience::Assignee, None) => Vec::new(),
        (Audience::AssigneeElseLeads, None) | (Audience::Leads, _) => ids(tx, leads, None).await?,
        (Audience::UnitResponsibles, _) => match unit {
            Some(unit) => {
                ids(
                    tx,
                    "SELECT u.id FROM users u JOIN user_units uu ON uu.user_id = u.id \
                     WHERE uu.unit_id = $1 AND u.role = 'unit_responsible' AND u.disabled = 0",
                    Some(unit.0),
                )
                .await?
            }
            None => Vec::new(),
        },
    };
    write(tx, kind, incident, to, actor).await
}

/// The person wrote again on an incident (by email or chat): its assignee is told.
pub(crate) async fn person_replied(tx: &mut Tx, incident: IncidentId) -> Result<()> {
    notify(tx, NotificationKind::PersonReplied, incident, None, None).await
}

/// Tells one person (an incident assigned to them, before its row says so).
pub(crate) async fn notify_user(
    tx: &mut Tx,
    kind: NotificationKind,
    incident: IncidentId,
    user: UserId,
    actor: Option<UserId>,
) -> Result<()> {
    write(tx, kind, incident, vec![user.0], actor).await
}

async fn write(
    tx: &mut Tx,
    kind: NotificationKind,
    incident: IncidentId,
    mut to: Vec<i64>,
    actor: Option<UserId>,
) -> Result<()> {
    to.retain(|u| Some(*u) != actor.map(|a| a.0));
    to.sort_unstable();
    to.dedup();
    let at = ms(now());
    for user in to {
        sqlx::query(
            "INSERT INTO notifications (user_id, kind, incident_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user)
        .bind(kind.code())
        .bind(incident.0)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One notification as its reader sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub kind: NotificationKind,
    pub incident_id: Option<i64>,
    pub folio: Option<String>,
    pub subject: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

impl Store {
    /// A person's notifications, newest first, `before` an id for the next page.
    pub async fn notifications(
        &self,
        user: UserId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Notification>> {
        let rows = sqlx::query(
            "SELECT n.id, n.kind, n.incident_id, n.created_at, n.read_at, i.folio, i.subject \
             FROM notifications n LEFT JOIN incidents i ON i.id = n.incident_id \
             WHERE n.user_id = $1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3",
        )
        .bind(user.0)
        .bind(before.unwrap_or(i64::MAX))
        .bind(crate::page_rows(limit))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(Notification {
                    id: r.try_get("id")?,
                    kind: NotificationKind::from_code(&kind)
                        .ok_or_else(|| StoreError::corrupt(kind))?,
                    incident_id: r.try_get("incident_id")?,
                    folio: r.try_get("folio")?,
                    subject: r.try_get("subject")?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                    read: r.try_get::<Option<i64>, _>("read_at")?.is_some(),
                })
            })
            .collect()
    }

    /// Of these notifications, those about no incident or one the reader may still see (they
    /// were told of what they could see then).
    pub async fn still_visible(
        &self,
        scope: &atiende_domain::access::Scope,
        items: Vec<Notification>,
    ) -> Result<Vec<Notification>> {
        let mut visible = Vec::with_capacity(items.len());
        for n in items {
            let seen = match n.incident_id {
                Some(id) => self.incident_visible(scope, IncidentId(id)).await?,
                None => true,
            };
            if seen {
                visible.push(n);
            }
        }
        Ok(visible)
    }

    /// How many a person has not read, and their newest notification's id (0 for none): what
    /// a live stream compares to tell the console something changed.
    pub async fn notification_mark(&self, user: UserId) -> Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL) AS unread, \
             (SELECT MAX(id) FROM notifications WHERE user_id = $1) AS latest",
        )
        .bind(user.0)
        .fetch_one(self.reader())
        .await?;
        Ok((
            r.try_get("unread")?,
            r.try_get::<Option<i64>, _>("latest")?.unwrap_or(0),
        ))
    }

    /// How many a person has not read.
    pub async fn unread_notifications(&self, user: UserId) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user.0)
        .fetch_one(self.reader())
        .await?
        .try_get("n")?)
    }

    /// Marks a person's notifications read: these, or all of them.
    pub async fn mark_notifications_read(&self, user: UserId, ids: Option<&[i64]>) -> Result<u64> {
        let at = ms(now());
        let done = match ids {
            None => sqlx::query(
                "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL",
            )
            .bind(at)
            .bind(user.0)
            .execute(self.writer())
            .await?
            .rows_affected(),
            Some(ids) => {
                let mut n = 0;
                for id in ids {
                    n += sqlx::query(
                        "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND id = $3 AND read_at IS NULL",
                    )
                    .bind(at)
                    .bind(user.0)
                    .bind(*id)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                }
                n
            }
        };
        Ok(done)
    }
}

//! Notifications in storage: who is told of what (written in the transaction of the event, so a
//! rolled-back step tells nobody), as each person chose (in the console, by email at once or in
//! a digest), each person's list and unread count, and marking them read. The emails are
//! written by `notification_emails`.

use atiende_domain::ids::{IncidentId, UnitId, UserId};
use atiende_domain::notification::{Audience, EmailDelivery, NotificationKind, Preference};
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
    let assignee = assignee_of(tx, incident).await?;
    let to: Vec<i64> = match (kind.audience(), assignee) {
        (Audience::Assignee, Some(a)) | (Audience::AssigneeElseLeads, Some(a)) => vec![a],
        (Audience::Assignee, None) | (Audience::Named, _) | (Audience::Administrators, _) => {
            Vec::new()
        }
        (Audience::AssigneeElseLeads, None) | (Audience::Leads, _) => leads(tx).await?,
        (Audience::UnitResponsibles, _) => match unit {
            Some(unit) => unit_responsibles(tx, unit).await?,
            None => Vec::new(),
        },
        (Audience::UnitResponsiblesElseLeads, _) => match unit {
            Some(unit) => unit_responsibles(tx, unit).await?,
            None => leads(tx).await?,
        },
    };
    write(tx, kind, About::Incident(incident), to, actor).await
}

/// Who has the incident now, as its row says.
async fn assignee_of(tx: &mut Tx, incident: IncidentId) -> Result<Option<i64>> {
    Ok(
        sqlx::query("SELECT assigned_to FROM incidents WHERE id = $1")
            .bind(incident.0)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get("assigned_to"))
            .transpose()?
            .flatten(),
    )
}

async fn leads(tx: &mut Tx) -> Result<Vec<i64>> {
    ids(
        tx,
        "SELECT id FROM users WHERE role = 'cap_lead' AND disabled = 0",
        None,
    )
    .await
}

async fn unit_responsibles(tx: &mut Tx, unit: UnitId) -> Result<Vec<i64>> {
    ids(
        tx,
        "SELECT u.id FROM users u JOIN user_units uu ON uu.user_id = u.id \
         WHERE uu.unit_id = $1 AND u.role = 'unit_responsible' AND u.disabled = 0",
        Some(unit.0),
    )
    .await
}

/// What a notification is about: the row it points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum About<'a> {
    Incident(IncidentId),
    Nonconformity(i64),
    Article(i64),
    /// An outside service (its key in `external_services`).
    ExternalService(&'a str),
}

/// A nonconformity was given to a person of the console: they are told (not when they gave it
/// to themselves).
pub(crate) async fn nonconformity_assigned(
    tx: &mut Tx,
    nonconformity: i64,
    to: UserId,
    actor: Option<UserId>,
) -> Result<()> {
    write(
        tx,
        NotificationKind::NonconformityAssigned,
        About::Nonconformity(nonconformity),
        vec![to.0],
        actor,
    )
    .await
}

/// An article passed its review date: its owner unit's responsibles are told (the leads for
/// the CAP's own articles).
pub(crate) async fn article_review_due(
    tx: &mut Tx,
    article: i64,
    owner: Option<UnitId>,
) -> Result<()> {
    let to = match owner {
        Some(unit) => unit_responsibles(tx, unit).await?,
        None => leads(tx).await?,
    };
    write(
        tx,
        NotificationKind::ArticleReviewDue,
        About::Article(article),
        to,
        None,
    )
    .await
}

/// A unit's clock on a derivation warned or fell due: the unit's responsibles are told, and
/// the incident's assignee (or the leads when nobody has it).
pub(crate) async fn unit_clock(
    tx: &mut Tx,
    kind: NotificationKind,
    incident: IncidentId,
    unit: UnitId,
) -> Result<()> {
    let assignee = assignee_of(tx, incident).await?;
    let mut to = unit_responsibles(tx, unit).await?;
    match assignee {
        Some(a) => to.push(a),
        None => to.extend(leads(tx).await?),
    }
    write(tx, kind, About::Incident(incident), to, None).await
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
    write(tx, kind, About::Incident(incident), vec![user.0], actor).await
}

/// An outside service has kept failing past the configured time: the administrators are told.
pub(crate) async fn external_service_failing(tx: &mut Tx, service: &str) -> Result<()> {
    let to = ids(
        tx,
        "SELECT id FROM users WHERE role = 'admin' AND disabled = 0",
        None,
    )
    .await?;
    write(
        tx,
        NotificationKind::ExternalServiceFailing,
        About::ExternalService(service),
        to,
        None,
    )
    .await
}

/// Writes the notification for each recipient as they chose to be told of `kind`; those who
/// chose to be told nowhere get nothing.
async fn write(
    tx: &mut Tx,
    kind: NotificationKind,
    about: About<'_>,
    mut to: Vec<i64>,
    actor: Option<UserId>,
) -> Result<()> {
    to.retain(|u| Some(*u) != actor.map(|a| a.0));
    to.sort_unstable();
    to.dedup();
    let at = ms(now());
    let (incident, nonconformity, article, service) = match about {
        About::Incident(i) => (Some(i.0), None, None, None),
        About::Nonconformity(n) => (None, Some(n), None, None),
        About::Article(a) => (None, None, Some(a), None),
        About::ExternalService(s) => (None, None, None, Some(s.to_string())),
    };
    for user in to {
        let choice = preference(tx, UserId(user), kind).await?;
        if choice.silent() {
            continue;
        }
        let email = (choice.email != EmailDelivery::Off).then(|| choice.email.code());
        sqlx::query(
            "INSERT INTO notifications (user_id, kind, incident_id, nonconformity_id, article_id, \
             service, in_console, email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(user)
        .bind(kind.code())
        .bind(incident)
        .bind(nonconformity)
        .bind(article)
        .bind(service.clone())
        .bind(i64::from(choice.in_console))
        .bind(email)
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// How a person chose to be told of one kind of event (the kind's default if they did not).
async fn preference(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    kind: NotificationKind,
) -> Result<Preference> {
    let row = sqlx::query(
        "SELECT in_console, email FROM notification_preferences WHERE user_id = $1 AND kind = $2",
    )
    .bind(user.0)
    .bind(kind.code())
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(kind.default_preference()),
        Some(r) => {
            let email: String = r.try_get("email")?;
            Ok(Preference {
                in_console: r.try_get::<i64, _>("in_console")? != 0,
                email: EmailDelivery::from_code(&email)
                    .ok_or_else(|| StoreError::corrupt(email))?,
            })
        }
    }
}

/// How long a read notification is kept, and any notification at all.
pub const READ_KEPT_DAYS: i64 = 90;
pub const KEPT_DAYS: i64 = 365;

/// One notification as its reader sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub kind: NotificationKind,
    pub incident_id: Option<i64>,
    pub folio: Option<String>,
    pub subject: Option<String>,
    /// The nonconformity it is about (its number in the register).
    pub nonconformity_id: Option<i64>,
    /// The knowledge article it is about, and its title.
    pub article_id: Option<i64>,
    pub article_title: Option<String>,
    /// The outside service it is about, by the name administrators know it by.
    pub service_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

impl Notification {
    /// What it is about, in words.
    pub fn about(&self, lang: atiende_domain::classification::Lang) -> String {
        use atiende_domain::classification::Lang;
        if let Some(folio) = &self.folio {
            return format!("{folio} {}", self.subject.as_deref().unwrap_or_default());
        }
        if let Some(id) = self.nonconformity_id {
            return match lang {
                Lang::Es => format!("No conformidad {id}"),
                Lang::En => format!("Nonconformity {id}"),
            };
        }
        if let Some(name) = &self.service_name {
            return name.clone();
        }
        self.article_title.clone().unwrap_or_default()
    }

    /// Where in the console it is seen, besides the list of notifications.
    pub fn link(&self) -> Option<String> {
        if let Some(folio) = &self.folio {
            Some(format!("/incidentes/{folio}"))
        } else if let Some(id) = self.nonconformity_id {
            Some(format!("/calidad/pnc/{id}"))
        } else if let Some(id) = self.article_id {
            Some(format!("/conocimiento/{id}"))
        } else {
            self.service_name
                .as_ref()
                .map(|_| "/admin#servicios".into())
        }
    }
}

/// One kind of event and how a person is told of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationChoice {
    pub kind: NotificationKind,
    #[serde(flatten)]
    pub preference: Preference,
}

pub(crate) fn notification_from_row(r: &sqlx::any::AnyRow) -> Result<Notification> {
    let kind: String = r.try_get("kind")?;
    Ok(Notification {
        id: r.try_get("id")?,
        kind: NotificationKind::from_code(&kind).ok_or_else(|| StoreError::corrupt(kind))?,
        incident_id: r.try_get("incident_id")?,
        folio: r.try_get("folio")?,
        subject: r.try_get("subject")?,
        nonconformity_id: r.try_get("nonconformity_id")?,
        article_id: r.try_get("article_id")?,
        article_title: r.try_get("article_title")?,
        service_name: r.try_get("service_name")?,
        created_at: from_ms(r.try_get("created_at")?)?,
        read: r.try_get::<Option<i64>, _>("read_at")?.is_some(),
    })
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
            "SELECT n.id, n.kind, n.incident_id, n.nonconformity_id, n.article_id, n.created_at, \
             n.read_at, i.folio, i.subject, a.title AS article_title, s.name AS service_name \
             FROM notifications n LEFT JOIN incidents i ON i.id = n.incident_id \
             LEFT JOIN articles a ON a.id = n.article_id \
             LEFT JOIN external_services s ON s.service = n.service \
             WHERE n.user_id = $1 AND n.in_console = 1 AND n.id < $2 ORDER BY n.id DESC LIMIT $3",
        )
        .bind(user.0)
        .bind(before.unwrap_or(i64::MAX))
        .bind(crate::page_rows(limit))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(notification_from_row).collect()
    }

    /// How a person is told of each kind of event, in the kinds' order.
    pub async fn notification_preferences(&self, user: UserId) -> Result<Vec<NotificationChoice>> {
        let mut conn = self.reader().acquire().await?;
        let mut out = Vec::with_capacity(NotificationKind::ALL.len());
        for kind in NotificationKind::ALL {
            out.push(NotificationChoice {
                kind: *kind,
                preference: preference(&mut conn, user, *kind).await?,
            });
        }
        Ok(out)
    }

    /// Records a person's choices (kinds not named keep theirs).
    pub async fn save_notification_preferences(
        &self,
        user: UserId,
        choices: &[NotificationChoice],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for c in choices {
            sqlx::query(
                "INSERT INTO notification_preferences (user_id, kind, in_console, email) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id, kind) DO UPDATE SET in_console = excluded.in_console, email = excluded.email",
            )
            .bind(user.0)
            .bind(c.kind.code())
            .bind(i64::from(c.preference.in_console))
            .bind(c.preference.email.code())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
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
            "SELECT (SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL AND in_console = 1) AS unread, \
             (SELECT MAX(id) FROM notifications WHERE user_id = $1 AND in_console = 1) AS latest",
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
            "SELECT COUNT(*) AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL AND in_console = 1",
        )
        .bind(user.0)
        .fetch_one(self.reader())
        .await?
        .try_get("n")?)
    }

    /// Forgets what nobody needs any more: notifications read and older than `READ_KEPT_DAYS`,
    /// and any older than `KEPT_DAYS`. Returns how many.
    pub async fn prune_notifications(&self, now: DateTime<Utc>) -> Result<u64> {
        let read_before = ms(now - chrono::Duration::days(READ_KEPT_DAYS));
        let before = ms(now - chrono::Duration::days(KEPT_DAYS));
        Ok(sqlx::query(
            "DELETE FROM notifications WHERE created_at < $1 AND (read_at IS NOT NULL OR created_at < $2)",
        )
        .bind(read_before)
        .bind(before)
        .execute(self.writer())
        .await?
        .rows_affected())
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

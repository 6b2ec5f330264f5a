//! Privacy notices (avisos de privacidad), integral and simplified: each published text is a
//! new version, never edited in place, so that what a person was shown when they wrote can be
//! read back by the version stored with their submission.

use atiende_domain::audit::EntityKind;
use atiende_domain::ids::IncidentId;
use atiende_domain::privacy::NoticeKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Actor;
use crate::audit::{Change, record};
use crate::db::{Store, code, from_ms, ms, now};
use crate::error::Result;
use crate::tx::Tx;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    pub id: i64,
    pub kind: NoticeKind,
    pub version: i64,
    pub body: String,
    pub published_at: DateTime<Utc>,
}

fn notice_from_row(r: &AnyRow) -> Result<Notice> {
    Ok(Notice {
        id: r.try_get("id")?,
        kind: code(r, "kind", NoticeKind::from_code)?,
        version: r.try_get("version")?,
        body: r.try_get("body")?,
        published_at: from_ms(r.try_get("published_at")?)?,
    })
}

const CURRENT: &str = "SELECT * FROM privacy_notices WHERE kind = $1 ORDER BY version DESC LIMIT 1";

/// The notice of a kind in force, inside a transaction (automatic replies append it).
pub(crate) async fn current_in(tx: &mut Tx, kind: NoticeKind) -> Result<Option<Notice>> {
    sqlx::query(CURRENT)
        .bind(kind.code())
        .fetch_optional(&mut **tx)
        .await?
        .as_ref()
        .map(notice_from_row)
        .transpose()
}

/// A notice id a public form sent back, if it names a notice of that kind; else the current
/// one (a form kept open across a new version still records a real version).
pub(crate) async fn shown_in(
    tx: &mut Tx,
    kind: NoticeKind,
    sent: Option<i64>,
) -> Result<Option<i64>> {
    if let Some(id) = sent {
        let known = sqlx::query("SELECT id FROM privacy_notices WHERE id = $1 AND kind = $2")
            .bind(id)
            .bind(kind.code())
            .fetch_optional(&mut **tx)
            .await?;
        if known.is_some() {
            return Ok(Some(id));
        }
    }
    Ok(current_in(tx, kind).await?.map(|n| n.id))
}

impl Store {
    /// The notice of a kind in force.
    pub async fn current_notice(&self, kind: NoticeKind) -> Result<Option<Notice>> {
        let row = sqlx::query(CURRENT)
            .bind(kind.code())
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(notice_from_row).transpose()
    }

    pub async fn notice(&self, id: i64) -> Result<Option<Notice>> {
        let row = sqlx::query("SELECT * FROM privacy_notices WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(notice_from_row).transpose()
    }

    /// The notice a person was shown when they sent what opened an incident (the buzón).
    pub async fn notice_of_incident(&self, incident: IncidentId) -> Result<Option<Notice>> {
        let row = sqlx::query(
            "SELECT n.* FROM privacy_notices n JOIN incidents i ON i.privacy_notice_id = n.id WHERE i.id = $1",
        )
        .bind(incident.0)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(notice_from_row).transpose()
    }

    /// Every version of a kind, newest first.
    pub async fn notice_versions(&self, kind: NoticeKind) -> Result<Vec<Notice>> {
        let rows =
            sqlx::query("SELECT * FROM privacy_notices WHERE kind = $1 ORDER BY version DESC")
                .bind(kind.code())
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(notice_from_row).collect()
    }

    /// Publishes a new version of a notice (unchanged text publishes nothing).
    pub async fn publish_notice(
        &self,
        actor: Actor<'_>,
        kind: NoticeKind,
        body: &str,
    ) -> Result<Notice> {
        let mut v = atiende_domain::error::Validator::new();
        let body = v.text("body", body, 50_000, true);
        v.finish()?;
        let mut tx = self.begin().await?;
        let current = current_in(&mut tx, kind).await?;
        if let Some(c) = current.as_ref().filter(|c| c.body == body) {
            return Ok(c.clone());
        }
        let version = current.map_or(1, |c| c.version + 1);
        let id: i64 = sqlx::query(
            "INSERT INTO privacy_notices (kind, version, body, published_at, published_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(kind.code())
        .bind(version)
        .bind(body.clone())
        .bind(ms(now()))
        .bind(actor.user_id().map(|u| u.0))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let change = Change {
            entity: EntityKind::Setting,
            entity_id: format!("privacy_notice.{}", kind.code()),
            action: "privacy_notice.publish",
            before: None,
            after: Some(serde_json::json!({ "version": version, "body": body })),
        };
        record(&mut tx, actor, change).await?;
        let notice = sqlx::query("SELECT * FROM privacy_notices WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        notice_from_row(&notice)
    }

    /// Publishes a first version when there is none (at start, from the configuration).
    pub async fn ensure_notice(&self, kind: NoticeKind, default_body: &str) -> Result<Notice> {
        match self.current_notice(kind).await? {
            Some(n) => Ok(n),
            None => self.publish_notice(Actor::System, kind, default_body).await,
        }
    }
}

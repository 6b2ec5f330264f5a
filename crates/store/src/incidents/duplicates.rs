//! An incident closed as a duplicate of another (the same matter registered twice), or merged
//! into it (the same person's: both timelines stay whole, and the original's view shows the
//! merged one's with it). The rule is the domain's `Incident::close_as_duplicate`; here the
//! original is found, the link kept, and a reopening undoes it.

use atiende_domain::RuleError;
use atiende_domain::folio::Folio;
use atiende_domain::ids::IncidentId;
use atiende_domain::incident::{Incident, TimelineEntry};
use sqlx::Row;

use super::rows::{incident_change, incident_from_row};
use crate::Actor;
use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::tx::Tx;

/// An incident merged into another, with its own timeline.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Merged {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub folio: Folio,
    pub timeline: Vec<TimelineEntry>,
}

impl Store {
    /// Closes `id` as a duplicate of `original`, or merges it into `original` (`merge`). The
    /// original must not itself be a duplicate: what is told about it is told in one place.
    pub async fn close_as_duplicate(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        original: IncidentId,
        merge: bool,
    ) -> Result<Incident> {
        let mut change = self.change_incident(id).await?;
        let row = sqlx::query("SELECT * FROM incidents WHERE id = $1")
            .bind(original.0)
            .fetch_optional(&mut *change.tx)
            .await?
            .ok_or_else(|| StoreError::from(RuleError::invalid("original", "unknown_incident")))?;
        if row.try_get::<Option<i64>, _>("duplicate_of")?.is_some() {
            return Err(RuleError::invalid("original", "original_is_duplicate").into());
        }
        let original = incident_from_row(&row)?;
        change
            .after
            .close_as_duplicate(&original, merge, change.now)?;
        sqlx::query("UPDATE incidents SET duplicate_of = $2, merged = $3 WHERE id = $1")
            .bind(id.0)
            .bind(original.id.0)
            .bind(i64::from(merge))
            .execute(&mut *change.tx)
            .await?;
        let (action, note) = if merge {
            ("incident.merge", format!("Fusionado en {}", original.folio))
        } else {
            (
                "incident.duplicate",
                format!("Duplicado de {}", original.folio),
            )
        };
        let audit = incident_change(action, &change.before, &change.after);
        change.commit_with(actor, &note, audit).await
    }

    /// What an incident was closed as a duplicate of: the original's folio, and whether it was
    /// merged into it.
    pub async fn duplicate_of(&self, id: IncidentId) -> Result<Option<(Folio, bool)>> {
        let row = sqlx::query(
            "SELECT o.folio, i.merged FROM incidents i JOIN incidents o ON o.id = i.duplicate_of \
             WHERE i.id = $1",
        )
        .bind(id.0)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| {
            let folio: String = r.try_get("folio")?;
            let folio = folio.parse().map_err(|_| StoreError::corrupt("folio"))?;
            Ok((folio, r.try_get::<i64, _>("merged")? != 0))
        })
        .transpose()
    }

    /// The incidents merged into `id`, oldest first, each with its timeline.
    pub async fn merged_into(&self, id: IncidentId) -> Result<Vec<Merged>> {
        let rows = sqlx::query(
            "SELECT id, folio FROM incidents WHERE duplicate_of = $1 AND merged = 1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(self.reader())
        .await?;
        let mut merged = Vec::with_capacity(rows.len());
        for r in rows {
            let folio: String = r.try_get("folio")?;
            merged.push(Merged {
                folio: folio.parse().map_err(|_| StoreError::corrupt("folio"))?,
                timeline: self.timeline(IncidentId(r.try_get("id")?)).await?,
            });
        }
        Ok(merged)
    }
}

/// A reopened incident is no longer anyone's duplicate.
pub(crate) async fn forget_original(tx: &mut Tx, id: IncidentId) -> Result<()> {
    sqlx::query("UPDATE incidents SET duplicate_of = NULL, merged = 0 WHERE id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

//! Imports, all or nothing: every row of a file (or of a whole export) is applied in one
//! transaction, which a dry run rolls back, so a failed or rehearsed import leaves nothing
//! half-done. A row that cannot be applied is skipped with its line and reason; running the
//! same files twice changes nothing the second time — people are found by their identifiers,
//! and records from another system by the reference kept in `external_refs`.

pub mod roster;
pub mod sugarcrm;

pub use roster::RosterRow;

use sqlx::Row;

use crate::db::{ms, now};
use crate::error::Result;
use crate::tx::Tx;

/// The local record an external one was imported as.
pub(crate) async fn external_ref(
    tx: &mut Tx,
    source: &str,
    kind: &str,
    external_id: &str,
) -> Result<Option<i64>> {
    Ok(sqlx::query(
        "SELECT local_id FROM external_refs WHERE source = $1 AND kind = $2 AND external_id = $3",
    )
    .bind(source.to_string())
    .bind(kind.to_string())
    .bind(external_id.to_string())
    .fetch_optional(&mut **tx)
    .await?
    .map(|r| r.try_get("local_id"))
    .transpose()?)
}

pub(crate) async fn remember_ref(
    tx: &mut Tx,
    source: &str,
    kind: &str,
    external_id: &str,
    local_id: i64,
    label: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO external_refs (source, kind, external_id, local_id, label, imported_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(source.to_string())
    .bind(kind.to_string())
    .bind(external_id.to_string())
    .bind(local_id)
    .bind(label.to_string())
    .bind(ms(now()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

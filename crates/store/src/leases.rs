//! Named leases: work that one instance at a time must do — reading a mailbox, the day's
//! retention run, the scheduled checks — is taken with a row that expires, so that an instance
//! that dies mid-way holds nothing for longer than its lease. (Outbox entries are leased on
//! their own rows: see `outbox::run_jobs`.)

use chrono::{DateTime, Utc};

use crate::db::{Store, ms};
use crate::error::Result;

impl Store {
    /// Takes the lease `name` for `owner` from `at` until `until`, unless someone holds it
    /// unexpired at `at` — `owner` itself included, so work leased for a day runs once that
    /// day. Returns whether it was taken.
    pub async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let taken = sqlx::query(
            "INSERT INTO leases (name, owner, until_ms) VALUES ($1, $2, $3) ON CONFLICT (name) \
             DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms \
             WHERE leases.until_ms <= $4",
        )
        .bind(name.to_string())
        .bind(owner.to_string())
        .bind(ms(until))
        .bind(ms(at))
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Gives the lease back before it expires (the work is done); a lease someone else has
    /// taken since is left alone.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name.to_string())
            .bind(owner.to_string())
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

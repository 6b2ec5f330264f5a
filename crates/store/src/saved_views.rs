//! Each person's saved views of the queue: a name and the queue's filters as they were chosen
//! (a query string the console reads back). Nobody else sees them.

use atiende_domain::RuleError;
use atiende_domain::ids::UserId;
use serde::Serialize;
use sqlx::Row;

use crate::db::{Store, ms, now};
use crate::error::Result;

/// A person keeps this many views at most: more are a list to search, not a shortcut.
pub const MAX_VIEWS: i64 = 20;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    /// The queue's filters, as the console's query string.
    pub query: String,
}

impl Store {
    /// The person's saved views, by name.
    pub async fn saved_views(&self, user: UserId) -> Result<Vec<SavedView>> {
        let rows = sqlx::query(
            "SELECT id, name, query FROM saved_views WHERE user_id = $1 ORDER BY name, id",
        )
        .bind(user.0)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SavedView {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    query: r.try_get("query")?,
                })
            })
            .collect()
    }

    /// Saves the queue's filters under a name (up to 60 characters), for its owner alone.
    pub async fn save_view(&self, user: UserId, name: &str, query: &str) -> Result<SavedView> {
        let mut v = atiende_domain::error::Validator::new();
        let name = v.text("name", name, 60, true);
        let query = v.text("query", query, 1_000, false);
        v.finish()?;
        let mut tx = self.begin().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM saved_views WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if count >= MAX_VIEWS {
            return Err(RuleError::invalid("name", "too_many_views").into());
        }
        let id: i64 = sqlx::query(
            "INSERT INTO saved_views (user_id, name, query, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id",
        )
        .bind(user.0)
        .bind(name.clone())
        .bind(query.clone())
        .bind(ms(now()))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        tx.commit().await?;
        Ok(SavedView { id, name, query })
    }

    /// Deletes one of the person's views; another's is not found.
    pub async fn delete_view(&self, user: UserId, id: i64) -> Result<()> {
        let gone = sqlx::query("DELETE FROM saved_views WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user.0)
            .execute(self.writer())
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(crate::error::StoreError::NotFound("saved view"));
        }
        Ok(())
    }
}

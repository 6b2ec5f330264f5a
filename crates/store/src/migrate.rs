//! Embedded migrations, one list per engine, applied in order at start and by `atiende migrate`.
//! The two lists must name the same steps: a test fails when they drift apart.

use sqlx::{Executor, Row};

use crate::db::{Engine, Store};
use crate::error::{Result, StoreError};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $(($version:literal, $name:literal)),* $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $dir, "/", $name, ".sql")),
        }),*]
    };
}

pub const SQLITE: &[Migration] = migrations!("sqlite": (1, "0001_core"), (2, "0002_email"), (3, "0003_chat_and_calls"), (4, "0004_surveys"), (5, "0005_indicators"), (6, "0006_nonconformities"), (7, "0007_knowledge_and_search"), (8, "0008_imports"), (9, "0009_personal_data"), (10, "0010_open_queue"), (11, "0011_search_by_kind"), (12, "0012_queue_tally"), (13, "0013_leases"), (14, "0014_session_activity"), (15, "0015_held_chat"), (16, "0016_single_sign_on"), (17, "0017_second_factor"), (18, "0018_identity_providers"), (19, "0019_mailbox_oauth"), (20, "0020_token_scopes"), (21, "0021_webhooks"), (22, "0022_service_levels"), (23, "0023_notifications"), (24, "0024_notification_preferences"), (25, "0025_canned_responses"), (26, "0026_queue_indexes"), (27, "0027_macros"), (28, "0028_suggestions"), (29, "0029_presence"), (30, "0030_queue_tools"), (31, "0031_portal"), (32, "0032_portal_codes"), (33, "0033_web_chat"), (34, "0034_external_services"), (35, "0035_search_by_period"), (36, "0036_lighter_intake"), (37, "0037_search_words"), (38, "0038_search_docs_in_place"));
pub const POSTGRES: &[Migration] = migrations!("postgres": (1, "0001_core"), (2, "0002_email"), (3, "0003_chat_and_calls"), (4, "0004_surveys"), (5, "0005_indicators"), (6, "0006_nonconformities"), (7, "0007_knowledge_and_search"), (8, "0008_imports"), (9, "0009_personal_data"), (10, "0010_open_queue"), (11, "0011_search_by_kind"), (12, "0012_queue_tally"), (13, "0013_leases"), (14, "0014_session_activity"), (15, "0015_held_chat"), (16, "0016_single_sign_on"), (17, "0017_second_factor"), (18, "0018_identity_providers"), (19, "0019_mailbox_oauth"), (20, "0020_token_scopes"), (21, "0021_webhooks"), (22, "0022_service_levels"), (23, "0023_notifications"), (24, "0024_notification_preferences"), (25, "0025_canned_responses"), (26, "0026_queue_indexes"), (27, "0027_macros"), (28, "0028_suggestions"), (29, "0029_presence"), (30, "0030_queue_tools"), (31, "0031_portal"), (32, "0032_portal_codes"), (33, "0033_web_chat"), (34, "0034_external_services"), (35, "0035_search_by_period"), (36, "0036_lighter_intake"), (37, "0037_search_words"), (38, "0038_search_docs_in_place"));

pub fn for_engine(engine: Engine) -> &'static [Migration] {
    match engine {
        Engine::Sqlite => SQLITE,
        Engine::Postgres => POSTGRES,
    }
}

impl Store {
    /// The migrations not yet applied, in order (what `atiende migrate --dry-run` lists).
    /// Refuses a database written by a newer release.
    pub async fn pending_migrations(&self) -> Result<Vec<&'static Migration>> {
        // Absent on a database nothing was ever applied to.
        let applied: Vec<i64> = match sqlx::query("SELECT version FROM schema_migrations")
            .fetch_all(self.reader())
            .await
        {
            Ok(rows) => rows
                .iter()
                .map(|r| r.try_get("version"))
                .collect::<std::result::Result<_, _>>()?,
            Err(sqlx::Error::Database(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let known = for_engine(self.engine());
        let newest = known.last().map_or(0, |m| m.version);
        if let Some(found) = applied.iter().copied().filter(|v| *v > newest).max() {
            return Err(StoreError::NewerSchema {
                found,
                known: newest,
            });
        }
        Ok(known
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .collect())
    }

    /// Applies the migrations not yet applied; returns how many ran. Each runs in its own
    /// transaction with its bookkeeping row, so one that fails leaves the database as the one
    /// before left it. Safe to call from several instances at once on PostgreSQL: the
    /// bookkeeping table's key makes a second runner fail its transaction instead of applying
    /// a step twice. Refuses a database written by a newer release.
    pub async fn migrate(&self) -> Result<usize> {
        self.pending_migrations().await?;
        let applied = self.apply_migrations(for_engine(self.engine())).await?;
        // Data the schema's steps cannot compute: the service level of incidents written
        // before it was measured (resumable; nothing to do once done).
        self.backfill_clocks().await?;
        Ok(applied)
    }

    /// Applies the steps of `list` not yet applied, in order, each in its own transaction
    /// (`migrate` with the engine's list; tests give it a step that fails).
    pub async fn apply_migrations(&self, list: &[Migration]) -> Result<usize> {
        let mut tx = self.begin().await?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
        tx.commit().await?;
        let mut applied = 0;
        for m in list {
            let mut tx = self.begin().await?;
            if self.engine() == Engine::Postgres {
                // Serialise concurrent migrators (several instances starting together).
                tx.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
                    .await?;
            }
            let done =
                sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations WHERE version = $1")
                    .bind(m.version)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>("n")?;
            if done > 0 {
                continue;
            }
            tracing::info!(migration.name = m.name, "applying migration");
            tx.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql)))
                .await?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(m.version)
            .bind(m.name)
            .bind(crate::db::now().timestamp_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            applied += 1;
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_have_the_same_migrations_in_the_same_order() {
        let names =
            |list: &[Migration]| list.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
    }

    #[test]
    fn both_engines_create_the_same_tables_and_indexes() {
        let objects = |list: &[Migration]| {
            let mut out: Vec<String> = list
                .iter()
                .flat_map(|m| m.sql.lines())
                // Each engine keeps its own full-text index (FTS5, tsvector) and writes triggers
                // its own way; those lines say so.
                .filter(|l| l.starts_with("CREATE ") && !l.contains("-- engine's "))
                .map(|l| l.split('(').next().unwrap_or(l).trim().to_string())
                .collect();
            out.sort();
            out
        };
        assert_eq!(objects(SQLITE), objects(POSTGRES));
    }
}

//! Bulk loading for the benchmark's generator: many rows per statement, many statements per
//! transaction. Table and column names are the caller's constants; values are always bound.

use crate::db::{Engine, Sql, Store};
use crate::error::Result;

/// One value of a bulk row.
#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

/// Placeholders per statement: numbered placeholders cost more to map the more a statement has,
/// so a thousand (statements are cached and reused) is faster than the engines' limits allow.
const MAX_BINDS: usize = 1_000;

impl Store {
    /// Inserts the rows in one transaction.
    pub async fn bulk_insert(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        rows: &[Vec<Value>],
    ) -> Result<()> {
        let per = (MAX_BINDS / columns.len().max(1)).max(1);
        let mut tx = self.begin().await?;
        for chunk in rows.chunks(per) {
            let mut sql = Sql::new(&format!(
                "INSERT INTO {table} ({}) VALUES ",
                columns.join(", ")
            ));
            for (i, row) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" });
                for (j, value) in row.iter().enumerate() {
                    if j > 0 {
                        sql.push(", ");
                    }
                    match value.clone() {
                        Value::Int(v) => sql.bind(v),
                        Value::OptInt(v) => sql.bind(v),
                        Value::Text(v) => sql.bind(v),
                        Value::OptText(v) => sql.bind(v),
                    };
                }
                sql.push(")");
            }
            sql.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// After rows were loaded with explicit ids, PostgreSQL's identities must start past them.
    pub async fn reset_identities(&self, tables: &[&'static str]) -> Result<()> {
        if self.engine() != Engine::Postgres {
            return Ok(());
        }
        for table in tables {
            self.execute_admin(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            ))
            .await?;
        }
        Ok(())
    }
}

//! Many rows per statement: the benchmark's generator's bulk load, and the writes of a group of
//! incidents committed together (`intake`). Table and column names are the caller's constants; values are always bound.

use crate::db::{Engine, Script, Sql, Store, Tx, engine_of};
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

/// Rows per statement for a table of `columns` columns.
pub(crate) fn rows_per_statement(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).max(1)
}

/// `INSERT INTO table (columns) VALUES (…), (…) suffix`, every value bound. The caller keeps
/// `rows` within [`rows_per_statement`].
pub(crate) fn insert_sql(table: &str, columns: &[&str], rows: &[Vec<Value>], suffix: &str) -> Sql {
    let mut sql = Sql::default();
    write_insert(&mut sql, table, columns, rows, suffix);
    sql
}

fn write_insert(sql: &mut Sql, table: &str, columns: &[&str], rows: &[Vec<Value>], suffix: &str) {
    sql.push(&format!(
        "INSERT INTO {table} ({}) VALUES ",
        columns.join(", ")
    ));
    for (i, row) in rows.iter().enumerate() {
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
    sql.push(suffix);
}

/// Appends the inserts of `rows` to a script, as few statements as the placeholder budget
/// allows; `suffix` (e.g. an `ON CONFLICT` clause) ends each statement.
pub(crate) fn push_insert(
    script: &mut Script,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    suffix: &str,
) {
    for chunk in rows.chunks(rows_per_statement(columns.len())) {
        write_insert(script.statement(), table, columns, chunk, suffix);
    }
}

/// Inserts the rows inside the caller's transaction.
pub(crate) async fn insert_rows(
    tx: &mut Tx,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    suffix: &str,
) -> Result<()> {
    let mut script = Script::new(engine_of(tx));
    push_insert(&mut script, table, columns, rows, suffix);
    script.execute(tx).await
}

impl Store {
    /// Inserts the rows in one transaction.
    pub async fn bulk_insert(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        rows: &[Vec<Value>],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        insert_rows(&mut tx, table, columns, rows, "").await?;
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

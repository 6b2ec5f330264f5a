//! Many rows per statement: the benchmark's generator's bulk load, and the writes of a group of
//! incidents committed together (`intake`). Table and column names are the caller's constants;
//! the rows travel as one bound JSON parameter that the database unpacks
//! (`json_array_elements` on PostgreSQL, `jsonb_each` on SQLite).
//!
//! One parameter, not one per value: a statement's text then depends only on its table, so
//! each connection prepares it once, whatever the number of rows. With a placeholder per value
//! every group size was a new statement for PostgreSQL to parse and plan, and sqlx maps
//! numbered placeholders on SQLite in time that grows with their number.

use serde::ser::{Serialize, Serializer};

use crate::db::{Engine, Script, Sql, Store, engine_of};
use crate::error::Result;
use crate::tx::Tx;

/// One value of a bulk row; its variant says the column's type (integer or text).
#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    OptInt(Option<i64>),
    Text(String),
    OptText(Option<String>),
}

impl Value {
    fn is_int(&self) -> bool {
        matches!(self, Value::Int(_) | Value::OptInt(_))
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Value::Int(v) => s.serialize_i64(*v),
            Value::OptInt(v) => v.serialize(s),
            Value::Text(v) => s.serialize_str(v),
            Value::OptText(v) => v.serialize(s),
        }
    }
}

/// `INSERT INTO table (columns) SELECT … FROM <rows as JSON> WHERE true suffix`. Nothing for
/// no rows. `suffix` (an `ON CONFLICT` or `RETURNING` clause) ends the statement; the
/// `WHERE true` keeps SQLite from reading an `ON CONFLICT` as a join's.
fn write_insert(
    sql: &mut Sql,
    engine: Engine,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    suffix: &str,
) {
    let Some(first) = rows.first() else { return };
    let fields: Vec<String> = first
        .iter()
        .enumerate()
        .map(|(i, value)| match (engine, value.is_int()) {
            (Engine::Sqlite, _) => format!("value ->> {i}"),
            (Engine::Postgres, true) => format!("CAST(r.v ->> {i} AS BIGINT)"),
            (Engine::Postgres, false) => format!("r.v ->> {i}"),
        })
        .collect();
    sql.push(&format!(
        "INSERT INTO {table} ({}) SELECT {} FROM ",
        columns.join(", "),
        fields.join(", ")
    ));
    sql.push(match engine {
        // JSONB elements: `->>` reads each column from the parsed row, not from its text.
        Engine::Sqlite => "jsonb_each(",
        Engine::Postgres => "json_array_elements(CAST(",
    });
    // Serialising strings and integers cannot fail.
    sql.bind(serde_json::to_string(rows).unwrap_or_default());
    sql.push(match engine {
        Engine::Sqlite => ")",
        Engine::Postgres => " AS json)) AS r(v)",
    });
    sql.push(" WHERE true");
    sql.push(suffix);
}

/// The insert of `rows` as a query of its own (for its `RETURNING` rows).
pub(crate) fn insert_sql(
    engine: Engine,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    suffix: &str,
) -> Sql {
    let mut sql = Sql::default();
    write_insert(&mut sql, engine, table, columns, rows, suffix);
    sql
}

/// Appends the insert of `rows` to a script as one statement (none for no rows); `suffix`
/// (e.g. an `ON CONFLICT` clause) ends it.
pub(crate) fn push_insert(
    script: &mut Script,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    suffix: &str,
) {
    if rows.is_empty() {
        return;
    }
    let engine = script.engine();
    write_insert(script.statement(), engine, table, columns, rows, suffix);
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
    pub(crate) async fn bulk_insert(
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
    pub(crate) async fn reset_identities(&self, tables: &[&'static str]) -> Result<()> {
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

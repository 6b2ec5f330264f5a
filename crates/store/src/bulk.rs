//! Many rows per statement: the benchmark's generator's bulk load, and the writes of a group of
//! incidents committed together (`intake`). Table and column names are the caller's constants;
//! the rows travel as one bound JSON parameter that the database unpacks
//! (`jsonb_array_elements` on PostgreSQL, `jsonb_each` on SQLite).
//!
//! One parameter, not one per value: a statement's text then depends only on its table, so
//! each connection prepares it once, whatever the number of rows. With a placeholder per value
//! every group size was a new statement for PostgreSQL to parse and plan, and sqlx maps
//! numbered placeholders on SQLite in time that grows with their number. SQLite's direct
//! connection (`db::direct`) binds each value instead ([`Binding::EachValue`]): there the
//! JSON's parse and the reading of each column back out of it were an eighth of a group's
//! time, and a group's few sizes are each prepared once.

use serde::ser::{Serialize, Serializer};
use sqlx::Row;

use crate::db::{Binding, Engine, Script, Sql, Store, engine_of};
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

/// The most rows a statement binds value by value ([`Binding::EachValue`]). Each number of
/// rows is a statement of its own, kept prepared by the connection: with every size up to a
/// full group of 64 kept, the server's peak memory grew by 17 MB. Most groups at a busy
/// intake hold fewer than eight; larger ones go as JSON, which costs less per row the more rows
/// share the statement.
const EACH_VALUE_ROWS: usize = 8;

impl Value {
    fn bind_to(&self, sql: &mut Sql) {
        match self {
            Value::Int(v) => sql.bind(*v),
            Value::OptInt(v) => sql.bind(*v),
            Value::Text(v) => sql.bind(v.clone()),
            Value::OptText(v) => sql.bind(v.clone()),
        };
    }
}

/// `INSERT INTO table (columns) SELECT … FROM <rows as JSON> WHERE true suffix`, or with
/// [`Binding::EachValue`] `INSERT INTO table (columns) VALUES (…), … suffix`. Nothing for no
/// rows. `suffix` (an `ON CONFLICT` or `RETURNING` clause) ends the statement; the
/// `WHERE true` keeps SQLite from reading an `ON CONFLICT` as a join's.
fn write_insert(
    sql: &mut Sql,
    engine: Engine,
    binding: Binding,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    suffix: &str,
) {
    let Some(first) = rows.first() else { return };
    if binding == Binding::EachValue && engine == Engine::Sqlite && rows.len() <= EACH_VALUE_ROWS {
        sql.push(&format!(
            "INSERT INTO {table} ({}) VALUES ",
            columns.join(", ")
        ));
        for (n, row) in rows.iter().enumerate() {
            sql.push(if n == 0 { "(" } else { ", (" });
            for (k, value) in row.iter().enumerate() {
                if k > 0 {
                    sql.push(", ");
                }
                value.bind_to(sql);
            }
            sql.push(")");
        }
        sql.push(suffix);
        return;
    }
    sql.push(&format!(
        "INSERT INTO {table} ({}) SELECT {} FROM ",
        columns.join(", "),
        fields(engine, first).join(", ")
    ));
    push_rows(sql, engine, rows);
    sql.push(" WHERE true");
    sql.push(suffix);
}

/// Each column of a row as read from the bound rows.
fn fields(engine: Engine, row: &[Value]) -> Vec<String> {
    row.iter()
        .enumerate()
        .map(|(i, value)| match (engine, value.is_int()) {
            (Engine::Sqlite, _) => format!("value ->> {i}"),
            (Engine::Postgres, true) => format!("CAST(r.v ->> {i} AS BIGINT)"),
            (Engine::Postgres, false) => format!("r.v ->> {i}"),
        })
        .collect()
}

/// The rows as a table: one bound JSON parameter, unpacked.
fn push_rows(sql: &mut Sql, engine: Engine, rows: &[Vec<Value>]) {
    sql.push(match engine {
        // JSONB elements: `->>` reads each column from the parsed row, not from its text.
        Engine::Sqlite => "jsonb_each(",
        // JSONB, parsed once: each `->>` on a `json` row parses it again up to the column
        // asked for (a 17-column batch unpacked 2.8 times slower).
        Engine::Postgres => "jsonb_array_elements(CAST(",
    });
    // Serialising strings and integers cannot fail.
    sql.bind(serde_json::to_string(rows).unwrap_or_default());
    sql.push(match engine {
        Engine::Sqlite => ")",
        Engine::Postgres => " AS jsonb)) AS r(v)",
    });
}

/// Appends to a script the update of many rows by id: each row is the id, then the values of
/// `columns` (none for no rows).
pub(crate) fn push_update(script: &mut Script, table: &str, columns: &[&str], rows: &[Vec<Value>]) {
    let Some(first) = rows.first() else { return };
    let engine = script.engine();
    let fields = fields(engine, first);
    let sets: Vec<String> = columns
        .iter()
        .zip(&fields[1..])
        .map(|(c, f)| format!("{c} = {f}"))
        .collect();
    let sql = script.statement();
    sql.push(&format!("UPDATE {table} SET {} FROM ", sets.join(", ")));
    push_rows(sql, engine, rows);
    sql.push(&format!(" WHERE {table}.id = {}", fields[0]));
}

/// The insert of `rows` as a query of its own (for its `RETURNING` rows).
pub(crate) fn insert_sql(
    engine: Engine,
    binding: Binding,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    suffix: &str,
) -> Sql {
    let mut sql = Sql::default();
    write_insert(&mut sql, engine, binding, table, columns, rows, suffix);
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
    let (engine, binding) = (script.engine(), script.binding());
    write_insert(
        script.statement(),
        engine,
        binding,
        table,
        columns,
        rows,
        suffix,
    );
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

/// Takes `count` new ids of a table for rows a bulk writer inserts with explicit ids inside
/// the caller's transaction. PostgreSQL hands them out from the table's identity, so writers
/// on other connections never take them; on SQLite the transaction holds the write lock, and
/// the ids past the largest are free until it ends.
pub(crate) async fn reserve_ids(
    tx: &mut Tx,
    table: &'static str,
    count: usize,
) -> Result<Vec<i64>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    match engine_of(tx) {
        Engine::Sqlite => {
            let last: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COALESCE(MAX(id), 0) AS id FROM {table}"
            )))
            .fetch_one(&mut **tx)
            .await?
            .try_get("id")?;
            Ok((last + 1..=last + count as i64).collect())
        }
        Engine::Postgres => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id FROM generate_series(1, $1)"
            )))
            .bind(count as i64)
            .fetch_all(&mut **tx)
            .await?;
            rows.iter()
                .map(|r| Ok(r.try_get("id")?))
                .collect::<Result<Vec<i64>>>()
        }
    }
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

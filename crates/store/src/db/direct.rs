//! SQLite statements run on the calling thread.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement there and
//! back. On two shared cores each hand-off wakes a sleeping thread, and a group of new incidents
//! takes a dozen statements (begin, contacts, folios, rows, settings, the rest, commit): through
//! sqlx a group of one took 0.8 ms and a group of eight 2.0 ms (`atiende-bench intake` prints
//! each level's group time); here 0.46 and 1.07 ms, and intake at concurrency 16 went from
//! about 3,800 to 5,400 incidents a second. The intake writer's groups therefore run here, on a
//! connection of their own opened on the same file, while the writer holds the pool's write
//! connection: SQLite still has one writer at a time, and the process's other writes wait for
//! their turn in the pool as before.
//!
//! The statements are the same [`Sql`] and [`Script`] the sqlx path sends; only how they reach
//! SQLite differs. A group that fails here is written again through sqlx, whose errors are the
//! ones callers see.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rusqlite::types::Value as SqliteValue;
use sqlx::any::AnyArguments;
use sqlx_core::any::AnyValueKind;

use super::{Script, Sql};
use crate::error::{Result, StoreError};

/// Prepared statements a connection keeps: a group's few fixed ones, and its inserts for
/// each number of rows they bind value by value (`bulk`, up to eight rows, six tables).
const STATEMENTS_KEPT: usize = 128;

/// A connection to the SQLite file, used by one thread at a time.
pub(crate) struct Direct {
    conn: rusqlite::Connection,
    /// For each statement's text, the argument each of its parameters takes. SQLite looks a
    /// parameter's name up by walking the statement's list of names, so naming every
    /// parameter of a group's insert of a hundred values cost 3 % of the service's time.
    arguments: RefCell<HashMap<String, Arc<[usize]>>>,
}

impl Direct {
    /// Opens the file with the write connection's settings (`sqlite_pool`).
    pub(crate) fn open(path: &Path, cache_kib: u32) -> Result<Direct> {
        Direct::connect(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
            &format!(
                "PRAGMA cache_size = -{cache_kib};
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 10000;
                 PRAGMA secure_delete = ON;
                 PRAGMA temp_store = MEMORY;
                 PRAGMA wal_autocheckpoint = 10000;"
            ),
        )
    }

    /// A connection that only reads, with a reader's settings (`sqlite_pool`).
    pub(crate) fn open_reader(path: &Path, cache_kib: u32) -> Result<Direct> {
        Direct::connect(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            &format!(
                "PRAGMA cache_size = -{cache_kib};
                 PRAGMA busy_timeout = 10000;"
            ),
        )
    }

    fn connect(path: &Path, flags: rusqlite::OpenFlags, pragmas: &str) -> Result<Direct> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            flags | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(failed)?;
        conn.execute_batch(pragmas).map_err(failed)?;
        // A group's inserts bind each value (`Binding::EachValue`), so each group size is a
        // statement of its own: room for the sizes a busy writer sees, table by table.
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(Direct {
            conn,
            arguments: RefCell::default(),
        })
    }

    /// Runs statements without arguments (`BEGIN IMMEDIATE`, `COMMIT`).
    pub(crate) fn batch(&self, text: &str) -> Result<()> {
        self.conn.execute_batch(text).map_err(failed)
    }

    /// Whether a transaction is open (one a failed statement left behind is rolled back).
    pub(crate) fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Every row of a query, each read by `read`.
    pub(crate) fn query<T>(
        &self,
        sql: &Sql,
        read: fn(&dyn Columns) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut statement = self.conn.prepare_cached(&sql.text).map_err(failed)?;
        let taken = self.arguments_of(&sql.text, &statement)?;
        bind(&mut statement, &taken, &sql.args)?;
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            out.push(read(row)?);
        }
        Ok(out)
    }

    /// Runs a script's statements one after another (placeholders are numbered across the
    /// whole script, as sqlx sends it).
    pub(crate) fn run(&self, script: Script) -> Result<()> {
        let (statements, args) = script.into_sqlite_statements();
        for text in statements {
            let mut statement = self.conn.prepare_cached(&text).map_err(failed)?;
            let taken = self.arguments_of(&text, &statement)?;
            bind(&mut statement, &taken, &args)?;
            statement.raw_execute().map_err(failed)?;
        }
        Ok(())
    }

    /// The argument (from 0) each parameter of a prepared statement takes: `$n` takes the
    /// `n`-th. Kept by the statement's text, as the statement itself is.
    fn arguments_of(
        &self,
        text: &str,
        statement: &rusqlite::Statement<'_>,
    ) -> Result<Arc<[usize]>> {
        if let Some(taken) = self.arguments.borrow().get(text) {
            return Ok(taken.clone());
        }
        let taken: Arc<[usize]> = (1..=statement.parameter_count())
            .map(|index| {
                statement
                    .parameter_name(index)
                    .and_then(|name| name.strip_prefix('$'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(1))
                    .ok_or_else(|| StoreError::corrupt("a placeholder that is not $n"))
            })
            .collect::<Result<_>>()?;
        let mut kept = self.arguments.borrow_mut();
        // As many texts as the statement cache holds; past that, start again.
        if kept.len() >= STATEMENTS_KEPT {
            kept.clear();
        }
        kept.insert(text.to_string(), taken.clone());
        Ok(taken)
    }
}

/// Binds each parameter of a statement to the argument it takes.
fn bind(
    statement: &mut rusqlite::Statement<'_>,
    taken: &[usize],
    args: &AnyArguments,
) -> Result<()> {
    for (index, n) in taken.iter().enumerate() {
        let value = args
            .values
            .0
            .get(*n)
            .ok_or_else(|| StoreError::corrupt("a placeholder without its argument"))?;
        statement
            .raw_bind_parameter(index + 1, value_of(value)?)
            .map_err(failed)?;
    }
    Ok(())
}

/// An argument as sqlx's SQLite driver would bind it. A kind a later sqlx adds fails the
/// statement (the group then goes through sqlx) rather than being guessed.
fn value_of(value: &AnyValueKind) -> Result<SqliteValue> {
    Ok(match value {
        AnyValueKind::Null(_) => SqliteValue::Null,
        AnyValueKind::Bool(b) => SqliteValue::Integer(i64::from(*b)),
        AnyValueKind::SmallInt(i) => SqliteValue::Integer(i64::from(*i)),
        AnyValueKind::Integer(i) => SqliteValue::Integer(i64::from(*i)),
        AnyValueKind::BigInt(i) => SqliteValue::Integer(*i),
        AnyValueKind::Real(r) => SqliteValue::Real(f64::from(*r)),
        AnyValueKind::Double(d) => SqliteValue::Real(*d),
        AnyValueKind::Text(t) => SqliteValue::Text(t.to_string()),
        AnyValueKind::TextSlice(t) => SqliteValue::Text(t.to_string()),
        AnyValueKind::Blob(b) => SqliteValue::Blob(b.to_vec()),
        _ => {
            return Err(StoreError::corrupt(
                "an argument the direct connection cannot bind",
            ));
        }
    })
}

/// Read only by the intake writer before it writes the group again through sqlx.
fn failed(e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt(format!("direct connection: {e}"))
}

/// A row read by column name, from sqlx or from a direct connection: what code that runs on
/// either path reads rows through.
pub(crate) trait Columns {
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
}

impl Columns for sqlx::any::AnyRow {
    fn int(&self, column: &str) -> Result<i64> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn text(&self, column: &str) -> Result<String> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(sqlx::Row::try_get(self, column)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, column: &str) -> Result<i64> {
        self.get(column).map_err(failed)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column).map_err(failed)
    }
    fn text(&self, column: &str) -> Result<String> {
        self.get(column).map_err(failed)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        self.get(column).map_err(failed)
    }
}

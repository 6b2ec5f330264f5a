//! The connection to the database and every difference between the two engines.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Arguments, Encode, Executor, Row, Type};

pub(crate) mod direct;
mod hosts;

use crate::error::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of_url(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }

    /// A `SELECT` that holds the rows it reads until the transaction ends: PostgreSQL locks
    /// them; SQLite's write transactions (`BEGIN IMMEDIATE`) already exclude each other.
    pub(crate) fn locking(self, select: &'static str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(match self {
            Engine::Sqlite => select.to_string(),
            Engine::Postgres => format!("{select} FOR UPDATE"),
        })
    }

    /// The aggregate that joins a column's values with commas (`group_concat` / `string_agg`).
    pub(crate) fn comma_joined(self, column: &'static str) -> String {
        match self {
            Engine::Sqlite => format!("group_concat({column})"),
            Engine::Postgres => format!("string_agg(CAST({column} AS TEXT), ',')"),
        }
    }
}

/// The handle every part of atiende shares. Cloning is cheap.
#[derive(Clone)]
pub struct Store {
    engine: Engine,
    /// SQLite allows one writer at a time: writes go through a single connection so that they
    /// queue in the process instead of failing with `SQLITE_BUSY`. On PostgreSQL both are the
    /// same pool.
    write: AnyPool,
    read: AnyPool,
    pub(crate) tz: chrono_tz::Tz,
    /// Days after closing in which a reopening cancels first-contact resolution.
    pub(crate) reopen_window_days: i64,
    /// New incidents wait here for the writer that commits them in groups (`intake`).
    pub(crate) intake: IntakeQueue,
    /// What that writer has done, shared by every handle of this process (`/metrics`).
    pub(crate) intake_stats: Arc<IntakeStats>,
    /// On SQLite, the connection the writer's groups run on, opened at first use (`direct`).
    pub(crate) direct: Option<Arc<DirectSlot>>,
    /// Keeps the connection's own upkeep running while any handle is alive: SQLite's
    /// checkpointer (`checkpointer`), or the watcher of several PostgreSQL hosts (`hosts`).
    _upkeep: Option<Arc<tokio::sync::watch::Sender<()>>>,
    /// Seals the secrets kept in the database (`secrets`).
    pub(crate) sealer: crate::secrets::Sealer,
    /// The suggestions' model last read, by its id: parsed once per retraining rather than per
    /// incident page. The database's newest id decides which one is used (`suggestions`).
    pub(crate) suggestion_model: ModelCache,
}

/// The suggestions' model last parsed, with its id (`suggestions`).
pub(crate) type ModelCache =
    Arc<std::sync::Mutex<Option<(i64, Arc<atiende_domain::suggestion::Model>)>>>;

/// The writer's queue, started on first use in the caller's runtime.
pub(crate) type IntakeQueue = Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<IntakeJob>>>;

/// A new incident waiting for the intake writer (`intake`).
pub(crate) struct IntakeJob {
    pub(crate) actor: Option<atiende_domain::user::StaffUser>,
    pub(crate) input: atiende_domain::incident::NewIncidentInput,
    pub(crate) reply: tokio::sync::oneshot::Sender<Result<atiende_domain::incident::Incident>>,
}

/// What this process's intake writer has done since it started, for `/metrics`: the groups it
/// committed, the incidents they created and the time spent writing them. A group's size and time
/// say where intake stands: one incident per group is a quiet hour; groups that grow while
/// their time grows with them mean the writer is what callers wait for.
#[derive(Debug, Default)]
pub(crate) struct IntakeStats {
    groups: AtomicU64,
    incidents: AtomicU64,
    micros: AtomicU64,
}

impl IntakeStats {
    pub(crate) fn record(&self, created: usize, took: std::time::Duration) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.incidents.fetch_add(created as u64, Ordering::Relaxed);
        self.micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn totals(&self) -> IntakeTotals {
        IntakeTotals {
            groups: self.groups.load(Ordering::Relaxed),
            incidents: self.incidents.load(Ordering::Relaxed),
            seconds: self.micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// [`IntakeStats`] read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IntakeTotals {
    pub groups: u64,
    pub incidents: u64,
    pub seconds: f64,
}

/// The page cache of SQLite's write connections, in KiB (see `Store::connect`).
pub(crate) const WRITER_CACHE_KIB: u32 = 8 * 1024;
/// And of its readers: SQLite's default.
const READER_CACHE_KIB: u32 = 2 * 1024;

/// The SQLite file and the direct connections to it, once opened (`direct`).
pub(crate) struct DirectSlot {
    pub(crate) path: std::path::PathBuf,
    /// The intake writer's.
    pub(crate) connection: std::sync::Mutex<Option<direct::Direct>>,
    /// Readers not in use: each lookup takes one, or opens one, and gives it back.
    readers: std::sync::Mutex<Vec<direct::Direct>>,
}

impl DirectSlot {
    fn new(path: std::path::PathBuf) -> DirectSlot {
        DirectSlot {
            path,
            connection: Default::default(),
            readers: Default::default(),
        }
    }

    /// Rows read on this thread; `None` if no reader could be opened.
    fn read<T>(
        &self,
        sql: &Sql,
        read: fn(&dyn direct::Columns) -> Result<T>,
    ) -> Option<Result<Vec<T>>> {
        let idle = lock(&self.readers).pop();
        let reader = match idle {
            Some(reader) => reader,
            None => match direct::Direct::open_reader(&self.path, READER_CACHE_KIB) {
                Ok(reader) => reader,
                Err(e) => {
                    tracing::warn!(error = %e, "a direct reader could not be opened");
                    return None;
                }
            },
        };
        let rows = reader.query(sql, read);
        lock(&self.readers).push(reader);
        Some(rows)
    }
}

/// A lock whose holder panicked still guards connections that are whole: SQLite ends a
/// statement that was not stepped to its end when the next one begins.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    /// Rows of a small read that answers from an index: on SQLite read on the calling thread
    /// (`direct`), which every authenticated request's session or token lookup makes, and
    /// where sqlx's hand-off to its reader thread and back cost more than the query; through
    /// the pool otherwise.
    pub(crate) async fn read_rows<T>(
        &self,
        sql: Sql,
        read: fn(&dyn direct::Columns) -> Result<T>,
    ) -> Result<Vec<T>> {
        if let Some(rows) = self.direct.as_ref().and_then(|slot| slot.read(&sql, read)) {
            return rows;
        }
        sql.fetch_all(&self.read)
            .await?
            .iter()
            .map(|row| read(row))
            .collect()
    }
}

/// The institution's time zone unless configured otherwise.
pub const DEFAULT_TZ: chrono_tz::Tz = atiende_domain::DEFAULT_TIME_ZONE;

impl Store {
    /// Connects, creating the SQLite file if needed. Does not run migrations.
    pub async fn connect(url: &str, tz: chrono_tz::Tz) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of_url(url)
            .ok_or_else(|| StoreError::Corrupt(format!("unsupported database URL: {url}")))?;
        let store = match engine {
            Engine::Sqlite => {
                let url = sqlite_url(url);
                // The writer keeps the pages every write touches (the newest rows of each index,
                // the rollups, the search index's segments) in its own 8 MB cache instead of
                // reading them back from the file (32 MB made walking the cache at each commit
                // a cost of its own); readers keep SQLite's default 2 MB each.
                let write = sqlite_pool(1, WRITER_CACHE_KIB, true).connect(&url).await?;
                let read = sqlite_pool(4, READER_CACHE_KIB, false)
                    .connect(&url)
                    .await?;
                let alive = checkpointer(read.clone());
                let path = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?
                    .get_filename()
                    .to_path_buf();
                Store {
                    engine,
                    write,
                    read,
                    tz,
                    reopen_window_days: atiende_domain::indicators::DEFAULT_REOPEN_WINDOW_DAYS,
                    intake: Default::default(),
                    intake_stats: Default::default(),
                    direct: Some(Arc::new(DirectSlot::new(path))),
                    _upkeep: Some(Arc::new(alive)),
                    sealer: Default::default(),
                    suggestion_model: Default::default(),
                }
            }
            Engine::Postgres => {
                // Several hosts: the first that takes writes, a connection to it kept for
                // the watcher, and every pooled connection checked to be on such a host.
                let hosts = hosts::Hosts::of_url(url)?;
                let first = match &hosts {
                    Some(h) => Some(h.primary().await?),
                    None => None,
                };
                let refuse_standby = hosts.is_some();
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    // sqlx pings every connection before lending it: a round trip per read,
                    // and a page makes a dozen. A connection used within the last seconds is
                    // known to be alive; one idle longer (the database may have restarted
                    // meanwhile) is still checked, and replaced if the check fails.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if !left_clean(conn) {
                                return Ok(false);
                            }
                            if meta.idle_for > Duration::from_secs(10) {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .after_connect(move |conn, _meta| {
                        Box::pin(async move {
                            if refuse_standby {
                                hosts::refuse_standby(conn).await?;
                            }
                            // Every query here reads a page of rows through an index. The
                            // planner's cost for the open queue's counts crosses the JIT
                            // threshold, and compiling took 26 of the query's 35 ms.
                            conn.execute("SET jit = off").await?;
                            // Pages run side by side on the pool's connections already; a
                            // parallel plan's workers took 4 ms to start for an article
                            // suggestion that needs 2 ms alone.
                            conn.execute("SET max_parallel_workers_per_gather = 0")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(match (&hosts, &first) {
                        (Some(h), Some((host, _))) => h.options(*host)?,
                        _ => sqlx::any::AnyConnectOptions::from_str(url)?,
                    })
                    .await?;
                let watcher = match (hosts, first) {
                    (Some(h), Some((host, conn))) => {
                        Some(Arc::new(h.watch(pool.clone(), host, conn)))
                    }
                    _ => None,
                };
                Store {
                    engine,
                    write: pool.clone(),
                    read: pool,
                    tz,
                    reopen_window_days: atiende_domain::indicators::DEFAULT_REOPEN_WINDOW_DAYS,
                    intake: Default::default(),
                    intake_stats: Default::default(),
                    direct: None,
                    _upkeep: watcher,
                    sealer: Default::default(),
                    suggestion_model: Default::default(),
                }
            }
        };
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.tz
    }

    /// Seals the secrets this store keeps with `keyring` (see `secrets`).
    pub fn with_keyring(mut self, keyring: crate::secrets::Keyring) -> Store {
        self.sealer = crate::secrets::Sealer(Some(Arc::new(keyring)));
        self
    }

    /// Sets the first-contact-resolution window the indicators are kept with (every instance
    /// of one database should use the same).
    pub fn with_reopen_window(mut self, days: i64) -> Store {
        self.reopen_window_days = days.max(0);
        self
    }

    /// The same database without the intake queue: the intake writer's own handle, so that
    /// the queue closes when the last handle that can send to it is dropped.
    pub(crate) fn without_intake_queue(&self) -> Store {
        Store {
            intake: Default::default(),
            ..self.clone()
        }
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// For single-statement writes that need no transaction.
    pub(crate) fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// The database's size in bytes as the engine counts it (benchmarks, operators).
    pub async fn database_size(&self) -> Result<i64> {
        let sql = match self.engine {
            Engine::Sqlite => {
                "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()"
            }
            Engine::Postgres => "SELECT CAST(pg_database_size(current_database()) AS BIGINT) AS n",
        };
        Ok(sqlx::query(sql).fetch_one(&self.read).await?.try_get("n")?)
    }

    /// Refreshes the query planner's statistics, at start. SQLite keeps none until asked:
    /// without them it picks the status index for the open queue and sorts thousands of rows
    /// instead of walking the open incidents' own index; sampled (`analysis_limit`), it takes
    /// milliseconds at millions of rows. PostgreSQL's autovacuum analyses only after enough
    /// changes: after a bulk load or an import a filtered queue took a second instead of a
    /// millisecond until it did (about 2 s at a million incidents).
    pub async fn optimize(&self) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        match self.engine {
            Engine::Sqlite => {
                conn.execute("PRAGMA analysis_limit = 1000").await?;
                conn.execute("ANALYZE").await?;
            }
            Engine::Postgres => {
                // VACUUM also marks the pages whose rows every transaction sees, without which
                // the open queue's covering index is not read alone: its counts took 570 ms
                // instead of 35 ms at a million incidents. Both are incremental after the first
                // time; an instance starting beside another skips what that one holds.
                conn.execute("VACUUM (ANALYZE, SKIP_LOCKED)").await?;
            }
        }
        Ok(())
    }

    /// Database reachable (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// SQLite's check of the whole database file: `["ok"]` when it is sound, else what is
    /// wrong. PostgreSQL keeps its own pages' checksums; nothing to ask here.
    pub async fn integrity_check(&self) -> Result<Vec<String>> {
        match self.engine {
            Engine::Sqlite => sqlx::query("PRAGMA integrity_check")
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| Ok(r.try_get::<String, _>(0)?))
                .collect(),
            Engine::Postgres => Ok(vec!["ok".to_string()]),
        }
    }

    /// A consistent copy of a live SQLite database, taken without stopping the service.
    pub async fn backup(&self, path: &std::path::Path) -> Result<()> {
        match self.engine {
            Engine::Sqlite => {
                if path.exists() {
                    return Err(StoreError::Conflict {
                        field: "file".into(),
                        code: "exists".into(),
                        existing_id: None,
                    });
                }
                sqlx::query("VACUUM INTO $1")
                    .bind(path.to_string_lossy().into_owned())
                    .execute(&self.write)
                    .await?;
                Ok(())
            }
            Engine::Postgres => Err(StoreError::Corrupt(
                "backup copies SQLite databases; for PostgreSQL use pg_dump".into(),
            )),
        }
    }

    /// Runs one administrative statement (e.g. `CREATE DATABASE`) outside a transaction.
    pub async fn execute_admin(&self, sql: &str) -> Result<()> {
        self.write
            .execute(sqlx::AssertSqlSafe(sql.to_string()))
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Whether a pooled connection may be lent again: not if it still counts itself inside a
/// transaction. When SQLite rolls a transaction back by itself (a COMMIT that found the disk
/// full), sqlx's ROLLBACK then fails and the connection keeps counting one transaction open,
/// so every later `BEGIN` on it failed — the single writer wedged until a restart. Such a
/// connection is closed and the pool opens a new one.
fn left_clean(conn: &sqlx::AnyConnection) -> bool {
    let clean = !sqlx::Connection::is_in_transaction(conn);
    if !clean {
        tracing::warn!("a database connection left inside a failed transaction is replaced");
    }
    clean
}

fn sqlite_pool(max: u32, cache_kib: u32, writer: bool) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        // A connection to a local file cannot go stale; the ping sqlx sends before lending one
        // is a round trip to the connection's thread that doubled the cost of every read.
        .test_before_acquire(false)
        .before_acquire(|conn, _meta| Box::pin(async move { Ok(left_clean(conn)) }))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "PRAGMA cache_size = -{cache_kib}"
                )))
                .await?;
                // WAL lets readers work while the writer commits; NORMAL sync keeps every
                // committed transaction across a process crash (kill -9).
                for pragma in [
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA busy_timeout = 10000",
                    // Deleted rows are overwritten, not left in free pages: suppressed
                    // personal data must not be recoverable from the file.
                    "PRAGMA secure_delete = ON",
                ] {
                    conn.execute(pragma).await?;
                }
                if writer {
                    // A statement that writes many rows keeps a journal to undo itself alone;
                    // past 64 KiB SQLite moved it into a temporary file, created and removed
                    // for each such statement. The writer keeps it in memory.
                    conn.execute("PRAGMA temp_store = MEMORY").await?;
                    // Checkpoints run beside the writer (`checkpointer`); the writer makes one
                    // itself only if the log has grown past 40 MB regardless.
                    conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                }
                Ok(())
            })
        })
}

/// How often the SQLite log is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the SQLite write-ahead log back into the database file from a reader connection, so
/// that the writer, which every write in the process waits for, no longer does it at the
/// commit that crosses the log's size limit (4 % of its time at a busy intake, fsync
/// included). Ends when the last `Store` handle is dropped or the pool is closed. Returns the
/// sender whose life keeps it running.
fn checkpointer(read: AnyPool) -> tokio::sync::watch::Sender<()> {
    let (alive, mut ended) = tokio::sync::watch::channel(());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                gone = ended.changed() => if gone.is_err() { break },
                () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
            }
            if read.is_closed() {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_all(&read)
                .await
            {
                tracing::debug!(error = %e, "checkpoint deferred");
            }
        }
    });
    alive
}

/// The longest backward step of the system clock that [`now`] absorbs by holding still.
pub const CLOCK_HOLD_LIMIT: chrono::Duration = chrono::Duration::minutes(10);

/// The latest moment [`now`] returned in this process, in milliseconds.
static LAST_NOW_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);

/// The current time at the precision stored, so that what a write returns equals what a later
/// read returns; never earlier than a moment it returned before, within [`CLOCK_HOLD_LIMIT`].
/// When the system clock steps back (an NTP correction, a virtual machine resumed), time
/// holds still until the clock catches up, so an incident's timeline (ordered by moment, then
/// by entry) keeps the order things happened in and no duration comes out negative. A step
/// back longer than the limit is taken as the clock being put right after a mistaken jump
/// forward: it is followed at once (and logged), rather than holding time still for as long.
pub fn now() -> DateTime<Utc> {
    monotonic_ms(Utc::now().timestamp_millis(), &LAST_NOW_MS)
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now)
}

/// `system`, or the last moment returned when the system clock stepped back by less than the
/// hold limit; records what it returns in `last`.
fn monotonic_ms(system: i64, last: &std::sync::atomic::AtomicI64) -> Option<i64> {
    use std::sync::atomic::Ordering;
    let hold = CLOCK_HOLD_LIMIT.num_milliseconds();
    let choose = |before: i64| {
        if system >= before || before.saturating_sub(system) > hold {
            system
        } else {
            before
        }
    };
    let before = last
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(choose(b)))
        .ok()?;
    if before != i64::MIN && before.saturating_sub(system) > hold {
        tracing::warn!(
            back_ms = before - system,
            "the system clock stepped back further than atiende holds time still for: followed"
        );
    }
    Some(choose(before))
}

/// Timestamps are stored as milliseconds since the Unix epoch on both engines: one encoding,
/// exact range comparisons, and periods computed in the institution's time zone in Rust.
pub fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub fn from_ms(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::corrupt(format!("timestamp {ms}")))
}

pub fn opt_from_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    ms.map(from_ms).transpose()
}

/// Reads a coded enum column.
pub(crate) fn code<T>(
    row: &dyn direct::Columns,
    col: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T> {
    let raw = row.text(col)?;
    parse(&raw).ok_or_else(|| StoreError::corrupt(format!("{col} = {raw:?}")))
}

pub(crate) fn opt_code<T>(
    row: &dyn direct::Columns,
    col: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>> {
    let raw = row.opt_text(col)?;
    raw.map(|r| parse(&r).ok_or_else(|| StoreError::corrupt(format!("{col} = {r:?}"))))
        .transpose()
}

pub(crate) fn flag(row: &dyn direct::Columns, col: &str) -> Result<bool> {
    Ok(row.int(col)? != 0)
}

/// SQL built at run time (filters) with `$n` placeholders, which both engines understand.
#[derive(Default)]
pub struct Sql {
    pub text: String,
    pub args: AnyArguments,
    n: usize,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            ..Default::default()
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends ` IN (…)` over `ids`, bound as one JSON parameter: the statement's text is the
    /// same however many there are, where a placeholder each made every count a new statement.
    pub(crate) fn push_in_ids(&mut self, engine: Engine, ids: &[i64]) -> &mut Self {
        // A list of integers always serialises.
        self.push_in_json(engine, serde_json::to_string(ids).unwrap_or_default(), true)
    }

    /// [`Sql::push_in_ids`] over text values.
    pub(crate) fn push_in_texts(&mut self, engine: Engine, values: &[&str]) -> &mut Self {
        // A list of strings always serialises.
        self.push_in_json(
            engine,
            serde_json::to_string(values).unwrap_or_default(),
            false,
        )
    }

    fn push_in_json(&mut self, engine: Engine, json: String, integers: bool) -> &mut Self {
        self.push(match (engine, integers) {
            (Engine::Sqlite, _) => " IN (SELECT value FROM json_each(",
            (Engine::Postgres, true) => {
                " IN (SELECT CAST(value AS BIGINT) FROM json_array_elements_text(CAST("
            }
            (Engine::Postgres, false) => " IN (SELECT value FROM json_array_elements_text(CAST(",
        });
        self.bind(json);
        self.push(match engine {
            Engine::Sqlite => "))",
            Engine::Postgres => " AS json)))",
        })
    }

    /// Appends a placeholder for `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any> + 'static,
    {
        self.n += 1;
        self.text.push('$');
        self.text.push_str(&self.n.to_string());
        // Adding to AnyArguments only fails for values that cannot be encoded at all, which
        // the types accepted here never are.
        let _ = self.args.add(value);
        self
    }

    pub async fn execute<'e, E>(self, executor: E) -> Result<u64>
    where
        E: Executor<'e, Database = Any>,
    {
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args)
            .execute(executor)
            .await?
            .rows_affected())
    }

    pub async fn fetch_one<'e, E>(self, executor: E) -> Result<AnyRow>
    where
        E: Executor<'e, Database = Any>,
    {
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args)
            .fetch_one(executor)
            .await?)
    }

    pub async fn fetch_all<'e, E>(self, executor: E) -> Result<Vec<AnyRow>>
    where
        E: Executor<'e, Database = Any>,
    {
        Ok(sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args)
            .fetch_all(executor)
            .await?)
    }

    /// One integer column of every row, read as the rows arrive: the queue filter's windows
    /// of matches run to 128,000 ids, which as whole rows held until the last one came took
    /// about fifteen times the memory of the list itself.
    pub(crate) async fn fetch_ids<'e, E>(self, executor: E, column: &str) -> Result<Vec<i64>>
    where
        E: Executor<'e, Database = Any>,
    {
        let mut rows = sqlx::query_with(sqlx::AssertSqlSafe(self.text), self.args).fetch(executor);
        let mut ids = Vec::new();
        while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            ids.push(row.try_get::<i64, _>(column)?);
        }
        Ok(ids)
    }
}

/// How a bulk insert's rows reach the database (`bulk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Binding {
    /// As one JSON parameter the database unpacks: one statement's text for any number of
    /// rows.
    Json,
    /// A placeholder per value, on SQLite, for statements of a few rows (larger ones go as
    /// JSON): what the direct connection (`direct`) binds fastest.
    EachValue,
}

/// Statements sent together. On SQLite they travel as one multi-statement query — one round
/// trip to the connection's thread instead of one each, which is what a write of many small
/// statements spends its time on (placeholders are numbered across the whole script). On
/// PostgreSQL, which takes one statement per query with arguments, they run one after another,
/// or, for writes that do not read each other's (a group's inserts into different tables), as
/// one statement whose data-modifying `WITH` clauses all run: one round trip there too.
pub(crate) struct Script {
    engine: Engine,
    independent: bool,
    binding: Binding,
    done: Vec<Sql>,
    current: Sql,
    /// Where the last statement of `current` starts, and how many `WITH` clauses precede it.
    start: usize,
    clauses: usize,
    /// On SQLite, where each statement of `current` starts (`direct` runs them one by one).
    starts: Vec<usize>,
}

impl Script {
    pub(crate) fn new(engine: Engine) -> Script {
        Script {
            engine,
            independent: false,
            binding: Binding::Json,
            done: Vec::new(),
            current: Sql::default(),
            start: 0,
            clauses: 0,
            starts: Vec::new(),
        }
    }

    /// A script whose statements neither read nor write each other's rows.
    pub(crate) fn independent(engine: Engine) -> Script {
        Script {
            independent: true,
            ..Script::new(engine)
        }
    }

    pub(crate) fn engine(&self) -> Engine {
        self.engine
    }

    /// The same script with its bulk inserts' rows bound as `binding` says.
    pub(crate) fn binding_rows(self, binding: Binding) -> Script {
        Script { binding, ..self }
    }

    pub(crate) fn binding(&self) -> Binding {
        self.binding
    }

    /// The query a new statement is appended to.
    pub(crate) fn statement(&mut self) -> &mut Sql {
        if !self.current.text.is_empty() {
            if self.engine == Engine::Postgres && !self.independent {
                self.done.push(std::mem::take(&mut self.current));
                self.clauses = 0;
            } else if self.engine == Engine::Sqlite {
                self.current.push(";\n");
            } else {
                let last = self.current.text.split_off(self.start);
                let joiner = if self.clauses == 0 { "WITH" } else { "," };
                let clause = format!("{joiner} w{} AS ({last}) ", self.clauses);
                self.current.text.push_str(&clause);
                self.clauses += 1;
            }
            self.start = self.current.text.len();
        }
        if self.engine == Engine::Sqlite {
            self.starts.push(self.start);
        }
        &mut self.current
    }

    /// A SQLite script's statements, each alone, and the arguments they share.
    pub(crate) fn into_sqlite_statements(self) -> (Vec<String>, AnyArguments) {
        let mut ends = self.starts.iter().skip(1).copied().collect::<Vec<_>>();
        ends.push(self.current.text.len());
        let statements = self
            .starts
            .iter()
            .zip(ends)
            .map(|(&start, end)| {
                self.current.text[start..end]
                    .trim_end()
                    .trim_end_matches(';')
                    .to_string()
            })
            .filter(|s| !s.trim().is_empty())
            .collect();
        (statements, self.current.args)
    }

    pub(crate) async fn execute(mut self, connection: &mut sqlx::AnyConnection) -> Result<()> {
        if !self.current.text.is_empty() {
            self.done.push(self.current);
        }
        for sql in self.done {
            sql.execute(&mut *connection).await?;
        }
        Ok(())
    }
}

/// The engine behind a transaction.
pub(crate) fn engine_of(connection: &mut sqlx::AnyConnection) -> Engine {
    if connection.backend_name().eq_ignore_ascii_case("sqlite") {
        Engine::Sqlite
    } else {
        Engine::Postgres
    }
}

impl FromStr for Engine {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        Engine::of_url(s).ok_or(())
    }
}

#[cfg(test)]
mod clock_tests {
    use super::{CLOCK_HOLD_LIMIT, monotonic_ms};
    use std::sync::atomic::AtomicI64;

    #[test]
    fn a_clock_stepping_back_a_little_holds_time_still_until_it_catches_up() {
        let last = AtomicI64::new(i64::MIN);
        assert_eq!(monotonic_ms(1_000_000, &last), Some(1_000_000));
        // Thirty seconds back: the moment given stays where it was.
        assert_eq!(monotonic_ms(970_000, &last), Some(1_000_000));
        assert_eq!(monotonic_ms(999_999, &last), Some(1_000_000));
        assert_eq!(monotonic_ms(1_000_500, &last), Some(1_000_500));
    }

    #[test]
    fn a_clock_put_right_after_a_long_jump_forward_is_followed() {
        let last = AtomicI64::new(i64::MIN);
        let hold = CLOCK_HOLD_LIMIT.num_milliseconds();
        let future = 10 * hold;
        assert_eq!(monotonic_ms(future, &last), Some(future));
        assert_eq!(
            monotonic_ms(future - hold - 1, &last),
            Some(future - hold - 1)
        );
    }
}

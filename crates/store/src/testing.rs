//! Fresh, migrated databases for tests, on either engine. Each test gets its own database, so
//! tests run in parallel and never see each other's data.

use std::sync::atomic::{AtomicU32, Ordering};

use atiende_domain::ids::IncidentId;

use crate::db::{Engine, Store};

/// The PostgreSQL server the suite creates its databases on. CI starts one at this address.
pub fn postgres_admin_url() -> String {
    std::env::var("ATIENDE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The local mail server's SMTP and IMAP ports: free ones chosen by `scripts/test`, else
/// `scripts/mail-server start`'s 2525 and 1143.
pub fn mail_ports() -> (u16, u16) {
    (
        env_port("ATIENDE_TEST_SMTP_PORT", 2525),
        env_port("ATIENDE_TEST_IMAP_PORT", 1143),
    )
}

/// A port named by `var` (set by `scripts/test`), else `scripts/mail-server`'s default.
fn env_port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

/// The local mail server over TLS: the IMAP-over-TLS port, the SMTP port that requires
/// STARTTLS, and the file of the local certificate authority that signed its certificate
/// (`scripts/mail-server`; `scripts/test` chooses free ports).
pub fn mail_tls() -> (u16, u16, std::path::PathBuf) {
    require_mail_server();
    let ca = std::env::var("ATIENDE_TEST_MAIL_CA")
        .unwrap_or_else(|_| "/tmp/atiende-mail/tls/ca.pem".into());
    (
        env_port("ATIENDE_TEST_IMAPS_PORT", 1993),
        env_port("ATIENDE_TEST_SMTP_TLS_PORT", 2587),
        ca.into(),
    )
}

/// For a test that talks to the mail server: says which one is missing and how to get it,
/// rather than failing later with a bare "connection refused".
pub fn require_mail_server() -> (u16, u16) {
    let (smtp, imap) = mail_ports();
    for (what, port) in [("SMTP", smtp), ("IMAP", imap)] {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if let Err(e) =
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(2))
        {
            panic!(
                "this test needs the local mail server ({what} on {address}: {e}). Run the suite \
                 with `scripts/test`, which starts one, or start it with `scripts/mail-server start`."
            );
        }
    }
    (smtp, imap)
}

/// The secrets key of the suite's databases (and of the binaries the service tests start, so
/// that they open what a test sealed). Only for tests.
pub const TEST_SECRETS_KEY: &str = "9BrApwSjuIBfnAnx3EZ5ndmIE00OjbuS8aRgeMB6Zoc=";

fn test_keyring() -> crate::secrets::Keyring {
    crate::secrets::Keyring::parse(&[TEST_SECRETS_KEY]).expect("the test key")
}

/// A migrated store that removes its database when dropped.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

/// A name no other database of the suite has.
fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    )
}

/// What the engine's migrations are, in a few letters: the name of the migrated template the
/// suite copies each test's database from. A changed migration makes a new template.
fn schema_fingerprint(engine: Engine) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for m in crate::migrate::for_engine(engine) {
        hash.update(m.version.to_le_bytes());
        hash.update(m.sql.as_bytes());
    }
    hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The suite's PostgreSQL server, as its administrator.
async fn postgres_admin() -> (Store, String) {
    let admin = postgres_admin_url();
    let store = Store::connect(&admin, crate::db::DEFAULT_TZ).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is needed for the PostgreSQL half of the suite ({admin}): {e}. Run the suite with `scripts/test`, which starts a private one, or point ATIENDE_TEST_POSTGRES_URL at one.")
    });
    (store, admin)
}

fn database_url(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

/// A new database on the suite's PostgreSQL server, `migrated` or empty: its URL and name.
async fn create_postgres_database(migrated: bool) -> (String, String) {
    let (store, admin) = postgres_admin().await;
    let from = if migrated {
        format!(" TEMPLATE {}", postgres_template(&store, &admin).await)
    } else {
        String::new()
    };
    let name = unique_name("atiende_t");
    store
        .execute_admin(&format!("CREATE DATABASE {name}{from}"))
        .await
        .expect("create test database");
    store.close().await;
    (database_url(&admin, &name), name)
}

/// The name of a migrated database on the suite's PostgreSQL server that new test databases
/// are copied from, made if missing.
///
/// Migrating takes a PostgreSQL server most of a second; copying a migrated template takes a
/// fraction of it, and the suite makes a database for every test. The template is made once
/// per server and schema, under a name of its own and then renamed, so that processes making
/// it at once each finish theirs and one rename wins; nothing stays connected to it, as a copy
/// requires.
async fn postgres_template(admin: &Store, admin_url: &str) -> String {
    let template = format!("atiende_template_{}", schema_fingerprint(Engine::Postgres));
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&template)
        .fetch_optional(admin.writer())
        .await
        .expect("look for the template");
    if exists.is_some() {
        return template;
    }
    let building = unique_name("atiende_building");
    admin
        .execute_admin(&format!("CREATE DATABASE {building}"))
        .await
        .expect("create the template");
    let migrated = Store::connect(&database_url(admin_url, &building), crate::db::DEFAULT_TZ)
        .await
        .expect("connect to the template");
    migrated.migrate().await.expect("migrations apply");
    migrated.close().await;
    let renamed = admin
        .execute_admin(&format!("ALTER DATABASE {building} RENAME TO {template}"))
        .await;
    if renamed.is_err() {
        // Another process's template won.
        let _ = admin
            .execute_admin(&format!("DROP DATABASE {building} WITH (FORCE)"))
            .await;
    }
    template
}

/// A new SQLite database in `dir`, already migrated: a copy of the suite's template file for
/// this schema (in the system's temporary folder), made first if no test made it before.
async fn create_sqlite_database(dir: &std::path::Path) -> String {
    let template = std::env::temp_dir().join(format!(
        "atiende-template-{}.db",
        schema_fingerprint(Engine::Sqlite)
    ));
    if !template.exists() {
        let building = std::env::temp_dir().join(format!("{}.db", unique_name("atiende-building")));
        let migrated = Store::connect(
            &format!("sqlite://{}", building.display()),
            crate::db::DEFAULT_TZ,
        )
        .await
        .expect("create the template");
        migrated.migrate().await.expect("migrations apply");
        // Everything into the main file, which alone is copied.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(migrated.writer())
            .await
            .expect("checkpoint the template");
        migrated.close().await;
        // Atomic: a test copying meanwhile sees no template or a whole one.
        std::fs::rename(&building, &template).expect("put the template in place");
        for leftover in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{leftover}", building.display()));
        }
    }
    let file = dir.join("atiende.db");
    std::fs::copy(&template, &file).expect("copy the template");
    format!("sqlite://{}", file.display())
}

impl std::ops::Deref for TestDb {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A SQLite database in `folder` (a small file system of a test's own, say), which the
    /// caller keeps.
    pub async fn sqlite_in(folder: &std::path::Path) -> TestDb {
        let url = format!("sqlite://{}", folder.join("atiende.db").display());
        TestDb::open(url, None, None).await
    }

    pub async fn new(engine: Engine) -> TestDb {
        let (url, dir, pg_name) = match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = create_sqlite_database(dir.path()).await;
                (url, Some(dir), None)
            }
            Engine::Postgres => {
                let (url, name) = create_postgres_database(true).await;
                (url, None, Some(name))
            }
        };
        TestDb::open(url, dir, pg_name).await
    }

    async fn open(url: String, dir: Option<tempfile::TempDir>, pg_name: Option<String>) -> TestDb {
        let store = Store::connect(&url, crate::db::DEFAULT_TZ)
            .await
            .expect("connect to test database")
            .with_keyring(test_keyring());
        store.migrate().await.expect("migrations apply");
        TestDb {
            store,
            url,
            _dir: dir,
            pg_name,
        }
    }

    /// Queues a job as a step's transaction does.
    pub async fn enqueue(&self, job: &crate::outbox::Job) -> i64 {
        let mut tx = self.store.begin().await.expect("begin");
        let id = crate::outbox::enqueue(&mut tx, None, job)
            .await
            .expect("queued");
        tx.commit().await.expect("commit");
        id
    }

    /// Runs a statement directly, for states the product only reaches with time (data that
    /// has aged, say) or from outside (a server that moved).
    pub async fn execute(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(self.store.writer())
            .await
            .expect("test statement");
    }
}

impl TestDb {
    /// A database an earlier release wrote (an upgrade fixture: a SQLite file, or a plain
    /// `pg_dump` for PostgreSQL), restored into a fresh database and opened without migrating,
    /// so that the test migrates it as an upgrade would.
    pub async fn restored(engine: Engine, fixture: &std::path::Path) -> TestDb {
        let (url, dir, pg_name) = match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let file = dir.path().join("atiende.db");
                std::fs::copy(fixture, &file).expect("copy the fixture");
                (format!("sqlite://{}", file.display()), Some(dir), None)
            }
            Engine::Postgres => {
                let (url, name) = create_postgres_database(false).await;
                let status = std::process::Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f"])
                    .arg(fixture)
                    .arg(&url)
                    .status()
                    .expect("psql (run the suite with scripts/test, which installs PostgreSQL)");
                assert!(status.success(), "psql restores {}", fixture.display());
                (url, None, Some(name))
            }
        };
        let store = Store::connect(&url, crate::db::DEFAULT_TZ)
            .await
            .expect("connect to the restored database")
            .with_keyring(test_keyring());
        TestDb {
            store,
            url,
            _dir: dir,
            pg_name,
        }
    }

    /// Writes this database as an upgrade fixture that `restored` reads back: a compact copy
    /// of the SQLite file, or a plain `pg_dump` without owners and grants.
    pub async fn write_fixture(&self, path: &std::path::Path) {
        let _ = std::fs::remove_file(path);
        if self.url.starts_with("sqlite") {
            let target = path.display().to_string().replace('\'', "''");
            sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{target}'")))
                .execute(self.store.writer())
                .await
                .expect("VACUUM INTO");
        } else {
            let status = std::process::Command::new("pg_dump")
                .args(["--format=plain", "--no-owner", "--no-privileges", "--file"])
                .arg(path)
                .arg(&self.url)
                .status()
                .expect("pg_dump");
            assert!(status.success(), "pg_dump writes {}", path.display());
            // Newer psql releases guard a dump with `\restrict`, which older ones do not know;
            // the fixture is ours, so it goes without.
            let dump = std::fs::read_to_string(path).expect("the dump");
            let kept: String = dump
                .lines()
                .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(path, kept).expect("the dump, rewritten");
        }
    }

    /// The rows a query returns, each value written out (`Some(3)`, `Some("texto")`, `None`),
    /// for comparing what two databases hold.
    pub async fn rows_as_text(&self, sql: &str) -> Vec<Vec<String>> {
        use sqlx::Row;
        // A test's own query.
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_all(self.store.reader())
            .await
            .expect("query")
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| match r.try_get::<Option<i64>, _>(i) {
                        Ok(v) => format!("{v:?}"),
                        Err(_) => format!("{:?}", r.try_get::<Option<String>, _>(i).ok().flatten()),
                    })
                    .collect()
            })
            .collect()
    }

    /// Rows per table of the product (not the engine's own: SQLite's full-text shadow
    /// tables), by name.
    pub async fn rows_per_table(&self) -> std::collections::BTreeMap<String, i64> {
        use sqlx::Row;
        let sql = if self.url.starts_with("postgres") {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' AND name NOT LIKE '%_fts_%'"
        };
        let names: Vec<String> = sqlx::query(sql)
            .fetch_all(self.store.reader())
            .await
            .expect("tables")
            .iter()
            .map(|r| r.get("name"))
            .collect();
        let mut out = std::collections::BTreeMap::new();
        for name in names {
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM \"{name}\""
            )))
            .fetch_one(self.store.reader())
            .await
            .expect("count")
            .get("n");
            out.insert(name, n);
        }
        out
    }
}

impl TestDb {
    /// The one-time link (`…/{path}/<token>`) of a message queued for an incident (or for
    /// none), made as the worker makes it when the message leaves: a fresh token each call.
    pub async fn sent_link(&self, incident: Option<IncidentId>, path: &str) -> String {
        let marker = format!("/{path}/");
        for item in self.outbox(incident, 100).await.expect("outbox") {
            let ready = match item.job().expect("a job") {
                crate::outbox::Job::EmailSend(out) => {
                    let link = out.one_time_link;
                    self.with_one_time_link(link, serde_json::to_value(out).expect("json"))
                        .await
                        .expect("link")
                }
                crate::outbox::Job::ChatSend(job) => {
                    let content = self
                        .chat_message(job.chat_message_id)
                        .await
                        .expect("chat message")
                        .content;
                    self.with_one_time_link(job.one_time_link, content)
                        .await
                        .expect("link")
                }
                _ => None,
            };
            let found = ready.and_then(|message| {
                let mut texts = Vec::new();
                strings(&message, &mut texts);
                texts.into_iter().find_map(|t| {
                    t.split_whitespace()
                        .find(|w| w.contains(&marker) && !w.contains(crate::links::TOKEN_SLOT))
                        .map(str::to_string)
                })
            });
            if let Some(link) = found {
                return link;
            }
        }
        panic!("no message with a one-time link to /{path}/ was queued")
    }

    /// An incident of `contact` taken by phone, classified and closed by `agent`: its survey
    /// is due.
    pub async fn closed_phone_incident(
        &self,
        agent: &atiende_domain::user::StaffUser,
        contact: Option<atiende_domain::ids::ContactId>,
    ) -> IncidentId {
        use atiende_domain::classification::{Channel, IncidentType, UserType};
        let actor = crate::Actor::Staff(agent);
        let input = atiende_domain::incident::NewIncidentInput {
            channel: Channel::Phone,
            contact_id: contact,
            subject: "Credencial".into(),
            body: String::new(),
            user_type: Some(UserType::Student),
            incident_type: Some(IncidentType::Question),
            topic_id: None,
            critical: false,
            assigned_to: Some(agent.id),
            received_at: None,
        };
        let id = self
            .create_incident(actor, input)
            .await
            .expect("incident")
            .id;
        self.classify_incident(actor, id, &Default::default())
            .await
            .expect("classify");
        self.close_incident(actor, id, Some("Se indicó el trámite."))
            .await
            .expect("close");
        id
    }

    /// Every `table.column` of the database that holds `needle` somewhere in a value (text or
    /// bytes; on SQLite regardless of case), to prove that something is stored nowhere.
    pub async fn columns_containing(&self, needle: &str) -> Vec<String> {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.url).await.expect("connect");
        let postgres = self.url.starts_with("postgres");
        let needle = needle.replace('\'', "''");
        let columns: Vec<(String, String)> = if postgres {
            sqlx::query(
                "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
                 WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'character varying')",
            )
            .fetch_all(&pool)
            .await
            .expect("columns")
            .iter()
            .map(|r| (r.get("t"), r.get("c")))
            .collect()
        } else {
            let tables: Vec<String> = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&pool)
            .await
            .expect("tables")
            .iter()
            .map(|r| r.get("name"))
            .collect();
            let mut out = Vec::new();
            for t in tables {
                for r in sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{t}')"
                )))
                .fetch_all(&pool)
                .await
                .expect("columns")
                {
                    out.push((t.clone(), r.get("name")));
                }
            }
            out
        };
        let mut hits = Vec::new();
        for (t, c) in columns {
            let test = if postgres {
                format!(
                    "SELECT COUNT(*) AS n FROM \"{t}\" WHERE position(convert_to('{needle}', 'UTF8') in \
                     (CASE WHEN pg_typeof(\"{c}\")::text = 'bytea' THEN \"{c}\"::bytea ELSE convert_to(\"{c}\"::text, 'UTF8') END)) > 0"
                )
            } else {
                format!(
                    "SELECT COUNT(*) AS n FROM \"{t}\" WHERE instr(lower(CAST(\"{c}\" AS TEXT)), lower('{needle}')) > 0"
                )
            };
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(test))
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("{t}.{c}: {e}"))
                .get("n");
            if n > 0 {
                hits.push(format!("{t}.{c}"));
            }
        }
        pool.close().await;
        hits
    }
}

fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Dropping needs async work; do it on a thread with its own runtime so it also runs
        // when the test's runtime is shutting down.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) =
                    Store::connect(&postgres_admin_url(), crate::db::DEFAULT_TZ).await
                {
                    let _ = admin
                        .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Declares each listed async test once per engine: `sqlite::name` and `postgres::name`.
/// Each test function takes a `TestDb`.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::testing::TestDb::new($crate::Engine::Sqlite).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::testing::TestDb::new($crate::Engine::Postgres).await).await
            })*
        }
    };
}

/// A mailbox that only sends (through the local mail server of `scripts/mail-server`), for tests
/// whose incidents answer or invite by email.
pub fn sending_mailbox() -> crate::email::MailboxSettings {
    crate::email::MailboxSettings {
        name: "CAP".into(),
        address: "cap@udgvirtual.example".into(),
        channel: atiende_domain::classification::Channel::Email,
        imap_host: String::new(),
        imap_port: 993,
        imap_security: "tls".into(),
        imap_user: String::new(),
        imap_password: Default::default(),
        imap_folder: "INBOX".into(),
        smtp_host: "127.0.0.1".into(),
        smtp_port: i64::from(mail_ports().0),
        smtp_security: "plain".into(),
        smtp_user: String::new(),
        smtp_password: Default::default(),
        auth: Default::default(),
        oauth: Default::default(),
        oauth_client_secret: Default::default(),
        acknowledge: true,
        active: true,
    }
}

/// A small file system of a test's own (tmpfs, mounted as root, as `scripts/test` and CI
/// run), unmounted when dropped: a disk to fill.
pub struct SmallDisk {
    pub dir: std::path::PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: std::path::PathBuf, megabytes: u64) -> SmallDisk {
        std::fs::create_dir_all(&dir).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("mount");
        assert!(
            status.success(),
            "mounting a small file system needs root (CI and scripts/test run as root)"
        );
        SmallDisk { dir }
    }

    /// Bytes free, as `df` counts them.
    pub fn free(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df's figure")
    }

    /// Takes all but `leave` bytes with a file of its own; removing the file gives them back.
    pub fn fill(&self, leave: u64) -> std::path::PathBuf {
        let filler = self.dir.join("relleno");
        let size = self.free().saturating_sub(leave);
        std::fs::write(&filler, vec![7u8; size as usize]).expect("filler");
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

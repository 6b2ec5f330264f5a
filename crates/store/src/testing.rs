//! Fresh, migrated databases for tests, on either engine. Each test gets its own database, so
//! tests run in parallel and never see each other's data.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::db::{Engine, Store};

/// The PostgreSQL server the suite creates its databases on. CI starts one at this address.
pub fn postgres_admin_url() -> String {
    std::env::var("ATIENDE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A migrated store that removes its database when dropped.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl std::ops::Deref for TestDb {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        let (url, dir, pg_name) = match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("atiende.db").display());
                (url, Some(dir), None)
            }
            Engine::Postgres => {
                let name = format!(
                    "atiende_t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    chrono::Utc::now().timestamp_micros() % 1_000_000
                );
                let admin = postgres_admin_url();
                let store = Store::connect(&admin, crate::db::DEFAULT_TZ).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL is needed for the PostgreSQL half of the suite ({admin}): {e}. Start it, or point ATIENDE_TEST_POSTGRES_URL at one.")
                });
                store
                    .execute_admin(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                store.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                (format!("{base}/{name}"), None, Some(name))
            }
        };
        let store = Store::connect(&url, crate::db::DEFAULT_TZ)
            .await
            .expect("connect to test database");
        store.migrate().await.expect("migrations apply");
        TestDb {
            store,
            url,
            _dir: dir,
            pg_name,
        }
    }

    /// Runs a statement directly, for states the product only reaches with time (data that
    /// has aged, say).
    pub async fn execute(&self, sql: &'static str) {
        sqlx::query(sql)
            .execute(self.store.writer())
            .await
            .expect("test statement");
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
        imap_password: String::new(),
        imap_folder: "INBOX".into(),
        smtp_host: "127.0.0.1".into(),
        smtp_port: 2525,
        smtp_security: "plain".into(),
        smtp_user: String::new(),
        smtp_password: String::new(),
        acknowledge: true,
        active: true,
    }
}

//! `atiende serve`: migrate, seed on first run, listen, and shut down gracefully.

use anyhow::{Context, Result};
use atiende_domain::privacy::NoticeKind;
use atiende_store::Store;
use atiende_web::server::ConnectionLimits;
use atiende_web::{AppState, WebConfig};
use tracing_subscriber::EnvFilter;

use crate::config::Config;

/// Libraries that would log what messages say (mail, HTTP bodies) at debug level: they stay at
/// info unless ATIENDE_LOG names them, so that `ATIENDE_LOG=debug` shows no one-time link nor a
/// person's words.
const QUIET_LIBRARIES: [&str; 6] = [
    "lettre",
    "async_imap",
    "hyper",
    "h2",
    "rustls",
    "mail_parser",
];

pub fn init_logging(config: &Config) {
    let given = std::env::var("ATIENDE_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".to_string());
    let mut directives = given.clone();
    for library in QUIET_LIBRARIES {
        if !given.contains(library) {
            directives.push_str(&format!(",{library}=info"));
        }
    }
    let filter = EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    // Colours only for a person at a terminal; the journal and log collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Connects and brings the schema up to date.
pub async fn open_store(config: &Config) -> Result<Store> {
    let store = Store::connect(&config.database_url, config.time_zone()?)
        .await
        .with_context(|| format!("connecting to {}", config.redacted_database_url()))?
        .with_reopen_window(config.reopen_window_days);
    let store = match config.keyring()? {
        Some(keyring) => store.with_keyring(keyring),
        None => anyhow::bail!(
            "with PostgreSQL, give every instance the same secrets key (secrets_key, \
             secrets_key_file or ATIENDE_SECRETS_KEY; `atiende secrets new-key` prints one)"
        ),
    };
    store.migrate().await.context("applying migrations")?;
    // Incidents from before the rollups (or written by an older version) are counted in once.
    let counted = store
        .rebuild_indicators(false)
        .await
        .context("counting incidents into the indicators")?;
    if counted > 0 {
        tracing::info!(incidents = counted, "indicator rollups brought up to date");
    }
    let indexed = store
        .ensure_search_index()
        .await
        .context("writing the search index")?;
    if indexed > 0 {
        tracing::info!(records = indexed, "search index written");
    }
    Ok(store)
}

/// Writes the mailboxes of the configuration file into the database (the console edits them
/// there too).
pub async fn sync_mailboxes(store: &Store, config: &Config) -> Result<()> {
    for m in &config.mailboxes {
        store
            .save_mailbox(atiende_store::Actor::System, m)
            .await
            .with_context(|| format!("mailbox {} in the configuration", m.name))?;
    }
    Ok(())
}

fn worker_config(config: &Config) -> atiende_jobs::worker::WorkerConfig {
    atiende_jobs::worker::WorkerConfig {
        base_url: config.base_url.clone(),
        interval: std::time::Duration::from_secs(
            config.worker_interval_seconds.clamp(1, 3600) as u64
        ),
        owner: format!("{}:{}", hostname(), std::process::id()),
        meta: config.meta.clone(),
        webhooks_allow_private: config.webhooks_allow_private_addresses,
        external_service_alert_after: chrono::Duration::minutes(
            config.external_service_alert_minutes.max(0),
        ),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "atiende".into())
}

/// `atiende worker`: only the background work, until Ctrl-C or SIGTERM.
pub async fn run_worker(config: Config) -> Result<()> {
    let store = open_store(&config).await?;
    sync_mailboxes(&store, &config).await?;
    tracing::info!("worker running");
    atiende_jobs::worker::run(store.clone(), worker_config(&config), shutdown_signal()).await;
    store.close().await;
    Ok(())
}

pub async fn run(config: Config) -> Result<()> {
    let store = open_store(&config).await?;
    // The serving instance refreshes the planner's statistics; one-off commands need not.
    store
        .optimize()
        .await
        .context("refreshing the planner's statistics")?;
    let admin_password = Some(config.admin_password.expose()).filter(|p| !p.is_empty());
    let first_admin = store
        .first_run(admin_password)
        .await
        .context("first-run setup")?;
    sync_mailboxes(&store, &config).await?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let web = WebConfig {
        base_url: config.base_url.clone(),
        session_hours: config.session_hours,
        session_idle_minutes: config.session_idle_minutes,
        reopen_window_days: config.reopen_window_days,
        login_attempts_per_minute: config.login_attempts_per_minute,
        public_posts_per_minute: config.public_posts_per_minute,
        web_chat_origins: config.web_chat_origins.clone(),
        chat_messages_per_minute: config.chat_messages_per_minute,
        storage: config.storage_folders(),
        storage_alert_bytes: config.storage_alert_mb.saturating_mul(1024 * 1024),
        privacy_notice: or_default(&config.privacy_notice, crate::config::SIMPLIFIED_NOTICE),
        meta: config.meta.clone(),
        cti_token: config.cti_token.clone(),
        metrics_token: config.metrics_token.clone(),
        mail_ingest_token: config.mail_ingest_token.clone(),
        webhooks_allow_private: config.webhooks_allow_private_addresses,
        trusted_proxies: config.trusted_proxies()?,
        sso: config.sso.clone(),
        second_factor: atiende_domain::second_factor::SecondFactorRule {
            required_roles: config.second_factor_required_roles.clone(),
        },
    };
    // The notices start as a first version (the configured text); the administrator publishes
    // the next ones from the console.
    for (kind, text) in [
        (NoticeKind::Simplified, web.privacy_notice.as_str()),
        (
            NoticeKind::Integral,
            or_default(
                &config.privacy_notice_integral,
                crate::config::INTEGRAL_NOTICE,
            )
            .as_str(),
        ),
    ] {
        store
            .ensure_notice(kind, text)
            .await
            .context("publishing the first privacy notice")?;
    }
    let state = AppState::new(store.clone(), web);
    let draining = state.draining.clone();
    let app = atiende_web::app(state);

    println!("atiende está listo en {}", config.base_url);
    match first_admin {
        Some(admin) => match admin.generated_password {
            Some(password) => println!(
                "Entre con el usuario «{}» y la contraseña de un solo uso «{password}» (se pedirá cambiarla).",
                admin.login
            ),
            None => println!(
                "Entre con el usuario «{}» y la contraseña de ATIENDE_ADMIN_PASSWORD.",
                admin.login
            ),
        },
        None => {
            println!("Entre con su usuario; un administrador crea cuentas con `atiende user add`.")
        }
    }
    tracing::info!(listen = %config.listen, database = %config.redacted_database_url(), "serving");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = config.worker.then(|| {
        let mut stop = stop_rx.clone();
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::spawn(atiende_jobs::worker::run(
            store.clone(),
            worker_config(&config),
            shutdown,
        ))
    });
    let limits = ConnectionLimits {
        header_read_timeout: std::time::Duration::from_secs(
            config.header_read_timeout_seconds.max(1),
        ),
        body_read_timeout: std::time::Duration::from_secs(config.body_read_timeout_seconds.max(1)),
        per_address: config.max_connections_per_address,
        total: config.max_connections,
        trusted: config.trusted_proxies()?,
    };
    let tls = config.tls_acceptor()?;
    let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
    let shutdown = async move {
        shutdown_signal().await;
        if !grace.is_zero() {
            // Not ready, still serving: the load balancer moves away first.
            draining.start();
            tokio::time::sleep(grace).await;
        }
    };
    atiende_web::server::serve(listener, app, limits, tls, shutdown).await;
    // The worker finishes the job in hand, then stops.
    let _ = stop_tx.send(true);
    if let Some(w) = worker {
        let _ = w.await;
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, let in-flight requests finish, then exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A configured text, or the default when the configuration leaves it empty.
fn or_default(configured: &str, default: &str) -> String {
    let text = if configured.trim().is_empty() {
        default
    } else {
        configured
    };
    text.trim().to_string()
}

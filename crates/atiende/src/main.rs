//! The `atiende` binary: the only place where concrete pieces are wired together.
//! `atiende` (or `atiende serve`) runs the service; the other subcommands administer it.

mod commands;
mod config;
mod import;
mod privacy;
mod serve;

use std::path::PathBuf;

/// mimalloc rather than the C library's allocator: the service and the imports allocate many
/// small, short-lived values across threads, where glibc's malloc spent a fifth of an import's
/// time consolidating its heap (BENCHMARKS.md, "Importing SugarCRM").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "atiende",
    version,
    about = "Help desk and CRM for university personalized-attention centres"
)]
struct Cli {
    /// TOML configuration file (default: $ATIENDE_CONFIG, else built-in defaults).
    #[arg(long, global = true, env = "ATIENDE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web service (the default).
    Serve,
    /// Ask the running service whether it is ready (`/readyz`): exit 0 if so, 1 otherwise. For
    /// container health checks, where no HTTP client is installed.
    Health {
        /// Defaults to http:// plus the configured listen address, path /readyz.
        #[arg(long)]
        url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// Only say which migrations would run; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Manage staff accounts.
    #[command(subcommand)]
    User(commands::UserCommand),
    /// Manage API tokens for integrations.
    #[command(subcommand)]
    Token(commands::TokenCommand),
    /// The key that seals the secrets the database keeps.
    #[command(subcommand)]
    Secrets(commands::SecretsCommand),
    /// Run only the background worker (mail polling and sending).
    Worker,
    /// Mail commands.
    #[command(subcommand)]
    Mail(commands::MailCommand),
    /// Write a consistent copy of the running SQLite database to FILE.
    Backup { file: PathBuf },
    /// Print the effective configuration, secrets hidden.
    Config,
    /// Print the JSON API's OpenAPI 3.1 document (as served at /api/v1/openapi.json).
    Openapi,
    /// Import data from other systems and lists.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Personal data: ARCO requests (export, block, suppress) and the access log.
    #[command(subcommand)]
    Privacy(privacy::PrivacyCommand),
    /// Recount the indicator rollups of every incident and the queue's counts from scratch
    /// (after an import, a change of the first-contact window, or a hand edit).
    RebuildIndicators,
    /// Rewrite the full-text search index of incidents, contacts and articles.
    RebuildSearch,
    /// Load demo data to try atiende out: staff, a year of history in Spanish (incidents on
    /// every channel, surveys, nonconformities, articles, targets) and the last days' work.
    /// Refuses a database that already holds people or incidents unless --force; loading it
    /// again changes nothing.
    Demo {
        /// Incidents in the year of history.
        #[arg(long, default_value_t = 6000)]
        incidents: usize,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// One password for every demo staff account; without it each gets its own one-time
        /// password, printed once.
        #[arg(long)]
        password: Option<String>,
        /// Load it even into a database that already holds people or incidents.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let config = config::Config::load(cli.config.as_deref(), |k| std::env::var(k).ok())?;
    serve::init_logging(&config);
    config.trust_mail_ca()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve::run(config).await,
            Command::Worker => serve::run_worker(config).await,
            Command::Mail(cmd) => commands::mail(&config, cmd).await,
            Command::Migrate { dry_run } => commands::migrate(&config, dry_run).await,
            Command::Health { url } => commands::health(&config, url),
            Command::User(cmd) => commands::user(&config, cmd).await,
            Command::Token(cmd) => commands::token(&config, cmd).await,
            Command::Secrets(cmd) => commands::secrets(&config, cmd).await,
            Command::Backup { file } => commands::backup(&config, &file).await,
            Command::Demo {
                incidents,
                seed,
                password,
                force,
            } => commands::demo(&config, incidents, seed, password.as_deref(), force).await,
            Command::RebuildIndicators => commands::rebuild_indicators(&config).await,
            Command::RebuildSearch => commands::rebuild_search(&config).await,
            Command::Import(cmd) => import::run(&config, cmd).await,
            Command::Privacy(cmd) => privacy::run(&config, cmd).await,
            Command::Config => {
                print!("{}", config.redacted());
                Ok(())
            }
            Command::Openapi => {
                let doc = atiende_web::openapi_document();
                println!("{}", serde_json::to_string_pretty(&doc)?);
                Ok(())
            }
        }
    })
}

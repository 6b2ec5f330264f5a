//! The administrative subcommands. Changes made here are audited as made by the system.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use atiende_domain::ids::UnitId;
use atiende_domain::user::{Role, UserInput};
use atiende_store::{Actor, Store, StoreError};
use clap::Subcommand;

use crate::config::Config;
use crate::serve::open_store;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a staff account. Without --password-stdin a one-time password is printed.
    Add {
        login: String,
        /// agent, cap_lead, unit_responsible, quality_owner, management or admin.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Unit id a unit responsible answers for (repeatable).
        #[arg(long = "unit")]
        units: Vec<i64>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new temporary password (printed, or read with --password-stdin).
    Passwd {
        login: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account; its sessions end at once.
    Disable { login: String },
    /// List accounts.
    List,
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Print a new random key (for secrets_key, secrets_key_file or ATIENDE_SECRETS_KEY).
    NewKey,
    /// Seal every secret again with the current (first) key, after a new key was put first.
    Rotate,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token for a user; prints the token alone, for scripts.
    Create {
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// What it may be used for, within the user's role (repeat for several): read,
        /// incidents_write, quality, knowledge, personal_data, admin (everything the role
        /// allows).
        #[arg(long = "scope", default_value = "read")]
        scopes: Vec<String>,
        /// Days until it stops working; without it, until revoked.
        #[arg(long)]
        expires_days: Option<i64>,
    },
    /// Revoke a token by its id.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
pub enum MailCommand {
    /// Ingest one message from standard input (for mail servers that deliver to a program).
    /// Exits with 75 (temporary failure) when it cannot be committed, so the server retries.
    /// With --via, hands it to the running service instead (the light path: no configuration,
    /// no database rights, no start-up work); the token comes from --token-file or
    /// ATIENDE_MAIL_INGEST_TOKEN.
    Ingest {
        /// The configured mailbox the message was sent to (its channel and acknowledgement).
        #[arg(long)]
        mailbox: Option<String>,
        /// The running service's address, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        via: Option<String>,
        /// A file holding the service's mail_ingest_token (its first line).
        #[arg(long)]
        token_file: Option<std::path::PathBuf>,
    },
}

/// The exit status mail servers read as "try again later" (sysexits.h EX_TEMPFAIL).
pub const EX_TEMPFAIL: i32 = 75;
/// The exit status mail servers read as "the message itself is refused": they bounce it
/// (sysexits.h EX_DATAERR).
pub const EX_DATAERR: i32 = 65;

/// The light path of `mail ingest`: posts the message to the running service. Exits 0 once
/// the service answered that it committed it, 65 when it refused the message itself (too
/// large), and 75 for anything else — unreachable, wrong token, unknown mailbox, a database
/// error — so the mail server keeps the message and retries.
fn hand_over(via: &str, mailbox: Option<&str>, token: &str, raw: &[u8]) -> ! {
    let url = format!("{}/api/v1/mail/ingest", via.trim_end_matches('/'));
    let mut request = http_agent(120)
        .post(&url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "message/rfc822");
    if let Some(m) = mailbox {
        request = request.query("mailbox", m);
    }
    let answer = request.send(raw);
    match answer {
        Ok(mut r) if r.status().is_success() => {
            println!("{}", r.body_mut().read_to_string().unwrap_or_default());
            std::process::exit(0)
        }
        Ok(mut r) => {
            let status = r.status().as_u16();
            let body = r.body_mut().read_to_string().unwrap_or_default();
            if status == 413 {
                eprintln!("atiende: the service refused the message as too large: {body}");
                std::process::exit(EX_DATAERR)
            }
            eprintln!(
                "atiende: the service did not store the message ({status}), the mail server should retry: {body}"
            );
            std::process::exit(EX_TEMPFAIL)
        }
        Err(e) => {
            eprintln!(
                "atiende: cannot reach the service at {via}, the mail server should retry: {e}"
            );
            std::process::exit(EX_TEMPFAIL)
        }
    }
}

/// `atiende health`: whether the service answers `/readyz` with success, as the exit status.
pub fn health(config: &Config, url: Option<String>) -> Result<()> {
    let url = url.unwrap_or_else(|| {
        // A service listening on every address is asked on the loopback.
        let listen = config.listen.replace("0.0.0.0", "127.0.0.1");
        format!("http://{listen}/readyz")
    });
    match http_agent(5).get(&url).call() {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            eprintln!("atiende: {url} answered {}", r.status());
            std::process::exit(1)
        }
        Err(e) => {
            eprintln!("atiende: {url}: {e}");
            std::process::exit(1)
        }
    }
}

/// An HTTP client for talking to the running service: every status is an answer to read,
/// within `seconds`.
fn http_agent(seconds: u64) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(seconds)))
        .build()
        .into()
}

pub async fn mail(config: &Config, cmd: MailCommand) -> Result<()> {
    match cmd {
        MailCommand::Ingest {
            mailbox,
            via,
            token_file,
        } => {
            let mut raw = Vec::new();
            std::io::stdin()
                .read_to_end(&mut raw)
                .context("reading the message")?;
            if let Some(via) = via {
                let token = match token_file {
                    Some(path) => std::fs::read_to_string(&path)
                        .map(|t| t.lines().next().unwrap_or_default().trim().to_string())
                        .unwrap_or_else(|e| {
                            eprintln!("atiende: cannot read {}: {e}", path.display());
                            std::process::exit(EX_TEMPFAIL)
                        }),
                    None => config.mail_ingest_token.expose().to_string(),
                };
                hand_over(&via, mailbox.as_deref(), &token, &raw);
            }
            let outcome = async {
                let store = open_store(config).await?;
                crate::serve::sync_mailboxes(&store, config).await?;
                let mailbox = match mailbox {
                    Some(name) => Some(
                        store
                            .mailboxes()
                            .await?
                            .into_iter()
                            .find(|m| m.name == name)
                            .with_context(|| format!("no mailbox named {name}"))?,
                    ),
                    None => None,
                };
                let email = atiende_channels::email::parse(&raw);
                let outcome = store.ingest_email(mailbox.as_ref(), &email, &raw).await?;
                store.close().await;
                anyhow::Ok(outcome)
            }
            .await;
            match outcome {
                Ok(outcome) => {
                    println!("{outcome:?}");
                    Ok(())
                }
                Err(e) => {
                    eprintln!(
                        "atiende: the message was not stored, the mail server should retry: {e:#}"
                    );
                    std::process::exit(EX_TEMPFAIL);
                }
            }
        }
    }
}

pub async fn migrate(config: &Config, dry_run: bool) -> Result<()> {
    let store = Store::connect(&config.database_url, config.time_zone()?).await?;
    if dry_run {
        let pending = store.pending_migrations().await?;
        if pending.is_empty() {
            println!("the schema is current: no migration would run");
        }
        for m in pending {
            println!("would apply {} (version {})", m.name, m.version);
        }
        return Ok(());
    }
    let applied = store.migrate().await?;
    println!("{applied} migration(s) applied");
    Ok(())
}

fn read_password() -> Result<String> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    Ok(password.trim_end_matches(['\n', '\r']).to_string())
}

fn explain(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::Rule(r) => anyhow::anyhow!("refused: {r} ({:?})", r.fields()),
        StoreError::Conflict { field, code, .. } => anyhow::anyhow!("{field}: {code}"),
        other => other.into(),
    }
}

pub async fn user(config: &Config, cmd: UserCommand) -> Result<()> {
    let store = open_store(config).await?;
    match cmd {
        UserCommand::Add {
            login,
            role,
            name,
            email,
            units,
            password_stdin,
        } => {
            let role = Role::from_code(&role).with_context(|| {
                let all: Vec<_> = Role::ALL.iter().map(|r| r.code()).collect();
                format!("unknown role `{role}`; one of {}", all.join(", "))
            })?;
            let input = UserInput {
                login: Some(login),
                role: Some(role),
                name,
                email,
                unit_ids: Some(units.into_iter().map(UnitId).collect()),
                password: if password_stdin {
                    Some(read_password()?)
                } else {
                    None
                },
                ..Default::default()
            };
            let created = store
                .create_user(Actor::System, &input)
                .await
                .map_err(explain)?;
            println!(
                "created {} ({}) with id {}",
                created.user.login, created.user.role, created.user.id
            );
            if let Some(p) = created.generated_password {
                println!("one-time password: {p}");
            }
        }
        UserCommand::Passwd {
            login,
            password_stdin,
        } => {
            let user = store.user_by_login(&login).await.map_err(explain)?;
            let password = if password_stdin {
                read_password()?
            } else {
                atiende_store::users::generate_password()
            };
            let input = UserInput {
                password: Some(password.clone()),
                ..Default::default()
            };
            store
                .update_user(Actor::System, user.id, &input)
                .await
                .map_err(explain)?;
            if !password_stdin {
                println!("temporary password for {login}: {password}");
            } else {
                println!("password set for {login}; it must be changed at the next login");
            }
        }
        UserCommand::Disable { login } => {
            let user = store.user_by_login(&login).await.map_err(explain)?;
            let input = UserInput {
                disabled: Some(true),
                ..Default::default()
            };
            store
                .update_user(Actor::System, user.id, &input)
                .await
                .map_err(explain)?;
            println!("disabled {login}");
        }
        UserCommand::List => {
            for u in store.users().await? {
                let state = if u.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{}\t{}", u.id, u.login, u.role, state, u.name);
            }
        }
    }
    Ok(())
}

pub async fn secrets(config: &Config, cmd: SecretsCommand) -> Result<()> {
    match cmd {
        SecretsCommand::NewKey => {
            println!("{}", atiende_store::secrets::Keyring::new_key());
            Ok(())
        }
        SecretsCommand::Rotate => {
            let store = open_store(config).await?;
            let moved = store.rotate_secrets().await.map_err(explain)?;
            println!("{moved} secret(s) sealed again with the current key");
            Ok(())
        }
    }
}

pub async fn token(config: &Config, cmd: TokenCommand) -> Result<()> {
    let store = open_store(config).await?;
    match cmd {
        TokenCommand::Create {
            user,
            name,
            scopes,
            expires_days,
        } => {
            let user = store.user_by_login(&user).await.map_err(explain)?;
            if user.disabled {
                bail!("{} is disabled", user.login);
            }
            let Ok(scopes) =
                atiende_domain::access::TokenScopes::parse(scopes.iter().map(String::as_str))
            else {
                bail!(
                    "unknown scope among {scopes:?}: read, incidents_write, quality, knowledge, \
                     personal_data or admin"
                );
            };
            let expires = match expires_days {
                None => None,
                Some(days @ 1..=730) => Some(chrono::Utc::now() + chrono::Duration::days(days)),
                Some(days) => bail!("--expires-days {days}: give 1 to 730 days"),
            };
            let (_, token) = store
                .create_api_token(Actor::System, user.id, &name, &scopes, expires)
                .await?;
            println!("{token}");
        }
        TokenCommand::Revoke { id } => {
            if store.revoke_api_token(Actor::System, id, None).await? {
                println!("revoked token {id}");
            } else {
                bail!("no active token with id {id}");
            }
        }
    }
    Ok(())
}

pub async fn backup(config: &Config, file: &Path) -> Result<()> {
    let store = open_store(config).await?;
    if store.engine() == atiende_store::db::Engine::Postgres {
        bail!(
            "`atiende backup` copies a SQLite database; this one is PostgreSQL. Back it up \
             with PostgreSQL's own tools, while atiende runs: \
             pg_dump --format=custom --file atiende.dump \"$DATABASE_URL\" \
             (restore into an empty database with pg_restore --dbname \"$DATABASE_URL\" \
             atiende.dump). See docs/OPERATIONS.md."
        );
    }
    store.backup(file).await.map_err(|e| match e {
        StoreError::Conflict { .. } => anyhow::anyhow!("{} already exists", file.display()),
        other => other.into(),
    })?;
    println!("backup written to {}", file.display());
    Ok(())
}

pub async fn rebuild_indicators(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let n = store.rebuild_indicators(true).await?;
    println!("indicators recounted from {n} incidents");
    Ok(())
}

pub async fn rebuild_search(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    let n = store.rebuild_search().await?;
    println!("search index rewritten for {n} records");
    Ok(())
}

pub async fn demo(
    config: &Config,
    incidents: usize,
    seed: u64,
    password: Option<&str>,
    force: bool,
) -> Result<()> {
    let store = open_store(config).await?;
    let loaded: Option<String> = store
        .setting(atiende_store::settings::key::DEMO_LOADED)
        .await?;
    if loaded.is_some() {
        println!("the demo data was already loaded: nothing changed");
        return Ok(());
    }
    if !force && store.holds_records().await? {
        anyhow::bail!(
            "la base de datos ya tiene usuarios o incidentes: los datos de demostración no se \
             mezclan con registros reales (use --force para cargarlos de todos modos)"
        );
    }
    let admin_password = Some(config.admin_password.expose()).filter(|p| !p.is_empty());
    if let Some(admin) = store.first_run(admin_password).await?
        && let Some(p) = admin.generated_password
    {
        println!("administrator: {} / one-time password {p}", admin.login);
    }
    let summary = store
        .load_demo(incidents, seed, password)
        .await
        .map_err(explain)?;
    if summary.already_loaded {
        // Another process loaded it in the meantime.
        println!("the demo data was already loaded: nothing changed");
        return Ok(());
    }
    let h = &summary.history;
    println!(
        "demo loaded: a year of history ({} incidents, {} contacts, {} derivations, {} surveys), \
         {} nonconformities found in it with their treatment, example targets, and the last \
         days' {} incidents ({} closed, {} derived)",
        h.incidents,
        h.contacts,
        h.derivations,
        h.surveys,
        summary.nonconformities,
        summary.incidents,
        summary.closed,
        summary.derived
    );
    for (account, generated) in &summary.staff {
        match (generated, password) {
            (Some(p), _) => println!("staff account {account}, one-time password {p}"),
            (None, Some(_)) => println!("staff account {account}, the password given"),
            (None, None) => println!("staff account {account}"),
        }
    }
    Ok(())
}

//! atiende's benchmarks (BENCHMARKS.md): `pages` renders the console's pages over demo data,
//! `scale` drives the real `atiende` binary over a generated history of a million incidents
//! (pages, indicators, search, intake), `intake` measures incident creation through the API.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use atiende_store::Store;
use atiende_web::{AppState, WebConfig};
use clap::{Parser, Subcommand};

mod day;
mod server;
mod sugarcrm;

use server::{ServerProcess, login, spawn_server};

#[derive(Parser)]
#[command(about = "atiende benchmarks (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Console page latency with demo data on a fresh SQLite file (or --database-url).
    Pages {
        #[arg(long, default_value_t = 2000)]
        incidents: usize,
        #[arg(long, default_value_t = 200)]
        requests: usize,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Incident intake through the JSON API at concurrency 1, 16 and 64 (bearer token), next to
    /// the `/healthz` floor, on a fresh SQLite file (or --database-url), against the real
    /// `atiende` binary in its own process.
    Intake {
        /// Seconds per concurrency level.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Incidents of history generated first: intake at a busy hour happens in a database
        /// that already holds years of them, and PostgreSQL plans its foreign-key checks by
        /// the table's size when a connection first makes them.
        #[arg(long, default_value_t = 20_000)]
        history: usize,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// The service over a generated history (default: a million incidents over five years and
    /// five thousand articles) on a fresh SQLite file (or --database-url): the queue and
    /// incident view, the indicators dashboard, the staff search and the public help search,
    /// then intake through the API on the same history and the `kill -9` check.
    Scale {
        #[arg(long, default_value_t = 1_000_000)]
        incidents: usize,
        #[arg(long, default_value_t = 5_000)]
        articles: usize,
        /// Default: one for every five incidents.
        #[arg(long)]
        contacts: Option<usize>,
        #[arg(long, default_value_t = 5)]
        years: i64,
        #[arg(long, default_value_t = 20)]
        requests: usize,
        /// Seconds per concurrency level of the intake phases (after the pages, on the same
        /// history).
        #[arg(long, default_value_t = 8)]
        intake_seconds: u64,
        #[arg(long)]
        database_url: Option<String>,
        /// Measure the history an earlier run generated at --database-url instead of
        /// generating one (to compare a change without waiting minutes for the data).
        #[arg(long, requires = "database_url")]
        reuse: bool,
        /// Before starting the service, time the first start after upgrading to service
        /// levels: every incident's clocks and indicator facts measured once.
        #[arg(long)]
        backfill: bool,
    },
    /// A peak day at once on a generated history (default a million incidents): agents on the
    /// console's live stream cycling queue → incident → answer/close, intake through the API,
    /// signed WhatsApp webhooks and the mail server's endpoint, the quality office's dashboard
    /// and export, search. SQLite with one instance, or PostgreSQL (--database-url) with
    /// --instances behind HAProxy.
    Day {
        #[arg(long, default_value_t = 1_000_000)]
        incidents: usize,
        #[arg(long, default_value_t = 60)]
        agents: usize,
        /// Seconds of load measured.
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// Seconds of the same load before the measured ones, reported apart: agents signing
        /// in and each instance's upkeep at start (statistics, the first round of checks).
        #[arg(long, default_value_t = 20)]
        warm_up_seconds: u64,
        /// New incidents per second through the channels, together.
        #[arg(long, default_value_t = 10.0)]
        intake_per_second: f64,
        /// An agent's pause between steps, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        think_ms: u64,
        #[arg(long, default_value_t = 1)]
        instances: usize,
        #[arg(long)]
        database_url: Option<String>,
        /// Use the history an earlier run generated at --database-url.
        #[arg(long, requires = "database_url")]
        reuse: bool,
        /// A soak: read memory, descriptors, database connections and WAL this often (seconds)
        /// and report them as a table (`--seconds 3600 --sample-seconds 60` for an hour).
        #[arg(long)]
        sample_seconds: Option<u64>,
    },
    /// A SugarCRM export (default 300,000 cases with their contacts, notes and calls) written
    /// as CSV files and imported by the real `atiende import sugarcrm`, on a fresh SQLite file
    /// (or --database-url); then imported again, and checked.
    Import {
        #[arg(long, default_value_t = 300_000)]
        cases: usize,
        #[arg(long)]
        database_url: Option<String>,
        /// Write the export into this folder and keep it (to import it again by hand).
        #[arg(long)]
        export_dir: Option<std::path::PathBuf>,
    },
    /// Suggestions learned from history: a generated history on a fresh SQLite file (or
    /// --database-url), the model trained as the worker trains it, its top-1 and top-3
    /// accuracy on the held-out fifth, and the time to suggest for new incidents.
    Suggestions {
        #[arg(long, default_value_t = 100_000)]
        incidents: usize,
        /// New incidents suggested for after training.
        #[arg(long, default_value_t = 500)]
        requests: usize,
        #[arg(long)]
        database_url: Option<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Pages {
            incidents,
            requests,
            database_url,
        } => runtime.block_on(pages(incidents, requests, database_url)),
        Command::Intake {
            seconds,
            history,
            database_url,
        } => runtime.block_on(intake(seconds, history, database_url)),
        Command::Scale {
            incidents,
            articles,
            contacts,
            years,
            requests,
            intake_seconds,
            database_url,
            reuse,
            backfill,
        } => runtime.block_on(scale(
            atiende_bench::generate::Spec {
                incidents,
                articles,
                contacts: contacts.unwrap_or(incidents / 5).max(1),
                years,
                seed: 2026,
                end: chrono::Utc::now(),
            },
            requests,
            intake_seconds,
            database_url,
            reuse,
            backfill,
        )),
        Command::Import {
            cases,
            database_url,
            export_dir,
        } => runtime.block_on(sugarcrm::run(
            &sugarcrm::ExportSpec::for_cases(cases),
            database_url,
            export_dir,
        )),
        Command::Suggestions {
            incidents,
            requests,
            database_url,
        } => runtime.block_on(suggestions(incidents, requests, database_url)),
        Command::Day {
            incidents,
            agents,
            seconds,
            warm_up_seconds,
            intake_per_second,
            think_ms,
            instances,
            database_url,
            reuse,
            sample_seconds,
        } => runtime.block_on(day_command(
            incidents,
            database_url,
            reuse,
            day::DaySpec {
                agents,
                seconds,
                warm_up: Duration::from_secs(warm_up_seconds),
                intake_per_second,
                think: Duration::from_millis(think_ms),
                instances,
                sample_every: sample_seconds.map(|s| Duration::from_secs(s.max(1))),
            },
        )),
    }
}

/// The benchmark's database, migrated and set up: `database_url`, or a fresh SQLite file in
/// `dir`. Returns it with its URL.
async fn open_store(
    database_url: Option<String>,
    dir: &tempfile::TempDir,
) -> Result<(Store, String)> {
    let url = database_url
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = Store::connect(&url, atiende_store::db::DEFAULT_TZ).await?;
    store.migrate().await?;
    store.first_run(Some(PASSWORD)).await?;
    Ok((store, url))
}

/// The history (generated, or an earlier run's), then the day.
async fn day_command(
    incidents: usize,
    database_url: Option<String>,
    reuse: bool,
    spec: day::DaySpec,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, url) = open_store(database_url, &dir).await?;
    if !reuse {
        let history = atiende_bench::generate::Spec {
            incidents,
            articles: (incidents / 200).min(5_000),
            contacts: (incidents / 5).max(1000),
            years: 5,
            seed: 2026,
            end: chrono::Utc::now(),
        };
        let started = Instant::now();
        atiende_bench::generate::generate(&store, &history, |stage, done, total| {
            eprint!("\r{stage:<11} {done}/{total}   ");
        })
        .await?;
        eprintln!();
        println!(
            "history of {incidents} incidents generated in {:.1?}",
            started.elapsed()
        );
    }
    day::run(&store, &url, &spec).await
}

async fn suggestions(
    incidents: usize,
    requests: usize,
    database_url: Option<String>,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _) = open_store(database_url, &dir).await?;
    let spec = atiende_bench::generate::Spec {
        incidents,
        articles: 0,
        contacts: (incidents / 5).max(1),
        years: 2,
        seed: 2026,
        end: chrono::Utc::now(),
    };
    let started = Instant::now();
    atiende_bench::generate::generate(&store, &spec, |_, _, _| {}).await?;
    eprintln!(
        "generated {incidents} incidents in {:.1?}",
        started.elapsed()
    );
    let started = Instant::now();
    let model = store
        .train_suggestions(chrono::Utc::now())
        .await?
        .context("no closed incident to learn from")?;
    let trained_in = started.elapsed();
    println!(
        "trained on {} closed incidents (the newest, at most {}) in {:.2?}",
        model.examples,
        atiende_store::suggestions::TRAINING_LIMIT,
        trained_in
    );
    println!(
        "{:<20} {:>10} {:>8} {:>8}",
        "question", "held out", "top-1", "top-3"
    );
    let a = model.accuracy;
    for (name, acc) in [
        ("topic", a.topic),
        ("incident type", a.incident_type),
        ("critical", a.critical),
    ] {
        let pct = |r: Option<f64>| {
            r.map(|r| format!("{:.1} %", r * 100.0))
                .unwrap_or("—".into())
        };
        println!(
            "{name:<20} {:>10} {:>8} {:>8}",
            acc.examples,
            pct(acc.top1_rate()),
            pct(acc.top3_rate())
        );
    }
    // New incidents, each suggested for once (as the first agent to open it would).
    let agent = store
        .user_by_login("agente00")
        .await
        .context("the generator's agents")?;
    let person = store
        .create_contact(
            atiende_store::Actor::Staff(&agent),
            &atiende_domain::contact::ContactInput {
                name: Some("Persona de prueba".into()),
                emails: Some(vec!["prueba@example.org".into()]),
                ..Default::default()
            },
        )
        .await?;
    let mut times = Vec::with_capacity(requests);
    for n in 0..requests {
        let question = n % atiende_store::demo::QUESTIONS.len();
        let (_, subject, words, _) = atiende_store::demo::QUESTIONS[question];
        let incident = store
            .create_incident(
                atiende_store::Actor::Staff(&agent),
                atiende_domain::incident::NewIncidentInput {
                    channel: atiende_domain::classification::Channel::Email,
                    contact_id: Some(person.id),
                    subject: subject.into(),
                    body: words.into(),
                    user_type: None,
                    incident_type: None,
                    topic_id: None,
                    critical: false,
                    assigned_to: None,
                    received_at: None,
                },
            )
            .await?;
        let t = Instant::now();
        store.suggestion_for(&incident).await?;
        times.push(t.elapsed());
    }
    times.sort();
    print_table(&[("suggestion for a new incident (first view)".into(), times)]);
    Ok(())
}

pub(crate) const PASSWORD: &str = "clave-de-benchmark";

async fn pages(incidents: usize, requests: usize, database_url: Option<String>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, url) = open_store(database_url, &dir).await?;
    let started = Instant::now();
    let summary = store
        .load_demo(incidents, 1, Some(PASSWORD))
        .await
        .context("loading demo data")?;
    eprintln!(
        "loaded the demo: {} incidents of history and {} of the last days in {:.1?}",
        summary.history.incidents,
        summary.incidents,
        started.elapsed()
    );

    let base = serve(&store).await?;
    let folio = store
        .incidents(
            &atiende_domain::access::Scope::All,
            &atiende_store::incidents::IncidentFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await?
        .first()
        .map(|s| s.incident.folio.to_string())
        .context("no incident")?;
    let contact = store
        .contacts(&atiende_store::contacts::ContactQuery {
            limit: 1,
            ..Default::default()
        })
        .await?[0]
        .id;

    let cookie = login(&base, "ana.agente")?;
    let paths = vec![
        "/bandeja".to_string(),
        "/bandeja?queue=closed".into(),
        "/bandeja?queue=open&channel=whatsapp&incident_type=question".into(),
        format!("/incidentes/{folio}"),
        "/contactos".into(),
        format!("/contactos/{contact}"),
        "/incidentes/nuevo?q=garcia".into(),
    ];
    let results = measure(base, cookie, paths, requests).await?;

    println!(
        "console pages, {} incidents on {}, {requests} sequential requests each",
        summary.history.incidents + summary.incidents,
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    print_table(&results);
    Ok(())
}

/// Starts the real router on a local port, in this process.
async fn serve(store: &Store) -> Result<String> {
    let app = atiende_web::app(AppState::new(
        store.clone(),
        WebConfig {
            login_attempts_per_minute: 1000,
            ..Default::default()
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(base)
}

/// The database's size on disk: the SQLite file with its log, or PostgreSQL's own count.
async fn database_mb(store: &Store, url: &str) -> f64 {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let size = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        return (size(path.to_string()) + size(format!("{path}-wal"))) as f64 / 1_048_576.0;
    }
    store.database_size().await.unwrap_or(0) as f64 / 1_048_576.0
}

/// Requests each path `requests` times in sequence from another thread; sorted durations.
async fn measure(
    base: String,
    cookie: String,
    paths: Vec<String>,
    requests: usize,
) -> Result<Vec<(String, Vec<Duration>)>> {
    tokio::task::spawn_blocking(move || -> Result<Vec<(String, Vec<Duration>)>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut out = Vec::new();
        for path in paths {
            let mut times = Vec::with_capacity(requests);
            for _ in 0..requests {
                let t = Instant::now();
                let mut r = agent
                    .get(&format!("{base}{path}"))
                    .header("cookie", &cookie)
                    .call()?;
                let status = r.status();
                let _ = r.body_mut().read_to_vec()?;
                anyhow::ensure!(status == 200, "{path}: {status}");
                times.push(t.elapsed());
            }
            times.sort();
            out.push((path, times));
        }
        Ok(out)
    })
    .await?
}

fn print_table(results: &[(String, Vec<Duration>)]) {
    println!(
        "{:<62} {:>9} {:>9} {:>9}",
        "page", "p50 ms", "p99 ms", "max ms"
    );
    for (path, times) in results {
        let p = |q: f64| {
            times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
        };
        println!(
            "{path:<62} {:>9.2} {:>9.2} {:>9.2}",
            p(0.5),
            p(0.99),
            p(1.0)
        );
    }
}

async fn scale(
    spec: atiende_bench::generate::Spec,
    requests: usize,
    intake_seconds: u64,
    database_url: Option<String>,
    reuse: bool,
    backfill: bool,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, url) = open_store(database_url, &dir).await?;
    let started = Instant::now();
    let made = if reuse {
        atiende_bench::generate::already_generated(&store).await?
    } else {
        let made = atiende_bench::generate::generate(&store, &spec, |stage, done, total| {
            let width = 30;
            let filled = (done * width / total.max(1)).min(width);
            eprint!(
                "\r{stage:<11} [{}{}] {done}/{total}   ",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
        })
        .await?;
        eprintln!();
        made
    };
    let generated = started.elapsed();
    if backfill {
        atiende_store::demo::history::forget_clocks(&store).await?;
        let started = Instant::now();
        let measured = store.backfill_clocks().await?;
        let took = started.elapsed().as_secs_f64();
        println!(
            "upgrade to service levels: {measured} incidents measured in {took:.1} s ({:.0}/s)",
            measured as f64 / took.max(0.001)
        );
    }
    let size = database_mb(&store, &url).await;
    let server = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || spawn_server(&url)).await??
    };
    let base = server.base.clone();
    let cookie = login(&base, "calidad")?;
    // The queue and the incident view an agent opens all day: first pages of the queues with
    // and without filters (HTML and API), and incidents old and new.
    let mut folios = Vec::new();
    for filter in [
        atiende_store::incidents::IncidentFilter {
            limit: 1,
            ..Default::default()
        },
        atiende_store::incidents::IncidentFilter {
            limit: 1,
            before_id: Some((made.incidents / 2) as i64),
            ..Default::default()
        },
        atiende_store::incidents::IncidentFilter {
            limit: 1,
            before_id: Some(100),
            ..Default::default()
        },
    ] {
        if let Some(i) = store
            .incidents(&atiende_domain::access::Scope::All, &filter)
            .await?
            .first()
        {
            folios.push(i.incident.folio.to_string());
        }
    }
    let mut work_paths = vec![
        "/bandeja".to_string(),
        "/bandeja?queue=closed".into(),
        "/bandeja?queue=open&channel=whatsapp&incident_type=question".into(),
        "/bandeja?queue=closed&channel=email&incident_type=complaint".into(),
        // Service levels: the open queue earliest due first, and the overdue and due-soon.
        "/bandeja?order=due".into(),
        "/bandeja?queue=all&order=due".into(),
        "/bandeja?clock=breached".into(),
        "/bandeja?clock=warning".into(),
        "/api/v1/incidents?limit=50".into(),
        "/api/v1/incidents?limit=50&status=closed&channel=phone".into(),
        "/api/v1/incidents?limit=50&queue=open&order=due".into(),
    ];
    work_paths.extend(folios.iter().map(|f| format!("/incidentes/{f}")));
    let started_mb = server.peak_mb();
    // A warm-up pass, reported apart: the first requests after start meet cold caches and the
    // worker's first round (nonconformity detection, retention) beside them.
    let warm_up = measure(
        base.clone(),
        cookie.clone(),
        work_paths.clone(),
        (requests / 10).max(3),
    )
    .await?;
    let work_results = measure(base.clone(), cookie.clone(), work_paths, requests).await?;
    let work_mb = server.peak_mb();
    let tz = store.time_zone();
    use atiende_domain::period::{Period, Periodicity};
    let year = Period::containing(chrono::Utc::now(), tz, Periodicity::Yearly).previous();
    let month = Period::containing(chrono::Utc::now(), tz, Periodicity::Monthly).previous();
    let semester = Period::containing(chrono::Utc::now(), tz, Periodicity::Semester);
    let paths = vec![
        format!("/calidad/indicadores?periodo={}", year.code()),
        format!("/calidad/indicadores?periodo={}", semester.code()),
        format!("/calidad/indicadores?periodo={}", month.code()),
        format!("/calidad/reporte?periodo={}", year.code()),
        format!(
            "/calidad/indicadores/exportar?periodo={}&formato=xlsx",
            year.code()
        ),
    ];
    let results = measure(base.clone(), cookie.clone(), paths, requests).await?;
    let indicators_mb = server.peak_mb();
    // What agents type: topics with and without accents, word beginnings, a phrase, a name,
    // an address, a phone number; and what the public types on the help page.
    let searches = [
        "inscripcion",
        "reinscripción ciclo",
        "\"orden de pago\"",
        "constancia estudios",
        "kardex",
        "plataforma contraseña",
        "garcia",
        "maria.lopez",
        "523300001234",
        "titulo electronico",
    ];
    let mut search_paths: Vec<String> = searches
        .iter()
        .map(|q| format!("/buscar?q={}", urlencode(q)))
        .collect();
    search_paths.extend([
        "/ayuda?q=orden%20de%20pago".to_string(),
        "/ayuda?q=inscripcion".to_string(),
    ]);
    let search_results = measure(base.clone(), cookie.clone(), search_paths, requests).await?;
    // The queue's and the contact list's text filters: a word of the messages, a folio's
    // beginning, a surname, a common word on the open queue, two words, a phrase with filters
    // that keep only older incidents; a contact's surname, name and phone digits.
    let filter_paths = [
        "/bandeja?queue=all&q=kardex",
        "/bandeja?queue=all&q=CAP-2021",
        "/bandeja?queue=all&q=garcia",
        "/bandeja?q=inscripcion",
        "/bandeja?queue=all&q=reinscripcion%20ciclo",
        "/bandeja?queue=closed&channel=email&q=orden%20de%20pago",
        "/contactos?q=garcia",
        "/contactos?q=maria",
        "/contactos?q=3300001",
    ]
    .map(String::from)
    .to_vec();
    let filter_results = measure(base.clone(), cookie, filter_paths, requests).await?;
    let search_mb = server.peak_mb();
    // Intake last: it adds incidents to the history the pages were measured on.
    let token = api_token(&store).await?;
    // Contacts 1 to 1,000 call in (a history of fewer has fewer; --reuse assumes the same
    // --incidents as the run that generated it).
    let callers = spec.contacts.min(1000);
    let intake_rows = intake_levels(base, token.clone(), intake_seconds, callers).await?;
    let engine = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    if reuse {
        println!(
            "indicators over {} incidents (history generated by an earlier run) on {engine}",
            made.incidents
        );
    } else {
        println!(
            "indicators over {} incidents ({} timeline entries, {} derivations, {} surveys, {} contacts) on {engine}",
            made.incidents, made.entries, made.derivations, made.surveys, made.contacts,
        );
    }
    println!(
        "generated in {:.1?}; database {size:.0} MB; {requests} sequential requests each; server in its own process",
        generated,
    );
    println!();
    println!("warm-up after start, not counted below (its max is the first, cold request)");
    print_table(&warm_up);
    println!();
    println!("queue and incident view");
    print_table(&work_results);
    println!();
    println!("indicators");
    print_table(&results);
    let mut all: Vec<Duration> = search_results
        .iter()
        .flat_map(|(_, t)| t.iter().copied())
        .collect();
    all.sort();
    let p95 = all[((all.len() as f64 - 1.0) * 0.95).round() as usize].as_secs_f64() * 1000.0;
    println!();
    println!(
        "search ({} queries × {requests}); all together p95 {p95:.2} ms",
        search_results.len()
    );
    print_table(&search_results);
    println!();
    println!("text filters of the queue and the contact list");
    print_table(&filter_results);
    println!();
    println!("intake through the API, {intake_seconds} s per level");
    print_intake(&intake_rows);
    println!();
    match server.peak_mb() {
        Some(mb) => println!(
            "server peak memory (VmHWM): {mb:.0} MB (after start {:.0}, queue and incidents {:.0}, indicators {:.0}, search {:.0}, intake {mb:.0})",
            started_mb.unwrap_or(0.0),
            work_mb.unwrap_or(0.0),
            indicators_mb.unwrap_or(0.0),
            search_mb.unwrap_or(0.0),
        ),
        None => println!("server peak memory: not available on this system"),
    }
    durability(&store, &url, &token, server, intake_seconds, callers).await
}

/// Percent-encodes a query for a URL.
fn urlencode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Hammers one endpoint from `concurrency` threads for `seconds`; returns requests per second
/// and the sorted latencies. Every answer must be the expected status.
fn load(
    url: &str,
    token: &str,
    body: Option<NewBody>,
    expect: u16,
    concurrency: usize,
    seconds: u64,
) -> Result<(f64, Vec<Duration>)> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (url, token, body) = (url.to_string(), token.to_string(), body.clone());
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut times = Vec::new();
                let mut n = worker;
                while Instant::now() < until {
                    let t = Instant::now();
                    let mut r = match &body {
                        Some(make) => agent
                            .post(&url)
                            .header("authorization", &format!("Bearer {token}"))
                            .header("content-type", "application/json")
                            .send(make(n))?,
                        None if token.is_empty() => agent.get(&url).call()?,
                        None => agent
                            .get(&url)
                            .header("authorization", &format!("Bearer {token}"))
                            .call()?,
                    };
                    let status = r.status().as_u16();
                    let _ = r.body_mut().read_to_vec()?;
                    anyhow::ensure!(status == expect, "{url}: {status}");
                    times.push(t.elapsed());
                    n += concurrency;
                }
                Ok(times)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(
            h.join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??,
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Ok((all.len() as f64 / elapsed, all))
}

/// The body of the `n`th request of a load.
type NewBody = std::sync::Arc<dyn Fn(usize) -> String + Send + Sync>;

/// A phone call about one of the catalogue's questions from one of the first `contacts`
/// contacts (the generator numbers them from 1).
fn new_incident(n: usize, contacts: usize) -> String {
    let (_, subject, words, _) =
        atiende_store::demo::QUESTIONS[n % atiende_store::demo::QUESTIONS.len()];
    serde_json::json!({
        "channel": "phone",
        "contact_id": n % contacts.max(1) + 1,
        "subject": subject,
        "body": words,
    })
    .to_string()
}

async fn intake(seconds: u64, history: usize, database_url: Option<String>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, url) = open_store(database_url, &dir).await?;
    let spec = atiende_bench::generate::Spec {
        incidents: history,
        articles: 0,
        // Contacts 1 to 1,000 call in.
        contacts: (history / 5).max(1000),
        years: 1,
        seed: 1,
        end: chrono::Utc::now(),
    };
    atiende_bench::generate::generate(&store, &spec, |_, _, _| {}).await?;
    let token = api_token(&store).await?;
    let server = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || spawn_server(&url)).await??
    };
    let rows = intake_levels(server.base.clone(), token.clone(), seconds, 1000).await?;
    println!(
        "intake through the API on {} over {history} incidents of history, {seconds} s per level",
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
    );
    print_intake(&rows);
    if let Some(mb) = server.peak_mb() {
        println!(
            "server peak memory (VmHWM): {mb:.0} MB; database {:.0} MB",
            database_mb(&store, &url).await
        );
    }
    durability(&store, &url, &token, server, seconds, 1000).await
}

/// A bearer token of an agent the generator made.
async fn api_token(store: &Store) -> Result<String> {
    let agent = store.user_by_login("agente01").await?;
    let (_, token) = store
        .create_api_token(
            atiende_store::Actor::System,
            agent.id,
            "bench",
            &atiende_domain::access::TokenScopes::parse(["incidents_write"])?,
            None,
        )
        .await?;
    Ok(token)
}

/// The `/healthz` floor, then incidents created through the API at concurrency 1, 16 and 64:
/// one printed row each. The callers are contacts 1 to `callers`.
async fn intake_levels(
    base: String,
    token: String,
    seconds: u64,
    callers: usize,
) -> Result<Vec<String>> {
    tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
        let mut rows = Vec::new();
        let (floor, _) = load(&format!("{base}/healthz"), "", None, 200, 16, seconds)?;
        rows.push(format!(
            "{:<34} {:>10.0} {:>9} {:>9}",
            "/healthz, concurrency 16 (floor)", floor, "", ""
        ));
        // What one authenticated request costs before it does anything: the token's lookup.
        let (signed_in, _) = load(
            &format!("{base}/api/v1/session"),
            &token,
            None,
            200,
            16,
            seconds,
        )?;
        rows.push(format!(
            "{:<34} {:>10.0} {:>9} {:>9}   ({:.1} % of the floor)",
            "GET /api/v1/session, conc. 16",
            signed_in,
            "",
            "",
            100.0 * signed_in / floor
        ));
        // The intake writer's groups during each level, from the server's own metrics.
        // A server without them (an older binary through ATIENDE_BIN) shows NaN.
        let groups = || {
            [
                "atiende_intake_group_duration_seconds_count",
                "atiende_intake_incidents_total",
                "atiende_intake_group_duration_seconds_sum",
            ]
            .map(|name| server::metric(&base, name).unwrap_or(f64::NAN))
        };
        for concurrency in [1usize, 16, 64] {
            let before = groups();
            let (rate, times) = load(
                &format!("{base}/api/v1/incidents"),
                &token,
                Some(std::sync::Arc::new(move |n| new_incident(n, callers))),
                201,
                concurrency,
                seconds,
            )?;
            let p = |q: f64| {
                times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
            };
            let after = groups();
            let count = after[0] - before[0];
            rows.push(format!(
                "{:<34} {:>10.0} {:>9.2} {:>9.2}   ({:.1} % of the floor; groups of {:.1} taking {:.2} ms)",
                format!("POST /api/v1/incidents, conc. {concurrency}"),
                rate,
                p(0.5),
                p(0.99),
                100.0 * rate / floor,
                (after[1] - before[1]) / count,
                1000.0 * (after[2] - before[2]) / count,
            ));
        }
        Ok(rows)
    })
    .await?
}

fn print_intake(rows: &[String]) {
    println!("{:<34} {:>10} {:>9} {:>9}", "", "req/s", "p50 ms", "p99 ms");
    for r in rows {
        println!("{r}");
    }
}

/// Incidents stored, as the indicators count them (kept in the same transaction).
async fn stored_incidents(store: &Store) -> Result<i64> {
    Ok(store
        .period_rollup(0, 999_999, false)
        .await?
        .totals
        .incidents)
}

/// `kill -9` while 16 clients create incidents: after a restart, every incident the server
/// acknowledged (201) must be there.
async fn durability(
    store: &Store,
    url: &str,
    token: &str,
    mut server: ServerProcess,
    seconds: u64,
    callers: usize,
) -> Result<()> {
    let before = stored_incidents(store).await?;
    let target = format!("{}/api/v1/incidents", server.base);
    let token = token.to_string();
    let clients =
        std::thread::spawn(move || acknowledged(&target, &token, 16, seconds.max(2), callers));
    std::thread::sleep(Duration::from_millis(seconds.max(2) * 500));
    server.child.kill()?; // SIGKILL: no shutdown, no flush
    server.child.wait()?;
    let acked = clients
        .join()
        .map_err(|_| anyhow::anyhow!("client threads panicked"))?;
    let restarted = {
        let url = url.to_string();
        tokio::task::spawn_blocking(move || spawn_server(&url)).await??
    };
    drop(restarted);
    let fresh = Store::connect(url, atiende_store::db::DEFAULT_TZ).await?;
    let stored = stored_incidents(&fresh).await? - before;
    let lost = (acked as i64 - stored).max(0);
    println!(
        "kill -9 during intake at concurrency 16: {acked} acknowledged, {stored} stored after restart, {lost} lost"
    );
    anyhow::ensure!(lost == 0, "{lost} acknowledged incidents were lost");
    Ok(())
}

/// Creates incidents from `concurrency` threads until `seconds` pass or the server goes away;
/// returns how many it acknowledged with 201.
fn acknowledged(url: &str, token: &str, concurrency: usize, seconds: u64, callers: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (url, token) = (url.to_string(), token.to_string());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut ok = 0;
                let mut n = worker;
                while Instant::now() < until {
                    let sent = agent
                        .post(&url)
                        .header("authorization", &format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .send(new_incident(n, callers));
                    match sent {
                        Ok(r) if r.status().as_u16() == 201 => ok += 1,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                    n += concurrency;
                }
                ok
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
}

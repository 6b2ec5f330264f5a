//! `atiende-bench day`: a peak day (admissions results) at once, against the real binary —
//! on SQLite one instance, on PostgreSQL one or several behind HAProxy (started here). Agents
//! each hold the console's live stream and cycle queue → incident → answer (and now and then
//! classify and close) at a set pace; intake arrives through the channels' real endpoints
//! (the API, signed WhatsApp webhooks, the mail server's delivery endpoint) at a set rate; the
//! quality office opens the yearly dashboard and exports it; someone searches. Reported: each
//! request kind's p50/p95/p99 under that load (after a warm-up, whose figures are printed
//! apart), intake acknowledged per second, how long a new
//! incident takes from its creation through one instance to a live stream held on another,
//! errors by status, and each process's memory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use atiende_domain::user::{Role, UserInput};
use atiende_store::{Actor, Store};

use crate::server::{ServerProcess, login, spawn_server_with};
use crate::{PASSWORD, urlencode};

/// What the run is asked to do.
pub struct DaySpec {
    pub agents: usize,
    pub seconds: u64,
    /// The same load before `seconds` begin, reported apart: agents signing in (each a
    /// password hash) and each instance's first round of upkeep at start are not the day's
    /// steady load.
    pub warm_up: Duration,
    /// New incidents per second through the channels, all together.
    pub intake_per_second: f64,
    /// An agent's pause between steps.
    pub think: Duration,
    pub instances: usize,
    /// For a soak: read each process's memory and descriptors and the database's connections
    /// and write-ahead log this often, and report them as a table.
    pub sample_every: Option<Duration>,
}

/// The app secret the instances check WhatsApp's signatures with, and the number they serve.
const APP_SECRET: &str = "bench-app-secret";
const PHONE_ID: &str = "106540352242922";
const MAIL_TOKEN: &str = "bench-mail-ingest-token";

/// Timings and failures, shared by every thread of the run.
#[derive(Default)]
struct Tally {
    /// Requests that began before this instant are the warm-up's.
    measured_from: Option<Instant>,
    /// Request kind → durations.
    times: BTreeMap<&'static str, Vec<Duration>>,
    /// The same, for requests of the warm-up.
    warm: BTreeMap<&'static str, Vec<Duration>>,
    /// "kind: status" → count.
    errors: BTreeMap<String, usize>,
    /// Steps the procedure refused (409, 422): two agents on one incident, the second finding
    /// it closed — the rules at work, not a failure.
    refused: BTreeMap<String, usize>,
    /// Intake acknowledged per channel.
    intake: BTreeMap<&'static str, usize>,
    /// Incidents created through the API on the first instance: id → when the request began.
    created: Vec<(i64, Instant)>,
    /// What the observers' streams (one per instance) told: newest incident id, when.
    told: Vec<(usize, i64, Instant)>,
}

type Shared = Arc<Mutex<Tally>>;

fn record(tally: &Shared, kind: &'static str, took: Duration, status: u16, ok: bool) {
    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
    let warming = t.measured_from.is_some_and(|from| {
        Instant::now()
            .checked_sub(took)
            .is_some_and(|began| began < from)
    });
    let times = if warming { &mut t.warm } else { &mut t.times };
    if ok {
        times.entry(kind).or_default().push(took);
    } else if status == 409 || status == 422 {
        times.entry(kind).or_default().push(took);
        *t.refused.entry(format!("{kind}: {status}")).or_default() += 1;
    } else {
        *t.errors.entry(format!("{kind}: {status}")).or_default() += 1;
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A GET as a signed-in person; the page's text when it answered 200.
fn get(
    http: &ureq::Agent,
    tally: &Shared,
    kind: &'static str,
    url: &str,
    cookie: &str,
) -> Option<String> {
    let t = Instant::now();
    match http.get(url).header("cookie", cookie).call() {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let body = r.body_mut().read_to_string().unwrap_or_default();
            record(tally, kind, t.elapsed(), status, status == 200);
            (status == 200).then_some(body)
        }
        Err(_) => {
            record(tally, kind, t.elapsed(), 0, false);
            None
        }
    }
}

/// A console form posted as a signed-in person; true when it was taken (a redirect, or the
/// page again).
fn post_form(
    http: &ureq::Agent,
    tally: &Shared,
    kind: &'static str,
    url: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> bool {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let t = Instant::now();
    let result = http
        .post(url)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(body.join("&"));
    match result {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let _ = r.body_mut().read_to_vec();
            let ok = status == 303 || status == 200;
            record(tally, kind, t.elapsed(), status, ok);
            ok
        }
        Err(_) => {
            record(tally, kind, t.elapsed(), 0, false);
            false
        }
    }
}

/// The value of a page's hidden field `name`.
fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    page.split(&marker)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(str::to_string)
}

/// The folios a queue page links to.
fn folios(page: &str) -> Vec<String> {
    page.split("href=\"/incidentes/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|f| f.starts_with("CAP-") && !f.contains('/'))
        .map(str::to_string)
        .collect()
}

/// A small deterministic pseudo-random sequence per thread (no dependency for a benchmark).
struct Dice(u64);

impl Dice {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below.max(1) as u64) as usize
    }
}

/// One agent's day: the live stream held open, then queue → incident → answer, and every
/// fourth incident classified and closed, at the given pace until `until`.
fn agent_day(
    base: String,
    login_name: String,
    think: Duration,
    until: Instant,
    tally: Shared,
    seed: u64,
) -> Result<()> {
    let cookie = login(&base, &login_name)?;
    let stream = {
        let (base, cookie) = (base.clone(), cookie.clone());
        std::thread::spawn(move || hold_stream(&base, &cookie, until, None))
    };
    let http = agent();
    let mut dice = Dice(seed.max(1));
    let mut n = 0usize;
    while Instant::now() < until {
        std::thread::sleep(think);
        let Some(queue) = get(
            &http,
            &tally,
            "/bandeja",
            &format!("{base}/bandeja"),
            &cookie,
        ) else {
            continue;
        };
        let open = folios(&queue);
        if open.is_empty() {
            continue;
        }
        let folio = &open[dice.next(open.len().min(20))];
        std::thread::sleep(think);
        let url = format!("{base}/incidentes/{folio}");
        let Some(page) = get(&http, &tally, "/incidentes/{folio}", &url, &cookie) else {
            continue;
        };
        let (Some(csrf), Some(seen)) = (hidden(&page, "_csrf"), hidden(&page, "visto")) else {
            continue;
        };
        std::thread::sleep(think);
        post_form(
            &http,
            &tally,
            "answer (POST …/responder)",
            &format!("{url}/responder"),
            &cookie,
            &[
                ("_csrf", &csrf),
                ("visto", &seen),
                ("confirm_stale", "1"),
                (
                    "body",
                    "Gracias por escribir. Los resultados se publican en la página de admisiones.",
                ),
            ],
        );
        n += 1;
        if n.is_multiple_of(4) {
            std::thread::sleep(think);
            post_form(
                &http,
                &tally,
                "classify (POST …/clasificar)",
                &format!("{url}/clasificar"),
                &cookie,
                &[
                    ("_csrf", &csrf),
                    ("user_type", "applicant"),
                    ("incident_type", "question"),
                ],
            );
            post_form(
                &http,
                &tally,
                "close (POST …/cerrar)",
                &format!("{url}/cerrar"),
                &cookie,
                &[
                    ("_csrf", &csrf),
                    ("notes", "Se indicó dónde consultar los resultados."),
                ],
            );
        }
    }
    let _ = stream.join();
    Ok(())
}

/// Holds the console's live stream until `until`; an observer (`Some(instance)`) records each
/// newest-incident event with the instant it arrived.
fn hold_stream(base: &str, cookie: &str, until: Instant, observer: Option<(usize, Shared)>) {
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(until.saturating_duration_since(Instant::now())))
        .build()
        .into();
    let Ok(r) = http
        .get(&format!("{base}/eventos"))
        .header("cookie", cookie)
        .call()
    else {
        return;
    };
    let reader = BufReader::new(r.into_body().into_reader());
    let mut event = String::new();
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_string();
        } else if let Some(data) = line.strip_prefix("data:")
            && event == "incidents"
            && let Some((instance, tally)) = &observer
            && let Ok(id) = data.trim().parse::<i64>()
        {
            let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
            t.told.push((*instance, id, Instant::now()));
        }
        if Instant::now() >= until {
            return;
        }
    }
}

/// A WhatsApp text message as Meta delivers it.
fn whatsapp_payload(n: usize) -> String {
    let from = format!("5213300{:06}", n % 50_000);
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "523331345678", "phone_number_id": PHONE_ID },
            "contacts": [{ "profile": { "name": format!("Aspirante {n}") }, "wa_id": from }],
            "messages": [{ "from": from, "id": format!("wamid.day-{n}-{}", std::process::id()),
                "timestamp": chrono::Utc::now().timestamp().to_string(), "type": "text",
                "text": { "body": "Buenas tardes, ¿ya salieron los resultados de admisión?" } }]
        }}]}]
    })
    .to_string()
}

/// An email as the mail server hands it over.
fn email(n: usize) -> String {
    format!(
        "From: Aspirante {n} <aspirante{n}@example.org>\r\nTo: cap@udgvirtual.example\r\n\
         Subject: Resultados de admisión\r\nMessage-ID: <day-{n}-{}@example.org>\r\n\
         Date: {}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Buenas tardes, no encuentro mi resultado con mi número de registro.\r\n",
        std::process::id(),
        chrono::Utc::now().to_rfc2822()
    )
}

/// Intake at `per_second` through the three channels in turn; the API's through the first
/// instance (its incidents timed to the other instances' streams), the others through the
/// front.
fn intake(
    front: String,
    first: String,
    token: String,
    per_second: f64,
    until: Instant,
    tally: Shared,
) {
    let http = agent();
    let every = Duration::from_secs_f64(1.0 / per_second.max(0.01));
    let mut next = Instant::now();
    let mut n = 0usize;
    while Instant::now() < until {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        next += every;
        n += 1;
        let t = Instant::now();
        let (channel, result) = match n % 3 {
            0 => {
                let body = whatsapp_payload(n);
                let signature = atiende_channels::chat::sign(APP_SECRET, body.as_bytes());
                (
                    "WhatsApp webhook",
                    http.post(&format!("{front}/webhooks/whatsapp"))
                        .header("content-type", "application/json")
                        .header("x-hub-signature-256", &signature)
                        .send(body),
                )
            }
            1 => (
                "mail ingest",
                http.post(&format!("{front}/api/v1/mail/ingest"))
                    .header("authorization", &format!("Bearer {MAIL_TOKEN}"))
                    .header("content-type", "message/rfc822")
                    .send(email(n)),
            ),
            _ => (
                "API",
                http.post(&format!("{first}/api/v1/incidents"))
                    .header("authorization", &format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .send(crate::new_incident(n, 1000)),
            ),
        };
        let Ok(mut r) = result else {
            record(&tally, channel, t.elapsed(), 0, false);
            continue;
        };
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        let ok = (200..300).contains(&status);
        record(&tally, channel, t.elapsed(), status, ok);
        if ok {
            let mut tl = tally.lock().unwrap_or_else(|e| e.into_inner());
            *tl.intake.entry(channel).or_default() += 1;
            if channel == "API"
                && let Some(id) = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["id"].as_i64())
            {
                tl.created.push((id, t));
            }
        }
    }
}

/// The quality office: the yearly dashboard and its export, over and over.
fn quality_office(base: String, until: Instant, tally: Shared) -> Result<()> {
    let cookie = login(&base, "calidad")?;
    let http = agent();
    let year = chrono::Utc::now().format("%Y").to_string().parse::<i32>()? - 1;
    while Instant::now() < until {
        get(
            &http,
            &tally,
            "/calidad/indicadores (yearly)",
            &format!("{base}/calidad/indicadores?periodo={year}"),
            &cookie,
        );
        get(
            &http,
            &tally,
            "/calidad/indicadores/exportar (xlsx)",
            &format!("{base}/calidad/indicadores/exportar?periodo={year}&formato=xlsx"),
            &cookie,
        );
        std::thread::sleep(Duration::from_secs(5));
    }
    Ok(())
}

/// Someone searching, a query a second: the staff search, and the contact list's filter (a
/// caller's surname, their number as the telephone shows it).
fn searcher(base: String, until: Instant, tally: Shared) -> Result<()> {
    let cookie = login(&base, "calidad")?;
    let http = agent();
    // Each query also under a row of its own (after `/buscar`): which of them holds the
    // page's p95 back.
    let queries = [
        ("inscripcion", "/buscar: inscripcion"),
        ("constancia estudios", "/buscar: constancia estudios"),
        ("garcia", "/buscar: garcia"),
        ("\"orden de pago\"", "/buscar: \"orden de pago\""),
        ("resultados admision", "/buscar: resultados admision"),
    ];
    let mut n = 0;
    while Instant::now() < until {
        let (q, row) = queries[n % queries.len()];
        n += 1;
        let t = Instant::now();
        let page = get(
            &http,
            &tally,
            "/buscar",
            &format!("{base}/buscar?q={}", urlencode(q)),
            &cookie,
        );
        if page.is_some() {
            record(&tally, row, t.elapsed(), 200, true);
        }
        let who = ["garcia", "maria lopez", "3300001234"][n % 3];
        get(
            &http,
            &tally,
            "/contactos?q=",
            &format!("{base}/contactos?q={}", urlencode(who)),
            &cookie,
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    Ok(())
}

/// A mail server that takes every message and keeps none: the worker's answers, automatic
/// replies and survey invitations leave by SMTP as in service. Returns its port.
async fn smtp_sink() -> Result<u16> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                if write.write_all(b"220 sink ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        b"250 kept nowhere\r\n"
                    } else {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go on\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(port)
}

/// HAProxy in front of the instances (Debian's), as the operations guide sets it up.
struct Haproxy {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_haproxy(backends: &[&ServerProcess]) -> Result<Haproxy> {
    let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .context("several instances need HAProxy in front: apt-get install haproxy")?;
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(n, s)| {
            format!(
                "    server a{} {} check\n",
                n + 1,
                s.base.trim_start_matches("http://")
            )
        })
        .collect();
    let config = format!(
        "global\n    maxconn 4000\n\
         defaults\n    mode http\n    option forwardfor\n    option redispatch\n    retries 3\n\
         \x20   timeout connect 2s\n    timeout client 5m\n    timeout server 5m\n    timeout tunnel 1h\n\
         frontend web\n    bind 127.0.0.1:{port}\n    default_backend atiende\n\
         backend atiende\n    balance roundrobin\n    option httpchk GET /readyz\n\
         \x20   default-server inter 1s fall 2 rise 2\n{servers}"
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config)?;
    let child = std::process::Command::new(binary)
        .args(["-db", "-f"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting haproxy")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = agent();
    for _ in 0..100 {
        if http
            .get(&format!("{base}/healthz"))
            .call()
            .is_ok_and(|r| r.status() == 200)
        {
            return Ok(Haproxy {
                child,
                base,
                _dir: dir,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("HAProxy did not answer on {base}")
}

/// "what ×count, …" for a report's line.
fn listed<K: std::fmt::Display, V: std::fmt::Display>(
    counts: &BTreeMap<K, V>,
    sep: &str,
) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k}{sep}{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile(times: &[Duration], q: f64) -> f64 {
    if times.is_empty() {
        return f64::NAN;
    }
    times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0
}

/// Staff for the run: `agents` agents (`dia01`…) with the benchmark's password.
async fn make_agents(store: &Store, agents: usize) -> Result<Vec<String>> {
    let mut logins = Vec::with_capacity(agents);
    for n in 1..=agents {
        let login = format!("dia{n:02}");
        if store.user_by_login(&login).await.is_err() {
            store
                .create_user(
                    Actor::System,
                    &UserInput {
                        login: Some(login.clone()),
                        name: Some(format!("Agente de día {n}")),
                        role: Some(Role::Agent),
                        password: Some(PASSWORD.into()),
                        ..Default::default()
                    },
                )
                .await?;
        }
        logins.push(login);
    }
    Ok(logins)
}

/// The day under load, once the history is in the database at `url`.
pub async fn run(store: &Store, url: &str, spec: &DaySpec) -> Result<()> {
    let sqlite = url.starts_with("sqlite");
    anyhow::ensure!(
        !(sqlite && spec.instances > 1),
        "several instances share one PostgreSQL: give --database-url postgres://… for --instances {}",
        spec.instances
    );
    let agents = make_agents(store, spec.agents).await?;
    let token = crate::api_token(store).await?;
    let smtp = smtp_sink().await?;
    store
        .save_mailbox(
            Actor::System,
            &serde_json::from_value(serde_json::json!({
                "name": "cap", "address": "cap@udgvirtual.example",
                "smtp_host": "127.0.0.1", "smtp_port": smtp, "smtp_security": "plain",
            }))?,
        )
        .await?;
    let whatsapp = format!("[{{id=\"{PHONE_ID}\", access_token=\"bench-token\"}}]");
    // Answers and survey invitations to WhatsApp leave through a local stand-in of the Graph
    // API, as the worker sends them in service.
    let graph = atiende_channels::chat::stand_in::GraphStandIn::start().await;
    let settings = [
        ("ATIENDE_META_APP_SECRET", APP_SECRET),
        ("ATIENDE_META_WHATSAPP", whatsapp.as_str()),
        ("ATIENDE_MAIL_INGEST_TOKEN", MAIL_TOKEN),
        ("ATIENDE_PUBLIC_POSTS_PER_MINUTE", "100000"),
        // Every simulated person connects from this machine's one address: the cap on one
        // address's connections (64, against a single abusive client) would refuse them.
        ("ATIENDE_MAX_CONNECTIONS_PER_ADDRESS", "0"),
        ("ATIENDE_META_GRAPH_URL", graph.graph_url.as_str()),
    ];
    let mut servers = Vec::new();
    for _ in 0..spec.instances.max(1) {
        let url = url.to_string();
        let settings: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        servers.push(
            tokio::task::spawn_blocking(move || {
                let pairs: Vec<(&str, &str)> = settings
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                spawn_server_with(&url, &pairs)
            })
            .await??,
        );
    }
    let proxy = if servers.len() > 1 {
        Some(start_haproxy(&servers.iter().collect::<Vec<_>>())?)
    } else {
        None
    };
    let front = proxy
        .as_ref()
        .map_or_else(|| servers[0].base.clone(), |p| p.base.clone());
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let spec_agents = spec.agents;
    let (seconds, think, per_second) = (spec.seconds, spec.think, spec.intake_per_second);
    let warm_up = spec.warm_up;
    let tally: Shared = Arc::default();
    let run_tally = tally.clone();
    let started = Instant::now();
    let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
    let (sample_every, database) = (spec.sample_every, url.to_string());
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let run_samples = samples.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        let measured_from = Instant::now() + warm_up;
        run_tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .measured_from = Some(measured_from);
        let until = measured_from + Duration::from_secs(seconds);
        let mut threads = Vec::new();
        if let Some(every) = sample_every {
            threads.push(std::thread::spawn(move || {
                let began = Instant::now();
                while Instant::now() + every <= until {
                    std::thread::sleep(every);
                    let reading = Sample::read(&pids, &database, began.elapsed());
                    run_samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(reading);
                }
                Ok(())
            }));
        }
        // An observer stream on each instance but the first (on the only one, with one).
        let observed: Vec<usize> = if bases.len() > 1 {
            (1..bases.len()).collect()
        } else {
            vec![0]
        };
        for instance in observed {
            let cookie = login(&bases[instance], "calidad")?;
            let (base, tally) = (bases[instance].clone(), run_tally.clone());
            threads.push(std::thread::spawn(move || {
                hold_stream(&base, &cookie, until, Some((instance, tally)));
                Ok(())
            }));
        }
        for (n, login_name) in agents.into_iter().enumerate() {
            let (base, tally) = (front.clone(), run_tally.clone());
            // Agents start spread over the first think time, as a shift does.
            let delay = think.mul_f64(n as f64 / spec_agents.max(1) as f64);
            threads.push(std::thread::spawn(move || {
                std::thread::sleep(delay);
                agent_day(base, login_name, think, until, tally, n as u64 + 1)
            }));
        }
        {
            let (front, first, tally) = (front.clone(), bases[0].clone(), run_tally.clone());
            let token = token.clone();
            threads.push(std::thread::spawn(move || {
                intake(front, first, token, per_second, until, tally);
                Ok(())
            }));
        }
        {
            let (front, tally) = (front.clone(), run_tally.clone());
            threads.push(std::thread::spawn(move || {
                quality_office(front, until, tally)
            }));
        }
        {
            let (front, tally) = (front.clone(), run_tally.clone());
            threads.push(std::thread::spawn(move || searcher(front, until, tally)));
        }
        for t in threads {
            t.join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        }
        Ok(())
    })
    .await??;
    let elapsed = started.elapsed().as_secs_f64();
    let tally = Arc::try_unwrap(tally)
        .map_err(|_| anyhow::anyhow!("a load thread outlived the run"))?
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    report(&tally, spec, url, elapsed, &servers, proxy.as_ref());
    let lost = read_back(store, &tally.created).await;
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner());
    if !samples.is_empty() {
        report_samples(&samples);
    }
    let failed: usize = tally.errors.values().sum();
    anyhow::ensure!(failed == 0, "{failed} requests failed (listed above)");
    anyhow::ensure!(
        lost == 0,
        "{lost} acknowledged incidents are not in the database"
    );
    Ok(())
}

/// Reads back from the database every incident the API acknowledged (the channels' answers
/// carry no id): how many are missing, which must be none.
async fn read_back(store: &Store, created: &[(i64, Instant)]) -> usize {
    let mut lost = 0;
    for (id, _) in created {
        if store
            .incident(atiende_domain::ids::IncidentId(*id))
            .await
            .is_err()
        {
            lost += 1;
        }
    }
    println!(
        "read back: {} of the {} incidents the API acknowledged are in the database, {lost} lost",
        created.len() - lost,
        created.len()
    );
    lost
}

fn print_times(times: &BTreeMap<&'static str, Vec<Duration>>) {
    println!(
        "{:<42} {:>7} {:>9} {:>9} {:>9}",
        "request", "count", "p50 ms", "p95 ms", "p99 ms"
    );
    for (kind, times) in times {
        let mut sorted = times.clone();
        sorted.sort();
        println!(
            "{kind:<42} {:>7} {:>9.2} {:>9.2} {:>9.2}",
            sorted.len(),
            percentile(&sorted, 0.5),
            percentile(&sorted, 0.95),
            percentile(&sorted, 0.99)
        );
    }
}

fn report(
    tally: &Tally,
    spec: &DaySpec,
    url: &str,
    elapsed: f64,
    servers: &[ServerProcess],
    proxy: Option<&Haproxy>,
) {
    let engine = if url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    println!(
        "a peak day on {engine}, {} instance(s){}: {} agents (think {} ms), intake {:.1}/s asked, {elapsed:.0} s",
        servers.len(),
        if proxy.is_some() {
            " behind HAProxy"
        } else {
            ""
        },
        spec.agents,
        spec.think.as_millis(),
        spec.intake_per_second,
    );
    println!();
    println!(
        "after {} s of warm-up (agents signing in, each instance's upkeep at start):",
        spec.warm_up.as_secs()
    );
    print_times(&tally.times);
    if !tally.warm.is_empty() {
        println!();
        println!(
            "the warm-up's first {} s, not counted above:",
            spec.warm_up.as_secs()
        );
        print_times(&tally.warm);
    }
    println!();
    let intake: usize = tally.intake.values().sum();
    println!(
        "intake acknowledged: {intake} ({:.1}/s): {}",
        intake as f64 / elapsed,
        listed(&tally.intake, " ")
    );
    // Each incident created through the first instance, to the first event on each observer's
    // stream that names it or a newer one.
    let mut delivery: Vec<Duration> = Vec::new();
    let observers: std::collections::BTreeSet<usize> =
        tally.told.iter().map(|(i, _, _)| *i).collect();
    for (id, at) in &tally.created {
        for o in &observers {
            if let Some((_, _, when)) = tally
                .told
                .iter()
                .filter(|(i, newest, when)| i == o && newest >= id && when >= at)
                .min_by_key(|(_, _, when)| *when)
            {
                delivery.push(when.duration_since(*at));
            }
        }
    }
    delivery.sort();
    println!(
        "live stream delivery (created through instance 1 → stream on {}): {} measured, p50 {:.0} ms, p99 {:.0} ms",
        if servers.len() > 1 {
            "the others"
        } else {
            "the same"
        },
        delivery.len(),
        percentile(&delivery, 0.5),
        percentile(&delivery, 0.99)
    );
    if !tally.refused.is_empty() {
        println!(
            "refused by the procedure's rules (two agents on one incident): {}",
            listed(&tally.refused, " ×")
        );
    }
    if tally.errors.is_empty() {
        println!("errors: none");
    } else {
        println!("errors: {}", listed(&tally.errors, " ×"));
    }
    let memory: Vec<String> = servers
        .iter()
        .enumerate()
        .map(|(n, s)| {
            s.peak_mb()
                .map_or_else(|| "?".into(), |mb| format!("instance {} {mb:.0} MB", n + 1))
        })
        .collect();
    println!("peak memory (VmHWM): {}", memory.join(", "));
}

/// One reading of the processes and the database during a soak.
struct Sample {
    at: Duration,
    /// Resident memory of each instance, in MB.
    rss_mb: Vec<f64>,
    /// Open file descriptors of each instance (sockets, the database's files).
    fds: Vec<usize>,
    /// PostgreSQL: the database's server connections (SQLite's are the descriptors above).
    connections: Option<i64>,
    /// The write-ahead log's size: SQLite's `-wal` file, PostgreSQL's `pg_wal`.
    wal_bytes: Option<u64>,
}

impl Sample {
    fn read(pids: &[u32], url: &str, at: Duration) -> Sample {
        let rss_mb = pids
            .iter()
            .map(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| {
                                v.trim().trim_end_matches("kB").trim().parse::<f64>().ok()
                            })
                    })
                    .map_or(0.0, |kb| kb / 1024.0)
            })
            .collect();
        let fds = pids
            .iter()
            .map(|pid| std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count()))
            .collect();
        let (connections, wal_bytes) = match url.strip_prefix("sqlite://") {
            Some(file) => {
                let file = file.split('?').next().unwrap_or(file);
                let wal = std::fs::metadata(format!("{file}-wal")).map_or(0, |m| m.len());
                (None, Some(wal))
            }
            None => {
                let ask = |sql: &str| -> Option<i64> {
                    let out = std::process::Command::new("psql")
                        .args([url, "-Atc", sql])
                        .output()
                        .ok()?;
                    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
                };
                (
                    ask("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"),
                    ask("SELECT COALESCE(sum(size), 0) FROM pg_ls_waldir()")
                        .map(|b| b.max(0) as u64),
                )
            }
        };
        Sample {
            at,
            rss_mb,
            fds,
            connections,
            wal_bytes,
        }
    }
}

/// One figure of a reading, for comparing parts of the run.
type Measure = dyn Fn(&Sample) -> f64;

/// The soak's readings as a table, and whether each stayed level: the last quarter's mean
/// against the second quarter's (the first is warming up).
fn report_samples(samples: &[Sample]) {
    println!();
    println!(
        "{:>8} {:>22} {:>14} {:>12} {:>9}",
        "minute", "memory MB (each)", "descriptors", "db conns", "WAL MB"
    );
    let show =
        |v: Option<u64>| v.map_or_else(|| "—".to_string(), |b| format!("{:.1}", b as f64 / 1e6));
    for s in samples {
        let memory: Vec<String> = s.rss_mb.iter().map(|m| format!("{m:.0}")).collect();
        let fds: Vec<String> = s.fds.iter().map(usize::to_string).collect();
        println!(
            "{:>8.1} {:>22} {:>14} {:>12} {:>9}",
            s.at.as_secs_f64() / 60.0,
            memory.join(" + "),
            fds.join(" + "),
            s.connections
                .map_or_else(|| "—".to_string(), |c| c.to_string()),
            show(s.wal_bytes),
        );
    }
    if samples.len() < 8 {
        return;
    }
    let quarter = samples.len() / 4;
    let mean = |part: &[Sample], f: &Measure| part.iter().map(f).sum::<f64>() / part.len() as f64;
    let (second, last) = (
        &samples[quarter..2 * quarter],
        &samples[samples.len() - quarter..],
    );
    let measures: [(&str, &Measure); 4] = [
        ("memory", &|s| s.rss_mb.iter().sum()),
        ("descriptors", &|s| s.fds.iter().sum::<usize>() as f64),
        ("db connections", &|s| s.connections.unwrap_or(0) as f64),
        ("WAL", &|s| s.wal_bytes.unwrap_or(0) as f64),
    ];
    let changes: Vec<String> = measures
        .iter()
        .map(|(name, f)| {
            let (a, b) = (mean(second, f), mean(last, f));
            let change = if a > 0.0 { (b - a) / a * 100.0 } else { 0.0 };
            format!("{name} {change:+.1} %")
        })
        .collect();
    println!(
        "last quarter against the second (the first warms up): {}",
        changes.join(", ")
    );
}

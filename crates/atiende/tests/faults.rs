//! Faults the service rides out, each made with real parts while load runs (RELIABILITY.md).
//! The turn of the year: the binary runs under libfaketime with its clock set to seconds
//! before midnight of 31 December in Guadalajara, and takes incidents from several clients
//! while the year turns. A PostgreSQL restart: a cluster of the test's own
//! (`scripts/pg-cluster`) is restarted as an operator does while clients create incidents.
//! A PostgreSQL failover: the primary of a replicated pair crashes and its standby is
//! promoted while clients create incidents through a URL that names both.
//! A full disk: the SQLite database lives on a small file system of the test's own (tmpfs,
//! mounted as root, as CI runs) that a filler file fills while clients create incidents.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atiende_domain::folio::Folio;
use atiende_store::testing::{SmallDisk, TestDb};
use serde_json::json;
use support::{ADMIN_PASSWORD, Http, Server, admin_with_a_person};

atiende_store::on_both_engines!(
    folios_start_again_at_one_when_the_year_turns_in_guadalajara_under_concurrent_intake,
);

/// libfaketime's multi-threaded library (Debian's `libfaketime`, which `scripts/test`
/// installs), or the one `ATIENDE_TEST_FAKETIME` names.
fn faketime_library() -> String {
    if let Ok(path) = std::env::var("ATIENDE_TEST_FAKETIME") {
        return path;
    }
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists())
        .map(|p| p.display().to_string())
        .expect(
            "libfaketime is needed to move the service's clock: run the suite with scripts/test, \
             which installs Debian's libfaketime, or set ATIENDE_TEST_FAKETIME",
        )
}

async fn folios_start_again_at_one_when_the_year_turns_in_guadalajara_under_concurrent_intake(
    db: TestDb,
) {
    let library = faketime_library();
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let acknowledged = tokio::task::spawn_blocking(move || {
        // 05:59:57 UTC is 23:59:57 of 31 December in Guadalajara (UTC−6 all year since
        // 2022): the year turns three seconds after the service starts counting.
        let server = Server::start(
            &url,
            dir.path(),
            &[
                ("ATIENDE_ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("ATIENDE_WORKER", "false"),
                ("LD_PRELOAD", &library),
                ("FAKETIME", "@2027-01-01 05:59:57"),
                ("TZ", "UTC"),
                // Timers and timeouts keep the real monotonic clock.
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ],
        );
        let (http, contact_id) = admin_with_a_person(&server.base);
        let load = Load::start(8, &http, contact_id, false);
        std::thread::sleep(Duration::from_secs(7));
        let (answers, _) = load.stop();
        answers
            .into_iter()
            .filter_map(|a| a.folio)
            .collect::<Vec<_>>()
    })
    .await
    .expect("intake");

    // Every incident stored, numbered in the year it was received (in Guadalajara's time),
    // each year's folios from 1 with no gap and none twice.
    let rows = db
        .rows_as_text("SELECT folio, received_at FROM incidents ORDER BY id")
        .await;
    let mut by_year: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for row in &rows {
        let folio: Folio = row[0]
            .trim_start_matches("Some(\"")
            .trim_end_matches("\")")
            .parse()
            .expect("a folio");
        let received: i64 = row[1]
            .trim_start_matches("Some(")
            .trim_end_matches(')')
            .parse()
            .expect("a moment");
        let received = chrono::DateTime::from_timestamp_millis(received).expect("moment");
        assert_eq!(
            folio.year,
            Folio::year_of(received, atiende_store::db::DEFAULT_TZ),
            "{folio} received at {received}"
        );
        by_year.entry(folio.year).or_default().push(folio.seq);
    }
    assert_eq!(
        by_year.keys().copied().collect::<Vec<_>>(),
        [2026, 2027],
        "the intake ran across the turn of the year"
    );
    for (year, seqs) in &mut by_year {
        seqs.sort_unstable();
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert!(
            *seqs == expected,
            "{year}: folios from 1, no gap, none twice"
        );
        assert!(seqs.len() > 20, "{year}: {} incidents", seqs.len());
    }
    assert_eq!(
        rows.len(),
        acknowledged.len(),
        "every acknowledged incident stored"
    );
    // The figure RELIABILITY.md reports (`-- --nocapture`).
    eprintln!(
        "turn of the year on {:?}: {} acknowledged, {} stored, by year {:?}",
        db.engine(),
        acknowledged.len(),
        rows.len(),
        by_year
            .iter()
            .map(|(y, s)| (*y, s.len()))
            .collect::<Vec<_>>()
    );
    let mut answered = acknowledged.clone();
    answered.sort();
    answered.dedup();
    assert_eq!(
        answered.len(),
        acknowledged.len(),
        "no folio answered twice"
    );
}

/// One answer to a client, timed from the start of the run.
#[derive(Debug, Clone)]
struct Answer {
    at: Duration,
    status: u16,
    code: String,
    folio: Option<String>,
}

/// Clients creating incidents through the API as fast as they are answered, each answer kept
/// with its moment; and, when asked, `/readyz` polled every 20 ms.
struct Load {
    start: Instant,
    running: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    ready: Arc<Mutex<Vec<(Duration, u16)>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(clients: usize, http: &Http, contact_id: i64, poll_ready: bool) -> Load {
        let mut load = Load {
            start: Instant::now(),
            running: Arc::new(AtomicBool::new(true)),
            answers: Default::default(),
            ready: Default::default(),
            threads: Vec::new(),
        };
        for client in 0..clients {
            let (running, answers, start) =
                (load.running.clone(), load.answers.clone(), load.start);
            let (base, cookie, csrf) = (http.base.clone(), http.cookie.clone(), http.csrf.clone());
            load.threads.push(std::thread::spawn(move || {
                let mut http = Http::new(&base);
                (http.cookie, http.csrf) = (cookie, csrf);
                let mut n = 0;
                while running.load(Ordering::Relaxed) {
                    n += 1;
                    let body = json!({"channel": "phone", "contact_id": contact_id,
                        "subject": format!("Llamada {client}-{n}")});
                    let (status, answer) = http.send("POST", "/api/v1/incidents", Some(body));
                    answers.lock().expect("answers").push(Answer {
                        at: start.elapsed(),
                        status,
                        code: answer["error"]["code"].as_str().unwrap_or("").to_string(),
                        folio: answer["folio"].as_str().map(str::to_string),
                    });
                }
            }));
        }
        if poll_ready {
            let (running, ready, start) = (load.running.clone(), load.ready.clone(), load.start);
            let base = http.base.clone();
            load.threads.push(std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                while running.load(Ordering::Relaxed) {
                    if let Ok(r) = agent.get(&format!("{base}/readyz")).call() {
                        let answer = (start.elapsed(), r.status().as_u16());
                        ready.lock().expect("ready").push(answer);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }));
        }
        load
    }

    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Stops the clients: every answer, and the readiness answers.
    fn stop(self) -> (Vec<Answer>, Vec<(Duration, u16)>) {
        self.running.store(false, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("client");
        }
        let answers = self.answers.lock().expect("answers").clone();
        let ready = self.ready.lock().expect("ready").clone();
        (answers, ready)
    }
}

/// A PostgreSQL cluster of the test's own, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

fn pg_cluster(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-cluster");
    let status = Command::new(&script)
        .args(args)
        .status()
        .expect("scripts/pg-cluster");
    assert!(status.success(), "pg-cluster {args:?}");
}

impl Cluster {
    fn start(parent: &Path) -> Cluster {
        // The postgres user runs the cluster: it must reach the folder.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let cluster = Cluster {
            dir: parent.join("pg"),
            port: support::free_port(),
        };
        pg_cluster(&["start", &cluster.dir(), &cluster.port.to_string()]);
        cluster
    }

    /// A streaming standby of this cluster, beside it, whose every commit waits for it.
    fn standby(&self) -> Cluster {
        let standby = Cluster {
            dir: self.dir.with_file_name("standby"),
            port: support::free_port(),
        };
        pg_cluster(&[
            "replica",
            &self.dir(),
            &standby.dir(),
            &standby.port.to_string(),
        ]);
        standby
    }

    fn dir(&self) -> String {
        self.dir.display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the cluster as an operator's fast restart does, keeps it down `down`, starts it.
    fn restart(&self, down: Duration) {
        pg_cluster(&["restart", &self.dir(), &down.as_secs_f64().to_string()]);
    }

    /// Stops the cluster at once, as a crash does.
    fn crash(&self) {
        pg_cluster(&["stop", &self.dir()]);
    }

    /// Makes a standby a primary.
    fn promote(&self) {
        pg_cluster(&["promote", &self.dir()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-cluster");
        let _ = Command::new(script)
            .args(["stop", &self.dir()])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Waits for an event naming `folio` to be POSTed to the receiver (answering each with 204).
fn delivery_of(receiver: &std::net::TcpListener, folio: &str, within: Duration) -> bool {
    use std::io::{Read, Write};
    receiver.set_nonblocking(true).expect("nonblocking");
    let until = Instant::now() + within;
    while Instant::now() < until {
        let Ok((mut stream, _)) = receiver.accept() else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut request = Vec::new();
        let mut buffer = [0u8; 8192];
        // Headers, then as much body as they announce.
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    break;
                }
            }
        }
        let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
        if String::from_utf8_lossy(&request).contains(folio) {
            return true;
        }
    }
    false
}

/// Whether the worker still claims and runs jobs: an event subscription made now receives the
/// next incident's.
fn the_worker_delivers_an_event(http: &mut Http, contact_id: i64) -> bool {
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").expect("receiver");
    let port = receiver.local_addr().expect("port").port();
    let (status, subscription) = http.send(
        "POST",
        "/api/v1/webhooks",
        Some(json!({"url": format!("http://127.0.0.1:{port}/eventos"),
            "events": ["incident.created"]})),
    );
    assert_eq!(status, 201, "{subscription}");
    let (status, incident) = http.send(
        "POST",
        "/api/v1/incidents",
        Some(json!({"channel": "phone", "contact_id": contact_id, "subject": "Después"})),
    );
    assert_eq!(status, 201, "{incident}");
    let folio = incident["folio"].as_str().expect("folio");
    delivery_of(&receiver, folio, Duration::from_secs(30))
}

/// What a run through a database fault showed, for the assertions every such fault shares.
struct RideOut {
    answers: Vec<Answer>,
    ready: Vec<(Duration, u16)>,
    /// When the fault began and when the database was back (restarted, or promoted).
    began: Duration,
    ended: Duration,
    delivered: bool,
}

impl RideOut {
    /// Requests the fault caught failed with the envelope's 503, never a 500; `/readyz` said
    /// so meanwhile and ready again after; incidents are created again within `within` of the
    /// database's return, by the pool alone; the worker carries on; every acknowledged
    /// incident is in `database`, none numbered twice. Returns the time to recover.
    async fn rode_out(&self, database: &str, within: Duration) -> Duration {
        assert!(
            self.delivered,
            "the worker delivered an event after the fault"
        );
        for a in self.answers.iter().filter(|a| a.status != 201) {
            assert_eq!(
                (a.status, a.code.as_str()),
                (503, "unavailable"),
                "a failure during the fault: {a:?}"
            );
        }
        let (began, ended) = (self.began, self.ended);
        assert!(
            self.ready
                .iter()
                .any(|(at, s)| *s == 503 && *at >= began && *at <= ended + Duration::from_secs(1)),
            "not ready during the fault: {:?}",
            self.ready
        );
        assert_eq!(self.ready.last().map(|r| r.1), Some(200), "ready again");
        let first_after = self
            .answers
            .iter()
            .find(|a| a.at > ended && a.status == 201)
            .expect("incidents created after the fault");
        let recovered = first_after.at - ended;
        assert!(recovered < within, "recovered in {recovered:?}");
        let acknowledged: Vec<&String> = self.acknowledged().collect();
        let store = atiende_store::Store::connect(database, atiende_store::db::DEFAULT_TZ)
            .await
            .expect("the database");
        for folio in &acknowledged {
            store
                .incident_id(folio)
                .await
                .expect("an acknowledged incident is stored");
        }
        let mut unique = acknowledged.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), acknowledged.len(), "no folio twice");
        recovered
    }

    fn acknowledged(&self) -> impl Iterator<Item = &String> {
        self.answers.iter().filter_map(|a| a.folio.as_ref())
    }

    /// The figures RELIABILITY.md reports (`-- --nocapture`).
    fn figures(&self, recovered: Duration) -> String {
        format!(
            "took {:?}; {} acknowledged ({} after it), {} failed with 503, 0 lost; first \
             incident created {recovered:?} after the database was back",
            self.ended - self.began,
            self.acknowledged().count(),
            self.answers
                .iter()
                .filter(|a| a.at > self.ended && a.status == 201)
                .count(),
            self.answers.iter().filter(|a| a.status != 201).count(),
        )
    }
}

/// Runs four clients and the readiness poll against a server on `url`, makes the fault
/// `fault` after 1.5 s (it returns once the database is back) and goes on for 3 s.
async fn ride_out(url: String, fault: impl FnOnce() + Send + 'static) -> RideOut {
    let work = tempfile::tempdir().expect("dir");
    tokio::task::spawn_blocking(move || {
        let server = Server::start(
            &url,
            work.path(),
            &[
                ("ATIENDE_ADMIN_PASSWORD", ADMIN_PASSWORD),
                // The event receiver listens on this machine.
                ("ATIENDE_WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", "true"),
            ],
        );
        let (mut http, contact_id) = admin_with_a_person(&server.base);
        let load = Load::start(4, &http, contact_id, true);
        std::thread::sleep(Duration::from_millis(1500));
        let began = load.elapsed();
        fault();
        let ended = load.elapsed();
        std::thread::sleep(Duration::from_secs(3));
        let (answers, ready) = load.stop();
        let delivered = the_worker_delivers_an_event(&mut http, contact_id);
        RideOut {
            answers,
            ready,
            began,
            ended,
            delivered,
        }
    })
    .await
    .expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_fails_requests_with_a_clear_503_and_loses_nothing() {
    let parent = tempfile::tempdir().expect("dir");
    let cluster = Arc::new(Cluster::start(parent.path()));
    let restarted = cluster.clone();
    let run = ride_out(cluster.url(), move || {
        restarted.restart(Duration::from_secs(2));
    })
    .await;
    let recovered = run.rode_out(&cluster.url(), Duration::from_secs(2)).await;
    eprintln!("PostgreSQL restart: {}", run.figures(recovered));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_standby_takes_the_writes_with_every_acknowledged_incident() {
    let parent = tempfile::tempdir().expect("dir");
    let primary = Arc::new(Cluster::start(parent.path()));
    let standby = Arc::new(primary.standby());
    // Both hosts, as an operator configures a replicated database (libpq's form).
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let (crashed, promoted) = (primary.clone(), standby.clone());
    let run = ride_out(url, move || {
        crashed.crash();
        // The operator (or their tooling) notices, and promotes the standby.
        std::thread::sleep(Duration::from_secs(1));
        promoted.promote();
    })
    .await;
    let recovered = run.rode_out(&standby.url(), Duration::from_secs(3)).await;
    eprintln!("PostgreSQL failover: {}", run.figures(recovered));
}

fn get_text(base: &str, path: &str, token: Option<&str>) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&format!("{base}{path}"));
    if let Some(t) = token {
        request = request.header("authorization", &format!("Bearer {t}"));
    }
    request
        .call()
        .expect("answer")
        .body_mut()
        .read_to_string()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_writes_with_a_clear_503_and_they_work_again_once_space_is_freed() {
    let parent = tempfile::tempdir().expect("dir");
    let disk = Arc::new(SmallDisk::mount(parent.path().join("disco"), 48));
    let file = disk.dir.join("atiende.db");
    let url = format!("sqlite://{}", file.display());
    let work = tempfile::tempdir().expect("dir");
    let metrics_token = "token-de-metricas-para-la-prueba";
    let (acknowledged, figures) = tokio::task::spawn_blocking({
        let (url, disk) = (url.clone(), disk.clone());
        move || {
            let server = Server::start(
                &url,
                work.path(),
                &[
                    ("ATIENDE_ADMIN_PASSWORD", ADMIN_PASSWORD),
                    ("ATIENDE_WORKER", "false"),
                    ("ATIENDE_STORAGE_ALERT_MB", "8"),
                    ("ATIENDE_METRICS_TOKEN", metrics_token),
                ],
            );
            let (mut http, contact_id) = admin_with_a_person(&server.base);
            assert_eq!(get_text(&server.base, "/readyz", None), "ready");
            // Everything but a megabyte and a half taken by another file.
            let filler = disk.fill(1_500_000);
            let ready = get_text(&server.base, "/readyz", None);
            // A megabyte or less: the service's checkpoints may still be moving its log into
            // the database file, which grows into what the filler left.
            let free_mb = ready
                .strip_prefix("ready\nstorage: ")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok());
            assert!(
                free_mb.is_some_and(|mb| mb <= 1) && ready.contains(" MB free in "),
                "{ready}"
            );
            let metrics = get_text(&server.base, "/metrics", Some(metrics_token));
            assert!(
                metrics.contains("atiende_storage_free_bytes{folder="),
                "{metrics}"
            );
            let words = "La constancia de estudios no llega a mi correo. ".repeat(80);
            let mut acknowledged = Vec::new();
            let mut failures = Vec::new();
            let until = Instant::now() + Duration::from_secs(20);
            while failures.len() < 10 && Instant::now() < until {
                let body = json!({"channel": "phone", "contact_id": contact_id,
                    "subject": format!("Llamada {}", acknowledged.len()), "body": words});
                let (status, answer) = http.send("POST", "/api/v1/incidents", Some(body));
                match answer["folio"].as_str() {
                    Some(folio) if status == 201 => acknowledged.push(folio.to_string()),
                    _ => failures.push((status, answer["error"]["code"].clone())),
                }
            }
            assert!(!failures.is_empty(), "the disk filled up");
            for f in &failures {
                assert_eq!(
                    (f.0, f.1.as_str()),
                    (503, Some("unavailable")),
                    "{failures:?}"
                );
            }
            let before = acknowledged.len();
            // Space freed: writes work again, without a restart.
            std::fs::remove_file(&filler).expect("free the space");
            for n in 0..5 {
                let body = json!({"channel": "phone", "contact_id": contact_id,
                    "subject": format!("Después {n}")});
                let (status, answer) = http.send("POST", "/api/v1/incidents", Some(body));
                assert_eq!(status, 201, "{answer}");
                acknowledged.push(answer["folio"].as_str().expect("folio").to_string());
            }
            assert_eq!(get_text(&server.base, "/readyz", None), "ready");
            drop(server);
            (acknowledged, (before, failures.len()))
        }
    })
    .await
    .expect("run");

    let store = atiende_store::Store::connect(&url, atiende_store::db::DEFAULT_TZ)
        .await
        .expect("the database");
    assert_eq!(
        store.integrity_check().await.expect("check"),
        ["ok"],
        "nothing corrupted"
    );
    for folio in &acknowledged {
        store
            .incident_id(folio)
            .await
            .expect("an acknowledged incident is stored");
    }
    eprintln!(
        "full disk: {} acknowledged before it filled, {} failed with 503, 5 after space was freed, \
         integrity ok, 0 lost",
        figures.0, figures.1
    );
    drop(disk);
}

/// How a hostile connection behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostile {
    /// Connects and sends nothing.
    Idle,
    /// Sends a request line, then a header line now and then, never ending the headers.
    SlowHeaders,
    /// Sends a whole request's headers announcing a body, then a byte of it every three
    /// seconds (a body withheld; one trickled faster is held to the address's cap alone).
    SlowBody,
}

/// One hostile connection from `from` (a loopback address of its own): how long the server
/// kept it, or None if it still held it after `watch`.
async fn hostile(
    from: std::net::IpAddr,
    to: std::net::SocketAddr,
    kind: Hostile,
    watch: Duration,
) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind((from, 0).into()).expect("bind");
    let Ok(mut stream) = socket.connect(to).await else {
        return Some(Duration::ZERO);
    };
    // From the moment the connection is made (a full backlog delays some by a retried SYN).
    let began = Instant::now();
    let (head, drip): (&[u8], &[u8]) = match kind {
        Hostile::Idle => (b"", b""),
        Hostile::SlowHeaders => (b"GET /healthz HTTP/1.1\r\nHost: cap\r\n", b"X-Lento: 1\r\n"),
        Hostile::SlowBody => (
            b"POST /api/v1/session HTTP/1.1\r\nHost: cap\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
            b" ",
        ),
    };
    let pause = match kind {
        Hostile::SlowBody => Duration::from_secs(3),
        _ => Duration::from_millis(700),
    };
    let _ = stream.write_all(head).await;
    let mut buffer = [0u8; 4096];
    while began.elapsed() < watch {
        // The server ends the connection (after an answer, or without one): EOF or an error.
        match tokio::time::timeout(pause, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(began.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => {}
        }
        if !drip.is_empty() && stream.write_all(drip).await.is_err() {
            return Some(began.elapsed());
        }
    }
    None
}

/// Times `n` console requests (the open queue through the API), each of which must succeed.
fn console_requests(http: &Http, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let began = Instant::now();
            let request = http
                .request("GET", "/api/v1/incidents?status=open")
                .body(())
                .expect("request");
            let status = http
                .agent
                .run(request)
                .expect("an answer")
                .status()
                .as_u16();
            assert_eq!(status, 200, "the console is served");
            began.elapsed()
        })
        .collect()
}

fn percentile(times: &[Duration], p: f64) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_hostile_clients_are_cut_off_and_the_console_is_still_served() {
    let db = TestDb::new(atiende_store::Engine::Sqlite).await;
    let work = tempfile::tempdir().expect("dir");
    let server = Server::start(
        &db.url,
        work.path(),
        &[
            ("ATIENDE_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("ATIENDE_WORKER", "false"),
            ("ATIENDE_HEADER_READ_TIMEOUT_SECONDS", "2"),
            ("ATIENDE_BODY_READ_TIMEOUT_SECONDS", "2"),
        ],
    );
    let base = server.base.clone();
    let (http, before) = tokio::task::spawn_blocking(move || {
        let (http, _) = admin_with_a_person(&base);
        let before = console_requests(&http, 40);
        (http, before)
    })
    .await
    .expect("console");
    let address: std::net::SocketAddr = server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");

    // 300 connections from one other address (127.0.0.2): idle, slow headers, slow bodies.
    let from: std::net::IpAddr = "127.0.0.2".parse().expect("address");
    let watch = Duration::from_secs(12);
    let attack: Vec<_> = (0..300)
        .map(|n| {
            let kind = [Hostile::Idle, Hostile::SlowHeaders, Hostile::SlowBody][n % 3];
            tokio::spawn(async move { (kind, hostile(from, address, kind, watch).await) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = tokio::task::spawn_blocking(move || console_requests(&http, 40))
        .await
        .expect("console under attack");
    let mut kept = Vec::new();
    for task in attack {
        kept.push(task.await.expect("hostile"));
    }

    // The address's cap (64) refused the rest at once; the server cut off every one it took
    // once its time ran out (2 s here), whatever the connection was doing.
    let held: Vec<&(Hostile, Option<Duration>)> = kept
        .iter()
        .filter(|(_, t)| t.is_none_or(|t| t > Duration::from_millis(500)))
        .collect();
    assert!(held.len() <= 64, "{} held from one address", held.len());
    for (kind, closed) in &kept {
        let closed = closed.unwrap_or_else(|| panic!("a {kind:?} connection still held"));
        assert!(closed < Duration::from_secs(6), "{kind:?} kept {closed:?}");
    }
    let longest = |k: Hostile| {
        kept.iter()
            .filter(|(kind, _)| *kind == k)
            .filter_map(|(_, t)| *t)
            .max()
            .unwrap_or_default()
    };
    eprintln!(
        "slow clients: 300 connections from one address, {} taken (the rest refused at once); \
         longest kept: idle {:?}, slow headers {:?}, slow body {:?} (limits 2 s); console p50/p99 \
         before {:?}/{:?}, during {:?}/{:?}, all 80 answered",
        held.len(),
        longest(Hostile::Idle),
        longest(Hostile::SlowHeaders),
        longest(Hostile::SlowBody),
        percentile(&before, 0.5),
        percentile(&before, 0.99),
        percentile(&during, 0.5),
        percentile(&during, 0.99),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_stepping_back_keeps_the_timeline_in_order_and_the_login_limit_counting() {
    let library = faketime_library();
    let db = TestDb::new(atiende_store::Engine::Sqlite).await;
    let work = tempfile::tempdir().expect("dir");
    // libfaketime reads the clock's offset from this file at every reading of the time.
    let clock = work.path().join("reloj");
    std::fs::write(&clock, "+0").expect("clock");
    let url = db.url.clone();
    let (notes, refused) = tokio::task::spawn_blocking(move || {
        let server = Server::start(
            &url,
            work.path(),
            &[
                ("ATIENDE_ADMIN_PASSWORD", ADMIN_PASSWORD),
                ("ATIENDE_WORKER", "false"),
                ("ATIENDE_LOGIN_ATTEMPTS_PER_MINUTE", "3"),
                ("LD_PRELOAD", &library),
                ("FAKETIME_TIMESTAMP_FILE", &clock.display().to_string()),
                ("FAKETIME_NO_CACHE", "1"),
                // Timers, timeouts and the rate limiter keep the real monotonic clock.
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ],
        );
        let (mut http, contact_id) = admin_with_a_person(&server.base);
        let (status, incident) = http.send(
            "POST",
            "/api/v1/incidents",
            Some(json!({"channel": "phone", "contact_id": contact_id, "subject": "Constancia"})),
        );
        assert_eq!(status, 201, "{incident}");
        let folio = incident["folio"].as_str().expect("folio").to_string();
        let mut note = |text: &str| {
            let (status, entry) = http.send(
                "POST",
                &format!("/api/v1/incidents/{folio}/notes"),
                Some(json!({"kind": "note", "body": text})),
            );
            assert_eq!(status, 201, "{entry}");
        };
        note("Antes del ajuste del reloj");
        // Failed logins spend the minute's budget for this login (three, the administrator's
        // own sign-in included) until they are refused.
        let stranger = Http::new(&server.base);
        let wrong = || {
            stranger.try_send(
                "POST",
                "/api/v1/session",
                json!({"login": "admin", "password": "no-es-la-clave"}),
            )
        };
        assert!((0..3).any(|_| wrong() == Some(429)), "the budget ran out");
        // The system clock steps back five minutes (an NTP correction, a resumed machine).
        std::fs::write(&clock, "-300").expect("clock back");
        note("Después del ajuste del reloj");
        note("Un momento después");
        let refused = wrong();
        let (status, incident) = http.send("GET", &format!("/api/v1/incidents/{folio}"), None);
        assert_eq!(status, 200);
        let notes: Vec<(String, String)> = incident["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter(|e| e["kind"] == "note")
            .map(|e| {
                (
                    e["body"].as_str().unwrap_or_default().to_string(),
                    e["at"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        (notes, refused)
    })
    .await
    .expect("run");

    // The timeline keeps the order things happened in; no moment goes back.
    let bodies: Vec<&str> = notes.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "Antes del ajuste del reloj",
            "Después del ajuste del reloj",
            "Un momento después"
        ]
    );
    let moments: Vec<chrono::DateTime<chrono::Utc>> = notes
        .iter()
        .map(|(_, at)| at.parse().expect("a moment"))
        .collect();
    assert!(
        moments.windows(2).all(|w| w[0] <= w[1]),
        "moments in order: {moments:?}"
    );
    // The login limit counts on the monotonic clock: stepping the wall clock back did not
    // give the budget back.
    assert_eq!(refused, Some(429), "still refused after the step back");
    eprintln!(
        "clock stepped back 5 min: notes at {moments:?}; a failed login after it: {refused:?}"
    );
}

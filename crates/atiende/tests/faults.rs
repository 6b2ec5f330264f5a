//! Faults the service rides out, each made with real parts while load runs (RELIABILITY.md).
//! The turn of the year: the binary runs under libfaketime with its clock set to seconds
//! before midnight of 31 December in Guadalajara, and takes incidents from several clients
//! while the year turns.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atiende_domain::folio::Folio;
use atiende_store::testing::TestDb;
use serde_json::json;
use support::{Http, Server};

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
                ("ATIENDE_ADMIN_PASSWORD", "clave-admin-segura"),
                ("ATIENDE_WORKER", "false"),
                ("LD_PRELOAD", &library),
                ("FAKETIME", "@2027-01-01 05:59:57"),
                ("TZ", "UTC"),
                // Timers and timeouts keep the real monotonic clock.
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ],
        );
        let mut http = Http::new(&server.base);
        assert_eq!(http.login("admin", "clave-admin-segura"), 200);
        let (status, contact) = http.send(
            "POST",
            "/api/v1/contacts",
            Some(json!({"name": "Laura Gómez", "phones": ["3312345678"]})),
        );
        assert_eq!(status, 201, "{contact}");
        let contact_id = contact["id"].as_i64().expect("contact");
        let writing = Arc::new(AtomicBool::new(true));
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let clients: Vec<_> = (0..8)
            .map(|client| {
                let (writing, acknowledged) = (writing.clone(), acknowledged.clone());
                let (base, cookie, csrf) =
                    (server.base.clone(), http.cookie.clone(), http.csrf.clone());
                std::thread::spawn(move || {
                    let mut http = Http::new(&base);
                    (http.cookie, http.csrf) = (cookie, csrf);
                    let mut n = 0;
                    while writing.load(Ordering::Relaxed) {
                        n += 1;
                        let body = json!({"channel": "phone", "contact_id": contact_id,
                            "subject": format!("Llamada {client}-{n}")});
                        let (status, incident) = http.send("POST", "/api/v1/incidents", Some(body));
                        if status == 201 {
                            let folio = incident["folio"].as_str().expect("folio").to_string();
                            acknowledged.lock().expect("list").push(folio);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(7));
        writing.store(false, Ordering::Relaxed);
        for c in clients {
            c.join().expect("client");
        }
        acknowledged.lock().expect("list").clone()
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

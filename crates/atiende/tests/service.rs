//! The real binary, started the way the README says, driven over HTTP and through its CLI, on
//! both engines.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use atiende_store::testing::TestDb;
use serde_json::{Value, json};
use support::{Http, Server, atiende, cli, cli_ok, free_port};

atiende_store::on_both_engines!(
    the_service_prints_how_to_log_in_and_serves_the_procedure_over_http,
    the_cli_manages_users_tokens_and_backups,
    a_roster_in_latin1_is_imported_once_and_a_dry_run_changes_nothing,
    a_sugarcrm_export_brings_past_cases_with_their_contacts_into_search_and_last_year_s_indicators,
    an_arco_request_is_handled_from_the_command_line_and_logged,
    mail_ingest_stores_a_piped_message_once_and_asks_for_a_retry_when_it_cannot,
    an_email_becomes_an_incident_and_the_console_reply_arrives_in_the_same_thread,
    every_channel_becomes_an_incident_in_the_right_queue_and_replies_reach_the_provider,
    slow_connections_are_closed_and_one_address_cannot_crowd_out_the_others,
    demo_data_gets_one_time_passwords_and_loads_once,
    demo_data_stays_out_of_a_database_with_records,
    a_backup_taken_while_writing_restores_every_incident_acknowledged_before_it,
    mail_handed_to_the_running_service_needs_no_database_and_is_retried_when_refused,
    the_container_recipe_serves_from_its_environment_and_reports_health,
    the_secrets_key_is_made_beside_a_sqlite_database_and_required_with_postgres,
);

async fn the_service_prints_how_to_log_in_and_serves_the_procedure_over_http(db: TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let mut server = Server::start(&url, dir.path(), &[]);
        assert!(
            server.banner[0].contains(&server.base),
            "{:?}",
            server.banner
        );
        let password = server.banner[1]
            .split('«')
            .nth(2)
            .and_then(|s| s.split('»').next())
            .expect("one-time password in banner");
        let mut http = Http::new(&server.base);
        assert_eq!(http.send("GET", "/healthz", None).0, 200);
        assert_eq!(http.login("admin", password), 200);
        let (status, body) = http.send("GET", "/api/v1/incidents", None);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("password_change_required"))
        );
        let change = json!({"current_password": password, "new_password": "clave-nueva-segura"});
        assert_eq!(
            http.send("POST", "/api/v1/session/password", Some(change))
                .0,
            204
        );
        assert_eq!(http.login("admin", "clave-nueva-segura"), 200);

        let (_, contact) = http.send(
            "POST",
            "/api/v1/contacts",
            Some(json!({"name": "Ana", "phones": ["33 1234 5678"]})),
        );
        let (status, incident) = http.send(
            "POST",
            "/api/v1/incidents",
            Some(json!({"channel": "phone", "contact_id": contact["id"], "subject": "Pago"})),
        );
        assert_eq!(status, 201, "{incident}");
        let folio = incident["folio"].as_str().expect("folio").to_string();
        http.send(
            "POST",
            &format!("/api/v1/incidents/{folio}/classify"),
            Some(json!({"incident_type": "question", "user_type": "applicant"})),
        );
        let (status, refused) = http.send(
            "POST",
            &format!("/api/v1/incidents/{folio}/close"),
            Some(json!({})),
        );
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (422, Some("close_requirements"))
        );
        let (status, _) = http.send(
            "POST",
            &format!("/api/v1/incidents/{folio}/close"),
            Some(json!({"notes": "Se envió la orden de pago."})),
        );
        assert_eq!(status, 200);
        let (_, outbox) = http.send("GET", "/api/v1/outbox", None);
        assert_eq!(outbox["items"][0]["kind"], "survey_due");
        assert!(server.stop(), "graceful shutdown exits with success");
    })
    .await
    .expect("server story");
}

async fn the_cli_manages_users_tokens_and_backups(db: TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let sqlite = db.engine() == atiende_store::Engine::Sqlite;
    tokio::task::spawn_blocking(move || {
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut cmd = atiende(&url, dir.path());
            cmd.args(args)
                .env("ATIENDE_ADMIN_PASSWORD", "clave-admin-segura");
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("run atiende");
            if let Some(input) = stdin {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(input.as_bytes())
                    .expect("write stdin");
            } else {
                drop(child.stdin.take());
            }
            let out = child.wait_with_output().expect("output");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (ok, out, _) = run(&["migrate"], None);
        assert!(ok && out.contains("migration(s) applied"), "{out}");
        let (ok, out, _) = run(&["migrate", "--dry-run"], None);
        assert!(ok && out.contains("the schema is current"), "{out}");
        let (ok, out, err) = run(
            &[
                "user",
                "add",
                "lupita",
                "--role",
                "agent",
                "--name",
                "Lupita Ramírez",
                "--password-stdin",
            ],
            Some("una-clave-larga-1\n"),
        );
        assert!(ok, "{out}{err}");
        let (ok, _, err) = run(&["user", "add", "x", "--role", "jefe"], None);
        assert!(!ok && err.contains("unknown role `jefe`"), "{err}");
        let (ok, _, err) = run(
            &["token", "create", "--user", "lupita", "--scope", "todo"],
            None,
        );
        assert!(!ok && err.contains("unknown scope"), "{err}");
        let (ok, out, _) = run(
            &[
                "token",
                "create",
                "--user",
                "lupita",
                "--scope",
                "read",
                "--scope",
                "incidents_write",
                "--expires-days",
                "30",
            ],
            None,
        );
        assert!(ok);
        let token = out.trim();
        assert!(
            token.starts_with("atd_") && !token.contains(char::is_whitespace),
            "the token alone: {out:?}"
        );
        let (ok, out, _) = run(&["user", "list"], None);
        assert!(ok && out.contains("lupita\tagent\tactive"), "{out}");
        let (ok, out, _) = run(&["user", "disable", "lupita"], None);
        assert!(ok, "{out}");
        let (ok, out, _) = run(&["user", "list"], None);
        assert!(ok && out.contains("lupita\tagent\tdisabled"), "{out}");
        let (ok, out, _) = run(&["config"], None);
        assert!(
            ok && out.contains("admin_password = \"********\"")
                && !out.contains("clave-admin-segura"),
            "{out}"
        );
        let backup = dir.path().join("copia.db");
        let (ok, out, err) = run(&["backup", backup.to_str().expect("path")], None);
        if sqlite {
            assert!(ok && backup.exists(), "{out}{err}");
            let (ok, _, err) = run(&["backup", backup.to_str().expect("path")], None);
            assert!(!ok && err.contains("already exists"), "{err}");
        } else {
            assert!(
                !ok && err.contains("pg_dump") && err.contains("pg_restore"),
                "{err}"
            );
            assert!(!err.contains("corrupt"), "said plainly: {err}");
        }
    })
    .await
    .expect("cli story");
}

async fn a_roster_in_latin1_is_imported_once_and_a_dry_run_changes_nothing(db: TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    // Written by an older spreadsheet: Windows-1252, semicolons, a quoted field, a broken row.
    let roster = b"Nombre;Correo;Tel\xe9fono;C\xf3digo;Tipo\n\
                   \"Jos\xe9 P\xe9rez; hijo\";jose@gmail.com;33 1111 2222;219000010;Estudiante\n\
                   Mar\xeda L\xf3pez;maria@gmail.com;;;Aspirante\n\
                   roto;\n";
    std::fs::write(dir.path().join("padron.csv"), roster).expect("roster");
    let url = db.url.clone();
    let run = |args: &[&str]| cli_ok(&url, dir.path(), args);
    let dry = run(&["import", "contacts", "padron.csv", "--dry-run"]);
    assert!(
        dry.starts_with(
            "dry run (nothing saved)\ncontacts: 2 created, 0 updated, 0 unchanged, 1 skipped"
        ),
        "{dry}"
    );
    assert!(dry.contains("line 4, skipped:"), "{dry}");
    let real = run(&["import", "contacts", "padron.csv"]);
    assert!(
        real.starts_with("contacts: 2 created, 0 updated, 0 unchanged, 1 skipped"),
        "{real}"
    );
    let again = run(&["import", "contacts", "padron.csv"]);
    assert!(
        again.starts_with("contacts: 0 created, 0 updated, 2 unchanged, 1 skipped"),
        "{again}"
    );
    let jose = db
        .find_contact(
            &atiende_domain::contact::Identifier::parse(
                atiende_domain::contact::IdentifierKind::Email,
                "jose@gmail.com",
            )
            .expect("id"),
        )
        .await
        .expect("lookup")
        .expect("josé");
    assert_eq!(jose.name, "José Pérez; hijo");
}

async fn a_sugarcrm_export_brings_past_cases_with_their_contacts_into_search_and_last_year_s_indicators(
    db: TestDb,
) {
    use atiende_domain::contact::{Identifier, IdentifierKind};
    // Files as SugarCRM CE exports them: quoted, CRLF, English labels or field names, Cases
    // in Windows-1252, Contacts in UTF-8 with BOM, embedded newlines, a deleted and a broken
    // row, a value only the mapping file names.
    let export = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sugarcrm");
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let run = |args: &[&str]| cli_ok(&url, dir.path(), args);
    let dry = run(&["import", "sugarcrm", export, "--dry-run"]);
    assert!(dry.starts_with("dry run (nothing saved)\n"), "{dry}");
    assert!(
        dry.contains("contacts: 3 created, 0 updated, 0 unchanged, 2 skipped, 1 warnings"),
        "{dry}"
    );
    assert_eq!(
        db.period_rollup(202501, 202512, false)
            .await
            .expect("rollup")
            .totals
            .incidents,
        0
    );

    let real = run(&["import", "sugarcrm", export]);
    for expected in [
        "contacts: 3 created, 0 updated, 0 unchanged, 2 skipped, 1 warnings",
        "line 5, skipped: deleted in SugarCRM",
        "line 7, skipped: 2 columns, the header has 14",
        "2 salutations (Sr., Lic.…) kept out of the names, in the notes",
        "line 4, warning: phone_work `no tiene` left out",
        "cases: 3 created, 0 updated, 0 unchanged, 2 skipped, 1 warnings",
        "line 6, skipped: status `Archivado` not in the mapping",
        "line 7, skipped: date created `mañana` unreadable",
        "user `Laura Gómez` not in atiende",
        "notes: 2 created, 0 updated, 0 unchanged, 1 skipped, 0 warnings",
        "calls: 2 created, 0 updated, 0 unchanged, 1 skipped, 0 warnings",
        "planned, never made",
    ] {
        assert!(real.contains(expected), "`{expected}` in:\n{real}");
    }

    // Every past case, with its contact, in search…
    let hits = db
        .search_incidents(
            &atiende_domain::access::Scope::All,
            &atiende_domain::knowledge::SearchQuery::parse("cobro indebido"),
            10,
        )
        .await
        .expect("search");
    assert_eq!(hits.len(), 1, "{hits:?}");
    let complaint = db.incident(hits[0].id).await.expect("incident");
    let jose = db
        .find_contact(
            &Identifier::parse(IdentifierKind::Email, "jose.perez@hotmail.com").expect("id"),
        )
        .await
        .expect("lookup")
        .expect("josé");
    assert_eq!(complaint.contact_id, Some(jose.id));
    assert_eq!(
        complaint.incident_type,
        Some(atiende_domain::classification::IncidentType::Complaint)
    );
    assert_eq!(
        complaint.channel,
        atiende_domain::classification::Channel::Phone
    );
    assert!(jose.notes.contains("Prefiere WhatsApp"), "{}", jose.notes);
    assert_eq!(
        jose.name, "José Pérez",
        "the salutation is not part of the name"
    );
    assert!(jose.notes.contains("Tratamiento: Sr."), "{}", jose.notes);
    let by_number = db
        .search_incidents(
            &atiende_domain::access::Scope::All,
            &atiende_domain::knowledge::SearchQuery::parse("1001"),
            10,
        )
        .await
        .expect("search");
    assert_eq!(by_number.len(), 1);
    let first = db.incident(by_number[0].id).await.expect("1001");
    assert_eq!(first.subject, "Constancia de estudios");
    assert_eq!(
        first.incident_type,
        Some(atiende_domain::classification::IncidentType::Question),
        "`Trámite` (Windows-1252) through the mapping file"
    );
    let ana = db
        .contact(first.contact_id.expect("ana"))
        .await
        .expect("ana");
    assert_eq!(ana.name, "Ana López García");
    assert_eq!(ana.student_code.as_deref(), Some("219000001"));
    assert!(ana.notes.contains("no llamar antes de las 10"));

    // …and counted in last year's indicators with their original dates.
    let year = db.period_rollup(202501, 202512, true).await.expect("2025");
    assert_eq!(year.totals.incidents, 2);
    assert_eq!(year.totals.closed, 2);
    assert_eq!(year.totals.complaints, 1);
    assert_eq!(
        db.period_rollup(202611, 202611, false)
            .await
            .expect("this month")
            .totals
            .incidents,
        1,
        "the open case of this month"
    );

    let again = run(&["import", "sugarcrm", export]);
    for expected in [
        "contacts: 0 created, 0 updated, 3 unchanged",
        "cases: 0 created, 0 updated, 3 unchanged",
        "notes: 0 created, 0 updated, 2 unchanged",
        "calls: 0 created, 0 updated, 2 unchanged",
    ] {
        assert!(again.contains(expected), "`{expected}` in:\n{again}");
    }
}

async fn an_arco_request_is_handled_from_the_command_line_and_logged(db: TestDb) {
    let person = db
        .create_contact(
            atiende_store::Actor::System,
            &atiende_domain::contact::ContactInput {
                name: Some("Rosa Elena Téllez".into()),
                emails: Some(vec!["rosa.tellez@gmail.com".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("person");
    let id = person.id.to_string();
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let run = |args: &[&str]| cli(&url, dir.path(), args);
    let (ok, _, err) = run(&["privacy", "export", &id, "--out", "expediente"]);
    assert!(ok, "{err}");
    let json = std::fs::read_to_string(dir.path().join("expediente.json")).expect("json");
    assert!(json.contains("rosa.tellez@gmail.com"));
    let html = std::fs::read_to_string(dir.path().join("expediente.html")).expect("html");
    assert!(html.contains("Rosa Elena Téllez") && html.contains("Expediente de datos personales"));

    let (ok, _, err) = run(&["privacy", "anonymise", &id, "--yes"]);
    assert!(!ok && err.contains("block_before_suppressing"), "{err}");
    let (ok, _, err) = run(&["privacy", "block", &id, "--reason", "ARCO-2026-020"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["privacy", "anonymise", &id]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let (ok, out, err) = run(&["privacy", "anonymise", &id, "--yes"]);
    assert!(ok && out.contains("suppressed"), "{err}");
    let gone = db.contact(person.id).await.expect("contact");
    assert!(gone.emails.is_empty() && !gone.name.contains("Rosa"));

    let (ok, out, err) = run(&["privacy", "retention"]);
    assert!(ok && out.starts_with("dry run (nothing changed)"), "{err}");
    assert!(out.contains("closed incidents' text: 0 (kept)"), "{out}");

    let (ok, log, err) = run(&["privacy", "log", "--contact", &id]);
    assert!(ok, "{err}");
    let actions: Vec<&str> = log
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(3))
        .collect();
    assert_eq!(actions, ["anonymise", "block", "export"], "{log}");
}

fn run_with_stdin(mut cmd: Command, stdin: &[u8]) -> (Option<i32>, String, String) {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run atiende");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn mail_ingest_stores_a_piped_message_once_and_asks_for_a_retry_when_it_cannot(db: TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let raw = b"From: Ana <ana@gmail.com>\r\nTo: cap@udgvirtual.udg.mx\r\nSubject: Beca\r\nMessage-ID: <pipe1@gmail.com>\r\n\r\nHola\r\n";
        let mut cmd = atiende(&url, dir.path());
        cmd.args(["mail", "ingest"]);
        let (code, out, err) = run_with_stdin(cmd, raw);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("Created"), "{out}");
        let mut again = atiende(&url, dir.path());
        again.args(["mail", "ingest"]);
        let (code, out, _) = run_with_stdin(again, raw);
        assert_eq!(code, Some(0));
        assert!(out.contains("Duplicate"), "a retried delivery is recognised: {out}");
        // A database that cannot be reached: the mail server must keep the message and retry.
        let mut broken = atiende("sqlite:///nonexistent-directory/atiende.db", dir.path());
        broken.args(["mail", "ingest"]);
        let (code, _, err) = run_with_stdin(broken, raw);
        assert_eq!(code, Some(75), "{err}");
    })
    .await
    .expect("pipe story");
}

async fn an_email_becomes_an_incident_and_the_console_reply_arrives_in_the_same_thread(db: TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let stamp = std::process::id().to_string() + &chrono_stamp();
    let cap = format!("cap-srv-{stamp}@test.local");
    let ana = format!("ana-srv-{stamp}@test.local");
    let (smtp, imap) = atiende_store::testing::require_mail_server();
    let config = format!(
        "worker_interval_seconds = 1\n[[mailboxes]]\nname = \"CAP\"\naddress = \"{cap}\"\nimap_host = \"127.0.0.1\"\nimap_port = {imap}\n\
         imap_security = \"plain\"\nimap_user = \"{cap}\"\nimap_password = \"secret\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp}\nsmtp_security = \"plain\"\n"
    );
    std::fs::write(dir.path().join("atiende.toml"), config).expect("config");
    let (ana2, cap2) = (ana.clone(), cap.clone());
    let (folio, server, _dir) = tokio::task::spawn_blocking(move || {
        let config = dir.path().join("atiende.toml");
        let server = Server::start(&url, dir.path(), &[("ATIENDE_CONFIG", config.to_str().expect("path")), ("ATIENDE_ADMIN_PASSWORD", "clave-admin-segura")]);
        // Any client sends the CAP an email.
        smtp_send(&ana2, &cap2, &format!("From: Ana <{ana2}>\r\nTo: {cap2}\r\nSubject: Constancia de estudios\r\nMessage-ID: <orig.{ana2}>\r\n\r\nNecesito una constancia.\r\n"));
        let mut http = Http::new(&server.base);
        assert_eq!(http.login("admin", "clave-admin-segura"), 200);
        let mut folio = None;
        for _ in 0..100 {
            let (_, list) = http.send("GET", "/api/v1/incidents?channel=email", None);
            if let Some(f) = list["items"][0]["folio"].as_str() {
                folio = Some(f.to_string());
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let folio = folio.expect("the email became an incident");
        let (status, _) = http.send("POST", &format!("/api/v1/incidents/{folio}/notes"), Some(json!({"kind": "answer", "body": "Puede descargarla en el portal."})));
        assert_eq!(status, 201);
        (folio, server, dir)
    })
    .await
    .expect("server story");
    // The reply arrives in Ana's mailbox, threaded under her message.
    let mut answer = None;
    for _ in 0..100 {
        for raw in fetch_all(&ana).await {
            if raw.contains("Puede descargarla") {
                answer = Some(raw);
            }
        }
        if answer.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    let answer = answer.expect("the reply arrived");
    assert!(
        answer.contains(&format!("In-Reply-To: <orig.{ana}>")),
        "{answer}"
    );
    assert!(answer.contains(&format!("[{folio}]")), "{answer}");
}

/// One request with raw headers and body, as a provider or a browser form sends it.
fn raw(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Vec<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut response = agent
        .run(req.body(body).expect("request"))
        .expect("response");
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_string)
        .collect();
    let status = response.status().as_u16();
    (
        status,
        cookies,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn signed(base: &str, path: &str, payload: &Value) -> u16 {
    let body = payload.to_string().into_bytes();
    let signature = atiende_channels::chat::sign("secreto-de-la-app", &body);
    raw(
        base,
        "POST",
        path,
        &[
            ("content-type", "application/json"),
            ("x-hub-signature-256", &signature),
        ],
        body,
    )
    .0
}

async fn every_channel_becomes_an_incident_in_the_right_queue_and_replies_reach_the_provider(
    db: TestDb,
) {
    let graph = atiende_channels::chat::stand_in::GraphStandIn::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let config = format!(
        "worker_interval_seconds = 1\ncti_token = \"token-cti-de-prueba\"\n[meta]\ngraph_url = \"{}\"\n\
         app_secret = \"secreto-de-la-app\"\nverify_token = \"verificar\"\n\
         whatsapp = [{{ id = \"106540352242922\", access_token = \"wa-token\" }}]\n\
         messenger = [{{ id = \"PAGE1\", access_token = \"page-token\" }}]\n\
         instagram = [{{ id = \"IG1\", access_token = \"ig-token\" }}]\n",
        graph.graph_url
    );
    std::fs::write(dir.path().join("atiende.toml"), config).expect("config");
    let server = tokio::task::spawn_blocking(move || {
        let config = dir.path().join("atiende.toml");
        let server = Server::start(
            &url,
            dir.path(),
            &[
                ("ATIENDE_CONFIG", config.to_str().expect("path")),
                ("ATIENDE_ADMIN_PASSWORD", "clave-admin-segura"),
            ],
        );
        let base = server.base.clone();
        let now = chrono::Utc::now();
        // WhatsApp, Messenger and Instagram deliver signed webhooks.
        let whatsapp = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "523331345678", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Mariana Ruiz" }, "wa_id": "5213312345678" }],
            "messages": [{ "from": "5213312345678", "id": "wamid.e2e", "timestamp": now.timestamp().to_string(),
                           "type": "text", "text": { "body": "¿Cuándo abren inscripciones?" } }] }}]}]});
        assert_eq!(signed(&base, "/webhooks/whatsapp", &whatsapp), 200);
        for (object, account, sender, mid, text) in [
            ("page", "PAGE1", "PSID1", "m_e2e", "¿Tienen becas?"),
            ("instagram", "IG1", "IGSID1", "ig_e2e", "¿Hay bachillerato en línea?"),
        ] {
            let payload = json!({ "object": object, "entry": [{ "id": account, "time": now.timestamp_millis(), "messaging": [
                { "sender": { "id": sender }, "recipient": { "id": account }, "timestamp": now.timestamp_millis(),
                  "message": { "mid": mid, "text": text } }]}]});
            assert_eq!(signed(&base, "/webhooks/meta", &payload), 200);
        }
        // A call from a known person, answered by the administrator's line.
        let mut http = Http::new(&base);
        assert_eq!(http.login("admin", "clave-admin-segura"), 200);
        let (_, contact) = http.send("POST", "/api/v1/contacts", Some(json!({"name": "Pedro Soto", "phones": ["3398765432"]})));
        let contact_id = contact["id"].as_i64().expect("contact");
        let cti = |form: &str| {
            raw(&base, "POST", "/api/v1/cti/token-cti-de-prueba",
                &[("content-type", "application/x-www-form-urlencoded")], form.as_bytes().to_vec()).0
        };
        assert_eq!(cti("event=newCall&from=523398765432&to=523331345678&direction=in&callId=e2e-1"), 200);
        assert_eq!(cti("event=answer&from=523398765432&to=523331345678&direction=in&callId=e2e-1&answeringNumber=admin"), 200);
        assert_eq!(cti("event=hangup&from=523398765432&to=523331345678&direction=in&callId=e2e-1&cause=normalClearing"), 200);
        // The screen pop's link opens the registration with the caller already chosen.
        let cookie = format!("atiende_session={}", http.cookie.clone().expect("session"));
        let (status, _, html) = raw(&base, "GET", "/incidentes/nuevo?llamada=1", &[("cookie", &cookie)], vec![]);
        assert_eq!(status, 200);
        assert!(html.contains(&format!("name=\"contact_id\" value=\"{contact_id}\"")), "{html}");
        let csrf = http.csrf.clone().expect("csrf");
        let form = format!("_csrf={csrf}&contact_id={contact_id}&call_id=1&channel=phone&subject=Baja+de+materia&outcome=open");
        let (status, _, _) = raw(&base, "POST", "/incidentes/nuevo",
            &[("cookie", &cookie), ("content-type", "application/x-www-form-urlencoded")], form.into_bytes());
        assert_eq!(status, 303);
        // A complaint in the public buzón.
        let (_, cookies, page) = raw(&base, "GET", "/buzon", &[], vec![]);
        let token = page.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("form token");
        let form = format!("_csrf={token}&kind=complaint&message=Nadie+contesta+el+tel%C3%A9fono&email=ana%40gmail.com");
        let (status, _, thanks) = raw(&base, "POST", "/buzon",
            &[("cookie", &cookies.join("; ")), ("content-type", "application/x-www-form-urlencoded")], form.into_bytes());
        assert_eq!(status, 200);
        assert!(thanks.contains("Su folio es"));
        // Every one is an incident waiting in the CAP's queue, on its channel.
        let (_, list) = http.send("GET", "/api/v1/incidents?limit=50", None);
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let mut channels: Vec<&str> = items.iter().filter_map(|i| i["channel"].as_str()).collect();
        channels.sort_unstable();
        assert_eq!(channels, ["phone", "social", "social", "suggestion_box", "whatsapp"]);
        assert!(items.iter().all(|i| i["status"] == "open"), "{list}");
        // The agent answers each chat; the worker delivers to the provider.
        for item in items.iter().filter(|i| matches!(i["channel"].as_str(), Some("whatsapp" | "social"))) {
            let folio = item["folio"].as_str().expect("folio");
            let (status, body) = http.send("POST", &format!("/api/v1/incidents/{folio}/notes"),
                Some(json!({"kind": "answer", "body": format!("Respuesta a {folio}")})));
            assert_eq!(status, 201, "{body}");
        }
        server
    })
    .await
    .expect("server story");
    let mut sent = Vec::new();
    for _ in 0..100 {
        sent = graph.sent();
        if sent.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    assert_eq!(sent.len(), 3, "{sent:?}");
    let wa = sent
        .iter()
        .find(|s| s.account == "106540352242922")
        .expect("whatsapp send");
    assert_eq!(wa.authorization.as_deref(), Some("Bearer wa-token"));
    assert_eq!(wa.body["to"], "5213312345678");
    assert!(
        wa.body["text"]["body"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Respuesta a CAP-")
    );
    let fb = sent
        .iter()
        .find(|s| s.account == "PAGE1")
        .expect("messenger send");
    assert_eq!(fb.body["recipient"]["id"], "PSID1");
    assert_eq!(fb.body["messaging_type"], "RESPONSE");
    let ig = sent
        .iter()
        .find(|s| s.account == "IG1")
        .expect("instagram send");
    assert_eq!(ig.authorization.as_deref(), Some("Bearer ig-token"));
    assert_eq!(ig.body["recipient"]["id"], "IGSID1");
}

fn chrono_stamp() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos().to_string())
        .unwrap_or_default()
}

fn smtp_send(from: &str, to: &str, raw: &str) {
    use std::io::{BufRead, BufReader, Write};
    let (smtp, _) = atiende_store::testing::require_mail_server();
    let stream = std::net::TcpStream::connect(("127.0.0.1", smtp)).expect("the test mail server");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut w = stream;
    let mut reply = || {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("reply");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.clone();
            }
        }
    };
    assert!(reply().starts_with("220"));
    for cmd in [
        "EHLO test.local\r\n".to_string(),
        format!("MAIL FROM:<{from}>\r\n"),
        format!("RCPT TO:<{to}>\r\n"),
        "DATA\r\n".into(),
    ] {
        w.write_all(cmd.as_bytes()).expect("send");
        let r = reply();
        assert!(r.starts_with('2') || r.starts_with('3'), "{cmd}: {r}");
    }
    w.write_all(format!("{raw}\r\n.\r\n").as_bytes())
        .expect("data");
    let accepted = reply();
    assert!(accepted.starts_with("250"), "{accepted}");
    let _ = w.write_all(b"QUIT\r\n");
}

async fn fetch_all(address: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let (_, imap) = atiende_store::testing::mail_ports();
    let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", imap)).await else {
        return vec![];
    };
    let mut client = async_imap::Client::new(tcp);
    if client.read_response().await.is_err() {
        return vec![];
    }
    let Ok(mut session) = client.login(address, "secret").await.map_err(|(e, _)| e) else {
        return vec![];
    };
    let Ok(inbox) = session.select("INBOX").await else {
        return vec![];
    };
    if inbox.exists == 0 {
        return vec![];
    }
    let bodies: Vec<String> = match session.fetch("1:*", "BODY.PEEK[]").await {
        Ok(stream) => stream
            .try_filter_map(|f| async move {
                Ok(f.body().map(|b| String::from_utf8_lossy(b).into_owned()))
            })
            .try_collect()
            .await
            .unwrap_or_default(),
        Err(_) => vec![],
    };
    let _ = session.logout().await;
    bodies
}

/// A connection from `source` to the server at `base`.
async fn connect_from(source: &str, base: &str) -> tokio::net::TcpStream {
    let server: std::net::SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source"))
        .expect("bind");
    socket.connect(server).await.expect("connect")
}

/// Sends `GET /healthz` and reads the answer's status line; None when the server closed the
/// connection without one.
async fn healthz_over(stream: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = b"GET /healthz HTTP/1.1\r\nHost: atiende\r\nConnection: close\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return None;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer));
    match read.await.expect("an answer or a close in time") {
        Ok(_) if !answer.is_empty() => String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .map(str::to_string),
        _ => None,
    }
}

async fn slow_connections_are_closed_and_one_address_cannot_crowd_out_the_others(db: TestDb) {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let server = tokio::task::spawn_blocking(move || {
        let server = Server::start(
            &url,
            dir.path(),
            &[
                ("ATIENDE_HEADER_READ_TIMEOUT_SECONDS", "3"),
                ("ATIENDE_MAX_CONNECTIONS_PER_ADDRESS", "4"),
                ("ATIENDE_WORKER", "false"),
            ],
        );
        (server, dir)
    })
    .await
    .expect("start");
    let base = server.0.base.clone();

    // Four connections from one address that never send a request hold its whole share: a
    // fifth from there is closed unanswered, while another address is served.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(connect_from("127.0.0.1", &base).await);
    }
    let mut fifth = connect_from("127.0.0.1", &base).await;
    assert_eq!(healthz_over(&mut fifth).await, None);
    let mut elsewhere = connect_from("127.0.0.2", &base).await;
    assert_eq!(
        healthz_over(&mut elsewhere).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );

    // Connections that send nothing are closed once the header-read time runs out…
    for stream in &mut idle {
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut byte))
            .await
            .expect("closed by the server in time");
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }
    // …and the address is served again.
    let mut again = connect_from("127.0.0.1", &base).await;
    assert_eq!(
        healthz_over(&mut again).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    drop(server);
}

async fn demo_data_gets_one_time_passwords_and_loads_once(db: TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let out = cli_ok(&url, dir.path(), &["demo", "--incidents", "5"]);
        let passwords: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split("one-time password ").nth(1))
            .collect();
        // The administrator's and the eight staff accounts', each its own, none published.
        assert_eq!(passwords.len(), 9, "{out}");
        let distinct: std::collections::BTreeSet<_> = passwords.iter().collect();
        assert_eq!(distinct.len(), 9, "{out}");
        assert!(!out.contains("atiende-demo-2026"));
        assert!(out.contains("a year of history (5 incidents"), "{out}");

        // Loading it again changes nothing.
        let again = cli_ok(&url, dir.path(), &["demo", "--incidents", "5"]);
        assert!(again.contains("already loaded"), "{again}");
    })
    .await
    .expect("demo");
}

async fn demo_data_stays_out_of_a_database_with_records(db: TestDb) {
    let dir = tempfile::tempdir().expect("dir");
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        "Nombre;Correo;Tipo\nRamón Peña;ramon@alumnos.udg.mx;Estudiante\n",
    )
    .expect("roster");
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        cli_ok(
            &url,
            dir.path(),
            &["import", "contacts", roster.to_str().expect("path")],
        );
        let (ok, _, err) = cli(&url, dir.path(), &["demo", "--incidents", "5"]);
        assert!(!ok, "a database with records is refused");
        assert!(err.contains("--force"), "{err}");
        let forced = cli_ok(&url, dir.path(), &["demo", "--incidents", "5", "--force"]);
        assert!(forced.contains("demo loaded"), "{forced}");
    })
    .await
    .expect("demo");
}

/// Given a certificate and its key, atiende speaks HTTPS itself: pages and health answer over
/// TLS, cookies are `Secure` and HSTS is sent, plain HTTP gets no page, and a connection that
/// never finishes its handshake is let go. (TLS does not depend on the engine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_a_certificate_the_service_speaks_https_only() {
    let db = TestDb::new(atiende_store::Engine::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert");
    std::fs::write(&key, made.key_pair.serialize_pem()).expect("key");
    let der = made.cert.der().to_vec();
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let server = Server::start(
            &url,
            dir.path(),
            &[
                ("ATIENDE_TLS_CERTIFICATE", cert.to_str().expect("path")),
                ("ATIENDE_TLS_KEY", key.to_str().expect("path")),
                ("ATIENDE_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ],
        );
        let port = server.base.rsplit(':').next().expect("port").to_string();
        assert!(
            server
                .banner
                .iter()
                .any(|l| l.contains("https://127.0.0.1:")),
            "the banner names the https address: {:?}",
            server.banner
        );
        let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
            ureq::tls::Certificate::from_der(&der).to_owned(),
        ]));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        let https = format!("https://localhost:{port}");
        let health = agent
            .get(&format!("{https}/healthz"))
            .call()
            .expect("healthz over TLS");
        assert_eq!(health.status(), 200);
        let login = agent
            .get(&format!("{https}/login"))
            .call()
            .expect("login page");
        assert_eq!(login.status(), 200);
        let hsts = login
            .headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok());
        assert_eq!(hsts, Some("max-age=31536000"));
        for cookie in login.headers().get_all("set-cookie") {
            let cookie = cookie.to_str().expect("cookie");
            assert!(cookie.contains("; Secure"), "{cookie}");
        }

        // A client that offers HTTP/2 gets it: the server's first frame is its SETTINGS.
        {
            use std::io::{Read, Write};
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(rustls::pki_types::CertificateDer::from(der.clone()))
                .expect("root");
            let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            let client =
                rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
            let tcp = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("tcp");
            let mut tls = rustls::StreamOwned::new(client, tcp);
            tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                .expect("preface");
            let mut frame = [0u8; 9];
            tls.read_exact(&mut frame).expect("a frame");
            assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
            assert_eq!(frame[3], 0x4, "SETTINGS");
        }

        // Plain HTTP on the same port is a failed handshake, not a page.
        let plain = ureq::get(&format!("http://127.0.0.1:{port}/healthz")).call();
        assert!(plain.is_err(), "{plain:?}");
        // A connection that never says hello is closed after the header time limit.
        use std::io::Read;
        let mut idle = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
        idle.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let started = std::time::Instant::now();
        let mut buf = [0u8; 16];
        let read = idle.read(&mut buf);
        assert!(matches!(read, Ok(0)) || read.is_err(), "{read:?}");
        assert!(started.elapsed() < Duration::from_secs(8), "let go in time");
        drop(server);
    })
    .await
    .expect("tls");
}

/// HAProxy (Debian's) in front of `backends`, round robin with health checks on `/readyz`,
/// naming the instance that answered in `x-backend`. Killed when dropped.
struct Haproxy {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Haproxy {
    fn start(backends: &[u16]) -> Haproxy {
        let binary = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "this test needs HAProxy. Run the suite with `scripts/test`, which installs \
                     it, or `apt-get install haproxy`."
                )
            });
        let dir = tempfile::tempdir().expect("dir");
        let port = free_port();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(n, p)| format!("    server a{} 127.0.0.1:{p} check\n", n + 1))
            .collect();
        let config = format!(
            "global\n    maxconn 2000\n\
             defaults\n    mode http\n    option forwardfor\n    option redispatch\n    retries 3\n\
             \x20   timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout tunnel 1h\n\
             frontend web\n    bind 127.0.0.1:{port}\n    default_backend atiende\n\
             backend atiende\n    balance roundrobin\n    option httpchk GET /readyz\n\
             \x20   http-response set-header x-backend %s\n\
             \x20   default-server inter 300ms fall 1 rise 2\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("config");
        let child = Command::new(binary)
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if ureq::get(&format!("{base}/healthz")).call().is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Haproxy {
            child,
            base,
            _dir: dir,
        }
    }
}

/// Several instances on one PostgreSQL behind HAProxy: a console session works on any of them,
/// an incident created through one reaches a live stream held by another, each survey
/// invitation (WhatsApp and email) and each answer by email goes once and the day's retention
/// run happens once however many workers run, and an instance stopped (SIGTERM) during
/// intake loses no acknowledged incident and rejoins when started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_behind_haproxy_act_as_one() {
    use atiende_domain::survey::SurveyPolicy;
    let db = TestDb::new(atiende_store::Engine::Postgres).await;
    // Invitations leave as soon as the incident closes.
    let policy = SurveyPolicy {
        delay_hours: 0,
        ..SurveyPolicy::default()
    };
    db.save_setting(
        atiende_store::Actor::System,
        atiende_store::settings::key::SURVEY_POLICY,
        &policy,
    )
    .await
    .expect("policy");
    // Answers and invitations by email leave through the local mail server.
    atiende_store::testing::require_mail_server();
    db.save_mailbox(
        atiende_store::Actor::System,
        &atiende_store::testing::sending_mailbox(),
    )
    .await
    .expect("mailbox");
    let stamp = std::process::id().to_string() + &chrono_stamp();
    let writers: Vec<String> = (0..4)
        .map(|n| format!("persona{n}-cluster-{stamp}@test.local"))
        .collect();
    // A person blocked more than the legal period ago, due for suppression by the daily run
    // that one of the three workers claims.
    let blocked = db
        .create_contact(
            atiende_store::Actor::System,
            &atiende_domain::contact::ContactInput {
                name: Some("Persona bloqueada".into()),
                phones: Some(vec!["3399990000".into()]),
                ..Default::default()
            },
        )
        .await
        .expect("contact");
    db.block_contact(atiende_store::Actor::System, blocked.id, "Solicitud ARCO")
        .await
        .expect("block");
    db.execute("UPDATE contacts SET blocked_at = blocked_at - CAST(400 AS BIGINT) * 86400000 WHERE blocked_at IS NOT NULL")
        .await;
    db.save_setting(
        atiende_store::Actor::System,
        atiende_store::settings::key::RETENTION_POLICY,
        &atiende_domain::privacy::RetentionPolicy {
            blocked_days: Some(365),
            ..Default::default()
        },
    )
    .await
    .expect("retention policy");
    let graph = atiende_channels::chat::stand_in::GraphStandIn::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        "worker_interval_seconds = 1\ntrusted_proxies = [\"127.0.0.1\"]\nmax_connections_per_address = 0\n\
         shutdown_grace_seconds = 1\n\
         [meta]\ngraph_url = \"{}\"\napp_secret = \"secreto-de-la-app\"\nverify_token = \"verificar\"\n\
         whatsapp = [{{ id = \"106540352242922\", access_token = \"wa-token\" }}]\n",
        graph.graph_url
    );
    std::fs::write(dir.path().join("atiende.toml"), config).expect("config");
    let url = db.url.clone();
    let (graph_sent, figures) = {
        let graph = std::sync::Arc::new(graph);
        let g = graph.clone();
        let people = writers.clone();
        let figures =
            tokio::task::spawn_blocking(move || cluster_story(&url, dir.path(), &g, &people))
                .await
                .expect("cluster story");
        (graph.sent(), figures)
    };
    // Each email once: every writer got the answer and the invitation, one of each.
    for person in &writers {
        let received = fetch_all(person).await;
        let answers = received
            .iter()
            .filter(|m| m.contains("Los resultados se publican"))
            .count();
        let invitations = received.iter().filter(|m| m.contains("/encuesta/")).count();
        assert_eq!((answers, invitations), (1, 1), "{person}: {received:?}");
    }
    // The day's retention run: one worker claimed it, the person was suppressed once.
    let suppressed = db
        .audit(&atiende_store::audit::AuditQuery {
            entity_id: Some(blocked.id.0.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "contact.anonymise")
        .count();
    assert_eq!(
        suppressed, 1,
        "one retention run suppressed the person once"
    );
    // Each invitation once: one survey message per person, however many workers claimed.
    let mut invited: Vec<String> = graph_sent
        .iter()
        .filter(|s| {
            s.body["text"]["body"]
                .as_str()
                .is_some_and(|t| t.contains("/encuesta/"))
        })
        .filter_map(|s| s.body["to"].as_str().map(str::to_string))
        .collect();
    invited.sort();
    let people = invited.len();
    invited.dedup();
    assert_eq!(invited.len(), 6, "{graph_sent:?}");
    assert_eq!(people, 6, "an invitation went twice: {graph_sent:?}");
    // Every acknowledged incident is there, once; none is there twice.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect");
    let rows = sqlx::query(
        "SELECT subject, COUNT(*) AS n FROM incidents WHERE subject LIKE 'Intake%' GROUP BY subject",
    )
    .fetch_all(&mut conn)
    .await
    .expect("count");
    let stored: std::collections::BTreeMap<String, i64> = rows
        .iter()
        .map(|r| (sqlx::Row::get(r, "subject"), sqlx::Row::get(r, "n")))
        .collect();
    for subject in &figures.acknowledged {
        assert_eq!(stored.get(subject), Some(&1), "{subject}");
    }
    assert!(stored.values().all(|n| *n == 1), "{stored:?}");
    println!(
        "three instances behind HAProxy: {} incidents acknowledged during the stop, {} failed ({:?}), instance back in {:?}",
        figures.acknowledged.len(),
        figures.failed.len(),
        figures.failed,
        figures.rejoined_in
    );
}

struct ClusterFigures {
    acknowledged: Vec<String>,
    failed: Vec<u16>,
    rejoined_in: Duration,
}

fn cluster_story(
    url: &str,
    dir: &std::path::Path,
    graph: &atiende_channels::chat::stand_in::GraphStandIn,
    writers: &[String],
) -> ClusterFigures {
    let config = dir.join("atiende.toml");
    let envs = [
        ("ATIENDE_CONFIG", config.to_str().expect("path")),
        ("ATIENDE_ADMIN_PASSWORD", "clave-admin-segura"),
    ];
    let ports = [free_port(), free_port(), free_port()];
    // One after the other: the first one migrates, the others find the schema current.
    let mut servers: Vec<Server> = ports
        .iter()
        .map(|p| Server::start_on(*p, url, dir, &envs))
        .collect();
    let lb = Haproxy::start(&ports);

    // A console session made through the balancer works on whichever instance answers.
    let mut http = Http::new(&lb.base);
    assert_eq!(http.login("admin", "clave-admin-segura"), 200);
    let cookie = format!("atiende_session={}", http.cookie.clone().expect("session"));
    let mut answered_by = std::collections::BTreeSet::new();
    for _ in 0..9 {
        let reply = ureq::get(&format!("{}/bandeja", lb.base))
            .header("cookie", &cookie)
            .call()
            .expect("queue");
        assert_eq!(reply.status(), 200);
        if let Some(b) = reply
            .headers()
            .get("x-backend")
            .and_then(|v| v.to_str().ok())
        {
            answered_by.insert(b.to_string());
        }
    }
    assert_eq!(answered_by.len(), 3, "{answered_by:?}");

    // A live stream held by instance 1 hears of an incident created through instance 2.
    let mut stream =
        std::net::TcpStream::connect(format!("127.0.0.1:{}", ports[0])).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    use std::io::Write;
    write!(
        stream,
        "GET /eventos HTTP/1.1\r\nHost: atiende\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n"
    )
    .expect("subscribe");
    let mut events = BufReader::new(stream.try_clone().expect("clone"));
    let mut other = Http::new(&format!("http://127.0.0.1:{}", ports[1]));
    other.cookie = http.cookie.clone();
    other.csrf = http.csrf.clone();
    let (status, contact) = other.send(
        "POST",
        "/api/v1/contacts",
        Some(json!({"name": "Sofía Ramos", "phones": ["3311112222"]})),
    );
    assert_eq!(status, 201, "{contact}");
    let (status, created) = other.send(
        "POST",
        "/api/v1/incidents",
        Some(json!({"channel": "phone", "contact_id": contact["id"], "subject": "Constancia de estudios"})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().expect("id");
    let heard = std::time::Instant::now();
    let mut line = String::new();
    let mut last_event = String::new();
    loop {
        line.clear();
        events.read_line(&mut line).expect("the stream goes on");
        if let Some(name) = line.strip_prefix("event:") {
            last_event = name.trim().to_string();
        }
        if let Some(data) = line.strip_prefix("data:")
            && last_event == "incidents"
            && data.trim().parse::<i64>().is_ok_and(|latest| latest >= id)
        {
            break;
        }
        assert!(heard.elapsed() < Duration::from_secs(15), "never heard");
    }
    drop(events);
    drop(stream);

    // Six people write on WhatsApp; the CAP closes each; three workers share the sending.
    let now = chrono::Utc::now();
    for n in 0..6 {
        let from = format!("52133100000{n:02}");
        let payload = json!({ "object": "whatsapp_business_account", "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "523331345678", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": format!("Persona {n}") }, "wa_id": from }],
            "messages": [{ "from": from, "id": format!("wamid.cluster.{n}"), "timestamp": now.timestamp().to_string(),
                           "type": "text", "text": { "body": "¿Ya salieron los resultados?" } }] }}]}]});
        assert_eq!(signed(&lb.base, "/webhooks/whatsapp", &payload), 200);
    }
    let (_, list) = http.send("GET", "/api/v1/incidents?channel=whatsapp&limit=50", None);
    let folios: Vec<String> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i["folio"].as_str().map(str::to_string))
        .collect();
    assert_eq!(folios.len(), 6, "{list}");
    for folio in &folios {
        let (status, body) = http.send(
            "POST",
            &format!("/api/v1/incidents/{folio}/classify"),
            Some(json!({"user_type": "applicant", "incident_type": "question"})),
        );
        assert_eq!(status, 200, "{body}");
        let (status, body) = http.send(
            "POST",
            &format!("/api/v1/incidents/{folio}/close"),
            Some(json!({"notes": "Se informó la fecha de publicación de resultados."})),
        );
        assert_eq!(status, 200, "{body}");
    }
    // Four people write by email (as the console registers it); each gets an answer and,
    // once closed, an invitation by email.
    for person in writers {
        let (status, contact) = http.send(
            "POST",
            "/api/v1/contacts",
            Some(json!({"name": "Persona por correo", "emails": [person]})),
        );
        assert_eq!(status, 201, "{contact}");
        let (status, created) = http.send(
            "POST",
            "/api/v1/incidents",
            Some(json!({"channel": "email", "contact_id": contact["id"], "subject": "Resultados de admisión",
                        "user_type": "applicant", "incident_type": "question"})),
        );
        assert_eq!(status, 201, "{created}");
        let folio = created["folio"].as_str().expect("folio");
        let (status, body) = http.send(
            "POST",
            &format!("/api/v1/incidents/{folio}/notes"),
            Some(json!({"kind": "answer", "body": "Los resultados se publican el viernes."})),
        );
        assert_eq!(status, 201, "{body}");
        let (status, body) = http.send(
            "POST",
            &format!("/api/v1/incidents/{folio}/close"),
            Some(json!({"notes": "Se informó la fecha de publicación de resultados."})),
        );
        assert_eq!(status, 200, "{body}");
    }
    let waited = std::time::Instant::now();
    while waited.elapsed() < Duration::from_secs(30) {
        let (_, outbox) = http.send("GET", "/api/v1/outbox?limit=200", None);
        let waiting = outbox["items"]
            .as_array()
            .is_none_or(|items| items.iter().any(|m| m["status"] != "done"));
        if graph.sent().len() >= 6 && !waiting {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Rounds of all three workers pass: nothing more may go.
    std::thread::sleep(Duration::from_secs(3));

    // Intake through the balancer while instance 3 is stopped.
    let stop_at = Duration::from_millis(800);
    let base = lb.base.clone();
    let session = (http.cookie.clone(), http.csrf.clone());
    let contact_id = contact["id"].as_i64().expect("contact");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let base = base.clone();
            let session = session.clone();
            std::thread::spawn(move || {
                let mut http = Http::new(&base);
                (http.cookie, http.csrf) = session;
                let (mut ok, mut failed) = (Vec::new(), Vec::new());
                let started = std::time::Instant::now();
                let mut n = 0;
                while started.elapsed() < Duration::from_secs(3) {
                    n += 1;
                    let subject = format!("Intake{w}x{n}");
                    // A connection closed under a request is a failure too (status 0).
                    let status = http
                        .try_send(
                            "POST",
                            "/api/v1/incidents",
                            json!({"channel": "phone", "contact_id": contact_id, "subject": subject}),
                        )
                        .unwrap_or(0);
                    if status == 201 {
                        ok.push(subject);
                    } else {
                        failed.push(status);
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    std::thread::sleep(stop_at);
    let mut third = servers.pop().expect("third");
    assert!(third.stop(), "a graceful stop");
    let (mut acknowledged, mut failed) = (Vec::new(), Vec::new());
    for w in writers {
        let (ok, bad) = w.join().expect("writer");
        acknowledged.extend(ok);
        failed.extend(bad);
    }
    assert!(!acknowledged.is_empty());
    assert!(
        failed.len() <= 4,
        "only requests in flight on the stopped instance may fail: {failed:?}"
    );

    // Started again on its port, it takes requests once its checks pass.
    let back = std::time::Instant::now();
    servers.push(Server::start_on(ports[2], url, dir, &envs));
    let rejoined_in = loop {
        let reply = ureq::get(&format!("{}/healthz", lb.base))
            .call()
            .expect("health");
        if reply
            .headers()
            .get("x-backend")
            .and_then(|v| v.to_str().ok())
            == Some("a3")
        {
            break back.elapsed();
        }
        assert!(back.elapsed() < Duration::from_secs(20), "never rejoined");
        std::thread::sleep(Duration::from_millis(50));
    };
    ClusterFigures {
        acknowledged,
        failed,
        rejoined_in,
    }
}

/// The restore drill of docs/OPERATIONS.md on each engine: a backup taken while incidents are
/// being written (`atiende backup` on SQLite, `pg_dump` on PostgreSQL), restored into a fresh
/// database that a new instance serves, holds every incident acknowledged before the backup
/// began, passes the engine's integrity check, and counts in its indicators what it holds.
async fn a_backup_taken_while_writing_restores_every_incident_acknowledged_before_it(db: TestDb) {
    let engine = db.engine();
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    // The restored copy: a file on SQLite, a new database on PostgreSQL.
    let (restored_url, pg_name) = match engine {
        atiende_store::Engine::Sqlite => (
            format!("sqlite://{}", dir.path().join("copia.db").display()),
            None,
        ),
        atiende_store::Engine::Postgres => {
            let name = format!("{}_restored", db.url.rsplit('/').next().expect("name"));
            db.execute_admin(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create");
            let base = db.url.rsplit_once('/').expect("url").0;
            (format!("{base}/{name}"), Some(name))
        }
    };
    let restored = restored_url.clone();
    let (before, story) = tokio::task::spawn_blocking(move || {
        let server = Server::start(
            &url,
            dir.path(),
            &[
                ("ATIENDE_ADMIN_PASSWORD", "clave-admin-segura"),
                ("ATIENDE_WORKER", "false"),
            ],
        );
        let (http, contact_id) = support::admin_with_a_person(&server.base);
        let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let writer = {
            let (writing, acknowledged) = (writing.clone(), acknowledged.clone());
            let (base, cookie, csrf) =
                (server.base.clone(), http.cookie.clone(), http.csrf.clone());
            std::thread::spawn(move || {
                let mut http = Http::new(&base);
                (http.cookie, http.csrf) = (cookie, csrf);
                let mut n = 0;
                while writing.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let subject = format!("Respaldo{n}");
                    let body =
                        json!({"channel": "phone", "contact_id": contact_id, "subject": subject});
                    if http.try_send("POST", "/api/v1/incidents", body) == Some(201) {
                        acknowledged.lock().expect("list").push(subject);
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(700));
        // Everything acknowledged up to here must be in the copy.
        let before: Vec<String> = acknowledged.lock().expect("list").clone();
        match engine {
            atiende_store::Engine::Sqlite => {
                let file = restored.trim_start_matches("sqlite://");
                let out = cli_ok(&url, dir.path(), &["backup", file]);
                assert!(std::path::Path::new(file).exists(), "{out}");
            }
            atiende_store::Engine::Postgres => {
                let dump = dir.path().join("atiende.dump");
                let status = Command::new("pg_dump")
                    .args(["--format=custom", "--file"])
                    .arg(&dump)
                    .arg(&url)
                    .status()
                    .expect("pg_dump (run the suite with scripts/test)");
                assert!(status.success());
                let status = Command::new("pg_restore")
                    .args(["--no-owner", "--exit-on-error", "--dbname", &restored])
                    .arg(&dump)
                    .status()
                    .expect("pg_restore");
                assert!(status.success());
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        writing.store(false, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
        drop(server);

        // A new instance serves the copy.
        let copy = Server::start(&restored, dir.path(), &[("ATIENDE_WORKER", "false")]);
        let ready = ureq::get(&format!("{}/readyz", copy.base))
            .call()
            .expect("readyz");
        assert_eq!(ready.status(), 200);
        let mut http = Http::new(&copy.base);
        assert_eq!(
            http.login("admin", "clave-admin-segura"),
            200,
            "the same accounts"
        );
        let (status, _) = http.send("GET", "/api/v1/incidents?limit=5", None);
        assert_eq!(status, 200);
        drop(copy);
        (before, dir)
    })
    .await
    .expect("drill");
    let _dir = story;
    assert!(!before.is_empty(), "writes happened before the backup");
    let copy = atiende_store::Store::connect(&restored_url, atiende_store::db::DEFAULT_TZ)
        .await
        .expect("open the copy");
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&restored_url)
        .await
        .expect("connect to the copy");
    if engine == atiende_store::Engine::Sqlite {
        let row = sqlx::query("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .expect("integrity");
        assert_eq!(sqlx::Row::get::<String, _>(&row, 0), "ok");
    }
    let rows = sqlx::query("SELECT subject FROM incidents WHERE subject LIKE 'Respaldo%'")
        .fetch_all(&mut conn)
        .await
        .expect("subjects");
    let held: std::collections::BTreeSet<String> =
        rows.iter().map(|r| sqlx::Row::get(r, "subject")).collect();
    for subject in &before {
        assert!(held.contains(subject), "{subject} lost in the copy");
    }
    // The indicators in the copy count exactly the incidents it holds.
    let counted = copy.period_rollup(0, 999_999, false).await.expect("rollup");
    let total: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM incidents")
            .fetch_one(&mut conn)
            .await
            .expect("count"),
        "n",
    );
    assert_eq!(counted.totals.incidents, total);
    drop(conn);
    copy.close().await;
    if let Some(name) = pg_name {
        let _ = db
            .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

/// The light path of mail delivery: `atiende mail ingest --via` hands the message to the
/// running service, so the delivery program works without any database (here: an unreachable
/// one). Stored once; anything that is not a stored message asks the mail server to retry.
async fn mail_handed_to_the_running_service_needs_no_database_and_is_retried_when_refused(
    db: TestDb,
) {
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let count = tokio::task::spawn_blocking(move || {
        let mut server = Server::start(
            &url,
            dir.path(),
            &[("ATIENDE_MAIL_INGEST_TOKEN", "token-de-entrega-de-correo")],
        );
        let nowhere = "postgres://nadie@127.0.0.1:1/ninguna";
        let base = server.base.clone();
        let raw = b"From: Rosa <rosa@gmail.com>\r\nTo: cap@udgvirtual.udg.mx\r\nSubject: Kardex\r\nMessage-ID: <via1@gmail.com>\r\n\r\nNo veo mi kardex\r\n";
        let deliver = |args: &[&str], token: Option<&str>| {
            let mut cmd = atiende(nowhere, dir.path());
            cmd.args(["mail", "ingest", "--via", &base]).args(args);
            if let Some(t) = token {
                cmd.env("ATIENDE_MAIL_INGEST_TOKEN", t);
            }
            run_with_stdin(cmd, raw)
        };
        let (code, out, err) = deliver(&[], Some("token-de-entrega-de-correo"));
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.contains("\"created\""), "{out}");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "token-de-entrega-de-correo\n").expect("token file");
        let (code, out, _) = deliver(&["--token-file", token_file.to_str().expect("path")], None);
        assert_eq!(code, Some(0));
        assert!(out.contains("\"duplicate\""), "a redelivery is recognised: {out}");
        for (args, token) in [
            (vec![], Some("otro-token")),
            (vec!["--mailbox", "No existe"], Some("token-de-entrega-de-correo")),
        ] {
            let (code, _, err) = deliver(&args, token);
            assert_eq!(code, Some(75), "{err}");
        }
        assert!(server.stop());
        let (code, _, err) = deliver(&[], Some("token-de-entrega-de-correo"));
        assert_eq!(code, Some(75), "a stopped service: the mail server keeps it: {err}");
        dir
    })
    .await
    .expect("delivery story");
    drop(count);
    let filter = atiende_store::incidents::IncidentFilter {
        limit: 10,
        ..Default::default()
    };
    let stored = db
        .incidents(&atiende_domain::access::Scope::All, &filter)
        .await
        .expect("incidents");
    assert_eq!(stored.len(), 1, "stored once");
    assert_eq!(
        stored[0].incident.channel,
        atiende_domain::classification::Channel::Email
    );
}

/// The container recipe (dist/container/Containerfile) cannot be built here (no registry to
/// pull images from); what it runs can be: the binary with the image's ENV (the state directory
/// and port moved to this test's), and the image's health check before and after a stop.
async fn the_container_recipe_serves_from_its_environment_and_reports_health(db: TestDb) {
    let recipe = include_str!("../../../dist/container/Containerfile");
    let env_line = recipe
        .lines()
        .find(|l| l.starts_with("ENV "))
        .expect("ENV in the recipe");
    let mut envs: Vec<(String, String)> = env_line["ENV ".len()..]
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(
        envs.iter()
            .any(|(k, v)| k == "ATIENDE_LISTEN" && v == "0.0.0.0:8080")
    );
    assert!(
        recipe.contains(r#"HEALTHCHECK --interval=10s --timeout=5s --start-period=30s CMD ["/usr/bin/atiende", "health"]"#)
            && recipe.contains("USER 10001"),
        "the health check and the non-root user this test runs"
    );
    let port = free_port();
    for (k, v) in &mut envs {
        match k.as_str() {
            "ATIENDE_LISTEN" => *v = format!("0.0.0.0:{port}"),
            // The image's volume; here the test's database, on either engine.
            "ATIENDE_DATABASE_URL" => v.clone_from(&db.url),
            _ => {}
        }
    }
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || {
        let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut server = Server::start_on(port, &url, dir.path(), &pairs);
        let health = || {
            atiende(&url, dir.path())
                .envs(pairs.iter().copied())
                .arg("health")
                .output()
                .expect("health")
        };
        let ok = health();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(server.stop());
        let down = health();
        assert_eq!(
            down.status.code(),
            Some(1),
            "a stopped service is unhealthy"
        );
    })
    .await
    .expect("container story");
}

/// Without a key given: on SQLite atiende makes one beside the database (owner-only) and seals
/// with it — here a secret an older version kept in plain text, sealed by `secrets rotate`; on
/// PostgreSQL it refuses to start, since every instance must share the key.
async fn the_secrets_key_is_made_beside_a_sqlite_database_and_required_with_postgres(db: TestDb) {
    db.execute("INSERT INTO settings (key, value) VALUES ('secret.legado', '\"valor-llano-qz\"')")
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let url = db.url.clone();
    let sqlite = url.starts_with("sqlite");
    let out = tokio::task::spawn_blocking(move || {
        let run = || {
            atiende(&url, dir.path())
                .env_remove("ATIENDE_SECRETS_KEY")
                .args(["secrets", "rotate"])
                .output()
                .expect("atiende secrets rotate")
        };
        let first = run();
        let again = run();
        let key = atiende(&url, dir.path())
            .args(["secrets", "new-key"])
            .output()
            .expect("new-key");
        (first, again, key, dir)
    })
    .await
    .expect("secrets story");
    let (first, again, key, _dir) = out;
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert_eq!(
        String::from_utf8_lossy(&key.stdout).trim().len(),
        44,
        "32 bytes in base64"
    );
    if sqlite {
        assert!(first.status.success(), "{}", text(&first));
        assert!(
            text(&first).contains("1 secret(s) sealed"),
            "{}",
            text(&first)
        );
        assert!(
            text(&again).contains("0 secret(s) sealed"),
            "{}",
            text(&again)
        );
        let file = format!("{}.key", db.url.trim_start_matches("sqlite://"));
        let mode = std::fs::metadata(&file)
            .expect("the key file")
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600, "readable by its owner only");
        assert!(
            db.columns_containing("valor-llano-qz").await.is_empty(),
            "sealed"
        );
    } else {
        assert!(!first.status.success());
        assert!(
            text(&first).contains("the same secrets key"),
            "{}",
            text(&first)
        );
    }
}

//! Personal data and channels by API: an ARCO request handled end to end (file, block,
//! suppression, the access log), notices and retention; mailboxes that keep their secrets,
//! the call log with its missed calls, templates and attachments.

use atiende_domain::access::TokenScopes;
use atiende_domain::call::{CallDirection, CallEvent, CallEventInput, HangupCause};
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, TestApp};

atiende_store::on_both_engines!(
    an_arco_request_is_handled_by_api_and_every_step_is_in_the_access_log,
    privacy_notices_and_retention_are_set_by_api_with_a_dry_run,
    mailboxes_calls_and_templates_are_reached_by_api,
);

/// An administrator's token with only the personal-data scope.
async fn privacy_officer(app: &TestApp) -> Auth {
    let user = app.staff("arco", Role::Admin, vec![]).await;
    let scopes = TokenScopes::parse(["personal_data"]).expect("scope");
    let (_, token) = app
        .db
        .create_api_token(Actor::System, user.id, "ARCO", &scopes, None)
        .await
        .expect("token");
    Auth::Bearer(token)
}

async fn an_arco_request_is_handled_by_api_and_every_step_is_in_the_access_log(db: TestDb) {
    let app = TestApp::new(db).await;
    let lead = app.token_for("lider", Role::CapLead, vec![]).await;
    let contact = app
        .post(
            "/api/v1/contacts",
            &lead,
            json!({"name": "Marisol Ortega", "emails": ["marisol@alumnos.udg.mx"]}),
        )
        .await;
    let id = contact.json["id"].as_i64().expect("contact");
    let incident = app
        .post(
            "/api/v1/incidents",
            &lead,
            json!({"channel": "email", "contact_id": id, "subject": "Constancia"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let officer = privacy_officer(&app).await;

    let file = app
        .get(&format!("/api/v1/contacts/{id}/personal-file"), &officer)
        .await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.json);
    assert_eq!(file.json["contact"]["name"], "Marisol Ortega");
    assert_eq!(
        file.json["incidents"][0]["incident"]["folio"],
        folio.as_str()
    );

    // Suppression asks for confirmation and comes only after the block.
    let unconfirmed = app
        .post(
            &format!("/api/v1/contacts/{id}/suppress"),
            &officer,
            json!({}),
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unconfirmed.json["error"]["fields"][0]["field"], "confirm");
    let too_soon = app
        .post(
            &format!("/api/v1/contacts/{id}/suppress"),
            &officer,
            json!({"confirm": true}),
        )
        .await;
    assert_eq!(too_soon.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        too_soon.json["error"]["fields"][0]["code"],
        "block_before_suppressing"
    );
    assert!(
        !too_soon.json["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("contact"),
        "no internal name in the message: {}",
        too_soon.json
    );
    let blocked = app
        .post(
            &format!("/api/v1/contacts/{id}/block"),
            &officer,
            json!({"reason": "Solicitud ARCO 2026-014"}),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::OK, "{}", blocked.json);
    assert!(blocked.json["blocked_at"].is_string());
    let seen_by_lead = app.get(&format!("/api/v1/incidents/{folio}"), &lead).await;
    assert_eq!(seen_by_lead.json["contact_blocked"], true);
    assert!(seen_by_lead.json["contact"].is_null(), "out of normal use");
    let unblocked = app
        .post(
            &format!("/api/v1/contacts/{id}/unblock"),
            &officer,
            json!({"reason": "Bloqueado por error"}),
        )
        .await;
    assert!(unblocked.json["blocked_at"].is_null());
    app.post(
        &format!("/api/v1/contacts/{id}/block"),
        &officer,
        json!({"reason": "Solicitud ARCO 2026-014"}),
    )
    .await;
    let suppressed = app
        .post(
            &format!("/api/v1/contacts/{id}/suppress"),
            &officer,
            json!({"confirm": true}),
        )
        .await;
    assert_eq!(suppressed.status, StatusCode::OK, "{}", suppressed.json);
    assert_eq!(suppressed.json["contacts"], 1);
    assert_eq!(suppressed.json["incidents"], 1);
    assert!(
        app.db.columns_containing("Marisol").await.is_empty(),
        "no column keeps the name"
    );

    // Every step, newest first, a page at a time, and only for the personal-data scope.
    let log = app
        .get(
            &format!("/api/v1/personal-data/access-log?contact_id={id}&limit=3"),
            &officer,
        )
        .await;
    let actions: Vec<&str> = log.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["anonymise", "block", "unblock"], "{}", log.json);
    let cursor = log.json["next_cursor"].as_str().expect("more");
    let older = app
        .get(
            &format!("/api/v1/personal-data/access-log?contact_id={id}&limit=3&cursor={cursor}"),
            &officer,
        )
        .await;
    let older: Vec<&str> = older.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(older[0], "block");
    assert!(older.contains(&"export"), "the file's export: {older:?}");
    let admin_read_only = app.token_for("admin2", Role::Admin, vec![]).await;
    assert_eq!(
        app.get("/api/v1/personal-data/access-log", &admin_read_only)
            .await
            .status,
        StatusCode::OK,
        "an administrator's full token reaches it too"
    );
    assert_eq!(
        app.get("/api/v1/personal-data/access-log", &lead)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

async fn privacy_notices_and_retention_are_set_by_api_with_a_dry_run(db: TestDb) {
    let app = TestApp::new(db).await;
    let officer = privacy_officer(&app).await;
    let published = app
        .post(
            "/api/v1/privacy-notices",
            &officer,
            json!({"kind": "simplified", "body": "Aviso simplificado, versión de prueba."}),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.json);
    let simplified = app
        .get("/api/v1/privacy-notices?kind=simplified", &officer)
        .await;
    assert_eq!(
        simplified.json[0]["body"],
        "Aviso simplificado, versión de prueba."
    );
    assert!(
        simplified
            .json
            .as_array()
            .expect("versions")
            .iter()
            .all(|n| n["kind"] == "simplified")
    );
    let empty = app
        .post(
            "/api/v1/privacy-notices",
            &officer,
            json!({"kind": "integral", "body": "  "}),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);

    // An incident closed today: not yet due under a one-day period. The dry run counts, by
    // category, and changes nothing.
    app.closed_incident().await;
    let saved = app
        .call(
            Method::PUT,
            "/api/v1/personal-data/retention",
            &officer,
            Some(json!({"closed_incident_days": 1})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);
    assert_eq!(
        app.get("/api/v1/personal-data/retention", &officer)
            .await
            .json["closed_incident_days"],
        1
    );
    let dry = app
        .get("/api/v1/personal-data/retention/dry-run", &officer)
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.json);
    assert_eq!(
        dry.json,
        json!({"blocked_contacts": 0, "incidents": 0, "attachments": 0, "surveys": 0}),
        "closed today: not yet due"
    );
    let wrong = app
        .call(
            Method::PUT,
            "/api/v1/personal-data/retention",
            &officer,
            Some(json!({"attachment_days": 0})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.json["error"]["fields"][0]["field"], "attachment_days");
}

fn call(event: CallEvent, call_id: &str) -> CallEventInput {
    CallEventInput {
        event,
        call_id: call_id.into(),
        direction: CallDirection::In,
        from: "3398765432".into(),
        to: "3331345678".into(),
        users: vec![],
        answering_number: None,
    }
}

async fn mailboxes_calls_and_templates_are_reached_by_api(db: TestDb) {
    let mut config = crate::helpers::config();
    config.meta.templates = vec![atiende_domain::chat::Template {
        name: "seguimiento".into(),
        language: "es_MX".into(),
        text: "Seguimos con su folio {{1}}.".into(),
    }];
    let app = TestApp::with_config(db, config).await;
    let admin = app.token_for("admin2", Role::Admin, vec![]).await;
    let mailbox = json!({"name": "cap", "address": "cap@udgvirtual.udg.mx", "imap_host": "127.0.0.1",
        "imap_user": "cap", "imap_password": "secreto-imap", "smtp_host": "127.0.0.1", "smtp_user": "cap",
        "smtp_password": "secreto-smtp"});
    let saved = app.post("/api/v1/mailboxes", &admin, mailbox).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);
    assert!(
        !saved.json.to_string().contains("secreto"),
        "secrets never shown: {}",
        saved.json
    );
    // Changed without its passwords: they stay.
    let renamed = app
        .post(
            "/api/v1/mailboxes",
            &admin,
            json!({"name": "cap", "address": "atencion@udgvirtual.udg.mx", "imap_host": "127.0.0.1", "imap_user": "cap", "smtp_host": "127.0.0.1", "smtp_user": "cap"}),
        )
        .await;
    assert_eq!(renamed.json["address"], "atencion@udgvirtual.udg.mx");
    let stored = &app.db.mailboxes().await.expect("mailboxes")[0];
    assert_eq!(stored.imap_password.expose(), "secreto-imap");
    assert_eq!(stored.smtp_password.expose(), "secreto-smtp");
    let listed = app.get("/api/v1/mailboxes", &admin).await;
    assert_eq!(listed.json["items"][0]["name"], "cap");
    let bad = app
        .post(
            "/api/v1/mailboxes",
            &admin,
            json!({"name": "x", "address": "no es correo"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json["error"]["fields"][0]["field"], "address");

    // Two missed calls and one answered; the missed wait until called back.
    for id in ["k-1", "k-2"] {
        app.db
            .record_call_event(&call(CallEvent::NewCall, id))
            .await
            .expect("new");
        app.db
            .record_call_event(&call(CallEvent::Hangup(Some(HangupCause::Cancel)), id))
            .await
            .expect("hangup");
    }
    app.db
        .record_call_event(&call(CallEvent::NewCall, "k-3"))
        .await
        .expect("new");
    app.db
        .record_call_event(&call(CallEvent::Answer, "k-3"))
        .await
        .expect("answer");
    let agent = app.token_for("agente", Role::Agent, vec![]).await;
    let all = app.get("/api/v1/calls?limit=2", &agent).await;
    assert_eq!(all.json["items"][0]["call_id"], "k-3", "newest first");
    assert!(all.json["next_cursor"].is_string());
    let missed = app.get("/api/v1/calls?missed=true", &agent).await;
    let ids: Vec<&str> = missed.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["call_id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["k-2", "k-1"]);
    let first = missed.json["items"][1]["id"].as_i64().expect("id");
    let back = app
        .post(
            &format!("/api/v1/calls/{first}/called-back"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.json);
    assert!(back.json["called_back_at"].is_string());
    assert_eq!(
        app.get("/api/v1/calls?missed=true", &agent).await.json["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );

    let templates = app.get("/api/v1/templates", &agent).await;
    assert_eq!(templates.json[0]["name"], "seguimiento");
    assert_eq!(templates.json[0]["text"], "Seguimos con su folio {{1}}.");

    // An attachment, listed and downloaded as a plain download whatever it claims to be.
    let raw = b"From: Ana <ana@gmail.com>\r\nSubject: Con adjunto\r\nMessage-ID: <api-att@gmail.com>\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHola\r\n--b\r\n\
Content-Type: text/html; name=evil.html\r\nContent-Disposition: attachment; filename=evil.html\r\n\r\n<script>alert(2)</script>\r\n--b--\r\n";
    let email = atiende_channels::email::parse(raw);
    let atiende_store::email::IngestOutcome::Created(id) = app
        .db
        .ingest_email(None, &email, raw)
        .await
        .expect("ingest")
    else {
        panic!("a new incident")
    };
    let folio = app
        .db
        .incident(id)
        .await
        .expect("incident")
        .folio
        .to_string();
    let listed = app
        .get(&format!("/api/v1/incidents/{folio}/attachments"), &agent)
        .await;
    assert_eq!(listed.json[0]["filename"], "evil.html");
    let attachment = listed.json[0]["id"].as_i64().expect("id");
    let download = app
        .get(
            &format!("/api/v1/incidents/{folio}/attachments/{attachment}"),
            &agent,
        )
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.headers["content-type"], "application/octet-stream");
    assert!(
        download.headers["content-disposition"]
            .to_str()
            .unwrap_or_default()
            .starts_with("attachment;")
    );
    let elsewhere = app
        .get(
            &format!("/api/v1/incidents/{folio}/attachments/999999"),
            &agent,
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert_eq!(elsewhere.json["error"]["code"], "not_found");
}

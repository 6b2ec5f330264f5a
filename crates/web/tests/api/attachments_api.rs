//! Files on an answer, through the API (a multipart form on the entries endpoint, beside the
//! JSON it takes) and through the console's answer form: kept on the entry, downloadable by the
//! same rules, queued with the email, refused with the envelope when they are not what they
//! say or too large.

use atiende_domain::user::Role;
use atiende_store::outbox::{Job, JobKind};
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    an_integrator_answers_with_files_and_they_leave_with_the_email,
    a_file_that_is_not_what_it_says_is_refused_naming_it_in_spanish,
    files_over_the_limit_are_refused_with_413_in_the_envelope,
    an_agent_attaches_files_from_the_console_answer_form,
);

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, 9,
];

/// An email incident of a person with an address on record, and a mailbox to send from.
async fn email_incident(app: &TestApp, auth: &Auth) -> String {
    let settings: atiende_store::email::MailboxSettings = serde_json::from_value(json!({
        "name": "CAP",
        "address": "cap@udgvirtual.example",
    }))
    .expect("settings");
    app.db
        .save_mailbox(atiende_store::Actor::System, &settings)
        .await
        .expect("mailbox");
    let contact = app
        .post(
            "/api/v1/contacts",
            auth,
            json!({"name": "Ana López", "emails": ["ana@alumnos.udg.mx"], "user_type": "student"}),
        )
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            auth,
            json!({"channel": "email", "contact_id": contact.json["id"], "subject": "Constancia"}),
        )
        .await;
    assert_eq!(incident.status, StatusCode::CREATED, "{}", incident.json);
    incident.json["folio"].as_str().expect("folio").to_string()
}

async fn queued_answers(app: &TestApp) -> Vec<atiende_store::outbox::OutgoingEmail> {
    app.db
        .claim_outbox(JobKind::EmailSend, 10, 60)
        .await
        .expect("claim")
        .iter()
        .filter_map(|c| match c.job().expect("job") {
            Job::EmailSend(out) if !out.automatic => Some(out),
            _ => None,
        })
        .collect()
}

async fn an_integrator_answers_with_files_and_they_leave_with_the_email(db: TestDb) {
    let app = TestApp::new(db).await;
    let token = app.token_for("integracion", Role::Agent, vec![]).await;
    let folio = email_incident(&app, &token).await;

    let answered = app
        .multipart(
            &format!("/api/v1/incidents/{folio}/notes"),
            &token,
            &[("kind", "answer"), ("body", "Le enviamos su constancia.")],
            &[("constancia.pdf", PDF), ("horario.png", PNG)],
        )
        .await;
    assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.json);
    assert_eq!(answered.json["kind"], "outbound_message");

    let listed = app
        .get(&format!("/api/v1/incidents/{folio}/attachments"), &token)
        .await;
    let files = listed.json.as_array().expect("list");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["filename"], "constancia.pdf");
    assert_eq!(files[0]["content_type"], "application/pdf");
    assert_eq!(files[0]["entry_id"], answered.json["id"]);
    let (status, bytes) = app
        .call_raw(
            &format!("/api/v1/incidents/{folio}/attachments/{}", files[0]["id"]),
            &token,
        )
        .await;
    assert_eq!((status, bytes.as_slice()), (StatusCode::OK, PDF));

    let answers = queued_answers(&app).await;
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].to, "ana@alumnos.udg.mx");
    assert_eq!(answers[0].files.len(), 2);

    // The same endpoint still takes JSON, and a note may carry a file alone.
    let json_note = app
        .post(
            &format!("/api/v1/incidents/{folio}/notes"),
            &token,
            json!({"kind": "note", "body": "Se envió por correo"}),
        )
        .await;
    assert_eq!(json_note.status, StatusCode::CREATED, "{}", json_note.json);
    let file_note = app
        .multipart(
            &format!("/api/v1/incidents/{folio}/notes"),
            &token,
            &[("kind", "note")],
            &[("captura.png", PNG)],
        )
        .await;
    assert_eq!(file_note.status, StatusCode::CREATED, "{}", file_note.json);
}

async fn a_file_that_is_not_what_it_says_is_refused_naming_it_in_spanish(db: TestDb) {
    let app = TestApp::new(db).await;
    let token = app.token_for("integracion", Role::Agent, vec![]).await;
    let folio = email_incident(&app, &token).await;
    let refused = app
        .multipart(
            &format!("/api/v1/incidents/{folio}/notes"),
            &token,
            &[("kind", "answer"), ("body", "Su constancia")],
            &[
                ("constancia.pdf", PDF),
                ("constancia.pdf", b"MZ\x90\x00\x03program"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json["error"]["code"], "validation");
    let field = &refused.json["error"]["fields"][0];
    assert_eq!(field["field"], "files[1]");
    assert_eq!(field["code"], "file_content_mismatch");
    let message = field["message"].as_str().expect("message");
    assert!(
        message.contains("no corresponde a su extensión"),
        "{message}"
    );

    let wrong_kind = app
        .multipart(
            &format!("/api/v1/incidents/{folio}/notes"),
            &token,
            &[("kind", "answer")],
            &[("instalador.exe", b"MZ\x90\x00")],
        )
        .await;
    assert_eq!(
        wrong_kind.json["error"]["fields"][0]["code"],
        "file_type_not_allowed"
    );
    let bad_field = app
        .multipart(
            &format!("/api/v1/incidents/{folio}/notes"),
            &token,
            &[("kind", "postcard")],
            &[("constancia.pdf", PDF)],
        )
        .await;
    assert_eq!(bad_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_field.json["error"]["fields"][0]["field"], "kind");

    assert!(queued_answers(&app).await.is_empty(), "nothing was sent");
    let listed = app
        .get(&format!("/api/v1/incidents/{folio}/attachments"), &token)
        .await;
    assert_eq!(listed.json, json!([]));
}

async fn files_over_the_limit_are_refused_with_413_in_the_envelope(db: TestDb) {
    let app = TestApp::new(db).await;
    let token = app.token_for("integracion", Role::Agent, vec![]).await;
    let folio = email_incident(&app, &token).await;
    let mut big = PDF.to_vec();
    big.resize(9 * 1024 * 1024, b' ');
    let refused = app
        .multipart(
            &format!("/api/v1/incidents/{folio}/notes"),
            &token,
            &[("kind", "answer")],
            &[("a.pdf", &big), ("b.pdf", &big)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(refused.json["error"]["code"], "too_large");
    assert!(queued_answers(&app).await.is_empty());
}

async fn an_agent_attaches_files_from_the_console_answer_form(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let folio = email_incident(&app, &agent).await;
    let Auth::Session { cookie, csrf } = &agent else {
        panic!("a session");
    };
    let page = app.get(&format!("/incidentes/{folio}"), &agent).await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(
        html.contains(r#"enctype="multipart/form-data""#) && html.contains(r#"type="file""#),
        "the answer form takes files"
    );

    let console = Auth::CookieOnly(cookie.clone());
    let refused = app
        .multipart(
            &format!("/incidentes/{folio}/responder"),
            &console,
            &[("body", "Su constancia")],
            &[("constancia.pdf", PDF)],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "no CSRF token, no post"
    );

    let sent = app
        .multipart(
            &format!("/incidentes/{folio}/responder"),
            &console,
            &[("_csrf", csrf), ("body", "Le enviamos su constancia.")],
            &[("constancia.pdf", PDF)],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.json);
    let page = app.get(&format!("/incidentes/{folio}"), &agent).await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(html.contains("constancia.pdf"), "listed on the page");
    assert_eq!(queued_answers(&app).await[0].files.len(), 1);

    // A refused file comes back as the page's error, in Spanish.
    let wrong = app
        .multipart(
            &format!("/incidentes/{folio}/responder"),
            &console,
            &[("_csrf", csrf), ("body", "Otro")],
            &[("foto.png", PDF)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.json.as_str().unwrap_or_default();
    assert!(html.contains("no corresponde a su extensión"), "{html}");
}

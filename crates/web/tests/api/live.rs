//! The console's live stream (`/eventos`): each reader learns only of what they may see, and one
//! person cannot hold more than a few streams open.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use atiende_web::pages::events::STREAMS_PER_USER;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    a_units_responsible_hears_of_incidents_derived_to_their_unit_only,
    one_person_holds_a_few_live_streams_at_most,
    a_new_notification_reaches_the_open_console_with_its_words,
);

/// Opens the stream; its status and, while it is open, its body.
async fn open(app: &TestApp, auth: &Auth) -> (StatusCode, Body) {
    open_at(&app.router, auth, "/eventos").await
}

/// Opens the stream at `path` (an incident page's: `/eventos?incidente=…`) on an instance.
pub async fn open_at(instance: &axum::Router, auth: &Auth, path: &str) -> (StatusCode, Body) {
    let Auth::Session { cookie, .. } = auth else {
        panic!("a console session");
    };
    let request = Request::get(path)
        .header(header::COOKIE, format!("atiende_session={cookie}"))
        .body(Body::empty())
        .expect("request");
    let response = instance.clone().oneshot(request).await.expect("response");
    (response.status(), response.into_body())
}

/// The mark the first `incidents` event carries (sent as soon as the stream opens).
async fn first_mark(app: &TestApp, auth: &Auth) -> i64 {
    let (status, mut body) = open(app, auth).await;
    assert_eq!(status, StatusCode::OK);
    let mut text = String::new();
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("frame");
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert!(text.starts_with("event: incidents\n"), "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix("data: "))
        .and_then(|d| d.parse().ok())
        .expect("a number")
}

async fn a_units_responsible_hears_of_incidents_derived_to_their_unit_only(db: TestDb) {
    let app = TestApp::new(db).await;
    let coordination = app.unit_of_kind("coordination").await;
    let promotion = app.unit_of_kind("promotion").await;
    let (mine, other) = (
        UnitId(coordination["id"].as_i64().expect("id")),
        UnitId(promotion["id"].as_i64().expect("id")),
    );
    app.staff("agente", Role::Agent, vec![]).await;
    app.staff("escolar", Role::UnitResponsible, vec![mine])
        .await;
    app.staff("promocion", Role::UnitResponsible, vec![other])
        .await;
    let agent = app.login("agente", PASSWORD).await;
    let responsible = app.login("escolar", PASSWORD).await;
    let elsewhere = app.login("promocion", PASSWORD).await;

    let contact = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Luis", "phones": ["3312345678"]}),
        )
        .await
        .json["id"]
        .clone();
    let mut folios = Vec::new();
    for subject in ["Kárdex incompleto", "Horario", "Beca"] {
        let r = app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"channel": "phone", "contact_id": contact, "subject": subject, "body": subject}),
            )
            .await;
        folios.push(r.json["folio"].as_str().expect("folio").to_string());
    }
    let newest = app
        .get(&format!("/api/v1/incidents/{}", folios[2]), &agent)
        .await
        .json["id"]
        .as_i64()
        .expect("id");
    assert_eq!(
        first_mark(&app, &agent).await,
        newest,
        "the CAP sees every incident"
    );
    assert_eq!(
        first_mark(&app, &responsible).await,
        0,
        "nothing derived to the unit yet: no other unit's incident id"
    );

    let derived = app
        .post(
            &format!("/api/v1/incidents/{}/derivations", folios[0]),
            &agent,
            json!({"unit_id": mine, "medium": "email", "reason": "Revisión del kárdex"}),
        )
        .await;
    assert_eq!(derived.status, StatusCode::CREATED, "{}", derived.json);
    let mark = first_mark(&app, &responsible).await;
    assert!(mark > 0, "the unit hears of its derivation");
    assert_ne!(mark, newest);
    assert_eq!(
        first_mark(&app, &elsewhere).await,
        0,
        "another unit hears nothing"
    );
    let queue = app.get("/bandeja", &elsewhere).await;
    assert!(
        queue
            .json
            .as_str()
            .unwrap_or_default()
            .contains("data-latest=\"0\""),
        "the queue page carries the same mark"
    );
}

async fn one_person_holds_a_few_live_streams_at_most(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    app.staff("otra", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let other = app.login("otra", PASSWORD).await;
    let mut open_streams = Vec::new();
    for _ in 0..STREAMS_PER_USER {
        let (status, body) = open(&app, &agent).await;
        assert_eq!(status, StatusCode::OK);
        open_streams.push(body);
    }
    let (status, _) = open(&app, &agent).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _) = open(&app, &other).await;
    assert_eq!(status, StatusCode::OK, "the cap is per person");

    // A closed tab gives its place back.
    open_streams.pop();
    let (status, _) = open(&app, &agent).await;
    assert_eq!(status, StatusCode::OK);
}

/// Reads events from an open stream until one named `name` whose data satisfies `want`.
pub async fn until_event(
    body: &mut Body,
    name: &str,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let kind = event.lines().find_map(|l| l.strip_prefix("event: "));
            let data = event.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(kind), Some(data)) = (kind, data)
                && kind == name
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(data)
                && want(&value)
            {
                return value;
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let frame = tokio::time::timeout(left, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {name} event in time; read: {text}"))
            .expect("open")
            .expect("frame");
        if let Some(data) = frame.data_ref() {
            text.push_str(&String::from_utf8_lossy(data));
        }
    }
}

async fn a_new_notification_reaches_the_open_console_with_its_words(db: TestDb) {
    let app = TestApp::new(db).await;
    let agent_user = app.staff("agente", Role::Agent, vec![]).await;
    app.staff("lider", Role::CapLead, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let lead = app.login("lider", PASSWORD).await;
    let contact = app
        .post("/api/v1/contacts", &lead, json!({"name": "Ana López"}))
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            &lead,
            json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Kárdex"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();

    let (status, mut body) = open(&app, &agent).await;
    assert_eq!(status, StatusCode::OK);
    let first = until_event(&mut body, "notifications", |_| true).await;
    assert_eq!(
        first,
        json!({"unread": 0, "latest": 0}),
        "the count and the newest one's id, and no words for what was there"
    );
    app.post(
        &format!("/api/v1/incidents/{folio}/assign"),
        &lead,
        json!({"user_id": agent_user.id.0}),
    )
    .await;
    let told = until_event(&mut body, "notifications", |v| v["unread"] == 1).await;
    assert_eq!(told["title"], "Se le asignó un incidente");
    assert_eq!(told["url"], format!("/incidentes/{folio}"));
    assert!(told["body"].as_str().is_some_and(|b| b.contains(&folio)));
}

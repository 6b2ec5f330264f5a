//! Working together on an incident: each console's live stream tells who else has it open and
//! who is writing (only to those who may see it), what others added meanwhile; an answer
//! written on a stale view is held back until its writer sends it again; a note's @mentions
//! notify the people mentioned who may see the incident.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{Auth, PASSWORD, TestApp};
use crate::live::{open_at, until_event};

atiende_store::on_both_engines!(
    two_agents_on_one_incident_see_each_other_and_what_the_other_adds,
    an_answer_written_on_a_stale_view_is_held_back_until_sent_again,
    a_mention_in_a_note_notifies_whoever_may_see_the_incident,
);

/// A phone incident of a new person; its folio and id.
async fn incident(app: &TestApp, auth: &Auth) -> (String, i64) {
    let contact = app
        .post(
            "/api/v1/contacts",
            auth,
            json!({"name": "Luis Pérez", "phones": ["3311112222"]}),
        )
        .await;
    let r = app
        .post(
            "/api/v1/incidents",
            auth,
            json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Kárdex",
                   "body": "No aparece mi calificación"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    (
        r.json["folio"].as_str().expect("folio").to_string(),
        r.json["id"].as_i64().expect("id"),
    )
}

fn csrf(auth: &Auth) -> &str {
    match auth {
        Auth::Session { csrf, .. } => csrf,
        _ => panic!("a console session"),
    }
}

/// The newest entry an incident page was made with (`data-seen`).
async fn seen(app: &TestApp, auth: &Auth, folio: &str) -> i64 {
    let page = app.get(&format!("/incidentes/{folio}"), auth).await;
    let html = page.json.as_str().unwrap_or_default().to_string();
    let at = html.find("data-seen=\"").expect("data-seen") + "data-seen=\"".len();
    html[at..]
        .split('"')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

async fn two_agents_on_one_incident_see_each_other_and_what_the_other_adds(db: TestDb) {
    let app = TestApp::new(db).await;
    let coordination = app.unit_of_kind("coordination").await;
    let unit = UnitId(coordination["id"].as_i64().expect("id"));
    app.staff("maria", Role::Agent, vec![]).await;
    app.staff("jose", Role::Agent, vec![]).await;
    app.staff("escolar", Role::UnitResponsible, vec![unit])
        .await;
    let maria = app.login("maria", PASSWORD).await;
    let jose = app.login("jose", PASSWORD).await;
    let responsible = app.login("escolar", PASSWORD).await;
    let (folio, id) = incident(&app, &maria).await;
    let visto = seen(&app, &maria, &folio).await;
    let path = format!("/eventos?incidente={id}&visto={visto}");

    // A unit's responsible may not watch an incident not derived to their unit.
    let (status, _) = open_at(&app.router, &responsible, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, mut marias) = open_at(&app.router, &maria, &path).await;
    assert_eq!(status, StatusCode::OK);
    until_event(&mut marias, "presence", |v| {
        v.as_array().is_some_and(Vec::is_empty)
    })
    .await;

    // José opens it too, on another instance of atiende over the same database (nothing is
    // kept in one process): María sees him; he starts writing: she sees that as well.
    let other_instance = atiende_web::app(atiende_web::AppState::new(
        app.db.store.clone(),
        crate::helpers::config(),
    ));
    let (status, mut joses) = open_at(&other_instance, &jose, &path).await;
    assert_eq!(status, StatusCode::OK);
    until_event(&mut joses, "presence", |v| v[0]["name"] == "maria").await;
    until_event(&mut marias, "presence", |v| {
        v[0]["name"] == "jose" && v[0]["typing"] == false
    })
    .await;
    let typing = app
        .form(
            &format!("/incidentes/{folio}/escribiendo"),
            &jose,
            &format!("_csrf={}", csrf(&jose)),
        )
        .await;
    assert_eq!(typing.status, StatusCode::NO_CONTENT);
    until_event(&mut marias, "presence", |v| v[0]["typing"] == true).await;

    // He adds a note: her page hears that something was added.
    let note = app
        .post(
            &format!("/api/v1/incidents/{folio}/notes"),
            &jose,
            json!({"kind": "note", "body": "Lo reviso con control escolar"}),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.json);
    let changed = until_event(&mut marias, "changed", |_| true).await;
    assert_eq!(changed["added"], 1, "{changed}");

    // He closes his page: she no longer sees him.
    drop(joses);
    until_event(&mut marias, "presence", |v| {
        v.as_array().is_some_and(Vec::is_empty)
    })
    .await;
}

async fn an_answer_written_on_a_stale_view_is_held_back_until_sent_again(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("maria", Role::Agent, vec![]).await;
    app.staff("jose", Role::Agent, vec![]).await;
    let maria = app.login("maria", PASSWORD).await;
    let jose = app.login("jose", PASSWORD).await;
    let (folio, _) = incident(&app, &maria).await;
    let visto = seen(&app, &maria, &folio).await;
    let answer = |confirm: bool| {
        format!(
            "_csrf={}&visto={visto}&body=Su+calificaci%C3%B3n+ya+aparece{}",
            csrf(&maria),
            if confirm { "&confirm_stale=1" } else { "" }
        )
    };

    // Nothing new meanwhile: her own entries are not news to her, the answer goes.
    let sent = app
        .form(
            &format!("/incidentes/{folio}/responder"),
            &maria,
            &answer(false),
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.json);

    // José answers while she writes a second one from the same page.
    let other = app
        .post(
            &format!("/api/v1/incidents/{folio}/notes"),
            &jose,
            json!({"kind": "answer", "body": "Ya se corrigió su kárdex."}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.json);
    let held = app
        .form(
            &format!("/incidentes/{folio}/responder"),
            &maria,
            &answer(false),
        )
        .await;
    assert_eq!(held.status, StatusCode::CONFLICT);
    let html = held.json.as_str().unwrap_or_default();
    assert!(
        html.contains("Mientras escribía se agregó al incidente:"),
        "{html}"
    );
    assert!(html.contains("(jose)"), "{html}");
    assert!(
        html.contains(">Su calificación ya aparece</textarea>"),
        "{html}"
    );
    assert!(
        html.contains("name=\"confirm_stale\" value=\"1\""),
        "{html}"
    );
    let detail = app.get(&format!("/api/v1/incidents/{folio}"), &maria).await;
    let answers = |d: &serde_json::Value| {
        d["timeline"]
            .as_array()
            .map(|t| t.iter().filter(|e| e["kind"] == "outbound_message").count())
            .unwrap_or(0)
    };
    assert_eq!(answers(&detail.json), 2, "hers and his, not the held one");

    // Sent again knowingly, it goes.
    let sent = app
        .form(
            &format!("/incidentes/{folio}/responder"),
            &maria,
            &answer(true),
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.json);
    let detail = app.get(&format!("/api/v1/incidents/{folio}"), &maria).await;
    assert_eq!(answers(&detail.json), 3);
}

async fn a_mention_in_a_note_notifies_whoever_may_see_the_incident(db: TestDb) {
    let app = TestApp::new(db).await;
    let coordination = app.unit_of_kind("coordination").await;
    let unit = UnitId(coordination["id"].as_i64().expect("id"));
    app.staff("maria", Role::Agent, vec![]).await;
    app.staff("carmen.lider", Role::CapLead, vec![]).await;
    app.staff("escolar", Role::UnitResponsible, vec![unit])
        .await;
    let maria = app.login("maria", PASSWORD).await;
    let lead = app.login("carmen.lider", PASSWORD).await;
    let responsible = app.login("escolar", PASSWORD).await;
    let (folio, _) = incident(&app, &maria).await;
    let note = app
        .form(
            &format!("/incidentes/{folio}/nota"),
            &maria,
            &format!(
                "_csrf={}&body=%40carmen.lider+%C2%BFlo+derivo%3F+%40escolar+%40maria+%40nadie",
                csrf(&maria)
            ),
        )
        .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER, "{}", note.json);
    let told = |auth: Auth| {
        let app = &app;
        async move {
            app.get("/api/v1/notifications", &auth).await.json["items"]
                .as_array()
                .map(|items| items.iter().filter(|n| n["kind"] == "mentioned").count())
                .unwrap_or(0)
        }
    };
    assert_eq!(told(lead.clone()).await, 1, "the lead is told");
    assert_eq!(told(maria.clone()).await, 0, "not the note's author");
    assert_eq!(
        told(responsible.clone()).await,
        0,
        "nor a unit's responsible the incident is not derived to"
    );
}

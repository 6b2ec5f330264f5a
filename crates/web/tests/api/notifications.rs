//! Notifications: each event tells those who act on it — the assignee, the unit's responsibles,
//! the CAP's leads — never the one who caused it, nor a unit responsible about another unit;
//! the header counts the unread, *Avisos* and the API list them and mark them read.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    each_event_tells_those_who_act_on_it_and_nobody_else,
    each_person_chooses_how_to_be_told_in_the_console_and_by_api,
);

async fn kinds(app: &TestApp, auth: &Auth) -> Vec<String> {
    let listed = app.get("/api/v1/notifications", auth).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.json);
    listed.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn each_event_tells_those_who_act_on_it_and_nobody_else(db: TestDb) {
    let app = TestApp::new(db).await;
    let coordination = app.unit_of_kind("coordination").await;
    let unit = UnitId(coordination["id"].as_i64().expect("unit id"));
    let other = app.unit_of_kind("promotion").await;
    let other = UnitId(other["id"].as_i64().expect("unit id"));
    let agent_user = app.staff("agente", Role::Agent, vec![]).await;
    app.staff("lider", Role::CapLead, vec![]).await;
    app.staff("coordinacion", Role::UnitResponsible, vec![unit])
        .await;
    app.staff("otra", Role::UnitResponsible, vec![other]).await;
    let agent = app.login("agente", PASSWORD).await;
    let lead = app.login("lider", PASSWORD).await;
    let responsible = app.login("coordinacion", PASSWORD).await;
    let elsewhere = app.login("otra", PASSWORD).await;

    let contact = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Ana López", "emails": ["ana@alumnos.udg.mx"]}),
        )
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Kárdex"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();

    // The lead assigns it to the agent: the agent is told, the lead (who did it) is not.
    let assigned = app
        .post(
            &format!("/api/v1/incidents/{folio}/assign"),
            &lead,
            json!({"user_id": agent_user.id.0}),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.json);
    assert_eq!(kinds(&app, &agent).await, ["assigned"]);

    // Derived to the coordination: its responsible is told, another unit's is not.
    let derived = app
        .post(
            &format!("/api/v1/incidents/{folio}/derivations"),
            &agent,
            json!({"unit_id": unit.0, "medium": "email", "reason": "Corrección del kárdex"}),
        )
        .await;
    assert_eq!(derived.status, StatusCode::CREATED, "{}", derived.json);
    assert_eq!(kinds(&app, &responsible).await, ["derived_to_unit"]);
    assert!(kinds(&app, &elsewhere).await.is_empty());

    // The unit answers: the assignee is told.
    let derivation = derived.json["derivation"]["id"]
        .as_i64()
        .expect("derivation");
    let answered = app
        .post(
            &format!("/api/v1/incidents/{folio}/derivations/{derivation}/answer"),
            &responsible,
            json!({"answer": "Se corrigió"}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.json);
    assert_eq!(kinds(&app, &agent).await, ["unit_answered", "assigned"]);

    // Marked critical: the leads are told.
    app.post(
        &format!("/api/v1/incidents/{folio}/classify"),
        &agent,
        json!({"critical": true}),
    )
    .await;
    assert_eq!(kinds(&app, &lead).await, ["critical_incident"]);

    // The header counts the unread; Avisos lists them in words; marking read clears it.
    let page = app.get("/avisos", &agent).await;
    let html = page.json.as_str().unwrap_or_default().to_string();
    assert!(
        html.contains(r#"<span class="count" id="unread">2</span>"#),
        "{html}"
    );
    assert!(html.contains("La unidad respondió la derivación") && html.contains(&folio));
    let Auth::Session { csrf, .. } = &agent else {
        panic!("session")
    };
    let read = app
        .form("/avisos/leidos", &agent, &format!("_csrf={csrf}"))
        .await;
    assert_eq!(read.status, StatusCode::SEE_OTHER);
    let html = app
        .get("/bandeja", &agent)
        .await
        .json
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!html.contains(r#"id="unread""#), "nothing unread");
    let marked = app
        .post("/api/v1/notifications/read", &lead, json!({}))
        .await;
    assert_eq!(marked.json, json!({"marked": 1, "unread": 0}));
}

async fn each_person_chooses_how_to_be_told_in_the_console_and_by_api(db: TestDb) {
    let app = TestApp::new(db).await;
    let agent_user = app.staff("agente", Role::Agent, vec![]).await;
    app.staff("lider", Role::CapLead, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let lead = app.login("lider", PASSWORD).await;

    // The console's form: every kind on one table; "assigned" by email in the digest only.
    let page = app.get("/preferencias/avisos", &agent).await;
    let html = page.json.as_str().unwrap_or_default().to_string();
    assert!(
        html.contains("Se le asignó un incidente") && html.contains("Resumen diario"),
        "{html}"
    );
    let Auth::Session { csrf, .. } = &agent else {
        panic!("session")
    };
    let saved = app
        .form(
            "/preferencias/avisos",
            &agent,
            &format!("_csrf={csrf}&correo_assigned=digest&consola_person_replied=1&correo_person_replied=off"),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let choices = app.get("/api/v1/notifications/preferences", &agent).await;
    let assigned = choices
        .json
        .as_array()
        .expect("choices")
        .iter()
        .find(|c| c["kind"] == "assigned")
        .cloned();
    assert_eq!(
        assigned,
        Some(json!({"kind": "assigned", "in_console": false, "email": "digest"}))
    );

    // Not in the console: assigning tells nothing there.
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
    app.post(
        &format!("/api/v1/incidents/{folio}/assign"),
        &lead,
        json!({"user_id": agent_user.id.0}),
    )
    .await;
    assert!(kinds(&app, &agent).await.is_empty());

    // By the API: back in the console.
    let put = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/notifications/preferences",
            &agent,
            Some(json!([{"kind": "assigned", "in_console": true, "email": "off"}])),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.json);
    let bad = app
        .call(
            axum::http::Method::PUT,
            "/api/v1/notifications/preferences",
            &agent,
            Some(json!([{"kind": "assigned", "in_console": true, "email": "weekly"}])),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.json);
    assert!(bad.json["error"].is_object(), "{}", bad.json);
    app.post(
        &format!("/api/v1/incidents/{folio}/assign"),
        &lead,
        json!({"user_id": null}),
    )
    .await;
    app.post(
        &format!("/api/v1/incidents/{folio}/assign"),
        &lead,
        json!({"user_id": agent_user.id.0}),
    )
    .await;
    assert_eq!(kinds(&app, &agent).await, ["assigned"]);
}

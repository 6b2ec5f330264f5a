//! Macros by API: kept, applied to an incident as one step, refused whole with the reason.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

atiende_store::on_both_engines!(a_macro_by_api_closes_a_case_or_is_refused_whole,);

async fn a_macro_by_api_closes_a_case_or_is_refused_whole(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let good = app
        .post(
            "/api/v1/macros",
            &agent,
            json!({"name": "Constancia", "steps": {"user_type": "student", "incident_type": "question",
                   "notes": "Se indicó el trámite.", "finish": {"action": "close"}}}),
        )
        .await;
    assert_eq!(good.status, StatusCode::CREATED, "{}", good.json);
    let shared = app
        .post(
            "/api/v1/macros",
            &agent,
            json!({"name": "Para todos", "steps": {"finish": {"action": "close"}}, "shared": true}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::FORBIDDEN, "{}", shared.json);
    let unclassified = app
        .post(
            "/api/v1/macros",
            &agent,
            json!({"name": "Cerrar", "steps": {"notes": "Atendido.", "finish": {"action": "close"}}}),
        )
        .await;
    assert_eq!(
        unclassified.status,
        StatusCode::CREATED,
        "{}",
        unclassified.json
    );

    let contact = app
        .post("/api/v1/contacts", &agent, json!({"name": "Ana López"}))
        .await;
    let mut folios = Vec::new();
    for _ in 0..2 {
        let incident = app
            .post(
                "/api/v1/incidents",
                &agent,
                json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Constancia"}),
            )
            .await;
        folios.push(incident.json["folio"].as_str().expect("folio").to_string());
    }
    let refused = app
        .post(
            &format!(
                "/api/v1/incidents/{}/macros/{}",
                folios[0], unclassified.json["id"]
            ),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.json
    );
    let detail = app
        .get(&format!("/api/v1/incidents/{}", folios[0]), &agent)
        .await;
    assert_eq!(detail.json["status"], "open");
    assert!(
        detail.json["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .all(|e| e["kind"] != "intervention"),
        "nothing of the refused macro was written"
    );
    let applied = app
        .post(
            &format!("/api/v1/incidents/{}/macros/{}", folios[1], good.json["id"]),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.json);
    assert_eq!(applied.json["status"], "closed");
    assert_eq!(applied.json["incident_type"], "question");
}

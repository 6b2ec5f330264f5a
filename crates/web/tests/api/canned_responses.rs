//! Canned responses by API and in the console: each keeps their own and leads the CAP's, one
//! is filled for an incident and answered with, its use is counted for the quality office,
//! and the answer box finds them by words.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    canned_responses_by_api_filled_answered_and_counted,
    the_console_keeps_them_and_fills_the_answer_box,
);

fn html(reply: &crate::helpers::Reply) -> String {
    reply.json.as_str().unwrap_or_default().to_string()
}

async fn canned_responses_by_api_filled_answered_and_counted(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    app.staff("lider", Role::CapLead, vec![]).await;
    app.staff("calidad", Role::QualityOwner, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let lead = app.login("lider", PASSWORD).await;
    let quality = app.login("calidad", PASSWORD).await;

    let shared = app
        .post(
            "/api/v1/canned-responses",
            &lead,
            json!({"title": "Constancia", "body": "Hola, {{ nombre }}: su folio es {{ folio }}.\n{{ agente }}", "shared": true}),
        )
        .await;
    assert_eq!(shared.status, StatusCode::CREATED, "{}", shared.json);
    assert_eq!(shared.json["shared"], true);
    let refused = app
        .post(
            "/api/v1/canned-responses",
            &agent,
            json!({"title": "Para todos", "body": "x", "shared": true}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.json);
    let typo = app
        .post(
            "/api/v1/canned-responses",
            &agent,
            json!({"title": "Mal", "body": "Hola {{ nombr }}"}),
        )
        .await;
    assert_eq!(typo.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        typo.json["error"]["fields"][0]["field"], "body",
        "{}",
        typo.json
    );
    let own = app
        .post(
            "/api/v1/canned-responses",
            &agent,
            json!({"title": "Mi saludo", "body": "Buen día, {{ nombre }}."}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED);
    let id = shared.json["id"].as_i64().expect("id");
    let editing_the_caps = app
        .call(
            Method::PUT,
            &format!("/api/v1/canned-responses/{id}"),
            &agent,
            Some(json!({"title": "Cambiada", "body": "x"})),
        )
        .await;
    assert_eq!(editing_the_caps.status, StatusCode::FORBIDDEN);
    let listed = app.get("/api/v1/canned-responses?q=saludo", &agent).await;
    assert_eq!(listed.json.as_array().map(Vec::len), Some(1));

    // Filled for an incident, answered with, counted.
    let contact = app
        .post("/api/v1/contacts", &agent, json!({"name": "Ana López"}))
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Constancia",
                   "user_type": "student", "incident_type": "question"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let filled = app
        .get(
            &format!("/api/v1/incidents/{folio}/canned-responses/{id}"),
            &agent,
        )
        .await;
    assert_eq!(filled.status, StatusCode::OK, "{}", filled.json);
    let text = filled.json["text"].as_str().expect("text").to_string();
    assert!(
        text.starts_with(&format!("Hola, Ana López: su folio es {folio}.")),
        "{text}"
    );
    let answered = app
        .post(
            &format!("/api/v1/incidents/{folio}/notes"),
            &agent,
            json!({"kind": "answer", "body": text, "canned_response_id": id}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.json);
    let closed = app
        .post(
            &format!("/api/v1/incidents/{folio}/close"),
            &agent,
            json!({"notes": "Se indicó el trámite."}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.json);
    let usage = app.get("/api/v1/quality/canned-responses", &quality).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.json);
    assert_eq!(usage.json[0]["title"], "Constancia");
    assert_eq!(usage.json[0]["uses"], 1);
    assert_eq!(usage.json[0]["first_contact"], 1);
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/api/v1/canned-responses/{}", own.json["id"]),
            &agent,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
}

async fn the_console_keeps_them_and_fills_the_answer_box(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let Auth::Session { csrf, .. } = &agent else {
        panic!("session")
    };
    let saved = app
        .form(
            "/respuestas",
            &agent,
            &format!(
                "_csrf={csrf}&title=Horario&body=Hola%2C+%7B%7B+nombre+%7D%7D%3A+de+9+a+18+h."
            ),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let list = html(&app.get("/respuestas", &agent).await);
    assert!(
        list.contains("Horario") && list.contains("nombre"),
        "{list}"
    );
    let typo = app
        .form(
            "/respuestas",
            &agent,
            &format!("_csrf={csrf}&title=Mal&body=%7B%7B+nombr+%7D%7D"),
        )
        .await;
    assert_eq!(typo.status, StatusCode::UNPROCESSABLE_ENTITY);

    let contact = app
        .post("/api/v1/contacts", &agent, json!({"name": "Ana López"}))
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Horario"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let page = html(&app.get(&format!("/incidentes/{folio}"), &agent).await);
    assert!(
        page.contains(r#"name="respuesta""#) && page.contains("Horario"),
        "{page}"
    );

    // The answer box's search, filled for the incident.
    let found = app
        .get(
            &format!("/respuestas/buscar?folio={folio}&q=horario"),
            &agent,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json[0]["text"], "Hola, Ana López: de 9 a 18 h.");
    let id = found.json[0]["id"].as_i64().expect("id");
    // Without the script: the chosen one fills the box and is remembered for the answer.
    let page = html(
        &app.get(&format!("/incidentes/{folio}?respuesta={id}"), &agent)
            .await,
    );
    assert!(
        page.contains("Hola, Ana López: de 9 a 18 h.</textarea>"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            r#"name="canned_response_id" id="canned-response-id" value="{id}""#
        )),
        "{page}"
    );
}

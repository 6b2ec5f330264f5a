//! The Core issue's story, told through the API: register, classify, fail to close, close,
//! survey due, audit; derive to a coordination and see it as that unit's responsible.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    an_agent_registers_a_phone_incident_and_closes_it_following_the_procedure,
    a_derived_incident_is_seen_and_answered_by_that_units_responsible_only,
    validation_errors_name_each_field_and_bad_json_is_a_clear_400,
    duplicate_identifiers_are_a_conflict_that_names_the_existing_contact,
    the_queue_filters_by_status_and_channel_and_pages_with_a_cursor,
);

async fn an_agent_registers_a_phone_incident_and_closes_it_following_the_procedure(db: TestDb) {
    let app = TestApp::new(db).await;
    app.staff("agente", Role::Agent, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;

    let contact = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Ana López", "emails": ["ana@alumnos.udg.mx"], "user_type": "student"}),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.json);
    let incident = app
        .post("/api/v1/incidents", &agent, json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Olvidé mi contraseña"}))
        .await;
    assert_eq!(incident.status, StatusCode::CREATED, "{}", incident.json);
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    assert!(
        folio.starts_with("CAP-20") && folio.ends_with("-000001"),
        "{folio}"
    );
    assert_eq!(
        incident.json["user_type"], "student",
        "prefilled from the contact"
    );

    let classified = app
        .post(
            &format!("/api/v1/incidents/{folio}/classify"),
            &agent,
            json!({"incident_type": "question"}),
        )
        .await;
    assert_eq!(classified.status, StatusCode::OK);

    let refused = app
        .post(
            &format!("/api/v1/incidents/{folio}/close"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.code(), "close_requirements");
    assert_eq!(refused.json["error"]["fields"][0]["field"], "notes");
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .expect("message")
            .contains("pormenores de la intervención")
    );

    let notes = app
        .post(
            &format!("/api/v1/incidents/{folio}/notes"),
            &agent,
            json!({"kind": "intervention", "body": "Se explicó cómo restablecer la contraseña."}),
        )
        .await;
    assert_eq!(notes.status, StatusCode::CREATED);
    let closed = app
        .post(
            &format!("/api/v1/incidents/{folio}/close"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.json);
    assert_eq!(closed.json["status"], "closed");

    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let outbox = app
        .get(&format!("/api/v1/outbox?incident={folio}"), &admin)
        .await;
    assert_eq!(outbox.json["items"][0]["kind"], "survey_due");
    // Filtered and paged like every list.
    let surveys = app
        .get(
            "/api/v1/outbox?kind=survey_due&status=pending&limit=1",
            &admin,
        )
        .await;
    assert_eq!(
        surveys.json["items"].as_array().map(Vec::len),
        Some(1),
        "{}",
        surveys.json
    );
    let none = app.get("/api/v1/outbox?kind=chat_send", &admin).await;
    assert_eq!(none.json["items"], serde_json::json!([]));
    assert!(none.json["next_cursor"].is_null());
    let audit = app
        .get(
            &format!("/api/v1/audit?entity=incident&entity_id={folio}"),
            &admin,
        )
        .await;
    let actions: Vec<_> = audit.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "incident.close",
            "incident.intervention",
            "incident.classify",
            "incident.create"
        ]
    );

    let view = app.get(&format!("/api/v1/incidents/{folio}"), &agent).await;
    assert_eq!(view.json["contact"]["name"], "Ana López");
    assert_eq!(view.json["first_contact_resolution"], true);
    let kinds: Vec<_> = view.json["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["classification", "intervention", "status_change"]);
}

async fn a_derived_incident_is_seen_and_answered_by_that_units_responsible_only(db: TestDb) {
    let app = TestApp::new(db).await;
    let coordination = app.unit_of_kind("coordination").await;
    let unit_id = UnitId(coordination["id"].as_i64().expect("id"));
    app.staff("agente", Role::Agent, vec![]).await;
    app.staff("escolar", Role::UnitResponsible, vec![unit_id])
        .await;
    let agent = app.login("agente", PASSWORD).await;
    let responsible = app.login("escolar", PASSWORD).await;

    let contact = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Luis", "phones": ["3312345678"]}),
        )
        .await;
    let mut folios = Vec::new();
    for subject in ["Mi calificación no aparece", "Horario de atención"] {
        let r = app.post("/api/v1/incidents", &agent, json!({"channel": "whatsapp", "contact_id": contact.json["id"], "subject": subject})).await;
        folios.push(r.json["folio"].as_str().expect("folio").to_string());
    }
    let derived = app
        .post(&format!("/api/v1/incidents/{}/derivations", folios[0]), &agent,
            json!({"unit_id": unit_id, "medium": "email", "reason": "Corrección de calificación en el kárdex"}))
        .await;
    assert_eq!(derived.status, StatusCode::CREATED, "{}", derived.json);
    assert_eq!(derived.json["incident"]["status"], "waiting_unit");
    assert_eq!(
        derived.json["derivation"]["user_told"], true,
        "from WhatsApp the user is told to write to the unit"
    );
    assert_eq!(
        derived.json["derivation"]["told_address"],
        coordination["email"]
    );

    let seen = app.get("/api/v1/incidents", &responsible).await;
    let seen: Vec<_> = seen.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["folio"].clone())
        .collect();
    assert_eq!(seen, vec![json!(folios[0])]);
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{}", folios[1]), &responsible)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &format!("/api/v1/incidents/{}/classify", folios[0]),
            &responsible,
            json!({})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    let d = derived.json["derivation"]["id"]
        .as_i64()
        .expect("derivation id");
    let answered = app
        .post(
            &format!("/api/v1/incidents/{}/derivations/{d}/answer", folios[0]),
            &responsible,
            json!({"answer": "Ya quedó corregida."}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.json);
    assert_eq!(answered.json["incident"]["status"], "open");
}

async fn validation_errors_name_each_field_and_bad_json_is_a_clear_400(db: TestDb) {
    let app = TestApp::new(db).await;
    let agent = app.token_for("agente", Role::Agent, vec![]).await;
    let bad = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"emails": ["no-es-correo"], "phones": ["abc"]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = bad.json["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(fields, ["email", "phone"]);
    let unknown = app
        .post("/api/v1/contacts", &agent, json!({"nombre": "Ana"}))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.json["error"]["fields"][0]["field"], "nombre");
    assert_eq!(unknown.json["error"]["fields"][0]["code"], "unknown_field");
    let anonymous_phone = app
        .post("/api/v1/incidents", &agent, json!({"channel": "phone"}))
        .await;
    assert_eq!(
        anonymous_phone.json["error"]["fields"][0]["field"],
        "contact_id"
    );
    let english = app
        .call_with(
            axum::http::Method::POST,
            "/api/v1/incidents",
            &agent,
            Some(json!({"channel": "phone"})),
            &[("accept-language", "en-US,en;q=0.9")],
        )
        .await;
    assert!(
        english.json["error"]["message"]
            .as_str()
            .expect("message")
            .starts_with("Check the data")
    );
}

async fn duplicate_identifiers_are_a_conflict_that_names_the_existing_contact(db: TestDb) {
    let app = TestApp::new(db).await;
    let agent = app.token_for("agente", Role::Agent, vec![]).await;
    let first = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Ana", "whatsapp_id": "5213312345678"}),
        )
        .await;
    let again = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Ana L.", "whatsapp_id": "+52 1 33 1234 5678"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json["error"]["existing_id"], first.json["id"]);
    let found = app
        .get("/api/v1/contacts/lookup?whatsapp=5213312345678", &agent)
        .await;
    assert_eq!(found.json["id"], first.json["id"]);
}

async fn the_queue_filters_by_status_and_channel_and_pages_with_a_cursor(db: TestDb) {
    let app = TestApp::new(db).await;
    let agent = app.token_for("agente", Role::Agent, vec![]).await;
    let contact = app
        .post(
            "/api/v1/contacts",
            &agent,
            json!({"name": "Ana", "emails": ["a@b.mx"]}),
        )
        .await;
    for channel in ["phone", "in_person", "phone", "phone", "in_person"] {
        app.post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": channel, "contact_id": contact.json["id"]}),
        )
        .await;
    }
    let first = app.get("/api/v1/incidents?limit=2", &agent).await;
    assert_eq!(first.json["items"].as_array().expect("items").len(), 2);
    let cursor = first.json["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let rest = app
        .get(
            &format!("/api/v1/incidents?limit=10&cursor={cursor}"),
            &agent,
        )
        .await;
    assert_eq!(rest.json["items"].as_array().expect("items").len(), 3);
    assert!(rest.json["next_cursor"].is_null());
    let phone = app
        .get("/api/v1/incidents?channel=phone&status=open", &agent)
        .await;
    assert_eq!(phone.json["items"].as_array().expect("items").len(), 3);
    let today = app
        .get(
            "/api/v1/incidents?from=2020-01-01&to=2999-12-31&q=ana",
            &agent,
        )
        .await;
    assert_eq!(today.json["items"].as_array().expect("items").len(), 5);
    let bad = app.get("/api/v1/incidents?from=ayer", &agent).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

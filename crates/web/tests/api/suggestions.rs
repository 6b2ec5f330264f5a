//! Suggestions learned from the CAP's history, by API and in the console: shown for a new
//! incident (never applied by themselves), the agent's classification counted as confirming or
//! correcting them, and the quality office's report of the model's accuracy.

use atiende_domain::user::Role;
use atiende_store::demo::history::{Spec, Staff, write};
use atiende_store::testing::TestDb;
use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

atiende_store::on_both_engines!(a_new_incident_is_suggested_a_classification_the_agent_confirms);

async fn a_new_incident_is_suggested_a_classification_the_agent_confirms(db: TestDb) {
    let app = TestApp::new(db).await;
    let maria = app.staff("agente", Role::Agent, vec![]).await;
    app.staff("calidad", Role::QualityOwner, vec![]).await;
    let agent = app.login("agente", PASSWORD).await;
    let quality = app.login("calidad", PASSWORD).await;
    let spec = Spec {
        incidents: 1_500,
        contacts: 300,
        years: 1,
        articles: 0,
        seed: 5,
        end: chrono::Utc::now() - chrono::Duration::days(30),
    };
    let staff = Staff {
        agents: vec![maria.id.0],
        quality_owner: None,
    };
    write(&app.db, &spec, &staff, |_, _, _| {})
        .await
        .expect("history");
    app.db
        .train_suggestions(chrono::Utc::now())
        .await
        .expect("trained")
        .expect("a model");
    let pagos = app
        .db
        .topics()
        .await
        .expect("topics")
        .into_iter()
        .find(|t| t.name.starts_with("Pagos"))
        .expect("seeded topic")
        .id
        .0;

    let contact = app
        .post("/api/v1/contacts", &agent, json!({"name": "Ana López"}))
        .await;
    let incident = app
        .post(
            "/api/v1/incidents",
            &agent,
            json!({"channel": "phone", "contact_id": contact.json["id"], "subject": "Consulta",
                   "body": "Mi orden de pago venció y no alcancé a pagar, ¿cómo genero otra?"}),
        )
        .await;
    assert_eq!(incident.status, StatusCode::CREATED, "{}", incident.json);
    let folio = incident.json["folio"].as_str().expect("folio").to_string();

    // The console shows it in the classification form, with a button that fills the form.
    let page = app.get(&format!("/incidentes/{folio}"), &agent).await;
    let html = page.json.as_str().unwrap_or_default();
    assert!(html.contains("id=\"suggested\""), "{html}");
    assert!(
        html.contains("Pagos, aranceles y órdenes de pago ("),
        "{html}"
    );
    assert!(html.contains(&format!("data-topic=\"{pagos}\"")), "{html}");
    assert!(html.contains("data-incident-type=\"question\""), "{html}");

    // The API gives the same suggestion, and nothing was classified by it.
    let asked = app
        .get(&format!("/api/v1/incidents/{folio}/suggestion"), &agent)
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.json);
    assert_eq!(
        asked.json["suggestion"]["topic_id"], pagos,
        "{}",
        asked.json
    );
    assert_eq!(asked.json["suggestion"]["incident_type"], "question");
    let now = app.get(&format!("/api/v1/incidents/{folio}"), &agent).await;
    assert_eq!(now.json["folio"], folio.as_str(), "{}", now.json);
    assert!(now.json["topic_id"].is_null() && now.json["incident_type"].is_null());

    // The agent keeps the topic and corrects the type.
    let classified = app
        .post(
            &format!("/api/v1/incidents/{folio}/classify"),
            &agent,
            json!({"user_type": "student", "incident_type": "complaint", "topic_id": pagos}),
        )
        .await;
    assert_eq!(classified.status, StatusCode::OK, "{}", classified.json);
    let report = app.get("/api/v1/quality/suggestions", &quality).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.json);
    assert_eq!(
        report.json["topic"],
        json!({"confirmed": 1, "corrected": 0})
    );
    assert_eq!(
        report.json["incident_type"],
        json!({"confirmed": 0, "corrected": 1})
    );
    let top1 = &report.json["model"]["accuracy"]["topic"];
    assert!(top1["top1"].as_u64() > Some(0), "{}", report.json);
    // Once classified, the page asks no more.
    let page = app.get(&format!("/incidentes/{folio}"), &agent).await;
    assert!(
        !page
            .json
            .as_str()
            .unwrap_or_default()
            .contains("id=\"suggested\"")
    );

    let page = app.get("/calidad/sugerencias", &quality).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.json.as_str().unwrap_or_default();
    assert!(
        html.contains("Acierto a la primera") && html.contains(" %</td>"),
        "{html}"
    );
    let refused = app.get("/calidad/sugerencias", &agent).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

//! Authorization generated from the API's own description: every operation of the OpenAPI
//! document with an id in its path is called by a unit's responsible on another unit's objects
//! (its incident, derivation and contact), and by an agent on administrators' objects (users,
//! units, topics). None may succeed. A new endpoint is covered without anyone adding it here.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;

atiende_store::on_both_engines!(no_operation_reaches_another_units_or_an_administrators_objects);

/// A body a handler would accept for the operation, so that a missing check is not hidden
/// behind a validation error.
fn plausible_body(path: &str, contact: &Value) -> Value {
    match path.rsplit('/').next().unwrap_or_default() {
        "notes" => json!({"kind": "note", "body": "Nota de otra unidad"}),
        "answer" => json!({"answer": "Respuesta de otra unidad"}),
        "close" => json!({"notes": "Cerrado por otra unidad"}),
        "classify" => json!({"critical": true}),
        "assign" => json!({"user_id": null}),
        "merge" => json!({"other_id": contact}),
        "derivations" => json!({"unit_id": 1, "medium": "email", "reason": "Otra"}),
        _ => json!({"name": "Cambiado", "disabled": true, "active": false}),
    }
}

async fn no_operation_reaches_another_units_or_an_administrators_objects(db: TestDb) {
    let app = TestApp::new(db).await;
    let units = app
        .get(
            "/api/v1/units",
            &app.token_for("root", Role::Admin, vec![]).await,
        )
        .await;
    let coordinations: Vec<i64> = units
        .json
        .as_array()
        .expect("units")
        .iter()
        .filter(|u| u["kind"] == "coordination")
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    let (mine, theirs) = (coordinations[0], coordinations[1]);
    let responsible_a = app
        .token_for("escolar_a", Role::UnitResponsible, vec![UnitId(mine)])
        .await;
    let responsible_b = app
        .token_for("escolar_b", Role::UnitResponsible, vec![UnitId(theirs)])
        .await;
    let agent = app.token_for("agente", Role::Agent, vec![]).await;
    let lead = app.token_for("lider", Role::CapLead, vec![]).await;
    let admin_id = app.get("/api/v1/users", &lead).await.json[0]["id"].clone();
    let topic = app.get("/api/v1/topics", &lead).await.json[0]["id"].clone();

    // Unit B's incident: derived to it, with its contact.
    let contact = app
        .post(
            "/api/v1/contacts",
            &lead,
            json!({"name": "Ana Ruiz", "emails": ["ana.ruiz@alumnos.udg.mx"]}),
        )
        .await
        .json["id"]
        .clone();
    let incident = app
        .post(
            "/api/v1/incidents",
            &lead,
            json!({"channel": "email", "contact_id": contact, "subject": "Kárdex"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let derived = app
        .post(
            &format!("/api/v1/incidents/{folio}/derivations"),
            &lead,
            json!({"unit_id": theirs, "medium": "email", "reason": "Revisión"}),
        )
        .await;
    let derivation = derived.json["derivation"]["id"].clone();
    assert_eq!(derived.status, StatusCode::CREATED, "{}", derived.json);
    // The control: B's responsible reaches it, so a refusal below is about the scope.
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{folio}"), &responsible_b)
            .await
            .status,
        StatusCode::OK
    );

    let doc = app.get("/api/v1/openapi.json", &lead).await.json;
    let mut tried = 0;
    let mut failures = Vec::new();
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        if !path.contains('{') {
            continue;
        }
        let first = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let (caller, who) = match first {
            "incidents" | "contacts" | "derivations" | "calls" | "articles" | "attachments" => {
                (&responsible_a, "unit A's responsible")
            }
            "users" | "units" | "topics" | "tokens" => (&agent, "an agent"),
            // Paths whose id is not an object of a unit or of the administrators (a provider's
            // secret path segment): covered by their own tests.
            _ => continue,
        };
        let id = match first {
            "contacts" => contact.to_string(),
            "users" => admin_id.to_string(),
            "units" => theirs.to_string(),
            "topics" => topic.to_string(),
            _ => "1".into(),
        };
        let concrete = path
            .replace("{reference}", &folio)
            .replace("{derivation_id}", &derivation.to_string())
            .replace("{id}", &id);
        for method in operations.as_object().expect("operations").keys() {
            let method: Method = method.to_uppercase().parse().expect("method");
            // Reading the catalogues (units, topics, the staff list) is every staff member's.
            if method == Method::GET && matches!(first, "users" | "units" | "topics") {
                continue;
            }
            let body = (method != Method::GET && method != Method::DELETE)
                .then(|| plausible_body(path, &contact));
            let reply = app
                .call(method.clone(), &format!("/api/v1{concrete}"), caller, body)
                .await;
            tried += 1;
            if reply.status.is_success() {
                failures.push(format!(
                    "{who} got {} on {method} {path}: {}",
                    reply.status, reply.json
                ));
            }
        }
    }
    assert!(tried >= 12, "only {tried} operations tried");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

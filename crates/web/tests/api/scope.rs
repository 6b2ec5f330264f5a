//! Authorization generated from the code's own list of routes: every operation of the OpenAPI
//! document with an id in its path, and every console page with an id in its path (read from
//! the `.route(…)` calls in `src/pages/`), is called by a unit's responsible on another unit's
//! objects (its incident, derivation, contact, article), and by an agent on administrators'
//! objects (users, units, topics, the quality office's and the leads' registers). None may
//! succeed. A new endpoint or page is covered without anyone adding it here.

use atiende_domain::ids::UnitId;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    no_operation_reaches_another_units_or_an_administrators_objects,
    no_console_page_reaches_another_units_or_an_administrators_objects,
);

/// Two coordination units: the caller's own (A) and another's (B).
async fn two_coordinations(app: &TestApp, by: &crate::helpers::Auth) -> (i64, i64) {
    let units = app.get("/api/v1/units", by).await;
    let coordinations: Vec<i64> = units.json["items"]
        .as_array()
        .expect("units")
        .iter()
        .filter(|u| u["kind"] == "coordination")
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    (coordinations[0], coordinations[1])
}

/// Unit B's objects: an incident with its contact, derived to `unit`. Returns the contact's id,
/// the folio and the derivation's id.
async fn incident_derived_to(
    app: &TestApp,
    by: &crate::helpers::Auth,
    unit: i64,
) -> (Value, String, Value) {
    let contact = app
        .post(
            "/api/v1/contacts",
            by,
            json!({"name": "Ana Ruiz", "emails": ["ana.ruiz@alumnos.udg.mx"]}),
        )
        .await
        .json["id"]
        .clone();
    let incident = app
        .post(
            "/api/v1/incidents",
            by,
            json!({"channel": "email", "contact_id": contact, "subject": "Kárdex"}),
        )
        .await;
    let folio = incident.json["folio"].as_str().expect("folio").to_string();
    let derived = app
        .post(
            &format!("/api/v1/incidents/{folio}/derivations"),
            by,
            json!({"unit_id": unit, "medium": "email", "reason": "Revisión"}),
        )
        .await;
    assert_eq!(derived.status, StatusCode::CREATED, "{}", derived.json);
    (contact, folio, derived.json["derivation"]["id"].clone())
}

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
    let (mine, theirs) =
        two_coordinations(&app, &app.token_for("root", Role::Admin, vec![]).await).await;
    let responsible_a = app
        .token_for("escolar_a", Role::UnitResponsible, vec![UnitId(mine)])
        .await;
    let responsible_b = app
        .token_for("escolar_b", Role::UnitResponsible, vec![UnitId(theirs)])
        .await;
    let agent = app.token_for("agente", Role::Agent, vec![]).await;
    let lead = app.token_for("lider", Role::CapLead, vec![]).await;
    let admin_id = app.get("/api/v1/users", &lead).await.json["items"][0]["id"].clone();
    let topic = app.get("/api/v1/topics", &lead).await.json["items"][0]["id"].clone();

    // Unit B's incident: derived to it, with its contact.
    let (contact, folio, derivation) = incident_derived_to(&app, &lead, theirs).await;
    // The control: B's responsible reaches it, so a refusal below is about the scope.
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{folio}"), &responsible_b)
            .await
            .status,
        StatusCode::OK
    );

    // The lead's own canned response and macro: nobody else's to read or change.
    let own_canned = app
        .post(
            "/api/v1/canned-responses",
            &lead,
            json!({"title": "Mía", "body": "Hola"}),
        )
        .await
        .json["id"]
        .clone();
    let own_macro = app
        .post(
            "/api/v1/macros",
            &lead,
            json!({"name": "Mía", "steps": {"finish": {"action": "close"}}}),
        )
        .await
        .json["id"]
        .clone();

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
            "users" | "units" | "topics" | "tokens" | "canned-responses" | "macros" => {
                (&agent, "an agent")
            }
            // Paths whose id is not an object of a unit or of the administrators (a provider's
            // secret path segment): covered by their own tests.
            _ => continue,
        };
        let id = match first {
            "contacts" => contact.to_string(),
            "users" => admin_id.to_string(),
            "units" => theirs.to_string(),
            "topics" => topic.to_string(),
            "canned-responses" => own_canned.to_string(),
            "macros" => own_macro.to_string(),
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

/// Every console route with a parameter in its path, with the methods it answers, read from
/// the `.route("…", get(…).post(…))` calls of the pages' source.
fn console_routes() -> Vec<(String, Vec<Method>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/pages");
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("pages") {
        let source = std::fs::read_to_string(entry.expect("file").path()).expect("source");
        for call in source.split(".route(").skip(1) {
            let Some(path) = call.trim_start().strip_prefix('"') else {
                continue;
            };
            let (path, handlers) = path.split_once('"').expect("a closing quote");
            if !path.contains('{') {
                continue;
            }
            // The handlers end where the call does: the first `)` that closes `.route(`.
            let mut depth = 1;
            let end = handlers
                .char_indices()
                .find(|(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(handlers.len(), |(i, _)| i);
            let handlers = &handlers[..end];
            let mut methods = Vec::new();
            if handlers.contains("get(") {
                methods.push(Method::GET);
            }
            if handlers.contains("post(") {
                methods.push(Method::POST);
            }
            routes.push((path.to_string(), methods));
        }
    }
    routes.sort();
    routes
}

/// Whether an answer gave the caller what they asked for: a page, or a change made (a redirect
/// anywhere but the login page).
fn succeeded(status: StatusCode, location: Option<&str>) -> bool {
    status.is_success() || (status.is_redirection() && location != Some("/login"))
}

async fn no_console_page_reaches_another_units_or_an_administrators_objects(db: TestDb) {
    let app = TestApp::new(db).await;
    let root = app.token_for("root", Role::Admin, vec![]).await;
    let (mine, theirs) = two_coordinations(&app, &root).await;
    app.staff("escolar_a", Role::UnitResponsible, vec![UnitId(mine)])
        .await;
    app.staff("escolar_b", Role::UnitResponsible, vec![UnitId(theirs)])
        .await;
    app.staff("agente", Role::Agent, vec![]).await;
    let responsible_a = app.login("escolar_a", PASSWORD).await;
    let responsible_b = app.login("escolar_b", PASSWORD).await;
    let agent = app.login("agente", PASSWORD).await;
    let admin_id = app.get("/api/v1/users", &root).await.json["items"][0]["id"].clone();
    let topic = app.get("/api/v1/topics", &root).await.json["items"][0]["id"].clone();

    // Unit B's objects: an incident derived to it, its contact, an article it owns.
    let (contact, folio, derivation) = incident_derived_to(&app, &root, theirs).await;
    let admin = app.db.user_by_login("root").await.expect("admin");
    let admins_token = app.db.tokens_of(admin.id).await.expect("tokens")[0].id;
    let article = app
        .db
        .create_article(
            atiende_store::Actor::Staff(&admin),
            &atiende_domain::knowledge::ArticleInput {
                title: "Bajas de la unidad B".into(),
                body: "Cómo se tramita una baja.".into(),
                topic_id: None,
                tags: String::new(),
                owner_unit_id: Some(UnitId(theirs)),
                review_on: None,
                public: false,
            },
        )
        .await
        .expect("article");
    // The administrator's own canned response and macro: nobody else's.
    let own_canned = app
        .db
        .create_canned_response(
            &admin,
            &atiende_domain::canned_response::CannedResponseInput {
                title: "Mía".into(),
                body: "Hola".into(),
                topic_id: None,
                shared: false,
            },
        )
        .await
        .expect("canned response");
    let own_macro = app
        .db
        .create_macro(
            &admin,
            &atiende_domain::macros::MacroInput {
                name: "Mía".into(),
                steps: atiende_domain::macros::MacroSteps {
                    finish: atiende_domain::macros::MacroFinish::Close,
                    ..Default::default()
                },
                shared: false,
            },
        )
        .await
        .expect("macro");
    let own_view = app
        .db
        .save_view(admin.id, "Mía", "queue=open")
        .await
        .expect("saved view");
    // The control: B's responsible reaches the incident, so a refusal below is about the scope.
    assert_eq!(
        app.get(&format!("/incidentes/{folio}"), &responsible_b)
            .await
            .status,
        StatusCode::OK
    );

    let mut tried = 0;
    let mut failures = Vec::new();
    for (path, methods) in console_routes() {
        let first = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        let (caller, who) = match first {
            "incidentes" | "contactos" | "llamadas" | "conocimiento" => {
                (&responsible_a, "unit A's responsible")
            }
            "admin" | "calidad" | "responsables" | "preferencias" | "respuestas" | "macros"
            | "bandeja" => (&agent, "an agent"),
            // The person's own pages, opened with a one-time link, and the public help page:
            // their tokens and visibility have their own tests (privacy.rs, public pages).
            "encuesta" | "mis-datos" | "ayuda" => continue,
            // The person's portal: its own session, bound to one person (portal.rs proves
            // another person's folio is not found and the cookie opens no console page).
            "mis-solicitudes" => continue,
            // Signing in through an identity provider, before anyone is someone (sso.rs).
            "login" => continue,
            other => panic!("{path}: say who must not reach `/{other}/…` pages"),
        };
        let id = match first {
            "contactos" => contact.to_string(),
            "conocimiento" => article.id.to_string(),
            "admin" if path.contains("usuarios") => admin_id.to_string(),
            "admin" if path.contains("unidades") => theirs.to_string(),
            "admin" if path.contains("temas") => topic.to_string(),
            "preferencias" => admins_token.to_string(),
            "respuestas" => own_canned.id.to_string(),
            "macros" => own_macro.id.to_string(),
            "bandeja" => own_view.id.to_string(),
            _ => "1".into(),
        };
        // The incident's own actions, each a path of its own.
        let actions: &[&str] = if path.contains("{action}") {
            &[
                "clasificar",
                "responder",
                "pormenores",
                "cerrar",
                "reabrir",
                "nota",
                "derivar",
                "asignar",
                "escribiendo",
            ]
        } else {
            &[""]
        };
        for action in actions {
            let concrete = path
                .replace("{folio}", &folio)
                .replace("{action}", action)
                .replace("derivaciones/{id}", &format!("derivaciones/{derivation}"))
                .replace("{id}", &id)
                .replace("{message}", "1");
            for method in &methods {
                // Reading the knowledge base is every staff member's.
                if *method == Method::GET && first == "conocimiento" {
                    continue;
                }
                let reply = if *method == Method::GET {
                    app.get(&concrete, caller).await
                } else {
                    let Auth::Session { csrf, .. } = caller else {
                        panic!("session");
                    };
                    let body = format!(
                        "_csrf={csrf}&body=x&text=x&notes=x&reason=x&name=x&title=x&unit_id={theirs}\
                         &medium=email&role=agent&login=x&answer=x&user_id=&public=1&other_id={contact}"
                    );
                    app.form(&concrete, caller, &body).await
                };
                tried += 1;
                let location = reply.headers.get("location").and_then(|l| l.to_str().ok());
                if succeeded(reply.status, location) {
                    failures.push(format!("{who} got {} on {method} {concrete}", reply.status));
                }
            }
        }
    }
    assert!(tried >= 25, "only {tried} pages tried");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        app.get("/api/v1/session", &root).await.status,
        StatusCode::OK,
        "the administrator's token still works"
    );
}

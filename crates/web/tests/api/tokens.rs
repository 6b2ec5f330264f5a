//! API tokens carry scopes and may expire: a token does what its scopes cover, never more
//! than its owner's role; a read-only one changes nothing anywhere (every operation of the
//! OpenAPI document that is not a read is tried); only a token of every scope manages its
//! owner's account.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, Auth, PASSWORD, TestApp};

atiende_store::on_both_engines!(
    a_token_does_what_its_scopes_cover_within_its_owners_role,
    a_read_only_token_changes_nothing_through_any_operation,
    a_token_is_made_with_checked_scopes_and_expiry_and_listed_with_them,
    tokens_are_made_in_preferences_and_reviewed_and_revoked_in_administration,
);

/// A token made through the API by the signed-in `session` with `scopes`.
async fn token(app: &TestApp, session: &Auth, scopes: &[&str]) -> Auth {
    let made = app
        .post(
            "/api/v1/session/tokens",
            session,
            json!({"name": format!("integración {}", scopes.join("+")), "scopes": scopes}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    Auth::Bearer(made.json["token"].as_str().expect("token").into())
}

fn refused_by_scope(reply: &crate::helpers::Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "{what}: {}",
        reply.json
    );
    assert_eq!(reply.code(), "insufficient_scope", "{what}");
}

async fn a_token_does_what_its_scopes_cover_within_its_owners_role(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let read = token(&app, &admin, &["read"]).await;
    let incidents = token(&app, &admin, &["incidents_write"]).await;
    let quality = token(&app, &admin, &["quality"]).await;

    assert_eq!(
        app.get("/api/v1/incidents", &read).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/api/v1/audit", &read).await.status, StatusCode::OK);
    let person = json!({"name": "Ana Ruiz", "emails": ["ana.ruiz@alumnos.udg.mx"]});
    refused_by_scope(
        &app.post("/api/v1/contacts", &read, person.clone()).await,
        "a read-only token writes",
    );
    let made = app.post("/api/v1/contacts", &incidents, person).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    refused_by_scope(
        &app.get("/api/v1/audit", &incidents).await,
        "the audit trail is no incident's",
    );
    refused_by_scope(
        &app.post(
            "/api/v1/users",
            &incidents,
            json!({"login": "nueva", "role": "agent"}),
        )
        .await,
        "staff accounts with an incidents token",
    );
    refused_by_scope(
        &app.get("/api/v1/contacts", &quality).await,
        "contacts with a quality token",
    );

    // A token never exceeds its owner's role, whatever its scopes.
    let agent = app.staff("agente.token", Role::Agent, vec![]).await;
    let agents_session = app.login(&agent.login, PASSWORD).await;
    let agents_all = token(&app, &agents_session, &["admin"]).await;
    let refused = app
        .post(
            "/api/v1/users",
            &agents_all,
            json!({"login": "otra", "role": "admin"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "forbidden");

    // One's account: a session or a token of every scope, not a narrower one.
    let password =
        json!({"current_password": ADMIN_PASSWORD, "new_password": "otra-clave-muy-larga-9"});
    refused_by_scope(
        &app.post("/api/v1/session/password", &incidents, password)
            .await,
        "a password changed with an incidents token",
    );
    let mine = app.get("/api/v1/session/tokens", &read).await;
    assert_eq!(
        mine.status,
        StatusCode::OK,
        "a token may list its owner's tokens"
    );
    let id = mine.json[0]["id"].as_i64().expect("id");
    refused_by_scope(
        &app.call(
            Method::DELETE,
            &format!("/api/v1/session/tokens/{id}"),
            &incidents,
            None,
        )
        .await,
        "a token revoked with an incidents token",
    );
}

async fn a_read_only_token_changes_nothing_through_any_operation(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let read = token(&app, &admin, &["read"]).await;
    let doc = app.get("/api/v1/openapi.json", &admin).await.json;
    let mut tried = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            // Reads, and logging in (which takes no token).
            if method == Method::GET || operation["security"] == json!([]) {
                continue;
            }
            let concrete = path
                .split('/')
                .map(|segment| {
                    if segment.starts_with('{') {
                        "1"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let reply = app
                .call(
                    method.clone(),
                    &format!("/api/v1{concrete}"),
                    &read,
                    Some(Value::Object(Default::default())),
                )
                .await;
            refused_by_scope(&reply, &format!("{method} {path}"));
            tried += 1;
        }
    }
    assert!(tried > 20, "only {tried} operations change something?");
}

async fn a_token_is_made_with_checked_scopes_and_expiry_and_listed_with_them(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let unknown = app
        .post(
            "/api/v1/session/tokens",
            &admin,
            json!({"name": "x", "scopes": ["todo"]}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.json["error"]["fields"][0]["field"], "scopes");
    let forever = app
        .post(
            "/api/v1/session/tokens",
            &admin,
            json!({"name": "x", "expires_in_days": 0}),
        )
        .await;
    assert_eq!(forever.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        forever.json["error"]["fields"][0]["field"],
        "expires_in_days"
    );

    let made = app
        .post(
            "/api/v1/session/tokens",
            &admin,
            json!({"name": "BI de la Coordinación", "scopes": ["quality", "read"], "expires_in_days": 90}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.json);
    assert_eq!(made.json["scopes"], json!(["read", "quality"]));
    let listed = app.get("/api/v1/session/tokens", &admin).await.json;
    assert_eq!(listed[0]["name"], "BI de la Coordinación");
    assert_eq!(listed[0]["scopes"], json!(["read", "quality"]));
    assert!(listed[0]["expires_at"].is_string());
    // Without scopes, a token only reads.
    let plain = app
        .post(
            "/api/v1/session/tokens",
            &admin,
            json!({"name": "solo ver"}),
        )
        .await;
    assert_eq!(plain.json["scopes"], json!(["read"]));
}

async fn tokens_are_made_in_preferences_and_reviewed_and_revoked_in_administration(db: TestDb) {
    let app = TestApp::new(db).await;
    let agent = app.staff("agente.bi", Role::Agent, vec![]).await;
    let agents = app.login(&agent.login, PASSWORD).await;
    let Auth::Session { csrf, .. } = &agents else {
        panic!("session")
    };
    let made = app
        .form(
            "/preferencias/tokens",
            &agents,
            &format!("_csrf={csrf}&name=Tablero&scope=incidents_write&expires_in_days=30"),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    let page = made.json.as_str().unwrap_or_default().to_string();
    assert!(page.contains("atd_"), "shown once");
    assert!(page.contains("Incidentes y contactos"), "{page}");
    let refused = app
        .form(
            "/preferencias/tokens",
            &agents,
            &format!("_csrf={csrf}&name=Otro&scope=todo"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);

    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let Auth::Session { csrf, .. } = &admin else {
        panic!("session")
    };
    let listed = app.get("/admin", &admin).await;
    let page = listed.json.as_str().unwrap_or_default().to_string();
    assert!(
        page.contains("agente.bi")
            && page.contains("Tablero")
            && page.contains("Incidentes y contactos"),
        "every working token with its owner and scope"
    );
    let id = app.db.tokens_of(agent.id).await.expect("tokens")[0].id;
    let revoked = app
        .form(
            &format!("/admin/tokens/{id}/revocar"),
            &admin,
            &format!("_csrf={csrf}"),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(app.db.tokens_of(agent.id).await.expect("tokens").is_empty());
}

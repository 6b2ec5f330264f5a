//! Bad input gets a clear error in the envelope, the same on both engines, before any handler
//! or database sees it: a NUL character anywhere in the text, an address too long, an API
//! address or method that does not exist.

use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, TestApp};

atiende_store::on_both_engines!(
    an_unknown_api_address_or_method_answers_in_the_envelope_in_the_callers_language,
    a_nul_character_is_refused_with_a_400_wherever_it_comes,
    an_address_too_long_gets_a_414_at_once,
);

async fn a_nul_character_is_refused_with_a_400_wherever_it_comes(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let replies = [
        // Without login: the login form and the buzón.
        app.form("/login", &Auth::None, "login=ad%00min&password=x")
            .await,
        app.form(
            "/buzon",
            &Auth::None,
            "kind=suggestion&message=hola%00&name=Ana",
        )
        .await,
        // The API, in JSON, and in a query.
        app.post("/api/v1/contacts", &admin, json!({"name": "Ana\u{0}Ruiz"}))
            .await,
        app.get("/api/v1/contacts?q=an%00a", &admin).await,
    ];
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "#{n}: {:?}",
            reply.json
        );
        assert_eq!(reply.code(), "nul_in_text", "#{n}");
        assert!(
            reply.json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("carácter nulo")),
            "#{n}: {:?}",
            reply.json
        );
    }
    // Nothing was written, and a literal backslash-u0000 is only text.
    let listed = app.get("/api/v1/contacts", &admin).await;
    assert_eq!(listed.json["items"].as_array().map(Vec::len), Some(0));
    let literal = app
        .post("/api/v1/contacts", &admin, json!({"name": "Ana \\u0000"}))
        .await;
    assert_eq!(literal.status, StatusCode::CREATED, "{:?}", literal.json);
    assert_eq!(literal.json["name"], "Ana \\u0000");
}

async fn an_address_too_long_gets_a_414_at_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let long = "a".repeat(15_000);
    for path in [
        format!("/bandeja?x={long}"),
        format!("/buscar?q={long}"),
        format!("/api/v1/incidents?q={long}"),
        format!("/login?next=/{long}"),
    ] {
        let reply = app.call(Method::GET, &path, &admin, None).await;
        assert_eq!(reply.status, StatusCode::URI_TOO_LONG, "{}", &path[..20]);
        assert_eq!(reply.code(), "uri_too_long");
    }
    let fine = app
        .get(&format!("/buscar?q={}", "a".repeat(500)), &admin)
        .await;
    assert_eq!(fine.status, StatusCode::OK);
}

async fn an_unknown_api_address_or_method_answers_in_the_envelope_in_the_callers_language(
    db: TestDb,
) {
    let app = TestApp::new(db).await;
    let auth = app.login("admin", ADMIN_PASSWORD).await;
    let missing = app.get("/api/v1/no-existe", &auth).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        missing.json["error"]["message"],
        "No se encontró esa dirección de la API."
    );
    let wrong = app
        .call(Method::DELETE, "/api/v1/incidents", &auth, None)
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let english = app
        .call_with(
            Method::GET,
            "/api/v1/no-existe",
            &auth,
            None,
            &[("accept-language", "en")],
        )
        .await;
    assert_eq!(
        english.json["error"]["message"],
        "That API address was not found."
    );
    // The document and the API's own routes are where they were.
    assert_eq!(
        app.get("/api/v1/openapi.json", &auth).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/v1/incidents", &auth).await.status,
        StatusCode::OK
    );
}

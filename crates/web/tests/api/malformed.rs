//! Bad input gets a clear error in the envelope, the same on both engines, before any handler
//! or database sees it: a NUL character anywhere in the text, an address too long, an API
//! address or method that does not exist.

use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, TestApp};

atiende_store::on_both_engines!(
    an_unknown_api_address_or_method_answers_in_the_envelope_in_the_callers_language,
    a_body_that_is_not_json_or_has_a_wrong_field_is_told_in_the_callers_words,
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

async fn a_body_that_is_not_json_or_has_a_wrong_field_is_told_in_the_callers_words(db: TestDb) {
    let app = TestApp::new(db).await;
    let auth = app.login("admin", ADMIN_PASSWORD).await;
    let raw = |body: &'static str, content_type: &'static str| {
        let auth = auth.clone();
        let app = &app;
        async move {
            let Auth::Session { cookie, csrf } = &auth else {
                panic!("a session")
            };
            let cookie = format!("atiende_session={cookie}");
            app.raw(
                "/api/v1/contacts",
                content_type,
                body.as_bytes().to_vec(),
                &[("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())],
            )
            .await
        }
    };
    let broken = raw("{\"name\": ", "application/json").await;
    assert_eq!(
        (broken.status, broken.code()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    assert_eq!(
        broken.json["error"]["message"],
        "El cuerpo de la solicitud no es JSON válido."
    );
    let form = raw("name=Ana", "application/x-www-form-urlencoded").await;
    assert_eq!(
        (form.status, form.code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "json_expected")
    );
    // A field of the wrong type: 422, naming it, in Spanish, without the parser's English.
    let wrong = app
        .post(
            "/api/v1/contacts",
            &auth,
            json!({"name": "Ana", "emails": "ana@udg.mx"}),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation")
    );
    assert_eq!(
        wrong.json["error"]["fields"][0]["field"], "emails",
        "{}",
        wrong.json
    );
    assert_eq!(wrong.json["error"]["fields"][0]["code"], "invalid_type");
    // A query parameter that does not read: the same, naming it.
    let query = app.get("/api/v1/incidents?limit=muchos", &auth).await;
    assert_eq!(
        (query.status, query.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation")
    );
    assert_eq!(
        query.json["error"]["fields"][0]["field"], "limit",
        "{}",
        query.json
    );
    for reply in [&wrong, &query] {
        let text = reply.json.to_string();
        for english in [
            "invalid type",
            "invalid digit",
            "expected",
            "Failed",
            "deserialize",
        ] {
            assert!(!text.contains(english), "{english}: {text}");
        }
    }
}

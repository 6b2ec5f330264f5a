//! The sign-in policy by API: read, and refused where it would lock everyone out.

use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

atiende_store::on_both_engines!(requiring_single_sign_on_without_a_provider_is_refused_by_api);

async fn requiring_single_sign_on_without_a_provider_is_refused_by_api(db: TestDb) {
    let app = TestApp::new(db).await;
    let admin = app.token_for("admin2", Role::Admin, vec![]).await;
    let policy = app.get("/api/v1/settings/sign-in", &admin).await;
    assert_eq!(
        policy.json,
        json!({"sso_required": false, "break_glass_login": "admin"})
    );
    let refused = app
        .call(
            Method::PUT,
            "/api/v1/settings/sign-in",
            &admin,
            Some(json!({"sso_required": true, "break_glass_login": "admin"})),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.json
    );
    assert_eq!(
        refused.json["error"]["fields"][0]["code"],
        "no_identity_provider"
    );
    let saved = app
        .call(
            Method::PUT,
            "/api/v1/settings/sign-in",
            &admin,
            Some(json!({"sso_required": false, "break_glass_login": " Admin2 "})),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.json);
    assert_eq!(
        saved.json["break_glass_login"], "admin2",
        "as the store keeps it"
    );
}

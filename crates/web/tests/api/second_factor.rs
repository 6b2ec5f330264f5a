//! The second factor of local-password accounts, with codes computed here as an authenticator
//! app computes them (RFC 6238): administrators set one up before anything else (the
//! default), then sign in with a code — each code once, each recovery code once — in the
//! console and through the API; an administrator removes a lost one.

use atiende_domain::second_factor::SecondFactorRule;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, Jar, TestApp, to_atiende};

atiende_store::on_both_engines!(
    an_administrator_sets_up_a_second_factor_first_then_signs_in_with_each_code_once,
    its_owner_renews_the_recovery_codes_and_removes_it_proving_the_app_first,
    an_administrator_removes_a_lost_second_factor_and_its_owner_sets_it_up_again,
);

/// The product's default: administrators need a second factor.
async fn app(db: TestDb) -> TestApp {
    let config = atiende_web::WebConfig {
        second_factor: SecondFactorRule::default(),
        ..crate::helpers::config()
    };
    TestApp::with_config(db, config).await
}

/// The code an authenticator app shows for `secret` at `unix` seconds, computed here.
fn app_code(secret: &str, unix: u64) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("an RFC 6238 TOTP");
    totp.generate(unix).to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    text.split(start)
        .nth(1)
        .and_then(|rest| rest.split(end).next())
        .unwrap_or_else(|| panic!("`{start}` in {text}"))
}

/// Signs in as the administrator through the console's form; the outcome.
async fn console_login(app: &TestApp, jar: &mut Jar) -> crate::helpers::Outcome {
    let page = to_atiende(app, jar, Method::GET, "/login", "").await;
    let csrf = between(&page.body, "name=\"_csrf\" value=\"", "\"").to_string();
    let body = format!("_csrf={csrf}&login=admin&password={ADMIN_PASSWORD}&next=%2Fadmin");
    to_atiende(app, jar, Method::POST, "/login", &body).await
}

/// Sets up the administrator's second factor from the console: the secret and the recovery
/// codes shown.
async fn enrol(app: &TestApp, jar: &mut Jar) -> (String, Vec<String>) {
    let page = to_atiende(app, jar, Method::GET, "/preferencias/segundo-factor", "").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code");
    let secret = between(&page.body, "<code id=\"secret\">", "</code>").to_string();
    let csrf = between(&page.body, "name=\"_csrf\" value=\"", "\"").to_string();
    // A wrong code first: refused, nothing changes.
    let wrong = to_atiende(
        app,
        jar,
        Method::POST,
        "/preferencias/segundo-factor",
        &format!("_csrf={csrf}&code=000000"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("no es correcto"), "{}", wrong.body);
    let code = app_code(&secret, now());
    let done = to_atiende(
        app,
        jar,
        Method::POST,
        "/preferencias/segundo-factor",
        &format!("_csrf={csrf}&code={code}"),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let codes: Vec<String> = done
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_string)
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    (secret, codes)
}

async fn api_login(app: &TestApp, code: Option<&str>) -> crate::helpers::Reply {
    let mut body = json!({"login": "admin", "password": ADMIN_PASSWORD});
    if let Some(c) = code {
        body["code"] = json!(c);
    }
    app.post("/api/v1/session", &Auth::None, body).await
}

async fn an_administrator_sets_up_a_second_factor_first_then_signs_in_with_each_code_once(
    db: TestDb,
) {
    let app = app(db).await;
    // The first sign-in with the password alone: nothing but setting it up.
    let mut jar = Jar::default();
    let first = console_login(&app, &mut jar).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let cookie = first.session.clone().expect("a session");
    let admin_page = to_atiende(&app, &mut jar, Method::GET, "/admin", "").await;
    assert_eq!(
        admin_page.location.as_deref(),
        Some("/preferencias/segundo-factor")
    );
    let api = app
        .get("/api/v1/users", &Auth::CookieOnly(cookie.clone()))
        .await;
    assert_eq!(
        (api.status, api.code()),
        (StatusCode::UNAUTHORIZED, "second_factor_required")
    );
    let (secret, recovery) = enrol(&app, &mut jar).await;
    let admin_page = to_atiende(&app, &mut jar, Method::GET, "/admin", "").await;
    assert_eq!(admin_page.status, StatusCode::OK);

    // The console asks for the code after the password; the next step's code signs in.
    let mut browser = Jar::default();
    let step_one = console_login(&app, &mut browser).await;
    assert_eq!(step_one.status, StatusCode::OK);
    assert!(step_one.session.is_none(), "no session before the code");
    assert!(step_one.body.contains("/login/codigo"), "{}", step_one.body);
    let csrf = between(&step_one.body, "name=\"_csrf\" value=\"", "\"").to_string();
    let code = app_code(&secret, now() + 30);
    let signed = to_atiende(
        &app,
        &mut browser,
        Method::POST,
        "/login/codigo",
        &format!("_csrf={csrf}&code={code}"),
    )
    .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/admin"));
    assert!(signed.session.is_some());

    // The same code again, through the API: used already.
    let missing = api_login(&app, None).await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNAUTHORIZED, "second_factor_required")
    );
    let replayed = api_login(&app, Some(&code)).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
    // A recovery code works once.
    let recovered = api_login(&app, Some(&recovery[0].to_uppercase())).await;
    assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.json);
    assert_eq!(recovered.json["user"]["second_factor"], true);
    let again = api_login(&app, Some(&recovery[0])).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    // A code typed on the code page without having given the password goes nowhere.
    let stray = to_atiende(
        &app,
        &mut Jar::default(),
        Method::POST,
        "/login/codigo",
        &format!("_csrf={csrf}&code={}", recovery[1]),
    )
    .await;
    assert_eq!(stray.location.as_deref(), Some("/login"));
    assert!(stray.session.is_none());
}

async fn its_owner_renews_the_recovery_codes_and_removes_it_proving_the_app_first(db: TestDb) {
    let app = app(db).await;
    let mut jar = Jar::default();
    console_login(&app, &mut jar).await;
    let (secret, old_codes) = enrol(&app, &mut jar).await;
    let page = to_atiende(
        &app,
        &mut jar,
        Method::GET,
        "/preferencias/segundo-factor",
        "",
    )
    .await;
    assert!(page.body.contains("está activo"), "{}", page.body);
    let csrf = between(&page.body, "name=\"_csrf\" value=\"", "\"").to_string();
    let wrong = to_atiende(
        &app,
        &mut jar,
        Method::POST,
        "/preferencias/segundo-factor/codigos",
        &format!("_csrf={csrf}&code=123456"),
    )
    .await;
    assert!(wrong.body.contains("no es correcto"), "{}", wrong.body);
    let renewed = to_atiende(
        &app,
        &mut jar,
        Method::POST,
        "/preferencias/segundo-factor/codigos",
        &format!("_csrf={csrf}&code={}", app_code(&secret, now() + 30)),
    )
    .await;
    let new_codes: Vec<String> = renewed
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(str::to_string)
        .collect();
    assert_eq!(new_codes.len(), 10, "{}", renewed.body);
    assert_eq!(
        api_login(&app, Some(&old_codes[0])).await.status,
        StatusCode::UNAUTHORIZED,
        "the old codes no longer work"
    );
    let removed = to_atiende(
        &app,
        &mut jar,
        Method::POST,
        "/preferencias/segundo-factor/quitar",
        &format!("_csrf={csrf}&code={}", new_codes[0]),
    )
    .await;
    assert_eq!(
        removed.location.as_deref(),
        Some("/preferencias/segundo-factor")
    );
    let admin = app.db.user_by_login("admin").await.expect("admin");
    assert!(!admin.second_factor);
}

async fn an_administrator_removes_a_lost_second_factor_and_its_owner_sets_it_up_again(db: TestDb) {
    let app = app(db).await;
    let admin = app.db.user_by_login("admin").await.expect("admin");
    let mut jar = Jar::default();
    console_login(&app, &mut jar).await;
    enrol(&app, &mut jar).await;
    let lost = app.db.user(admin.id).await.expect("admin");
    assert!(lost.second_factor);
    // Removed from the administration page (here by the administrator themself, as another
    // would for someone who lost their phone).
    let page = to_atiende(&app, &mut jar, Method::GET, "/admin", "").await;
    let csrf = between(&page.body, "name=\"_csrf\" value=\"", "\"").to_string();
    assert!(page.body.contains("remove_second_factor"));
    let removed = to_atiende(
        &app,
        &mut jar,
        Method::POST,
        &format!("/admin/usuarios/{}", admin.id),
        &format!("_csrf={csrf}&role=admin&remove_second_factor=1"),
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert!(!app.db.user(admin.id).await.expect("admin").second_factor);
    let password_only = api_login(&app, None).await;
    assert_eq!(
        password_only.status,
        StatusCode::OK,
        "{}",
        password_only.json
    );
    let cookie = crate::helpers::session_cookie(&password_only);
    let gated = app.get("/api/v1/users", &Auth::CookieOnly(cookie)).await;
    assert_eq!(
        gated.code(),
        "second_factor_required",
        "set it up again first"
    );
    let trail = app
        .db
        .audit(&atiende_store::audit::AuditQuery {
            entity_id: Some(admin.id.to_string()),
            limit: 20,
            ..Default::default()
        })
        .await
        .expect("audit");
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"user.second_factor_on"), "{actions:?}");
    assert!(actions.contains(&"user.second_factor_off"), "{actions:?}");
}

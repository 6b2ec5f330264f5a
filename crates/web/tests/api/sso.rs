//! Staff sign in with the institution's account, against a real OpenID provider (npm's
//! certified `oidc-provider`, started by `scripts/test`): matched by verified email, refused
//! when unknown, unverified, disabled or when the ID token is spoiled, given an account only
//! where the institution allows it, and logged out of the provider too. Passwords can be
//! refused for everyone but the break-glass administrator.

use atiende_channels::testing::{agent, provider_url, through_provider};
use atiende_domain::sign_in::IdentityProvider;
use atiende_domain::sign_in::{AccountRules, SignInPolicy};
use atiende_domain::user::{Role, UserInput};
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use atiende_web::WebConfig;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Auth, Jar, Outcome, PASSWORD, TestApp, to_atiende};

atiende_store::on_both_engines!(
    staff_sign_in_with_the_institutions_account_matched_by_their_verified_email,
    an_unknown_unverified_or_disabled_person_is_refused,
    a_person_gets_an_account_only_where_the_institution_allows_it_never_as_administrator,
    a_spoiled_id_token_signs_nobody_in,
    a_callback_that_did_not_start_here_signs_nobody_in,
    when_sso_is_required_only_the_break_glass_administrator_uses_a_password,
    an_administrator_adds_a_provider_in_the_console_and_staff_sign_in_with_it,
);

const BASE: &str = "http://127.0.0.1:8080";

/// Registers atiende with the provider (dynamic registration), as an administrator registers
/// it with Google or Entra ID.
async fn provider(rules: AccountRules) -> IdentityProvider {
    let issuer = provider_url();
    let client = atiende_channels::testing::register(
        vec![format!("{BASE}/login/sso/udg/callback")],
        json!({ "post_logout_redirect_uris": [format!("{BASE}/login")] }),
    )
    .await;
    IdentityProvider {
        id: "udg".into(),
        name: "Cuenta UDG".into(),
        issuer,
        client_id: client.id,
        client_secret: atiende_domain::secret::Secret::new(client.secret),
        scopes: vec!["groups".into()],
        groups_claim: "groups".into(),
        accounts: rules,
    }
}

async fn app_with(db: TestDb, rules: AccountRules) -> TestApp {
    let config = WebConfig {
        sso: vec![provider(rules).await],
        ..crate::helpers::config()
    };
    TestApp::with_config(db, config).await
}

/// Signs in as `login` on the provider's sign-in page (any password), following every
/// redirect as a browser does, from atiende's button to atiende's callback.
async fn sign_in(app: &TestApp, jar: &mut Jar, login: &str) -> Outcome {
    let start = to_atiende(app, jar, Method::GET, "/login/sso/udg?next=/bandeja", "").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let url = start.location.expect("to the provider");
    let back = through_provider(url, login, BASE).await;
    let path = back
        .strip_prefix(BASE)
        .expect("atiende's address")
        .to_string();
    to_atiende(app, jar, Method::GET, &path, "").await
}

async fn staff_with_email(app: &TestApp, login: &str, email: &str, role: Role) {
    app.db
        .create_user(
            Actor::System,
            &UserInput {
                login: Some(login.into()),
                email: Some(email.into()),
                role: Some(role),
                password: Some(PASSWORD.into()),
                ..Default::default()
            },
        )
        .await
        .expect("staff");
}

async fn whoami(app: &TestApp, cookie: &str) -> serde_json::Value {
    let reply = app
        .get("/api/v1/session", &Auth::CookieOnly(cookie.to_string()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

async fn staff_sign_in_with_the_institutions_account_matched_by_their_verified_email(db: TestDb) {
    let app = app_with(db, AccountRules::default()).await;
    staff_with_email(&app, "ana", "ana.garcia@udg.mx", Role::Agent).await;
    let mut jar = Jar::default();
    let page = to_atiende(&app, &mut jar, Method::GET, "/login", "").await;
    assert!(page.body.contains("Entrar con Cuenta UDG"), "{}", page.body);

    let signed = sign_in(&app, &mut jar, "ANA.Garcia@udg.mx").await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location.as_deref(), Some("/bandeja"));
    let cookie = signed.session.expect("a session");
    assert_eq!(whoami(&app, &cookie).await["user"]["login"], "ana");

    // Logging out ends atiende's session and the provider's.
    let form = to_atiende(&app, &mut jar, Method::GET, "/bandeja", "").await;
    let csrf = form
        .body
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("the console's CSRF token")
        .to_string();
    let out = to_atiende(
        &app,
        &mut jar,
        Method::POST,
        "/logout",
        &format!("_csrf={csrf}"),
    )
    .await;
    // A page that moves on to the provider's logout (a form may not redirect off-site).
    assert_eq!(out.status, StatusCode::OK);
    let to = out
        .body
        .split("url=")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("a refresh to the provider")
        .replace("&amp;", "&");
    assert!(
        to.starts_with(&format!("{}/session/end?", provider_url()))
            && to.contains("post_logout_redirect_uri"),
        "{to}"
    );
    let gone = app.get("/api/v1/session", &Auth::CookieOnly(cookie)).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

async fn an_unknown_unverified_or_disabled_person_is_refused(db: TestDb) {
    let app = app_with(db, AccountRules::default()).await;
    staff_with_email(&app, "beto", "beto@udg.mx", Role::Agent).await;
    staff_with_email(&app, "noverificado", "noverificado@udg.mx", Role::Agent).await;
    for (login, says) in [
        ("nadie@udg.mx", "no tiene acceso a atiende"),
        ("noverificado@udg.mx", "no tiene un correo verificado"),
    ] {
        let mut jar = Jar::default();
        let refused = sign_in(&app, &mut jar, login).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{login}");
        assert!(refused.body.contains(says), "{login}: {}", refused.body);
        assert!(refused.session.is_none());
    }
    // Disabled in atiende: whatever the provider says.
    let beto = app.db.user_by_login("beto").await.expect("beto");
    app.db
        .update_user(
            Actor::System,
            beto.id,
            &UserInput {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .expect("disable");
    let refused = sign_in(&app, &mut Jar::default(), "beto@udg.mx").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("deshabilitada"), "{}", refused.body);
}

async fn a_person_gets_an_account_only_where_the_institution_allows_it_never_as_administrator(
    db: TestDb,
) {
    let rules = AccountRules {
        create_accounts: true,
        default_role: Some(Role::Agent),
        group_roles: [("cap-lideres".to_string(), Role::CapLead)].into(),
        group_units: Default::default(),
    };
    let app = app_with(db, rules).await;
    let agent = sign_in(&app, &mut Jar::default(), "nuevo@udg.mx").await;
    assert_eq!(agent.status, StatusCode::SEE_OTHER, "{}", agent.body);
    let me = whoami(&app, &agent.session.expect("session")).await;
    assert_eq!(
        (me["user"]["login"].as_str(), me["user"]["role"].as_str()),
        (Some("nuevo@udg.mx"), Some("agent"))
    );
    // The provider's group makes a lead.
    let lead = sign_in(&app, &mut Jar::default(), "lider.nueva@udg.mx").await;
    let me = whoami(&app, &lead.session.expect("session")).await;
    assert_eq!(me["user"]["role"], "cap_lead");
    // A provider rule that would make an administrator is refused with the configuration.
    let admin = IdentityProvider {
        accounts: AccountRules {
            default_role: Some(Role::Admin),
            ..Default::default()
        },
        ..provider(AccountRules::default()).await
    };
    assert!(admin.check().is_err());
}

async fn a_spoiled_id_token_signs_nobody_in(db: TestDb) {
    let idp = provider(AccountRules::default()).await;
    let client = idp.client_id.clone();
    let config = WebConfig {
        sso: vec![idp],
        ..crate::helpers::config()
    };
    let app = TestApp::with_config(db, config).await;
    staff_with_email(&app, "ana", "ana@udg.mx", Role::Agent).await;
    for fault in ["audience", "expired", "issuer", "tampered"] {
        let url = format!(
            "{}/test/next-id-token/{fault}?client_id={client}",
            provider_url()
        );
        tokio::task::spawn_blocking(move || agent().post(&url).send_empty().expect("fault"))
            .await
            .expect("fault set");
        let refused = sign_in(&app, &mut Jar::default(), "ana@udg.mx").await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{fault}: {}",
            refused.body
        );
        assert!(refused.session.is_none(), "{fault}");
        assert!(
            refused.body.contains("no se completó"),
            "{fault}: {}",
            refused.body
        );
    }
    // And the next, unspoiled, signs in.
    let fine = sign_in(&app, &mut Jar::default(), "ana@udg.mx").await;
    assert!(fine.session.is_some(), "{}", fine.body);
}

async fn a_callback_that_did_not_start_here_signs_nobody_in(db: TestDb) {
    let app = app_with(db, AccountRules::default()).await;
    staff_with_email(&app, "ana", "ana@udg.mx", Role::Agent).await;
    // Someone else's code and state, in a browser that never left for the provider.
    let stray = to_atiende(
        &app,
        &mut Jar::default(),
        Method::GET,
        "/login/sso/udg/callback?code=abc&state=xyz",
        "",
    )
    .await;
    assert_eq!(stray.status, StatusCode::BAD_REQUEST);
    assert!(stray.session.is_none());
    // A browser that left, coming back with another state.
    let mut jar = Jar::default();
    to_atiende(&app, &mut jar, Method::GET, "/login/sso/udg", "").await;
    let wrong = to_atiende(
        &app,
        &mut jar,
        Method::GET,
        "/login/sso/udg/callback?code=abc&state=otro",
        "",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    // An unknown provider.
    let unknown = to_atiende(
        &app,
        &mut Jar::default(),
        Method::GET,
        "/login/sso/otro",
        "",
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn when_sso_is_required_only_the_break_glass_administrator_uses_a_password(db: TestDb) {
    let app = app_with(db, AccountRules::default()).await;
    staff_with_email(&app, "ana", "ana@udg.mx", Role::Agent).await;
    let admin = app.db.user_by_login("admin").await.expect("admin");
    // The break-glass account must be an enabled administrator.
    let wrong = SignInPolicy {
        sso_required: true,
        break_glass_login: "ana".into(),
    };
    assert!(
        app.db
            .save_sign_in_policy(Actor::Staff(&admin), &wrong)
            .await
            .is_err()
    );
    app.db
        .save_sign_in_policy(
            Actor::Staff(&admin),
            &SignInPolicy {
                sso_required: true,
                ..Default::default()
            },
        )
        .await
        .expect("policy");
    let refused = app
        .post(
            "/api/v1/session",
            &Auth::None,
            json!({"login": "ana", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "sso_required")
    );
    app.login("admin", ADMIN_PASSWORD).await;
    // The login page leads with the provider and folds the password form away.
    let page = to_atiende(&app, &mut Jar::default(), Method::GET, "/login", "").await;
    assert!(
        page.body.contains("Acceso local de emergencia"),
        "{}",
        page.body
    );
    // And the institution's account still signs in.
    let signed = sign_in(&app, &mut Jar::default(), "ana@udg.mx").await;
    assert!(signed.session.is_some(), "{}", signed.body);
}

async fn an_administrator_adds_a_provider_in_the_console_and_staff_sign_in_with_it(db: TestDb) {
    let app = TestApp::new(db).await;
    staff_with_email(&app, "ana", "ana@udg.mx", Role::Agent).await;
    let registered = provider(AccountRules::default()).await;
    let secret = registered.client_secret.expose().to_string();
    let admin = app.login("admin", ADMIN_PASSWORD).await;
    let Auth::Session { csrf, .. } = &admin else {
        panic!("a session")
    };
    let enc = |v: &str| serde_urlencoded::to_string([("v", v)]).expect("form")[2..].to_string();
    let form = format!(
        "_csrf={csrf}&id=udg&name={}&issuer={}&client_id={}&client_secret={}&scopes=groups&groups_claim=groups&default_role=agent",
        enc("Cuenta UDG"),
        enc(&registered.issuer),
        enc(&registered.client_id),
        enc(&secret)
    );
    let saved = app.form("/admin/acceso/proveedores", &admin, &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.json);
    assert!(
        app.db.columns_containing(&secret).await.is_empty(),
        "the client secret is sealed"
    );
    let page = to_atiende(&app, &mut Jar::default(), Method::GET, "/login", "").await;
    assert!(page.body.contains("Entrar con Cuenta UDG"), "{}", page.body);
    let signed = sign_in(&app, &mut Jar::default(), "ana@udg.mx").await;
    assert!(signed.session.is_some(), "{}", signed.body);

    let gone = app
        .form(
            "/admin/acceso/proveedores/udg/quitar",
            &admin,
            &format!("_csrf={csrf}"),
        )
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    let page = to_atiende(&app, &mut Jar::default(), Method::GET, "/login", "").await;
    assert!(!page.body.contains("Entrar con"), "{}", page.body);
}

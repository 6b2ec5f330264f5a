//! An administrator connects a mailbox that signs in by OAuth 2.0 token from *Administración →
//! Buzones de correo*: consent at the provider (the local OpenID provider started by
//! `scripts/test`), the browser back to atiende, the tokens kept. The mailbox's row says whether
//! it is connected, and a grant the provider revoked shows there and in `/readyz`.

use atiende_channels::email::oauth::{self, TokenError};
use atiende_channels::testing as provider;
use atiende_domain::mail_auth::GrantState;
use atiende_domain::user::Role;
use atiende_store::testing::TestDb;
use axum::http::{Method, StatusCode};

use crate::helpers::{ADMIN_PASSWORD, Auth, Jar, PASSWORD, TestApp, to_atiende};

atiende_store::on_both_engines!(
    an_administrator_connects_a_mailbox_through_its_providers_consent,
    a_consent_that_did_not_start_here_connects_nothing,
);

/// The administrator's browser, signed in, and the CSRF token of its session.
async fn administrator(app: &TestApp) -> (Jar, String) {
    let Auth::Session { cookie, csrf } = app.login("admin", ADMIN_PASSWORD).await else {
        panic!("a session")
    };
    let mut jar = Jar::default();
    jar.0.insert("atiende_session".into(), cookie);
    (jar, csrf)
}

/// Adds a mailbox signing in by token through the provider's application, from the form.
async fn mailbox_by_token(app: &TestApp, jar: &mut Jar, csrf: &str, address: &str) -> i64 {
    let base = crate::helpers::config().base_url;
    let client = provider::register(
        vec![format!("{base}/admin/buzones/oauth")],
        serde_json::json!({ "grant_types": ["authorization_code", "refresh_token"] }),
    )
    .await;
    let issuer = provider::provider_url();
    let form = serde_urlencoded::to_string([
        ("_csrf", csrf),
        ("name", "Buzón OAuth"),
        ("address", address),
        ("channel", "email"),
        ("imap_host", "imap.udg.test"),
        ("imap_port", "993"),
        ("imap_security", "tls"),
        ("imap_user", address),
        ("smtp_host", "smtp.udg.test"),
        ("smtp_port", "587"),
        ("smtp_security", "starttls"),
        ("auth", "xoauth2"),
        ("oauth_preset", ""),
        ("oauth_authorization_url", &format!("{issuer}/auth")),
        ("oauth_token_url", &format!("{issuer}/token")),
        ("oauth_client_id", &client.id),
        ("oauth_client_secret", &client.secret),
        ("oauth_scopes", "openid offline_access"),
        ("active", "1"),
    ])
    .expect("form");
    let saved = to_atiende(app, jar, Method::POST, "/admin/buzones", &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let mailboxes = app.db.mailboxes().await.expect("mailboxes");
    let m = mailboxes
        .iter()
        .find(|m| m.address == address)
        .expect("saved");
    assert_eq!(m.grant, GrantState::NotConnected);
    m.id
}

async fn admin_page(app: &TestApp, jar: &mut Jar) -> String {
    let page = to_atiende(app, jar, Method::GET, "/admin", "").await;
    assert_eq!(page.status, StatusCode::OK);
    page.body
}

/// The mailbox's "connect" link, followed.
async fn connect_link(app: &TestApp, jar: &mut Jar, id: i64) -> crate::helpers::Outcome {
    let path = format!("/admin/buzones/{id}/conectar");
    to_atiende(app, jar, Method::GET, &path, "").await
}

async fn readyz(app: &TestApp) -> String {
    let reply = app.get("/readyz", &Auth::None).await;
    assert_eq!(reply.status, StatusCode::OK, "still ready to serve");
    reply.json.as_str().unwrap_or_default().to_string()
}

async fn an_administrator_connects_a_mailbox_through_its_providers_consent(db: TestDb) {
    let app = TestApp::new(db).await;
    let (mut jar, csrf) = administrator(&app).await;
    let address = "cap.oauth@udg.mx";
    let id = mailbox_by_token(&app, &mut jar, &csrf, address).await;
    assert!(admin_page(&app, &mut jar).await.contains("Sin conectar"));
    assert!(readyz(&app).await.contains("is not connected"));

    // Only an administrator may connect it.
    let agent = app.staff("agente.buzon", Role::Agent, vec![]).await;
    let Auth::Session { cookie, .. } = app.login(&agent.login, PASSWORD).await else {
        panic!("session")
    };
    let mut agents = Jar::default();
    agents.0.insert("atiende_session".into(), cookie);
    let refused = connect_link(&app, &mut agents, id).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let begin = connect_link(&app, &mut jar, id).await;
    assert_eq!(begin.status, StatusCode::SEE_OTHER, "{}", begin.body);
    let to_provider = begin.location.expect("to the provider");
    assert!(to_provider.contains("prompt=consent"), "{to_provider}");
    assert!(to_provider.contains("code_challenge="), "PKCE");
    let base = crate::helpers::config().base_url;
    let back = provider::through_provider(to_provider, address, &base).await;
    let done = to_atiende(
        &app,
        &mut jar,
        Method::GET,
        back.strip_prefix(&base).expect("atiende's address"),
        "",
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location.as_deref(), Some("/admin?ok=1#buzones"));

    let m = app.db.mailbox(id).await.expect("mailbox");
    assert_eq!(m.grant, GrantState::Connected);
    assert_eq!(m.oauth_connected_by, "admin");
    let tokens = app.db.mailbox_tokens(id).await.expect("tokens");
    assert!(!tokens.refresh_token.is_empty() && !tokens.access_token.is_empty());
    let page = admin_page(&app, &mut jar).await;
    assert!(page.contains("Conectado") && page.contains("Volver a conectar"));
    assert_eq!(readyz(&app).await, "ready");

    // The provider revokes the grant (someone withdrew the consent): the next token needed
    // finds out, and the mailbox says so to administrators and to monitoring.
    let issuer_client = provider::Client {
        id: m.oauth.client_id.clone(),
        secret: m.oauth_client_secret.expose().to_string(),
    };
    provider::revoke(&issuer_client, tokens.refresh_token.expose()).await;
    let outcome = oauth::access_token(&app.db, &m, Some(&tokens.access_token)).await;
    assert!(
        matches!(outcome, Err(TokenError::Revoked(_))),
        "{outcome:?}"
    );
    let page = admin_page(&app, &mut jar).await;
    assert!(
        page.contains("Autorización revocada: vuelva a conectarlo"),
        "{page}"
    );
    let ready = readyz(&app).await;
    assert!(
        ready.starts_with("ready\n") && ready.contains("Buzón OAuth") && ready.contains("revoked"),
        "{ready}"
    );
}

async fn a_consent_that_did_not_start_here_connects_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let (mut jar, csrf) = administrator(&app).await;
    let id = mailbox_by_token(&app, &mut jar, &csrf, "cap.ajeno@udg.mx").await;
    // A code and state that someone else's browser obtained, without this browser's cookie.
    let forged = to_atiende(
        &app,
        &mut jar,
        Method::GET,
        "/admin/buzones/oauth?code=ajeno&state=ajeno",
        "",
    )
    .await;
    assert_eq!(forged.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(forged.body.contains("El proveedor no autorizó el buzón"));
    // Begun here, but the state coming back is not the one given.
    let begin = connect_link(&app, &mut jar, id).await;
    assert_eq!(begin.status, StatusCode::SEE_OTHER);
    let swapped = to_atiende(
        &app,
        &mut jar,
        Method::GET,
        "/admin/buzones/oauth?code=x&state=otro",
        "",
    )
    .await;
    assert_eq!(swapped.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.db.mailbox(id).await.expect("mailbox").grant,
        GrantState::NotConnected
    );
}

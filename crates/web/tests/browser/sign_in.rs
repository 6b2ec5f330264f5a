//! Signing in with the institution's account in a real Chromium, against the local OpenID
//! provider (npm's oidc-provider, started by `scripts/test`): the button, the provider's
//! sign-in page, the console, and logging out of both; a person the CAP does not know is sent
//! back with the reason; when passwords are refused, the password form folds away. And the
//! second factor of a password sign-in: set up with the QR code, then the app's code.

use atiende_domain::sign_in::IdentityProvider;
use atiende_domain::sign_in::{AccountRules, SignInPolicy};
use atiende_domain::user::{Role, UserInput};
use atiende_store::Actor;
use atiende_store::testing::TestDb;
use atiende_web::WebConfig;

use crate::harness::{Browser, PASSWORD, Site};

atiende_store::on_both_engines!(
    staff_sign_in_through_the_institutions_provider_and_out_of_both,
    a_person_the_cap_does_not_know_is_sent_back_with_the_reason,
    an_administrator_sets_up_the_second_factor_and_signs_in_with_the_apps_code,
);

/// The local OpenID provider, or a clear word on how to get one.
fn provider_url() -> String {
    std::env::var("ATIENDE_TEST_OIDC_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs the local OpenID provider (npm's oidc-provider). Run the suite with \
             `scripts/test`, which starts one, or start `node scripts/oidc-provider/provider.mjs \
             9400` and set ATIENDE_TEST_OIDC_URL=http://127.0.0.1:9400"
        )
    })
}

/// A site registered with the provider (dynamic registration) for its own address.
async fn site(db: TestDb) -> Site {
    Site::start_with(db, |base| async move {
        let issuer = provider_url();
        let reg = format!("{issuer}/reg");
        let client: serde_json::Value = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut reply = agent
                .post(&reg)
                .send_json(serde_json::json!({
                    "redirect_uris": [format!("{base}/login/sso/udg/callback")],
                    "post_logout_redirect_uris": [format!("{base}/login")],
                }))
                .expect("registration");
            reply.body_mut().read_json().expect("client")
        })
        .await
        .expect("registration");
        WebConfig {
            sso: vec![IdentityProvider {
                id: "udg".into(),
                name: "Cuenta UDG".into(),
                issuer,
                client_id: client["client_id"].as_str().expect("id").into(),
                client_secret: atiende_domain::secret::Secret::new(
                    client["client_secret"].as_str().expect("secret"),
                ),
                scopes: vec![],
                groups_claim: String::new(),
                accounts: AccountRules::default(),
            }],
            ..crate::harness::config()
        }
    })
    .await
}

/// From the login page's button to the provider's sign-in page, signing in there as `login`.
async fn through_the_provider(b: &Browser, login: &str) {
    b.goto("/login").await;
    assert!(b.text().await.contains("Entrar con Cuenta UDG"));
    b.submit("a[href^='/login/sso/udg']").await;
    b.wait_for_path("/interaction/").await;
    b.fill("input[name=login]", login).await;
    b.fill("input[name=password]", "cualquiera").await;
    b.submit("button[type=submit]").await;
}

async fn staff_sign_in_through_the_institutions_provider_and_out_of_both(db: TestDb) {
    let site = site(db).await;
    site.db
        .create_user(
            Actor::System,
            &UserInput {
                login: Some("ana".into()),
                name: Some("Ana García".into()),
                email: Some("ana.garcia@udg.mx".into()),
                role: Some(Role::Agent),
                password: Some(PASSWORD.into()),
                ..Default::default()
            },
        )
        .await
        .expect("staff");
    let b = site.browser().await;
    through_the_provider(&b, "ana.garcia@udg.mx").await;
    b.wait_for_path("/bandeja").await;
    assert_eq!(b.origin().await, site.base);
    assert!(b.text().await.contains("Ana García"));

    // Out of atiende, and of the provider (its own page asks to confirm).
    b.submit("header .who form button").await;
    b.wait_for_path("/session/end").await;
    b.submit("button[name=logout]").await;
    b.wait_for_path("/login").await;
    assert_eq!(b.origin().await, site.base);
    b.goto("/bandeja").await;
    b.wait_for_path("/login").await;
    // The provider asks again: its session ended too.
    b.submit("a[href^='/login/sso/udg']").await;
    b.wait_for_path("/interaction/").await;
    b.close().await;
}

async fn a_person_the_cap_does_not_know_is_sent_back_with_the_reason(db: TestDb) {
    let site = site(db).await;
    let admin = site.db.user_by_login("admin").await.expect("admin");
    site.db
        .save_sign_in_policy(
            Actor::Staff(&admin),
            &SignInPolicy {
                sso_required: true,
                ..Default::default()
            },
        )
        .await
        .expect("institutional accounts only");
    let b = site.browser().await;
    through_the_provider(&b, "nadie@udg.mx").await;
    b.wait_for_path("/login/sso/udg/callback").await;
    let text = b.text().await;
    assert!(
        text.contains("Su cuenta institucional no tiene acceso a atiende"),
        "{text}"
    );
    // Passwords are for the break-glass administrator only: the form is folded away.
    assert_eq!(b.count("details:not([open]) #password").await, 1);
    b.close().await;
}

/// The code an authenticator app shows for `secret` now (or `ahead` steps later), computed here.
fn app_code(secret: &str, ahead: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("base32"))
        .build()
        .expect("an RFC 6238 TOTP")
        .generate(now + 30 * ahead)
        .to_string()
}

async fn an_administrator_sets_up_the_second_factor_and_signs_in_with_the_apps_code(db: TestDb) {
    let site = Site::start_with(db, |_| async {
        WebConfig {
            // The product's default: administrators need a second factor.
            second_factor: Default::default(),
            ..crate::harness::config()
        }
    })
    .await;
    let b = site.browser().await;
    b.goto("/login").await;
    b.fill("#login", "admin").await;
    b.fill("#password", "clave-administrador-1").await;
    b.submit("form button[type=submit]").await;
    // Nothing else until it is set up.
    b.wait_for_path("/preferencias/segundo-factor").await;
    b.goto("/admin").await;
    b.wait_for_path("/preferencias/segundo-factor").await;
    assert_eq!(b.count("figure.qr svg").await, 1, "the QR code is drawn");
    let secret = b
        .client
        .find(fantoccini::Locator::Css("#secret"))
        .await
        .expect("the key")
        .text()
        .await
        .expect("text");
    b.fill("#code", &app_code(&secret, 0)).await;
    b.submit("form button.primary").await;
    assert_eq!(
        b.count("#recovery-codes li").await,
        10,
        "ten recovery codes, once"
    );
    b.logout().await;

    // Next time: the password, then the code.
    b.fill("#login", "admin").await;
    b.fill("#password", "clave-administrador-1").await;
    b.submit("form button[type=submit]").await;
    assert!(b.text().await.contains("código de seis dígitos"));
    b.fill("#code", &app_code(&secret, 1)).await;
    b.submit("form button[type=submit]").await;
    b.wait_for_path("/bandeja").await;
    b.close().await;
}

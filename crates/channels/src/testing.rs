//! For tests: the local OpenID provider started by `scripts/test` (npm's certified
//! `oidc-provider`, `scripts/oidc-provider/provider.mjs`) as a browser and an application see
//! it — registering a client, walking its sign-in and consent pages, revoking a token.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;

/// The local OpenID provider, or a clear word on how to get one.
pub fn provider_url() -> String {
    std::env::var("ATIENDE_TEST_OIDC_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs the local OpenID provider (npm's oidc-provider). Run the suite with \
             `scripts/test`, which starts one, or start `node scripts/oidc-provider/provider.mjs \
             9400` and set ATIENDE_TEST_OIDC_URL=http://127.0.0.1:9400"
        )
    })
}

/// An HTTP client that shows every answer as it is (no redirects followed, no status taken
/// for an error).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A registered client: its id and secret.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

/// Registers a client with the provider (dynamic registration), as an administrator registers
/// atiende with Google or Entra ID. `metadata` adds to the redirect URIs (e.g. grant types).
pub async fn register(redirect_uris: Vec<String>, metadata: serde_json::Value) -> Client {
    let reg = format!("{}/reg", provider_url());
    tokio::task::spawn_blocking(move || {
        let mut body = serde_json::json!({ "redirect_uris": redirect_uris });
        if let (Some(b), Some(extra)) = (body.as_object_mut(), metadata.as_object()) {
            b.extend(extra.clone());
        }
        let mut reply = agent().post(&reg).send_json(body).expect("registration");
        let client: serde_json::Value = reply.body_mut().read_json().expect("client");
        Client {
            id: client["client_id"].as_str().expect("client_id").into(),
            secret: client["client_secret"].as_str().unwrap_or_default().into(),
        }
    })
    .await
    .expect("registration")
}

/// Follows `url` as a browser on the provider's side: signs in as `login` (any password) on
/// its sign-in page, consents where asked, and returns the address it sends the browser back
/// to (the first one starting with `back`).
pub async fn through_provider(url: String, login: &str, back: &str) -> String {
    let login = login.to_string();
    let back = back.to_string();
    tokio::task::spawn_blocking(move || walk(url, &login, &back))
        .await
        .expect("the provider's pages")
}

fn walk(mut url: String, login: &str, back: &str) -> String {
    let mut cookies = BTreeMap::new();
    for _ in 0..12 {
        let mut reply = agent()
            .get(&url)
            .header("cookie", &header(&cookies))
            .call()
            .expect("the provider");
        take(&mut cookies, &reply);
        if let Some(next) = location(&reply) {
            if next.starts_with(back) {
                return next;
            }
            url = absolute(&url, &next);
            continue;
        }
        let page = reply.body_mut().read_to_string().expect("page");
        let action = attribute_after(&page, "action=\"")
            .unwrap_or_else(|| panic!("a form on the provider's page: {page}"));
        let prompt = attribute_after(&page, "name=\"prompt\" value=\"").unwrap_or("login".into());
        let form: Vec<(&str, &str)> = if prompt == "consent" {
            vec![("prompt", "consent")]
        } else {
            vec![("prompt", "login"), ("login", login), ("password", "x")]
        };
        let posted = agent()
            .post(&absolute(&url, &action))
            .header("cookie", &header(&cookies))
            .send_form(form)
            .expect("a form on the provider");
        take(&mut cookies, &posted);
        url = absolute(
            &url,
            &location(&posted).expect("on from the provider's form"),
        );
    }
    panic!("the provider never sent the browser back");
}

/// Revokes a token at the provider's revocation endpoint (RFC 7009), as the client it was
/// issued to. This provider then revokes the whole grant, whichever token it was.
pub async fn revoke(client: &Client, token: &str) {
    let url = format!("{}/token/revocation", provider_url());
    let (id, secret, token) = (client.id.clone(), client.secret.clone(), token.to_string());
    let status = tokio::task::spawn_blocking(move || {
        agent()
            .post(&url)
            .send_form([
                ("token", token.as_str()),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .expect("revocation")
            .status()
    })
    .await
    .expect("revocation");
    assert!(status.is_success(), "revocation answered {status}");
}

/// Makes one access token inactive at the provider, its grant and refresh token still good
/// (the provider's test hook: revoking it through the revocation endpoint revokes the grant).
pub async fn forget_access_token(token: &str) {
    let url = format!(
        "{}/test/forget-access-token?token={}",
        provider_url(),
        token
    );
    let status = tokio::task::spawn_blocking(move || {
        agent()
            .post(&url)
            .send_empty()
            .expect("the provider")
            .status()
    })
    .await
    .expect("the provider");
    assert_eq!(
        status.as_u16(),
        204,
        "the token was not known to the provider"
    );
}

fn attribute_after(page: &str, marker: &str) -> Option<String> {
    page.split(marker)
        .nth(1)
        .and_then(|a| a.split('"').next())
        .map(|a| a.replace("&amp;", "&"))
}

fn location<B>(reply: &ureq::http::Response<B>) -> Option<String> {
    reply
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn take<B>(cookies: &mut BTreeMap<String, String>, reply: &ureq::http::Response<B>) {
    for c in reply
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        if let Some((name, value)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
            cookies.insert(name.to_string(), value.to_string());
        }
    }
}

fn header(cookies: &BTreeMap<String, String>) -> String {
    cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `location` made absolute against the page it came from.
pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        return location.to_string();
    }
    let origin: String = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    format!("{origin}{location}")
}

/// Where the consent of a test mailbox comes back to (nothing listens: the test reads the
/// code off the address, as atiende's callback would).
pub const CONSENT_BACK: &str = "http://127.0.0.1:9/admin/buzones/oauth";

/// Registers an application for a mailbox with the provider: the addresses, client and
/// scopes (`offline_access` for a refresh token) an administrator would enter.
pub async fn mailbox_app() -> (atiende_domain::mail_auth::OAuthApp, Client) {
    let client = register(
        vec![CONSENT_BACK.into()],
        serde_json::json!({ "grant_types": ["authorization_code", "refresh_token"] }),
    )
    .await;
    let issuer = provider_url();
    let app = atiende_domain::mail_auth::OAuthApp {
        preset: String::new(),
        authorization_url: format!("{issuer}/auth"),
        token_url: format!("{issuer}/token"),
        client_id: client.id.clone(),
        scopes: "openid offline_access".into(),
    };
    (app, client)
}

/// A mailbox of the local mail server that signs in by token (`auth`): reading over IMAP,
/// answering through authenticated submission (Dovecot's, STARTTLS with the local authority's
/// certificate, trusted here), its application registered with the provider and connected as
/// its own account. Returns it connected, and its application's client.
pub async fn mailbox_by_token(
    store: &atiende_store::Store,
    address: &str,
    auth: atiende_domain::mail_auth::MailAuth,
    acknowledge: bool,
) -> (atiende_store::email::Mailbox, Client) {
    let (_, imap) = atiende_store::testing::require_mail_server();
    let (_, submission, ca) = atiende_store::testing::mail_tls();
    let pem = std::fs::read(&ca).expect("the local authority's certificate");
    crate::email::trust::trust_pem(&pem).expect("trusted");
    let (app, client) = mailbox_app().await;
    let settings = atiende_store::email::MailboxSettings {
        name: address.into(),
        address: address.into(),
        channel: atiende_domain::classification::Channel::Email,
        imap_host: "127.0.0.1".into(),
        imap_port: i64::from(imap),
        imap_security: "plain".into(),
        imap_user: address.into(),
        imap_password: Default::default(),
        imap_folder: "INBOX".into(),
        smtp_host: "localhost".into(),
        smtp_port: i64::from(submission),
        smtp_security: "starttls".into(),
        smtp_user: address.into(),
        smtp_password: Default::default(),
        auth,
        oauth: app,
        oauth_client_secret: client.secret.as_str().into(),
        acknowledge,
        active: true,
    };
    let m = store
        .save_mailbox(atiende_store::Actor::System, &settings)
        .await
        .expect("mailbox");
    assert_eq!(m.grant, atiende_domain::mail_auth::GrantState::NotConnected);
    (connect(store, &m, address).await, client)
}

/// Connects a mailbox as an administrator does: consent at the provider as `login` (the
/// mailbox's account), the code redeemed, the tokens kept. Returns the mailbox as it is now.
pub async fn connect(
    store: &atiende_store::Store,
    mailbox: &atiende_store::email::Mailbox,
    login: &str,
) -> atiende_store::email::Mailbox {
    use crate::email::oauth;
    let (url, consent) = oauth::consent_url(mailbox, CONSENT_BACK).expect("consent address");
    let back = through_provider(url, login, CONSENT_BACK).await;
    let query: BTreeMap<String, String> = back
        .split_once('?')
        .map(|(_, q)| serde_urlencoded::from_str(q).expect("query"))
        .unwrap_or_default();
    assert_eq!(query.get("state"), Some(&consent.state), "{back}");
    let code = query
        .get("code")
        .unwrap_or_else(|| panic!("a code: {back}"));
    let tokens = oauth::redeem(mailbox, CONSENT_BACK, &consent, code)
        .await
        .expect("tokens");
    store
        .connect_mailbox(atiende_store::Actor::System, mailbox.id, &tokens, "admin")
        .await
        .expect("connected");
    store.mailbox(mailbox.id).await.expect("mailbox")
}

/// `address`'s inbox on the local mail server (any user, password "secret"), selected.
pub async fn inbox_session(address: &str) -> async_imap::Session<tokio::net::TcpStream> {
    let port = atiende_store::testing::require_mail_server().1;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("imap");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut session = client
        .login(address, "secret")
        .await
        .map_err(|(e, _)| e)
        .expect("login");
    session.select("INBOX").await.expect("select");
    session
}

/// The messages in `address`'s inbox on the local mail server, once at least `expected`
/// arrived (delivery is asynchronous).
pub async fn inbox_of(address: &str, expected: usize) -> Vec<Vec<u8>> {
    for _ in 0..100 {
        let mut session = inbox_session(address).await;
        let bodies: Vec<Vec<u8>> = session
            .fetch("1:*", "BODY.PEEK[]")
            .await
            .expect("fetch")
            .try_filter_map(|f| async move { Ok(f.body().map(<[u8]>::to_vec)) })
            .try_collect()
            .await
            .unwrap_or_default();
        let _ = session.logout().await;
        if bodies.len() >= expected {
            return bodies;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{address} did not receive {expected} messages");
}

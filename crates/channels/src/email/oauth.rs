//! Mailboxes that sign in with an OAuth 2.0 access token: the administrator's consent (the
//! authorization code flow with PKCE and `state`), and an access token for each sign-in —
//! the one on record while it lasts, a new one from the refresh token shortly before it
//! expires or when the server refused it. A provider that refuses the refresh token has
//! revoked the grant: the mailbox is marked so (its page and `/readyz` say it), not retried.
//!
//! Several instances may need a token at once: a refresh happens under a lease, and the others
//! wait for the token it stores, so that a provider that rotates refresh tokens never sees the
//! same one spent twice.

use std::time::Duration;

use atiende_domain::mail_auth::{GrantState, MailAuth, needs_refresh};
use atiende_domain::secret::Secret;
use atiende_store::Store;
use atiende_store::email::Mailbox;
use atiende_store::mail_auth::OAuthTokens;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::http;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Signs in by password, or no one has connected it with its provider yet.
    #[error("the mailbox is not connected with its provider")]
    NotConnected,
    /// The provider refused the refresh token: only connecting again mends it.
    #[error("the provider revoked the mailbox's authorization: {0}")]
    Revoked(String),
    /// The provider could not be reached or answered wrongly: try again later.
    #[error("token endpoint: {0}")]
    Provider(String),
    #[error(transparent)]
    Store(#[from] atiende_store::StoreError),
}

/// A consent in progress, carried by the administrator's browser in a signed cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub mailbox: i64,
    pub state: String,
    pub verifier: String,
    pub expires: i64,
}

/// How long an administrator has to consent.
const CONSENT_SECONDS: i64 = 600;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn client_of(mailbox: &Mailbox, redirect: Option<&str>) -> Result<Client, TokenError> {
    let app = mailbox.oauth.clone().completed();
    let bad = |e: oauth2::url::ParseError| TokenError::Provider(e.to_string());
    let mut client = BasicClient::new(ClientId::new(app.client_id.clone()))
        .set_auth_uri(AuthUrl::new(app.authorization_url.clone()).map_err(bad)?)
        .set_token_uri(TokenUrl::new(app.token_url.clone()).map_err(bad)?);
    let secret = mailbox.oauth_client_secret.expose();
    if !secret.is_empty() {
        client = client.set_client_secret(ClientSecret::new(secret.to_string()));
    }
    if let Some(r) = redirect {
        client = client.set_redirect_uri(RedirectUrl::new(r.to_string()).map_err(bad)?);
    }
    Ok(client)
}

/// Where to send the administrator to consent, and the consent to keep in their cookie.
pub fn consent_url(mailbox: &Mailbox, redirect: &str) -> Result<(String, Consent), TokenError> {
    if !mailbox.auth.uses_oauth() {
        return Err(TokenError::NotConnected);
    }
    let client = client_of(mailbox, Some(redirect))?;
    let app = mailbox.oauth.clone().completed();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge);
    for scope in app.scopes.split_whitespace() {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    for (name, value) in app.consent_parameters() {
        request = request.add_extra_param(name, value);
    }
    if !mailbox.imap_user.is_empty() {
        // The account to consent with, so that the provider suggests the mailbox's own.
        request = request.add_extra_param("login_hint", mailbox.imap_user.clone());
    }
    let (url, state) = request.url();
    let consent = Consent {
        mailbox: mailbox.id,
        state: state.secret().clone(),
        verifier: verifier.secret().clone(),
        expires: chrono::Utc::now().timestamp() + CONSENT_SECONDS,
    };
    Ok((url.to_string(), consent))
}

/// Redeems the code the provider sent back for the mailbox's tokens.
pub async fn redeem(
    mailbox: &Mailbox,
    redirect: &str,
    consent: &Consent,
    code: &str,
) -> Result<OAuthTokens, TokenError> {
    let response = client_of(mailbox, Some(redirect))?
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(consent.verifier.clone()))
        .request_async(&http::oauth)
        .await
        .map_err(|e| TokenError::Provider(http::error_chain(&e)))?;
    let tokens = tokens_of(&response);
    if tokens.refresh_token.is_empty() {
        return Err(TokenError::Provider(
            "the provider gave no refresh token (offline access not granted)".into(),
        ));
    }
    Ok(tokens)
}

fn tokens_of(response: &oauth2::basic::BasicTokenResponse) -> OAuthTokens {
    OAuthTokens {
        access_token: Secret::new(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone()))
            .unwrap_or_default(),
        expires_at: response
            .expires_in()
            .map(|d| chrono::Utc::now().timestamp() + d.as_secs() as i64),
    }
}

/// An access token to sign in to the mailbox's servers. `rejected` is a token the server just
/// refused: a new one is fetched unless another instance already stored one.
pub async fn access_token(
    store: &Store,
    mailbox: &Mailbox,
    rejected: Option<&Secret>,
) -> Result<Secret, TokenError> {
    match mailbox.grant {
        GrantState::Revoked => {
            return Err(TokenError::Revoked("connect the mailbox again".into()));
        }
        GrantState::NotUsed | GrantState::NotConnected => return Err(TokenError::NotConnected),
        GrantState::Connected => {}
    }
    let lease = format!("mailbox-token:{}", mailbox.id);
    let owner = format!("token-{}", atiende_store::users::random_token());
    // Up to ~30 s waiting for another instance's refresh (a lease lasts 60 s).
    for _ in 0..60 {
        let tokens = store.mailbox_tokens(mailbox.id).await?;
        if usable(&tokens, rejected) {
            return Ok(tokens.access_token);
        }
        if tokens.refresh_token.is_empty() {
            return Err(TokenError::Revoked("no refresh token on record".into()));
        }
        let now = chrono::Utc::now();
        if store
            .take_lease(&lease, &owner, now, now + chrono::Duration::seconds(60))
            .await?
        {
            let result = refresh_under_lease(store, mailbox, rejected).await;
            let _ = store.release_lease(&lease, &owner).await;
            return result;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(TokenError::Provider(
        "another instance is refreshing the token and has not finished".into(),
    ))
}

/// Whether the access token on record can be used now: present, not the one the server just
/// refused, and not about to expire.
fn usable(tokens: &OAuthTokens, rejected: Option<&Secret>) -> bool {
    !tokens.access_token.is_empty()
        && rejected != Some(&tokens.access_token)
        && !needs_refresh(tokens.expires_at, chrono::Utc::now().timestamp())
}

async fn refresh_under_lease(
    store: &Store,
    mailbox: &Mailbox,
    rejected: Option<&Secret>,
) -> Result<Secret, TokenError> {
    // Another instance may have refreshed between our look and the lease.
    let tokens = store.mailbox_tokens(mailbox.id).await?;
    if usable(&tokens, rejected) {
        return Ok(tokens.access_token);
    }
    if tokens.refresh_token.is_empty() {
        return Err(TokenError::Revoked("no refresh token on record".into()));
    }
    let answer = client_of(mailbox, None)?
        .exchange_refresh_token(&RefreshToken::new(
            tokens.refresh_token.expose().to_string(),
        ))
        .request_async(&http::oauth)
        .await;
    match answer {
        Ok(response) => {
            let fresh = tokens_of(&response);
            store.store_refreshed_tokens(mailbox.id, &fresh).await?;
            tracing::info!(mailbox.name = %mailbox.name, "mailbox access token refreshed");
            Ok(fresh.access_token)
        }
        Err(RequestTokenError::ServerResponse(e))
            if *e.error() == BasicErrorResponseType::InvalidGrant =>
        {
            let detail = e
                .error_description()
                .cloned()
                .unwrap_or_else(|| "invalid_grant".into());
            tracing::warn!(mailbox.name = %mailbox.name, %detail, "mailbox grant revoked by the provider");
            store
                .mark_grant_revoked(
                    mailbox.id,
                    "El proveedor revocó la autorización; vuelva a conectar el buzón.",
                )
                .await?;
            Err(TokenError::Revoked(detail))
        }
        Err(e) => Err(TokenError::Provider(http::error_chain(&e))),
    }
}

/// The SASL mechanism's name for a mailbox that signs in by token.
pub fn mechanism(auth: MailAuth) -> &'static str {
    match auth {
        MailAuth::Oauthbearer => "OAUTHBEARER",
        _ => "XOAUTH2",
    }
}

/// Answers the server's SASL challenges: the initial response first, then — if the server
/// refuses and sends its error as a challenge — the empty (XOAUTH2) or `%x01` (OAUTHBEARER,
/// RFC 7628 §3.2.3) reply that lets it finish with NO.
pub struct TokenAuthenticator {
    initial: Option<String>,
    auth: MailAuth,
}

impl TokenAuthenticator {
    pub fn new(auth: MailAuth, user: &str, host: &str, port: u16, token: &Secret) -> Self {
        use atiende_domain::mail_auth::{oauthbearer_response, xoauth2_response};
        let initial = match auth {
            MailAuth::Oauthbearer => oauthbearer_response(user, host, port, token.expose()),
            _ => xoauth2_response(user, token.expose()),
        };
        TokenAuthenticator {
            initial: Some(initial),
            auth,
        }
    }
}

impl async_imap::Authenticator for TokenAuthenticator {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        match self.initial.take() {
            Some(first) => first.into_bytes(),
            None if self.auth == MailAuth::Oauthbearer => vec![1],
            None => Vec::new(),
        }
    }
}

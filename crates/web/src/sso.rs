//! Single sign-on for staff through OpenID Connect (Google Workspace, Microsoft Entra ID,
//! Keycloak…): the authorization code flow with PKCE, `state` and `nonce`, the ID token
//! verified by `openidconnect` (issuer, audience, signature from the provider's JWKS, expiry)
//! after discovery from the issuer URL.
//!
//! Nothing of a sign-in in progress is kept on the server: the browser carries it in a
//! short-lived cookie signed with the installation's secret (so any instance finishes what
//! another began), and the cookie also proves that the browser finishing a sign-in is the
//! one that started it. Who the verified person becomes is the domain's rule
//! (`atiende_domain::sign_in`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atiende_channels::http::{error_chain, oauth as http};
use atiende_domain::sign_in::{Identity, IdentityProvider};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, ProviderMetadataWithLogout, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};

/// What discovery found for a provider, kept for an hour (a cache: any instance can fetch it
/// again at any time).
struct Discovered {
    metadata: ProviderMetadataWithLogout,
    at: Instant,
}

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// The identity providers — the configuration file's, and those administrators added (read
/// from the database each time, so every instance sees a change at once) — and what discovery
/// found for each.
#[derive(Default)]
pub struct Providers {
    configured: Vec<IdentityProvider>,
    discovered: Mutex<HashMap<String, Arc<Discovered>>>,
}

/// Why a sign-in through a provider failed before the person's account was decided.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("identity provider unreachable or misconfigured: {0}")]
    Provider(String),
    #[error("the ID token was refused: {0}")]
    Token(String),
}

impl Providers {
    pub fn new(configured: Vec<IdentityProvider>) -> Self {
        Providers {
            configured,
            discovered: Mutex::default(),
        }
    }

    /// The configuration file's providers (the console shows them, not to be edited there).
    pub fn configured(&self) -> &[IdentityProvider] {
        &self.configured
    }

    /// Every provider: the configuration file's, then those added in the console (an id the
    /// file already uses is the file's).
    /// Requiring single sign-on needs a provider to sign on with: otherwise nobody but the
    /// break-glass account could work. The rest of the policy's rules are the store's.
    pub async fn check_policy(
        &self,
        store: &atiende_store::Store,
        policy: &atiende_domain::sign_in::SignInPolicy,
    ) -> Result<(), crate::error::AppError> {
        if policy.sso_required && self.all(store).await.is_empty() {
            return Err(crate::error::AppError::Rule(
                atiende_domain::RuleError::invalid("sso_required", "no_identity_provider"),
            ));
        }
        Ok(())
    }

    pub async fn all(&self, store: &atiende_store::Store) -> Vec<IdentityProvider> {
        let mut all = self.configured.clone();
        match store.identity_providers().await {
            Ok(added) => all.extend(
                added
                    .into_iter()
                    .filter(|p| !self.configured.iter().any(|c| c.id == p.id)),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "sso: cannot read the providers added in the console")
            }
        }
        all
    }

    pub async fn get(&self, store: &atiende_store::Store, id: &str) -> Option<IdentityProvider> {
        self.all(store).await.into_iter().find(|p| p.id == id)
    }

    async fn metadata(
        &self,
        provider: &IdentityProvider,
        fresh: bool,
    ) -> Result<Arc<Discovered>, SsoError> {
        if !fresh
            && let Some(d) = self
                .discovered
                .lock()
                .ok()
                .and_then(|m| m.get(&cache_key(provider)).cloned())
            && d.at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d);
        }
        let issuer = IssuerUrl::new(provider.issuer.clone())
            .map_err(|e| SsoError::Provider(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
            .await
            .map_err(|e| SsoError::Provider(error_chain(&e)))?;
        let found = Arc::new(Discovered {
            metadata,
            at: Instant::now(),
        });
        if let Ok(mut m) = self.discovered.lock() {
            m.insert(cache_key(provider), found.clone());
        }
        Ok(found)
    }

    /// Where to send the browser to sign in, and the flow to keep in its cookie.
    pub async fn begin(
        &self,
        provider: &IdentityProvider,
        redirect: &str,
        next: &str,
    ) -> Result<(String, Flow), SsoError> {
        let d = self.metadata(provider, false).await?;
        let client = client_of(provider, &d.metadata, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        for s in &provider.scopes {
            request = request.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = request.url();
        let flow = Flow {
            provider: provider.id.clone(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            next: next.to_string(),
            expires: chrono::Utc::now().timestamp() + FLOW_SECONDS,
        };
        Ok((url.to_string(), flow))
    }

    /// Redeems the code and verifies the ID token: who the provider says the person is.
    pub async fn finish(
        &self,
        provider: &IdentityProvider,
        redirect: &str,
        flow: &Flow,
        code: &str,
    ) -> Result<Identity, SsoError> {
        let d = self.metadata(provider, false).await?;
        let client = client_of(provider, &d.metadata, redirect)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SsoError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| SsoError::Provider(error_chain(&e)))?;
        let token = response
            .id_token()
            .ok_or_else(|| SsoError::Token("no ID token in the answer".into()))?;
        let nonce = Nonce::new(flow.nonce.clone());
        let first = token.claims(&client.id_token_verifier(), &nonce).cloned();
        let retried;
        let (claims, checked_by) = match first {
            Ok(c) => (c, &client),
            Err(first) => {
                // The provider may have rotated its keys since discovery: look again once.
                let d = self.metadata(provider, true).await?;
                retried = client_of(provider, &d.metadata, redirect)?;
                let claims = token
                    .claims(&retried.id_token_verifier(), &nonce)
                    .map_err(|_| SsoError::Token(first.to_string()))?
                    .clone();
                (claims, &retried)
            }
        };
        let verifier = checked_by.id_token_verifier();
        // The access token's hash, where the provider gives one, ties it to this ID token.
        if let Some(expected) = claims.access_token_hash() {
            let alg = token
                .signing_alg()
                .map_err(|e| SsoError::Token(e.to_string()))?;
            let key = token
                .signing_key(&verifier)
                .map_err(|e| SsoError::Token(e.to_string()))?;
            let actual =
                openidconnect::AccessTokenHash::from_token(response.access_token(), alg, key)
                    .map_err(|e| SsoError::Token(e.to_string()))?;
            if actual != *expected {
                return Err(SsoError::Token("access token hash mismatch".into()));
            }
        }
        let groups = if provider.groups_claim.is_empty() {
            Vec::new()
        } else {
            verified_claim_strings(&token.to_string(), &provider.groups_claim)
        };
        Ok(Identity {
            email: claims
                .email()
                .map(|e| e.as_str().trim().to_lowercase())
                .unwrap_or_default(),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_string())
                .unwrap_or_default(),
            groups,
        })
    }

    /// The provider's logout address that ends its session and comes back to `back`, where
    /// it has one.
    pub async fn logout_url(&self, provider: &IdentityProvider, back: &str) -> Option<String> {
        let d = self.metadata(provider, false).await.ok()?;
        let end = d
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut url = end.url().clone();
        url.query_pairs_mut()
            .append_pair("client_id", &provider.client_id)
            .append_pair("post_logout_redirect_uri", back);
        Some(url.to_string())
    }
}

/// What discovery is kept under: a provider whose issuer changed is discovered afresh.
fn cache_key(provider: &IdentityProvider) -> String {
    format!("{}\n{}", provider.id, provider.issuer)
}

type Client = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn client_of(
    provider: &IdentityProvider,
    metadata: &ProviderMetadataWithLogout,
    redirect: &str,
) -> Result<Client, SsoError> {
    let redirect =
        RedirectUrl::new(redirect.to_string()).map_err(|e| SsoError::Provider(e.to_string()))?;
    let secret = provider.client_secret.expose();
    Ok(CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(provider.client_id.clone()),
        (!secret.is_empty()).then(|| ClientSecret::new(secret.to_string())),
    )
    .set_redirect_uri(redirect))
}

/// The strings of a claim of an ID token whose signature was already verified (groups are
/// not among the standard claims the library types).
fn verified_claim_strings(jwt: &str, claim: &str) -> Vec<String> {
    use base64::Engine;
    let Some(payload) = jwt.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    match &value[claim] {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// How long a browser has between leaving for the provider and coming back.
const FLOW_SECONDS: i64 = 600;
pub const FLOW_COOKIE: &str = "atiende_sso";

/// A sign-in in progress, carried by the browser in a cookie signed by the installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub next: String,
    pub expires: i64,
}

impl Flow {
    /// The cookie's value: the flow, signed under `key`.
    pub fn seal(&self, key: &str) -> String {
        crate::auth::seal(key, "sso-flow", self)
    }

    /// The flow of a cookie this installation signed, unexpired.
    pub fn open(value: &str, key: &str, now: i64) -> Option<Flow> {
        crate::auth::unseal::<Flow>(key, "sso-flow", value).filter(|f| f.expires > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(expires: i64) -> Flow {
        Flow {
            provider: "udg".into(),
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/bandeja".into(),
            expires,
        }
    }

    #[test]
    fn a_sealed_flow_opens_only_with_its_key_unchanged_and_in_time() {
        let sealed = flow(2_000).seal("clave");
        assert_eq!(Flow::open(&sealed, "clave", 1_000), Some(flow(2_000)));
        assert_eq!(Flow::open(&sealed, "otra", 1_000), None, "another key");
        assert_eq!(Flow::open(&sealed, "clave", 2_001), None, "expired");
        let (body, mac) = sealed.split_once('.').expect("two parts");
        let forged = format!("{}A.{mac}", &body[..body.len() - 1]);
        assert_eq!(Flow::open(&forged, "clave", 1_000), None, "changed");
    }

    #[test]
    fn an_administrator_signed_in_through_a_provider_needs_no_second_factor_here() {
        use atiende_domain::user::Role;
        let config = crate::WebConfig::default();
        let admin = atiende_domain::user::StaffUser {
            id: atiende_domain::ids::UserId(1),
            login: "admin".into(),
            name: "Admin".into(),
            email: String::new(),
            role: Role::Admin,
            unit_ids: vec![],
            language: atiende_domain::classification::Lang::Es,
            disabled: false,
            must_change_password: false,
            second_factor: false,
            phone_extension: String::new(),
            created_at: chrono::Utc::now(),
        };
        let session = |provider: Option<&str>| atiende_store::users::SessionOf {
            user: admin.clone(),
            csrf: String::new(),
            provider: provider.map(str::to_string),
        };
        assert!(config.must_enrol(&session(None)), "with a password");
        assert!(
            !config.must_enrol(&session(Some("udg"))),
            "through the provider"
        );
    }
}

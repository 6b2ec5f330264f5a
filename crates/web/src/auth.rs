//! Who is calling, and whether their role allows the action.
//!
//! Staff log in and get a session cookie (HttpOnly, SameSite=Lax, rotated at login); requests
//! that change something with that cookie must repeat the session's CSRF token in the
//! `X-CSRF-Token` header. Integrations send `Authorization: Bearer <token>` instead, which a
//! browser never attaches on its own, so they need no CSRF token.

use atiende_domain::access::{Action, TokenScopes};
use atiende_domain::user::StaffUser;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::AppError;

pub const SESSION_COOKIE: &str = "atiende_session";
/// Marks a browser where a login succeeded: attempts for that login from it are not held back
/// by the login's own limit, so that strangers failing on purpose cannot lock its owner out.
pub const DEVICE_COOKIE: &str = "atiende_device";
const DEVICE_DAYS: i64 = 180;
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated staff member behind a request, and — when it came with an API token —
/// the token's scopes (a session has its role's whole reach).
pub struct Caller(pub StaffUser, pub Option<TokenScopes>);

impl Caller {
    /// What every role may do for itself (its own tokens), once its password is its own.
    pub fn active(&self) -> Result<&StaffUser, AppError> {
        let user = &self.0;
        if user.disabled {
            return Err(AppError::Unauthorized);
        }
        if user.must_change_password {
            return Err(AppError::PasswordChangeRequired);
        }
        Ok(user)
    }

    /// Every handler starts here: the role check (and the token's scopes), before anything is
    /// read or validated.
    pub fn require(&self, action: Action) -> Result<&StaffUser, AppError> {
        let user = self.active()?;
        if !user.may(action) {
            return Err(AppError::Forbidden);
        }
        if self.1.as_ref().is_some_and(|scopes| !scopes.allow(action)) {
            return Err(AppError::InsufficientScope);
        }
        Ok(user)
    }

    /// Managing one's own account (password, sessions, tokens): from a session, or with a
    /// token of every scope (`admin`). A temporary password does not stop it: changing it is
    /// the first thing such an account does.
    pub fn account(&self) -> Result<&StaffUser, AppError> {
        if self.1.as_ref().is_some_and(|s| !s.manages_account()) {
            return Err(AppError::InsufficientScope);
        }
        Ok(&self.0)
    }
}

pub fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_value_from(&parts.headers, name)
}

pub fn cookie_value_from<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The request's `Authorization: Bearer` token, if any.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::trim)
}

/// Whether the request's bearer token is this configured secret (compared in constant time).
/// An empty secret — the endpoint turned off — is never matched.
pub fn bearer_is(headers: &axum::http::HeaderMap, secret: &atiende_domain::secret::Secret) -> bool {
    let expected = secret.expose().as_bytes();
    let sent = bearer(headers).unwrap_or_default().as_bytes();
    !expected.is_empty() && bool::from(sent.ct_eq(expected))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if let Some(token) = bearer(&parts.headers) {
            let (user, scopes) = state
                .store
                .token_user(token)
                .await?
                .ok_or(AppError::Unauthorized)?;
            // A read-only token changes nothing, whatever the request says.
            if !safe && !scopes.writes() {
                return Err(AppError::InsufficientScope);
            }
            return Ok(Caller(user, Some(scopes)));
        }
        let cookie = cookie_value(parts, SESSION_COOKIE).ok_or(AppError::Unauthorized)?;
        let session = state
            .store
            .session_user(cookie, state.config.session_idle())
            .await?
            .ok_or(AppError::Unauthorized)?;
        if state.config.must_enrol(&session) {
            return Err(AppError::SecondFactorRequired);
        }
        let atiende_store::users::SessionOf { user, csrf, .. } = session;
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
                return Err(AppError::Csrf);
            }
        }
        Ok(Caller(user, None))
    }
}

/// Every cookie atiende sets: HttpOnly, and `Secure` whenever the service is reached over
/// HTTPS (its base URL), so none of them travels over plain HTTP there.
pub fn cookie(
    name: &str,
    value: &str,
    path: &str,
    same_site: &str,
    max_age_secs: i64,
    secure: bool,
) -> String {
    format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite={same_site}; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session cookie as sent at login; `max_age` 0 removes it.
pub fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> String {
    cookie(SESSION_COOKIE, value, "/", "Lax", max_age_secs, secure)
}

/// A value carried by the browser in a cookie, signed with the installation's secret for one
/// `purpose` (so that one kind of cookie is never taken for another): readable by the
/// browser, changeable by nobody, and understood by every instance.
pub fn seal<T: serde::Serialize>(key: &str, purpose: &str, value: &T) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(value).unwrap_or_default());
    format!("{body}.{}", seal_mac(key, purpose, &body))
}

/// The value of a cookie [`seal`] made for `purpose`, if nobody changed it.
pub fn unseal<T: serde::de::DeserializeOwned>(key: &str, purpose: &str, sealed: &str) -> Option<T> {
    use base64::Engine;
    let (body, given) = sealed.split_once('.')?;
    let expected = seal_mac(key, purpose, body);
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn seal_mac(key: &str, purpose: &str, body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(purpose.as_bytes());
    mac.update(b"\n");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The MAC that signs a known-device cookie for `login` until `expires` (Unix seconds).
fn device_mac(key: &str, login: &str, expires: i64) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("device\n{login}\n{expires}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether the request comes from a browser where `login` signed in before.
fn known_device(key: &str, headers: &axum::http::HeaderMap, login: &str, now: i64) -> bool {
    let Some((expires, mac)) =
        cookie_value_from(headers, DEVICE_COOKIE).and_then(|v| v.split_once('.'))
    else {
        return false;
    };
    let Ok(expires) = expires.parse::<i64>() else {
        return false;
    };
    expires > now
        && bool::from(
            mac.as_bytes()
                .ct_eq(device_mac(key, login, expires).as_bytes()),
        )
}

/// A session just started: the account, the `Set-Cookie` value and the CSRF token.
pub struct NewSession {
    pub user: StaffUser,
    pub set_cookie: String,
    /// Marks the browser as one where this login succeeded (see [`DEVICE_COOKIE`]).
    pub device_cookie: String,
    pub csrf: String,
}

/// Checks the login rate limits and the password, ends the session the browser had (rotation)
/// and starts a new one. Shared by the API and the console's login form.
pub async fn start_session(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    address: &str,
    login: &str,
    password: &str,
    code: Option<&str>,
) -> Result<NewSession, AppError> {
    let user = check_password_login(state, headers, address, login, password).await?;
    if user.second_factor {
        let code = code.filter(|c| !c.trim().is_empty());
        let Some(code) = code else {
            return Err(AppError::SecondFactorRequired);
        };
        check_second_factor(state, address, &user, code).await?;
    }
    open_session(state, headers, address, user, None).await
}

/// The second factor's code (from the app, or a recovery code), with its own attempt budget
/// per person: six digits must not be guessable by trying.
pub async fn check_second_factor(
    state: &AppState,
    address: &str,
    user: &StaffUser,
    code: &str,
) -> Result<(), AppError> {
    if !state.login_limiter.check(&format!("code:{}", user.id)) {
        tracing::warn!(client.address = %address, user.login = %user.login, "second factor rate limited");
        return Err(AppError::RateLimited);
    }
    if state.store.check_second_factor(user.id, code).await? {
        Ok(())
    } else {
        tracing::info!(client.address = %address, user.login = %user.login, "second factor refused");
        Err(AppError::Unauthorized)
    }
}

/// Checks the login rate limits, the sign-in policy and the password: the account, when all
/// pass (its second factor, if it has one, is still to be proven).
pub async fn check_password_login(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    address: &str,
    login: &str,
    password: &str,
) -> Result<StaffUser, AppError> {
    let login = login.trim().to_lowercase();
    let key = state.store.installation_secret("device").await?;
    let now = chrono::Utc::now().timestamp();
    // Each address has its budget; each login has one too, except from a browser where that
    // login succeeded before: someone failing on purpose from elsewhere spends the login's
    // budget, never its owner's.
    if !state.login_limiter.check(&format!("ip:{address}"))
        || (!known_device(&key, headers, &login, now)
            && !state.login_limiter.check(&format!("login:{login}")))
    {
        // `?login`: what the client typed, quoted and escaped, so that a newline or an
        // escape code in it cannot forge a log line.
        tracing::warn!(client.address = %address, user.login = ?login, "login rate limited");
        return Err(AppError::RateLimited);
    }
    let policy: atiende_domain::sign_in::SignInPolicy = state
        .store
        .setting(atiende_store::settings::key::SIGN_IN_POLICY)
        .await?;
    if !policy.allows_password(&login) {
        tracing::info!(client.address = %address, user.login = ?login, "password refused: sign-in through the identity provider is required");
        return Err(AppError::SsoRequired);
    }
    let Some(user) = state.store.verify_login(&login, password).await? else {
        tracing::info!(client.address = %address, user.login = ?login, "login refused");
        return Err(AppError::Unauthorized);
    };
    Ok(user)
}

/// Starts the session of someone whose identity was proven (a password, or an identity
/// provider's ID token, named by `provider`), ending the one the browser had (rotation).
pub async fn open_session(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    address: &str,
    user: StaffUser,
    provider: Option<&str>,
) -> Result<NewSession, AppError> {
    let key = state.store.installation_secret("device").await?;
    let now = chrono::Utc::now().timestamp();
    if let Some(old) = cookie_value_from(headers, SESSION_COOKIE) {
        state.store.end_session(old).await?;
    }
    let ttl = chrono::Duration::hours(state.config.session_hours);
    let (token, csrf) = state
        .store
        .create_session_through(user.id, ttl, provider)
        .await?;
    tracing::info!(client.address = %address, user.login = %user.login, sso.provider = ?provider, "login");
    let secure = state.config.secure_cookies();
    let set_cookie = session_cookie(&token, ttl.num_seconds(), secure);
    let max_age = DEVICE_DAYS * 86_400;
    let expires = now + max_age;
    let device = format!("{expires}.{}", device_mac(&key, &user.login, expires));
    let device_cookie = cookie(DEVICE_COOKIE, &device, "/", "Strict", max_age, secure);
    Ok(NewSession {
        user,
        set_cookie,
        device_cookie,
        csrf,
    })
}

#[cfg(test)]
mod cookie_tests {
    use super::cookie;

    #[test]
    fn every_cookie_is_http_only_and_secure_over_https() {
        let plain = cookie("atiende_form", "t", "/", "Strict", 60, false);
        assert!(plain.contains("HttpOnly") && !plain.contains("Secure"));
        let https = cookie("atiende_login_csrf", "t", "/login", "Strict", 60, true);
        assert!(https.contains("HttpOnly") && https.ends_with("; Secure"));
    }
}

//! Log in, log out, who am I, change my password.

use atiende_domain::user::StaffUser;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::AppendHeaders;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Caller, SESSION_COOKIE, session_cookie, start_session};
use crate::error::AppError;
use crate::extract::{Json, Path};
use crate::rate_limit::ClientAddr;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, me, logout))
        .routes(routes!(change_password))
        .routes(routes!(my_sessions, end_my_other_sessions))
        .routes(routes!(my_tokens, create_my_token))
        .routes(routes!(revoke_my_token))
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    pub ended: u64,
}

/// One's own open sessions (browsers signed in), newest first; `current` is this one.
#[utoipa::path(get, path = "/session/all", tag = "session",
    responses((status = 200, body = Vec<atiende_store::users::OpenSession>)))]
async fn my_sessions(
    State(state): State<AppState>,
    Caller(user, _): Caller,
    headers: HeaderMap,
) -> Result<Json<Vec<atiende_store::users::OpenSession>>, AppError> {
    let current = crate::auth::cookie_value_from(&headers, SESSION_COOKIE);
    Ok(Json(state.store.sessions_of(user.id, current).await?))
}

/// Ends every other session of one's own ("cerrar las demás sesiones"): a browser left signed
/// in elsewhere. API tokens are revoked one by one.
#[utoipa::path(delete, path = "/session/all", tag = "session", responses((status = 200, body = SessionsEnded)))]
async fn end_my_other_sessions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<SessionsEnded>, AppError> {
    let user = caller.account()?;
    let current = crate::auth::cookie_value_from(&headers, SESSION_COOKIE);
    let ended = state
        .store
        .end_sessions(atiende_store::Actor::Staff(user), user.id, current)
        .await?;
    Ok(Json(SessionsEnded { ended }))
}

/// One's own API tokens that still work (their secrets are never shown again).
#[utoipa::path(get, path = "/session/tokens", tag = "session",
    responses((status = 200, body = Vec<atiende_store::users::ApiTokenInfo>)))]
async fn my_tokens(
    State(state): State<AppState>,
    Caller(user, _): Caller,
) -> Result<Json<Vec<atiende_store::users::ApiTokenInfo>>, AppError> {
    Ok(Json(state.store.tokens_of(user.id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for ("BI de la Coordinación").
    pub name: String,
    /// What it may be used for, within your role: `read`, `incidents_write`, `quality`,
    /// `knowledge`, `personal_data`, `admin` (everything your role allows, your account
    /// included). Default: `read`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Days until it stops working (1–730); none: until revoked.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

impl NewToken {
    /// The scopes and expiry asked for, checked.
    pub fn terms(
        &self,
    ) -> Result<
        (
            atiende_domain::access::TokenScopes,
            Option<chrono::DateTime<chrono::Utc>>,
        ),
        AppError,
    > {
        let scopes = match &self.scopes {
            Some(codes) => {
                atiende_domain::access::TokenScopes::parse(codes.iter().map(String::as_str))?
            }
            None => atiende_domain::access::TokenScopes::parse(["read"])?,
        };
        let expires = match self.expires_in_days {
            None => None,
            Some(days @ 1..=730) => Some(chrono::Utc::now() + chrono::Duration::days(days)),
            Some(_) => {
                return Err(AppError::Rule(atiende_domain::RuleError::invalid(
                    "expires_in_days",
                    "out_of_range",
                )));
            }
        };
        Ok((scopes, expires))
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The secret, shown this once: only its hash is kept.
    pub token: String,
}

/// Makes an API token acting as oneself, for an integration. Only from a signed-in session: a
/// token cannot make more tokens, so a leaked one cannot outlive its own revocation.
#[utoipa::path(post, path = "/session/tokens", tag = "session", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 403, body = crate::error::ErrorEnvelope),
        (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create_my_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AppError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(AppError::Forbidden);
    }
    let user = caller.active()?;
    let (scopes, expires_at) = body.terms()?;
    let (id, token) = state
        .store
        .create_api_token(
            atiende_store::Actor::Staff(user),
            user.id,
            &body.name,
            &scopes,
            expires_at,
        )
        .await?;
    let name = body.name.trim().to_string();
    let scopes = scopes
        .scopes()
        .iter()
        .map(|s| s.code().to_string())
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id,
            name,
            scopes,
            expires_at,
            token,
        }),
    ))
}

/// Revokes one of one's own API tokens.
#[utoipa::path(delete, path = "/session/tokens/{id}", tag = "session", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn revoke_my_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = caller.account()?;
    let actor = atiende_store::Actor::Staff(user);
    if state
        .store
        .revoke_api_token(actor, id, Some(user.id))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("token"))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
    /// For an account with a second factor: the code its authenticator app shows now, or one
    /// of its recovery codes. Without it, such an account gets `second_factor_required`.
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub user: StaffUser,
    /// Send it back in `X-CSRF-Token` with every request that changes something.
    pub csrf_token: Option<String>,
}

/// Logs in with login and password; sets the session cookie (a new one at every login).
#[utoipa::path(post, path = "/session", tag = "session", request_body = LoginRequest, security(),
    responses((status = 200, body = SessionInfo), (status = 401, body = crate::error::ErrorEnvelope), (status = 429, body = crate::error::ErrorEnvelope)))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<Response, AppError> {
    let session = start_session(
        &state,
        &headers,
        &address,
        &body.login,
        &body.password,
        body.code.as_deref(),
    )
    .await?;
    let body = SessionInfo {
        user: session.user,
        csrf_token: Some(session.csrf),
    };
    let cookies = AppendHeaders([
        (header::SET_COOKIE, session.set_cookie),
        (header::SET_COOKIE, session.device_cookie),
    ]);
    Ok((cookies, axum::Json(body)).into_response())
}

/// The person behind the session or token. Works with a temporary password too, so the console
/// can ask for a new one.
#[utoipa::path(get, path = "/session", tag = "session", responses((status = 200, body = SessionInfo), (status = 401, body = crate::error::ErrorEnvelope)))]
async fn me(Caller(user, _): Caller) -> Json<SessionInfo> {
    Json(SessionInfo {
        user,
        csrf_token: None,
    })
}

/// Logs out: the session ends on the server and the cookie is removed.
#[utoipa::path(delete, path = "/session", tag = "session", responses((status = 204)))]
async fn logout(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = crate::auth::cookie_value_from(&headers, SESSION_COOKIE) {
        state.store.end_session(token).await?;
    }
    let cookie = session_cookie("", 0, state.config.secure_cookies());
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes one's own password (required after a one-time password). Ends every session of the
/// account; log in again with the new password.
#[utoipa::path(post, path = "/session/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, AppError> {
    let user = caller.account()?;
    state
        .store
        .change_own_password(user, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

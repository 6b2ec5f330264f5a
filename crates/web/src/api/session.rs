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
use crate::extract::Json;
use crate::rate_limit::ClientAddr;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, me, logout))
        .routes(routes!(change_password))
        .routes(routes!(my_sessions, end_my_other_sessions))
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
    Caller(user): Caller,
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
    Caller(user): Caller,
    headers: HeaderMap,
) -> Result<Json<SessionsEnded>, AppError> {
    let current = crate::auth::cookie_value_from(&headers, SESSION_COOKIE);
    let ended = state
        .store
        .end_sessions(atiende_store::Actor::Staff(&user), user.id, current)
        .await?;
    Ok(Json(SessionsEnded { ended }))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
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
    let session = start_session(&state, &headers, &address, &body.login, &body.password).await?;
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
async fn me(Caller(user): Caller) -> Json<SessionInfo> {
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
    Caller(user): Caller,
    Json(body): Json<PasswordChange>,
) -> Result<StatusCode, AppError> {
    state
        .store
        .change_own_password(&user, &body.current_password, &body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

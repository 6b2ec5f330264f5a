//! Staff accounts and their roles.

use atiende_domain::access::Action;
use atiende_domain::ids::UserId;
use atiende_domain::user::{StaffUser, UserInput};
use atiende_store::Actor;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
        .routes(routes!(end_sessions))
        .routes(routes!(tokens))
        .routes(routes!(revoke_token))
}

/// Staff accounts, in the order they were added, a page at a time.
#[utoipa::path(get, path = "/users", tag = "users", params(PageParams), responses((status = 200, body = Page<StaffUser>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<StaffUser>>, AppError> {
    caller.require(Action::UserRead)?;
    Ok(Json(Page::of_catalogue(
        state.store.users().await?,
        &p,
        |u| u.id.0,
    )?))
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: StaffUser,
    /// Shown once, when no password was given: the person must change it at first login.
    pub one_time_password: Option<String>,
}

#[utoipa::path(post, path = "/users", tag = "users", request_body = UserInput, responses((status = 201, body = CreatedUser)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<UserInput>,
) -> Result<(StatusCode, Json<CreatedUser>), AppError> {
    let admin = caller.require(Action::UserWrite)?;
    let created = state.store.create_user(Actor::Staff(admin), &input).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: created.user,
            one_time_password: created.generated_password,
        }),
    ))
}

#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)), responses((status = 200, body = StaffUser)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<StaffUser>, AppError> {
    caller.require(Action::UserRead)?;
    Ok(Json(state.store.user(UserId(id)).await?))
}

/// Edits an account: role, units, language, `disabled` (which ends its sessions at once), or a
/// new temporary password.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UserInput, responses((status = 200, body = StaffUser)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<UserInput>,
) -> Result<Json<StaffUser>, AppError> {
    let admin = caller.require(Action::UserWrite)?;
    Ok(Json(
        state
            .store
            .update_user(Actor::Staff(admin), UserId(id), &input)
            .await?,
    ))
}

/// Ends every session of an account (a lost laptop, a shared computer); its API tokens are
/// revoked one by one, or all at once by disabling the account.
#[utoipa::path(delete, path = "/users/{id}/sessions", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = crate::api::session::SessionsEnded)))]
async fn end_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<crate::api::session::SessionsEnded>, AppError> {
    let admin = caller.require(Action::UserWrite)?;
    state.store.user(UserId(id)).await?;
    let ended = state
        .store
        .end_sessions(Actor::Staff(admin), UserId(id), None)
        .await?;
    Ok(Json(crate::api::session::SessionsEnded { ended }))
}

/// The API tokens of an account that still work (never their secrets).
#[utoipa::path(get, path = "/users/{id}/tokens", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<atiende_store::users::ApiTokenInfo>)))]
async fn tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<atiende_store::users::ApiTokenInfo>>, AppError> {
    caller.require(Action::UserWrite)?;
    state.store.user(UserId(id)).await?;
    Ok(Json(state.store.tokens_of(UserId(id)).await?))
}

/// Revokes one API token of an account (an integration retired, a token leaked).
#[utoipa::path(delete, path = "/users/{id}/tokens/{token_id}", tag = "users",
    params(("id" = i64, Path), ("token_id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, token_id)): Path<(i64, i64)>,
) -> Result<StatusCode, AppError> {
    let admin = caller.require(Action::UserWrite)?;
    let owner = Some(UserId(id));
    if state
        .store
        .revoke_api_token(Actor::Staff(admin), token_id, owner)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("token"))
    }
}

//! Macros: the caller's own and the CAP's, and applying one to an incident (the whole of a
//! frequent case in one step, refused whole when a step is not allowed by the procedure).

use atiende_domain::access::Action;
use atiende_domain::incident::Incident;
use atiende_domain::macros::MacroInput;
use atiende_store::macros::Macro;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, archive))
        .routes(routes!(apply))
}

/// The macros the caller may apply: the CAP's and their own, by name.
#[utoipa::path(get, path = "/macros", tag = "macros", responses((status = 200, body = Vec<Macro>)))]
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<Macro>>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    Ok(Json(state.store.macros(user.id).await?))
}

/// Keeps a macro: the caller's own, or (leads and the quality owner) the CAP's.
#[utoipa::path(post, path = "/macros", tag = "macros", request_body = MacroInput,
    responses((status = 201, body = Macro), (status = 403, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<MacroInput>,
) -> Result<(StatusCode, Json<Macro>), AppError> {
    let user = caller.require(Action::IncidentWork)?;
    if input.shared && !user.may(Action::CannedShare) {
        return Err(AppError::Forbidden);
    }
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_macro(user, &input).await?),
    ))
}

#[utoipa::path(get, path = "/macros/{id}", tag = "macros", params(("id" = i64, Path)),
    responses((status = 200, body = Macro), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Macro>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    Ok(Json(state.store.usable_macro(user.id, id).await?))
}

#[utoipa::path(put, path = "/macros/{id}", tag = "macros", params(("id" = i64, Path)), request_body = MacroInput,
    responses((status = 200, body = Macro), (status = 403, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<MacroInput>,
) -> Result<Json<Macro>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let current = state.store.usable_macro(user.id, id).await?;
    if !user.may_keep(current.owner_id) || (input.shared && !user.may(Action::CannedShare)) {
        return Err(AppError::Forbidden);
    }
    Ok(Json(state.store.update_macro(user, id, &input).await?))
}

#[utoipa::path(delete, path = "/macros/{id}", tag = "macros", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorEnvelope)))]
async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let current = state.store.usable_macro(user.id, id).await?;
    if !user.may_keep(current.owner_id) {
        return Err(AppError::Forbidden);
    }
    state.store.archive_macro(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies a macro to an incident: classify, answer, intervention notes, close or derive, as
/// one step. When the procedure refuses one of them (closing an unclassified incident, a
/// critical one not derived to top management…) nothing is written and the answer says why.
#[utoipa::path(post, path = "/incidents/{reference}/macros/{id}", tag = "macros",
    params(("reference" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Incident), (status = 404, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    Path((reference, id)): Path<(String, i64)>,
) -> Result<Json<Incident>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let incident = super::incidents::visible(&state, user, &reference).await?;
    Ok(Json(state.store.apply_macro(user, id, incident).await?))
}

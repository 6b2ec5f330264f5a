//! Canned responses: the caller's own and the CAP's shared texts, one filled for an incident,
//! and how often each was sent (for the quality office).

use atiende_domain::access::Action;
use atiende_domain::canned_response::CannedResponseInput;
use atiende_domain::ids::TopicId;
use atiende_domain::user::StaffUser;
use atiende_store::canned_responses::{CannedResponse, CannedUsage};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, archive))
        .routes(routes!(filled))
        .routes(routes!(usage))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CannedParams {
    /// Words in the title or the text.
    pub q: Option<String>,
    /// Those of this topic first, then those of none (others are left out).
    pub topic_id: Option<i64>,
}

/// The canned responses the caller may use: the CAP's shared ones and their own, by title.
#[utoipa::path(get, path = "/canned-responses", tag = "canned_responses", params(CannedParams),
    responses((status = 200, body = Vec<CannedResponse>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<CannedParams>,
) -> Result<Json<Vec<CannedResponse>>, AppError> {
    let user = caller.require(Action::IncidentNote)?;
    Ok(Json(
        state
            .store
            .canned_responses(user.id, p.q.as_deref(), p.topic_id.map(TopicId))
            .await?,
    ))
}

/// Keeps a canned response: the caller's own, or (leads and the quality owner) the CAP's.
/// A text with an unknown variable is refused (`body`).
#[utoipa::path(post, path = "/canned-responses", tag = "canned_responses", request_body = CannedResponseInput,
    responses((status = 201, body = CannedResponse), (status = 403, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<CannedResponseInput>,
) -> Result<(StatusCode, Json<CannedResponse>), AppError> {
    let user = caller.require(Action::IncidentNote)?;
    if input.shared && !user.may(Action::CannedShare) {
        return Err(AppError::Forbidden);
    }
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_canned_response(user, &input).await?),
    ))
}

#[utoipa::path(get, path = "/canned-responses/{id}", tag = "canned_responses", params(("id" = i64, Path)),
    responses((status = 200, body = CannedResponse), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<CannedResponse>, AppError> {
    let user = caller.require(Action::IncidentNote)?;
    Ok(Json(state.store.usable_canned_response(user.id, id).await?))
}

/// Whether the caller may change it: their own, or a shared one with the right to keep them.
async fn changeable(state: &AppState, user: &StaffUser, id: i64) -> Result<(), AppError> {
    let current = state.store.usable_canned_response(user.id, id).await?;
    if user.may_keep(current.owner_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

#[utoipa::path(put, path = "/canned-responses/{id}", tag = "canned_responses", params(("id" = i64, Path)),
    request_body = CannedResponseInput,
    responses((status = 200, body = CannedResponse), (status = 403, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<CannedResponseInput>,
) -> Result<Json<CannedResponse>, AppError> {
    let user = caller.require(Action::IncidentNote)?;
    changeable(&state, user, id).await?;
    if input.shared && !user.may(Action::CannedShare) {
        return Err(AppError::Forbidden);
    }
    Ok(Json(
        state.store.update_canned_response(user, id, &input).await?,
    ))
}

/// Takes it out of use; what it was used for stays counted.
#[utoipa::path(delete, path = "/canned-responses/{id}", tag = "canned_responses", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorEnvelope)))]
async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = caller.require(Action::IncidentNote)?;
    changeable(&state, user, id).await?;
    state.store.archive_canned_response(user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct FilledText {
    pub canned_response_id: i64,
    /// The text with the incident's values: send it as an answer with `canned_response_id`.
    pub text: String,
}

/// A canned response filled for an incident, as the caller would send it (the person's name,
/// the folio, the caller's name, the unit it was derived to).
#[utoipa::path(get, path = "/incidents/{reference}/canned-responses/{id}", tag = "canned_responses",
    params(("reference" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = FilledText), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn filled(
    State(state): State<AppState>,
    caller: Caller,
    Path((reference, id)): Path<(String, i64)>,
) -> Result<Json<FilledText>, AppError> {
    let user = caller.require(Action::IncidentNote)?;
    let incident = super::incidents::visible(&state, user, &reference).await?;
    let text = state.store.fill_canned_response(user, id, incident).await?;
    Ok(Json(FilledText {
        canned_response_id: id,
        text,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// A local date (`2026-11-01`) or an instant; default: the first of this month.
    pub from: Option<String>,
    /// A local date (inclusive) or an instant; default: now.
    pub to: Option<String>,
}

impl UsageParams {
    /// The period asked for: from the first of this month until now unless said.
    pub fn bounds(
        &self,
        tz: chrono_tz::Tz,
    ) -> Result<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>), AppError> {
        let bound = |raw: Option<&str>, end: bool, field: &str| {
            raw.map(|r| {
                atiende_domain::calendar::parse_bound(r, tz, end).ok_or_else(|| {
                    AppError::from(atiende_domain::RuleError::invalid(field, "invalid_date"))
                })
            })
            .transpose()
        };
        let now = chrono::Utc::now();
        let from = match bound(self.from.as_deref(), false, "from")? {
            Some(f) => f,
            None => {
                atiende_domain::period::Period::containing(
                    now,
                    tz,
                    atiende_domain::period::Periodicity::Monthly,
                )
                .bounds(tz)
                .0
            }
        };
        let to = bound(self.to.as_deref(), true, "to")?.unwrap_or(now);
        Ok((from, to))
    }
}

/// How often each canned response was sent in the period, to how many incidents, and how many
/// of those closed at first contact; the most used first.
#[utoipa::path(get, path = "/quality/canned-responses", tag = "quality", params(UsageParams),
    responses((status = 200, body = Vec<CannedUsage>), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<UsageParams>,
) -> Result<Json<Vec<CannedUsage>>, AppError> {
    caller.require(Action::IndicatorRead)?;
    let (from, to) = p.bounds(state.store.time_zone())?;
    Ok(Json(state.store.canned_usage(from, to).await?))
}

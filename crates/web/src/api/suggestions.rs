//! Suggestions learned from the CAP's history: what the model suggests for an incident (the
//! caller confirms or corrects it by classifying), and how agents received them with the
//! model's accuracy (for the quality office).

use atiende_domain::access::Action;
use atiende_store::suggestions::{IncidentSuggestion, SuggestionReport};
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(for_incident))
        .routes(routes!(report))
}

#[derive(Serialize, ToSchema)]
pub struct SuggestionAnswer {
    /// None without a trained model, or for an incident already classified before any
    /// suggestion was made.
    pub suggestion: Option<IncidentSuggestion>,
}

/// What the CAP's history suggests for an incident's topic, type and criticality. Nothing is
/// classified by it: the caller's classification (`POST /incidents/{reference}/classify`) confirms or
/// corrects it, and that is counted.
#[utoipa::path(get, path = "/incidents/{reference}/suggestion", tag = "incidents",
    params(("reference" = String, Path)),
    responses((status = 200, body = SuggestionAnswer), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn for_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
) -> Result<Json<SuggestionAnswer>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let id = super::incidents::visible(&state, user, &reference).await?;
    let incident = state.store.incident(id).await?;
    Ok(Json(SuggestionAnswer {
        suggestion: state.store.suggestion_for(&incident).await?,
    }))
}

/// The model in use (when it was trained, from how many incidents, its top-1 and top-3
/// accuracy on held-out history) and how many of its suggestions agents confirmed or
/// corrected in the period.
#[utoipa::path(get, path = "/quality/suggestions", tag = "quality",
    params(super::canned_responses::UsageParams),
    responses((status = 200, body = SuggestionReport), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<super::canned_responses::UsageParams>,
) -> Result<Json<SuggestionReport>, AppError> {
    caller.require(Action::IndicatorRead)?;
    let (from, to) = p.bounds(state.store.time_zone())?;
    Ok(Json(state.store.suggestion_report(from, to).await?))
}

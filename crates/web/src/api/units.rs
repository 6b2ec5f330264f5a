//! Units that receive derivations, and the topic catalogue.

use atiende_domain::access::Action;
use atiende_domain::ids::{TopicId, UnitId};
use atiende_domain::unit::{Topic, Unit, UnitInput};
use atiende_store::Actor;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
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
        .routes(routes!(list_topics, create_topic))
        .routes(routes!(update_topic))
}

/// The units, in the order they were added, a page at a time.
#[utoipa::path(get, path = "/units", tag = "units", params(PageParams), responses((status = 200, body = Page<Unit>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<Unit>>, AppError> {
    caller.require(Action::UnitRead)?;
    Ok(Json(Page::of_catalogue(
        state.store.units().await?,
        &p,
        |u| u.id.0,
    )?))
}

#[utoipa::path(post, path = "/units", tag = "units", request_body = UnitInput, responses((status = 201, body = Unit)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<UnitInput>,
) -> Result<(StatusCode, Json<Unit>), AppError> {
    let user = caller.require(Action::UnitWrite)?;
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_unit(Actor::Staff(user), &input).await?),
    ))
}

#[utoipa::path(get, path = "/units/{id}", tag = "units", params(("id" = i64, Path)), responses((status = 200, body = Unit)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Unit>, AppError> {
    caller.require(Action::UnitRead)?;
    Ok(Json(state.store.unit(UnitId(id)).await?))
}

#[utoipa::path(patch, path = "/units/{id}", tag = "units", params(("id" = i64, Path)), request_body = UnitInput, responses((status = 200, body = Unit)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<UnitInput>,
) -> Result<Json<Unit>, AppError> {
    let user = caller.require(Action::UnitWrite)?;
    Ok(Json(
        state
            .store
            .update_unit(Actor::Staff(user), UnitId(id), &input)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct TopicInput {
    pub name: Option<String>,
    pub active: Option<bool>,
}

/// The topic catalogue (editable by administrators), a page at a time.
#[utoipa::path(get, path = "/topics", tag = "units", params(PageParams), responses((status = 200, body = Page<Topic>)))]
async fn list_topics(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<Topic>>, AppError> {
    caller.require(Action::UnitRead)?;
    Ok(Json(Page::of_catalogue(
        state.store.topics().await?,
        &p,
        |t| t.id.0,
    )?))
}

#[utoipa::path(post, path = "/topics", tag = "units", request_body = TopicInput, responses((status = 201, body = Topic)))]
async fn create_topic(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<TopicInput>,
) -> Result<(StatusCode, Json<Topic>), AppError> {
    let user = caller.require(Action::TopicWrite)?;
    let topic = state
        .store
        .save_topic(
            Actor::Staff(user),
            None,
            input.name.as_deref(),
            input.active,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(topic)))
}

#[utoipa::path(patch, path = "/topics/{id}", tag = "units", params(("id" = i64, Path)), request_body = TopicInput, responses((status = 200, body = Topic)))]
async fn update_topic(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<TopicInput>,
) -> Result<Json<Topic>, AppError> {
    let user = caller.require(Action::TopicWrite)?;
    let topic = state
        .store
        .save_topic(
            Actor::Staff(user),
            Some(TopicId(id)),
            input.name.as_deref(),
            input.active,
        )
        .await?;
    Ok(Json(topic))
}

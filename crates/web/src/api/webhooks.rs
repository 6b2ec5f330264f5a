//! Outbound webhooks by API (administrators'): subscribe an endpoint to events, change or turn
//! it off, read its delivery log and replay a delivery. Sending is the worker's
//! (`atiende_jobs::webhooks`); the signing and the address rules are the domain's.

use atiende_domain::access::Action;
use atiende_domain::webhook::SubscriptionInput;
use atiende_store::Actor;
use atiende_store::webhooks::{CreatedSubscription, Delivery, Subscription};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
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
        .routes(routes!(get_one, update, delete))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
}

/// The subscribed endpoints (never their secrets), a page at a time.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", params(PageParams), responses((status = 200, body = Page<Subscription>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<Subscription>>, AppError> {
    caller.require(Action::WebhookManage)?;
    Ok(Json(Page::of_catalogue(
        state.store.webhooks().await?,
        &p,
        |w| w.id,
    )?))
}

/// Subscribes an endpoint to event types. The answer holds its signing secret, this once:
/// each delivery carries `webhook-id`, `webhook-timestamp` and `webhook-signature`
/// (Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).
#[utoipa::path(post, path = "/webhooks", tag = "webhooks",
    request_body(content = SubscriptionInput, example = json!({"url": "https://bi.udg.mx/atiende/eventos", "events": ["incident.closed", "survey.answered"], "description": "BI de Rectoría"})),
    responses((status = 201, body = CreatedSubscription), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<SubscriptionInput>,
) -> Result<(StatusCode, Json<CreatedSubscription>), AppError> {
    let user = caller.require(Action::WebhookManage)?;
    let created = state
        .store
        .create_webhook(
            Actor::Staff(user),
            &input,
            state.config.webhooks_allow_private,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 200, body = Subscription), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Subscription>, AppError> {
    caller.require(Action::WebhookManage)?;
    Ok(Json(state.store.webhook(id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct SubscriptionUpdate {
    #[serde(flatten)]
    pub input: SubscriptionInput,
    /// False turns it off; true turns it on again and clears its failures.
    pub active: bool,
}

/// Changes an endpoint (the whole subscription), or turns it off and on.
#[utoipa::path(put, path = "/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    request_body(content = SubscriptionUpdate, example = json!({"url": "https://bi.udg.mx/atiende/eventos", "events": ["incident.closed"], "description": "BI de Rectoría", "active": true})),
    responses((status = 200, body = Subscription), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(u): Json<SubscriptionUpdate>,
) -> Result<Json<Subscription>, AppError> {
    let user = caller.require(Action::WebhookManage)?;
    Ok(Json(
        state
            .store
            .update_webhook(
                Actor::Staff(user),
                id,
                &u.input,
                u.active,
                state.config.webhooks_allow_private,
            )
            .await?,
    ))
}

/// Removes an endpoint and its delivery log.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = caller.require(Action::WebhookManage)?;
    state.store.delete_webhook(Actor::Staff(user), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// An endpoint's deliveries, newest first: each event, its attempts, the endpoint's last
/// answer and whether it arrived.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = i64, Path), DeliveryParams),
    responses((status = 200, body = Page<Delivery>), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(p): Query<DeliveryParams>,
) -> Result<Json<Page<Delivery>>, AppError> {
    caller.require(Action::WebhookManage)?;
    state.store.webhook(id).await?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let items = state
        .store
        .webhook_deliveries(id, page.before_id()?, page.limit() + 1)
        .await?;
    Ok(Json(Page::of(items, page.limit(), |d| d.id)))
}

/// Sends a delivery again (same `webhook-id` and body), as a new entry of the log.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("id" = i64, Path), ("delivery_id" = i64, Path)),
    responses((status = 201, body = Delivery), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery)): Path<(i64, i64)>,
) -> Result<(StatusCode, Json<Delivery>), AppError> {
    let user = caller.require(Action::WebhookManage)?;
    let replay = state
        .store
        .replay_webhook_delivery(Actor::Staff(user), id, delivery)
        .await?;
    Ok((StatusCode::CREATED, Json(replay)))
}

//! The caller's notifications: what they were told about, newest first, marking them read, and
//! how they want to be told of each kind of event.

use atiende_store::notifications::{Notification, NotificationChoice};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(mark_read))
        .routes(routes!(preferences, save_preferences))
}

#[derive(Deserialize, IntoParams)]
pub struct NotificationParams {
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The caller's notifications, newest first, with how many are unread. Only those about an
/// incident the caller may still see.
#[utoipa::path(get, path = "/notifications", tag = "session", params(NotificationParams),
    responses((status = 200, body = Page<Notification>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<NotificationParams>,
) -> Result<Json<Page<Notification>>, AppError> {
    let user = caller.active()?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let items = state
        .store
        .notifications(user.id, page.before_id()?, page.limit() + 1)
        .await?;
    let mut out = Page::of(items, page.limit(), |n| n.id);
    out.items = state
        .store
        .still_visible(&user.incident_scope(), out.items)
        .await?;
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// These notifications; all of the caller's when absent.
    #[serde(default)]
    pub ids: Option<Vec<i64>>,
}

#[derive(Serialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
    pub unread: i64,
}

/// Marks the caller's notifications read.
#[utoipa::path(post, path = "/notifications/read", tag = "session", request_body = MarkRead,
    responses((status = 200, body = MarkedRead)))]
async fn mark_read(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<MarkRead>,
) -> Result<Json<MarkedRead>, AppError> {
    let user = caller.active()?;
    let marked = state
        .store
        .mark_notifications_read(user.id, input.ids.as_deref())
        .await?;
    Ok(Json(MarkedRead {
        marked,
        unread: state.store.unread_notifications(user.id).await?,
    }))
}

/// How the caller is told of each kind of event: in the console, and by email at once, in the
/// daily digest or not.
#[utoipa::path(get, path = "/notifications/preferences", tag = "session",
    responses((status = 200, body = Vec<NotificationChoice>)))]
async fn preferences(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<NotificationChoice>>, AppError> {
    let user = caller.active()?;
    Ok(Json(state.store.notification_preferences(user.id).await?))
}

/// Changes how the caller is told of the kinds named (the others keep theirs); answers with
/// every kind's choice.
#[utoipa::path(put, path = "/notifications/preferences", tag = "session",
    request_body = Vec<NotificationChoice>,
    responses((status = 200, body = Vec<NotificationChoice>), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_preferences(
    State(state): State<AppState>,
    caller: Caller,
    Json(choices): Json<Vec<NotificationChoice>>,
) -> Result<Json<Vec<NotificationChoice>>, AppError> {
    let user = caller.active()?;
    state
        .store
        .save_notification_preferences(user.id, &choices)
        .await?;
    Ok(Json(state.store.notification_preferences(user.id).await?))
}

//! *Avisos*: what the signed-in person was told about (assigned to them, the person replied, a
//! unit answered, a derivation to their unit, a service level due soon or overdue, a critical
//! incident, a low survey score), newest first, written in their language when read; marking
//! them read.

use atiende_domain::access::Action;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, local, render};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/avisos", get(list))
        .route("/avisos/leidos", post(mark_read))
}

pub struct NotificationRow {
    pub label: &'static str,
    pub folio: String,
    pub subject: String,
    pub at: String,
    pub read: bool,
}

#[derive(askama::Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    ctx: Ctx,
    rows: Vec<NotificationRow>,
    next: Option<i64>,
}

#[derive(Deserialize, Default)]
struct ListParams {
    antes: Option<i64>,
}

/// How many a page shows.
const PAGE: i64 = 50;

async fn list(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let lang = page.user.language;
    let tz = state.store.time_zone();
    let items = state
        .store
        .notifications(page.user.id, p.antes, PAGE + 1)
        .await?;
    let next = (items.len() as i64 > PAGE).then(|| items[PAGE as usize - 1].id);
    let shown: Vec<_> = items.into_iter().take(PAGE as usize).collect();
    let rows = state
        .store
        .still_visible(&page.user.incident_scope(), shown)
        .await?
        .into_iter()
        .map(|n| NotificationRow {
            label: n.kind.label(lang),
            folio: n.folio.unwrap_or_default(),
            subject: n.subject.unwrap_or_default(),
            at: local(&n.created_at, tz),
            read: n.read,
        })
        .collect();
    let view = NotificationsPage {
        rows,
        next,
        ctx: page.ctx("notifications"),
    };
    Ok(render(&view).into_response())
}

#[derive(Deserialize)]
struct Nothing {}

async fn mark_read(
    State(state): State<AppState>,
    posted: Posted<Nothing>,
) -> Result<Response, PageError> {
    let Posted { page, form: _ } = posted;
    page.require(Action::IncidentRead)?;
    state
        .store
        .mark_notifications_read(page.user.id, None)
        .await?;
    Ok(Redirect::to("/avisos").into_response())
}

//! *Avisos*: what the signed-in person was told about (assigned to them, the person replied, a
//! unit answered, a derivation to their unit, a service level due soon or overdue, a critical
//! incident, a low survey score, a nonconformity given to them, an article due for review),
//! newest first, written in their language when read; marking them read; and under
//! *Preferencias*, how they want to be told of each (console, email at once, daily digest).

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::notification::{EmailDelivery, NotificationKind, Preference};
use atiende_store::notifications::{Notification, NotificationChoice};
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
        .route("/preferencias/avisos", get(choices).post(save_choices))
}

pub struct NotificationRow {
    pub label: &'static str,
    /// Where it is seen, and what it is about.
    pub href: String,
    pub title: String,
    pub at: String,
    pub read: bool,
}

impl NotificationRow {
    pub fn of(
        n: Notification,
        lang: atiende_domain::classification::Lang,
        tz: chrono_tz::Tz,
    ) -> Self {
        NotificationRow {
            label: n.kind.label(lang),
            href: n.link().unwrap_or_default(),
            title: n.about(lang),
            at: local(&n.created_at, tz),
            read: n.read,
        }
    }
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
        .map(|n| NotificationRow::of(n, lang, tz))
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

/// One kind of event as the choices page shows it.
pub struct ChoiceRow {
    pub code: &'static str,
    pub label: &'static str,
    pub in_console: bool,
    pub email: &'static str,
}

#[derive(askama::Template)]
#[template(path = "notification_preferences.html")]
struct ChoicesPage {
    ctx: Ctx,
    rows: Vec<ChoiceRow>,
    /// Email deliveries: code, label.
    deliveries: Vec<(&'static str, &'static str)>,
    saved: bool,
}

#[derive(Deserialize, Default)]
struct SavedParam {
    guardado: Option<String>,
}

async fn choices(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<SavedParam>,
) -> Result<Response, PageError> {
    let lang = page.user.language;
    let rows = state
        .store
        .notification_preferences(page.user.id)
        .await?
        .into_iter()
        .map(|c| ChoiceRow {
            code: c.kind.code(),
            label: c.kind.label(lang),
            in_console: c.preference.in_console,
            email: c.preference.email.code(),
        })
        .collect();
    let view = ChoicesPage {
        rows,
        deliveries: EmailDelivery::ALL
            .iter()
            .map(|d| (d.code(), d.label(lang)))
            .collect(),
        saved: p.guardado.is_some(),
        ctx: page.ctx("notifications"),
    };
    Ok(render(&view).into_response())
}

/// Every kind is on the form: an unticked box is "not in the console", an unknown delivery
/// keeps the default.
async fn save_choices(
    State(state): State<AppState>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    let choices: Vec<NotificationChoice> = NotificationKind::ALL
        .iter()
        .map(|kind| NotificationChoice {
            kind: *kind,
            preference: Preference {
                in_console: form.contains_key(&format!("consola_{}", kind.code())),
                email: form
                    .get(&format!("correo_{}", kind.code()))
                    .and_then(|c| EmailDelivery::from_code(c))
                    .unwrap_or(kind.default_preference().email),
            },
        })
        .collect();
    state
        .store
        .save_notification_preferences(page.user.id, &choices)
        .await?;
    Ok(Redirect::to("/preferencias/avisos?guardado=1").into_response())
}

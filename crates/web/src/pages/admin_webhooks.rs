//! Administración → Webhooks: subscribe an endpoint (its secret shown once, in the answer to
//! the form), turn it off and on, remove it. The delivery log and replays are in the API.

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::classification::Lang;
use atiende_domain::webhook::{EventType, SubscriptionInput};
use atiende_store::Actor;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;

use super::admin::{admin_page, done, failed};
use super::{PageError, Posted};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/webhooks", post(create))
        .route("/admin/webhooks/{id}/activar", post(turn_on))
        .route("/admin/webhooks/{id}/desactivar", post(turn_off))
        .route("/admin/webhooks/{id}/quitar", post(remove))
}

/// A subscription as the administration page lists it.
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: String,
    pub active: bool,
    pub state: String,
    pub failures: i64,
    /// Turned off by the service after repeated failures (not by an administrator).
    pub turned_off_by_failures: bool,
}

pub(super) async fn rows(state: &AppState, lang: Lang) -> Result<Vec<WebhookRow>, PageError> {
    let t = crate::i18n::Tr(lang);
    let tz = state.store.time_zone();
    Ok(state
        .store
        .webhooks()
        .await?
        .into_iter()
        .map(|w| WebhookRow {
            id: w.id,
            events: w
                .events
                .iter()
                .map(|e| e.label(lang))
                .collect::<Vec<_>>()
                .join(", "),
            active: w.active,
            state: match (w.active, w.disabled_at) {
                (true, _) => t.s("Activo").to_string(),
                (false, Some(at)) => format!("{} {}", t.s("Desactivado el"), super::local(&at, tz)),
                (false, None) => t.s("Desactivado").to_string(),
            },
            failures: w.consecutive_failures,
            turned_off_by_failures: !w.active
                && w.consecutive_failures >= atiende_domain::webhook::DISABLE_AFTER_FAILURES,
            url: w.url,
            description: w.description,
        })
        .collect())
}

fn input_of(form: &HashMap<String, String>) -> SubscriptionInput {
    SubscriptionInput {
        url: form.get("url").cloned().unwrap_or_default(),
        events: EventType::ALL
            .iter()
            .copied()
            .filter(|e| form.contains_key(&format!("event_{}", e.code())))
            .collect(),
        description: form.get("description").cloned().unwrap_or_default(),
    }
}

/// The secret is shown once, in the body of this answer (never in a URL).
async fn create(
    State(state): State<AppState>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::WebhookManage)?;
    let user = page.user.clone();
    let created = state
        .store
        .create_webhook(
            Actor::Staff(&user),
            &input_of(&form),
            state.config.webhooks_allow_private,
        )
        .await;
    match created {
        Ok(c) => {
            let t = crate::i18n::Tr(user.language);
            let notice = format!(
                "{} {}",
                t.s("Secreto para verificar las firmas (se muestra solo esta vez):"),
                c.secret
            );
            admin_page(&state, page, Some(notice), None).await
        }
        Err(e) => failed(&state, page, e).await,
    }
}

async fn turn_on(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    switch(state, id, posted, true).await
}

async fn turn_off(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    switch(state, id, posted, false).await
}

async fn switch(
    state: AppState,
    id: i64,
    posted: Posted<HashMap<String, String>>,
    active: bool,
) -> Result<Response, PageError> {
    let Posted { page, .. } = posted;
    page.require(Action::WebhookManage)?;
    let user = page.user.clone();
    let current = state.store.webhook(id).await?;
    let input = SubscriptionInput {
        url: current.url,
        events: current.events,
        description: current.description,
    };
    let result = state
        .store
        .update_webhook(
            Actor::Staff(&user),
            id,
            &input,
            active,
            state.config.webhooks_allow_private,
        )
        .await;
    done(&state, page, result, "webhooks").await
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, .. } = posted;
    page.require(Action::WebhookManage)?;
    let user = page.user.clone();
    let result = state.store.delete_webhook(Actor::Staff(&user), id).await;
    done(&state, page, result, "webhooks").await
}

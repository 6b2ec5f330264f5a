//! The call log: missed calls waiting for a call-back (oldest first) and the latest calls, each
//! with its contact and, once registered, its incident.

use atiende_domain::access::Action;
use atiende_store::Actor;
use atiende_store::calls::Call;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, local, render};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/llamadas", get(calls))
        .route("/llamadas/{id}/devuelta", post(called_back))
}

pub struct CallView {
    pub id: i64,
    pub number: String,
    pub contact: Option<(i64, String)>,
    pub direction: &'static str,
    pub state: &'static str,
    pub cause: &'static str,
    pub agent: String,
    pub at: String,
    pub folio: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "calls.html")]
struct CallsPage {
    ctx: Ctx,
    missed: Vec<CallView>,
    recent: Vec<CallView>,
}

fn view_of(state: &AppState, c: &Call, page: &PageUser) -> CallView {
    let lang = page.user.language;
    CallView {
        id: c.id,
        number: c.their_number().to_string(),
        contact: c
            .contact_id
            .map(|id| (id.0, c.contact_name.clone().unwrap_or_default())),
        direction: c.direction.label(lang),
        state: c.state.label(lang),
        cause: c.cause.map_or("", |x| x.label(lang)),
        agent: c.agent.clone(),
        at: local(&c.started_at, state.store.time_zone()),
        folio: c.folio.clone(),
    }
}

async fn calls(State(state): State<AppState>, page: PageUser) -> Result<Response, PageError> {
    page.require(Action::IncidentCreate)?;
    let missed = state.store.missed_calls().await?;
    let missed = missed.iter().map(|c| view_of(&state, c, &page)).collect();
    let recent = state.store.calls(50).await?;
    let recent = recent.iter().map(|c| view_of(&state, c, &page)).collect();
    Ok(render(&CallsPage {
        ctx: page.ctx("calls"),
        missed,
        recent,
    }))
}

#[derive(Deserialize)]
struct Empty {}

async fn called_back(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<Empty>,
) -> Result<Response, PageError> {
    let Posted { page, form: _ } = posted;
    page.require(Action::IncidentCreate)?;
    state
        .store
        .mark_called_back(Actor::Staff(&page.user), id)
        .await?;
    Ok(Redirect::to("/llamadas").into_response())
}

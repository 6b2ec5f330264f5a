//! The leads' page: critical matters waiting for top management, low survey scores to follow
//! up, and each agent's load.

use atiende_domain::access::Action;
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::incidents::IncidentFilter;
use atiende_store::queue::AgentLoad;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::queue::{Row, incident_rows};
use super::{Ctx, PageError, PageUser, Posted, local, render};
use crate::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/responsables", get(leads))
        .route("/responsables/seguimiento/{id}", post(close_follow_up))
}

/// A low survey score waiting for the CAP lead.
pub struct FollowUpView {
    pub id: i64,
    pub folio: String,
    pub overall: String,
    pub comment: String,
    pub answered: String,
}

#[derive(askama::Template)]
#[template(path = "leads.html")]
struct LeadsPage {
    ctx: Ctx,
    rows: Vec<Row>,
    load: Vec<AgentLoad>,
    follow_ups: Vec<FollowUpView>,
    /// The leads' page lists without the queue's bulk selection.
    select: bool,
}

async fn leads(State(state): State<AppState>, page: PageUser) -> Result<Response, PageError> {
    let lang = page.user.language;
    if !matches!(
        page.user.role,
        Role::CapLead | Role::Admin | Role::Management
    ) {
        return Err(PageError::from(AppError::Forbidden));
    }
    let filter = IncidentFilter {
        leads_queue: true,
        limit: 200,
        ..Default::default()
    };
    let found = incident_rows(&state, &page.user.incident_scope(), &filter, lang).await?;
    let load = state.store.agent_load().await?;
    let tz = state.store.time_zone();
    let follow_ups = if page.user.may(Action::SurveyFollowUp) {
        state
            .store
            .survey_follow_ups()
            .await?
            .into_iter()
            .map(|s| FollowUpView {
                id: s.id,
                folio: s.folio,
                overall: s.overall.map(|o| format!("{o}/5")).unwrap_or_default(),
                comment: s
                    .answers
                    .as_ref()
                    .and_then(|a| a["comment"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                answered: s.answered_at.map(|t| local(&t, tz)).unwrap_or_default(),
            })
            .collect()
    } else {
        vec![]
    };
    Ok(render(&LeadsPage {
        ctx: page.ctx("leads"),
        rows: found,
        load,
        follow_ups,
        select: false,
    }))
}

#[derive(Deserialize)]
struct FollowUpForm {
    #[serde(default)]
    note: String,
}

async fn close_follow_up(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<FollowUpForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::SurveyFollowUp)?;
    state
        .store
        .close_survey_follow_up(Actor::Staff(&page.user), id, &form.note)
        .await?;
    Ok(Redirect::to("/responsables#seguimiento").into_response())
}

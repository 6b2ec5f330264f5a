//! The leads' page: critical matters waiting for top management, and each agent's load.

use atiende_domain::user::Role;
use atiende_store::incidents::{AgentLoad, IncidentFilter};
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use super::queue::{Row, incident_rows};
use super::{Ctx, PageError, PageUser, render};
use crate::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new().route("/responsables", get(leads))
}

#[derive(askama::Template)]
#[template(path = "leads.html")]
struct LeadsPage {
    ctx: Ctx,
    rows: Vec<Row>,
    load: Vec<AgentLoad>,
}

async fn leads(State(state): State<AppState>, page: PageUser) -> Result<Response, PageError> {
    let lang = page.user.language;
    if !matches!(
        page.user.role,
        Role::CapLead | Role::Admin | Role::Management
    ) {
        return Err(PageError::from_app(AppError::Forbidden, lang));
    }
    let err = |e| PageError::from_app(e, lang);
    let filter = IncidentFilter {
        leads_queue: true,
        limit: 200,
        ..Default::default()
    };
    let found = incident_rows(&state, &page.user.incident_scope(), &filter, lang)
        .await
        .map_err(err)?;
    let load = state.store.agent_load().await.map_err(err)?;
    Ok(render(&LeadsPage {
        ctx: page.ctx("leads"),
        rows: found,
        load,
    }))
}

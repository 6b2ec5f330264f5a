//! Macros in the console: each person's own and the CAP's (`/macros`, kept by leads), and
//! applying one from the incident view (`/incidentes/{folio}/macro`), which runs the whole of a
//! frequent case through the procedure's rules in one step.

use atiende_domain::access::Action;
use atiende_domain::classification::{IncidentType, Medium, UserType};
use atiende_domain::ids::{TopicId, UnitId};
use atiende_domain::macros::{MacroFinish, MacroInput, MacroSteps};
use atiende_store::macros::Macro;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, non_empty, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::describe_error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/macros", get(list).post(create))
        .route("/macros/{id}", get(edit).post(update))
        .route("/macros/{id}/archivar", post(archive))
}

pub struct Row {
    pub id: i64,
    pub name: String,
    pub summary: String,
    pub shared: bool,
    pub may_change: bool,
}

#[derive(askama::Template)]
#[template(path = "macros.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<Row>,
    topics: Vec<(String, String)>,
    units: Vec<(String, String)>,
    canned: Vec<(String, String)>,
    user_types: Vec<(&'static str, &'static str)>,
    incident_types: Vec<(&'static str, &'static str)>,
    may_share: bool,
    draft: Form,
    editing: Option<i64>,
    error: Option<String>,
    saved: bool,
}

/// The editor's fields, as posted.
#[derive(Deserialize, Default, Clone)]
struct Form {
    #[serde(default)]
    name: String,
    #[serde(default)]
    user_type: String,
    #[serde(default)]
    incident_type: String,
    #[serde(default)]
    topic_id: String,
    #[serde(default)]
    canned_response_id: String,
    #[serde(default)]
    notes: String,
    /// `nothing`, `close` or `derive`.
    #[serde(default)]
    finish: String,
    #[serde(default)]
    unit_id: String,
    #[serde(default)]
    reason: String,
    shared: Option<String>,
}

impl Form {
    fn input(&self) -> MacroInput {
        let finish = match self.finish.as_str() {
            "close" => MacroFinish::Close,
            "derive" => MacroFinish::Derive {
                unit_id: UnitId(self.unit_id.trim().parse().unwrap_or(0)),
                medium: Medium::Email,
                reason: self.reason.clone(),
            },
            _ => MacroFinish::Nothing,
        };
        MacroInput {
            name: self.name.clone(),
            steps: MacroSteps {
                user_type: UserType::from_code(&self.user_type),
                incident_type: IncidentType::from_code(&self.incident_type),
                topic_id: self.topic_id.trim().parse().ok().map(TopicId),
                canned_response_id: self.canned_response_id.trim().parse().ok(),
                notes: self.notes.clone(),
                finish,
            },
            shared: self.shared.is_some(),
        }
    }

    fn of(m: &Macro) -> Form {
        let s = &m.steps;
        let (finish, unit_id, reason) = match &s.finish {
            MacroFinish::Nothing => ("nothing", String::new(), String::new()),
            MacroFinish::Close => ("close", String::new(), String::new()),
            MacroFinish::Derive {
                unit_id, reason, ..
            } => ("derive", unit_id.0.to_string(), reason.clone()),
        };
        Form {
            name: m.name.clone(),
            user_type: s
                .user_type
                .map(|u| u.code().to_string())
                .unwrap_or_default(),
            incident_type: s
                .incident_type
                .map(|i| i.code().to_string())
                .unwrap_or_default(),
            topic_id: s.topic_id.map(|t| t.0.to_string()).unwrap_or_default(),
            canned_response_id: s
                .canned_response_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
            notes: s.notes.clone(),
            finish: finish.into(),
            unit_id,
            reason,
            shared: m.shared.then(|| "1".to_string()),
        }
    }
}

/// What a macro does, in a few words.
fn summary(m: &Macro, page: &PageUser) -> String {
    let t = crate::i18n::Tr(page.user.language);
    let lang = page.user.language;
    let s = &m.steps;
    let mut parts = Vec::new();
    if let Some(i) = s.incident_type {
        parts.push(i.label(lang).to_string());
    }
    if let Some(u) = s.user_type {
        parts.push(u.label(lang).to_string());
    }
    if s.canned_response_id.is_some() {
        parts.push(t.s("responde").to_string());
    }
    if !s.notes.trim().is_empty() {
        parts.push(t.s("pormenores").to_string());
    }
    match s.finish {
        MacroFinish::Close => parts.push(t.s("cierra").to_string()),
        MacroFinish::Derive { .. } => parts.push(t.s("deriva").to_string()),
        MacroFinish::Nothing => {}
    }
    parts.join(" · ")
}

#[derive(Deserialize, Default)]
struct ListParams {
    guardada: Option<String>,
}

async fn show(
    state: &AppState,
    page: PageUser,
    draft: Form,
    editing: Option<i64>,
    error: Option<String>,
    saved: bool,
) -> Result<Response, PageError> {
    page.require(Action::IncidentWork)?;
    let lang = page.user.language;
    let (items, topics, units, canned) = tokio::try_join!(
        state.store.macros(page.user.id),
        state.store.topics(),
        state.store.units(),
        state.store.canned_responses(page.user.id, None, None),
    )?;
    let rows = items
        .iter()
        .map(|m| Row {
            id: m.id,
            name: m.name.clone(),
            summary: summary(m, &page),
            shared: m.shared,
            may_change: page.user.may_keep(m.owner_id),
        })
        .collect();
    let code = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = ListPage {
        rows,
        topics: topics
            .iter()
            .filter(|t| t.active)
            .map(|t| (t.id.to_string(), t.name.clone()))
            .collect(),
        units: units
            .iter()
            .filter(|u| u.active)
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect(),
        canned: canned
            .iter()
            .map(|c| (c.id.to_string(), c.title.clone()))
            .collect(),
        user_types: UserType::ALL
            .iter()
            .map(|u| (u.code(), u.label(lang)))
            .collect(),
        incident_types: IncidentType::ALL
            .iter()
            .map(|i| (i.code(), i.label(lang)))
            .collect(),
        may_share: page.user.may(Action::CannedShare),
        draft,
        editing,
        error,
        saved,
        ctx: page.ctx("macros"),
    };
    Ok((code, render(&view)).into_response())
}

async fn list(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let saved = p.guardada.is_some();
    show(&state, page, Form::default(), None, None, saved).await
}

async fn create(
    State(state): State<AppState>,
    posted: Posted<Form>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::IncidentWork)?;
    match state.store.create_macro(&page.user, &form.input()).await {
        Ok(_) => Ok(Redirect::to("/macros?guardada=1").into_response()),
        Err(e) => {
            let message = describe_error(&AppError::from(e), page.user.language);
            show(&state, page, form, None, Some(message), false).await
        }
    }
}

async fn edit(
    State(state): State<AppState>,
    page: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let m = state.store.usable_macro(page.user.id, id).await?;
    if !page.user.may_keep(m.owner_id) {
        return Err(PageError::from(AppError::Forbidden));
    }
    show(&state, page, Form::of(&m), Some(id), None, false).await
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<Form>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::IncidentWork)?;
    match state
        .store
        .update_macro(&page.user, id, &form.input())
        .await
    {
        Ok(_) => Ok(Redirect::to("/macros?guardada=1").into_response()),
        Err(e) => {
            let message = describe_error(&AppError::from(e), page.user.language);
            show(&state, page, form, Some(id), Some(message), false).await
        }
    }
}

#[derive(Deserialize)]
struct Nothing {}

async fn archive(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<Nothing>,
) -> Result<Response, PageError> {
    let Posted { page, form: _ } = posted;
    page.require(Action::IncidentWork)?;
    state.store.archive_macro(&page.user, id).await?;
    Ok(Redirect::to("/macros?guardada=1").into_response())
}

/// The macros the incident view offers (id, name).
pub async fn choices(state: &AppState, page: &PageUser) -> Result<Vec<(i64, String)>, PageError> {
    if !page.user.may(Action::IncidentWork) {
        return Ok(Vec::new());
    }
    Ok(state
        .store
        .macros(page.user.id)
        .await?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect())
}

/// The macro chosen on an incident's form.
pub fn chosen(raw: &Option<String>) -> Option<i64> {
    non_empty(raw).and_then(|m| m.parse().ok())
}

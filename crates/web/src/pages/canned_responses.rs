//! *Respuestas predefinidas* in the console: each person's own and the CAP's shared texts
//! (`/respuestas`, kept by leads), the answer box's search (`/respuestas/buscar`, filled for
//! the incident at hand), and for the quality office how often each was sent and how many of
//! those incidents closed at first contact (`/calidad/respuestas`).

use atiende_domain::access::Action;
use atiende_domain::canned_response::{CannedResponseInput, VARIABLES, describe};
use atiende_domain::ids::TopicId;
use atiende_domain::period::{Period, Periodicity};
use atiende_store::canned_responses::{CannedResponse, CannedUsage};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{Ctx, PageError, PageUser, Posted, non_empty, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::describe_error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/respuestas", get(list).post(create))
        .route("/respuestas/buscar", get(find))
        .route("/respuestas/{id}", get(edit).post(update))
        .route("/respuestas/{id}/archivar", post(archive))
        .route("/calidad/respuestas", get(usage))
}

pub struct Row {
    pub id: i64,
    pub title: String,
    pub topic: String,
    pub shared: bool,
    pub may_change: bool,
}

#[derive(askama::Template)]
#[template(path = "canned_responses.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<Row>,
    topics: Vec<(String, String)>,
    /// The variables a text may use: name, what it holds.
    variables: Vec<(&'static str, &'static str)>,
    may_share: bool,
    q: String,
    draft: Form,
    /// The one being edited.
    editing: Option<i64>,
    error: Option<String>,
    saved: bool,
}

#[derive(Deserialize, Default, Clone)]
struct Form {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    topic_id: String,
    shared: Option<String>,
}

impl Form {
    fn input(&self) -> CannedResponseInput {
        CannedResponseInput {
            title: self.title.clone(),
            body: self.body.clone(),
            topic_id: self.topic_id.trim().parse().ok().map(TopicId),
            shared: self.shared.is_some(),
        }
    }

    fn of(c: &CannedResponse) -> Form {
        Form {
            title: c.title.clone(),
            body: c.body.clone(),
            topic_id: c.topic_id.map(|t| t.0.to_string()).unwrap_or_default(),
            shared: c.shared.then(|| "1".to_string()),
        }
    }
}

#[derive(Deserialize, Default)]
struct ListParams {
    q: Option<String>,
    guardada: Option<String>,
}

async fn show(
    state: &AppState,
    page: PageUser,
    q: String,
    draft: Form,
    editing: Option<i64>,
    error: Option<String>,
    saved: bool,
) -> Result<Response, PageError> {
    page.require(Action::IncidentNote)?;
    let lang = page.user.language;
    let words = Some(q.clone());
    let (items, topics) = tokio::try_join!(
        state
            .store
            .canned_responses(page.user.id, non_empty(&words), None),
        state.store.topics(),
    )?;
    let topic_name = |t: Option<TopicId>| {
        t.and_then(|t| topics.iter().find(|x| x.id == t))
            .map(|x| x.name.clone())
            .unwrap_or_default()
    };
    let rows = items
        .iter()
        .map(|c| Row {
            id: c.id,
            title: c.title.clone(),
            topic: topic_name(c.topic_id),
            shared: c.shared,
            may_change: page.user.may_keep(c.owner_id),
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
        variables: VARIABLES
            .iter()
            .map(|(name, ..)| (*name, describe(name, lang).unwrap_or_default()))
            .collect(),
        may_share: page.user.may(Action::CannedShare),
        q,
        draft,
        editing,
        error,
        saved,
        ctx: page.ctx("canned"),
    };
    Ok((code, render(&view)).into_response())
}

async fn list(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let q = p.q.unwrap_or_default();
    show(
        &state,
        page,
        q,
        Form::default(),
        None,
        None,
        p.guardada.is_some(),
    )
    .await
}

async fn create(
    State(state): State<AppState>,
    posted: Posted<Form>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::IncidentNote)?;
    match state
        .store
        .create_canned_response(&page.user, &form.input())
        .await
    {
        Ok(_) => Ok(Redirect::to("/respuestas?guardada=1").into_response()),
        Err(e) => {
            let message = describe_error(&AppError::from(e), page.user.language);
            show(
                &state,
                page,
                String::new(),
                form,
                None,
                Some(message),
                false,
            )
            .await
        }
    }
}

async fn edit(
    State(state): State<AppState>,
    page: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let c = state.store.usable_canned_response(page.user.id, id).await?;
    if !page.user.may_keep(c.owner_id) {
        return Err(PageError::from(AppError::Forbidden));
    }
    show(
        &state,
        page,
        String::new(),
        Form::of(&c),
        Some(id),
        None,
        false,
    )
    .await
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<Form>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::IncidentNote)?;
    match state
        .store
        .update_canned_response(&page.user, id, &form.input())
        .await
    {
        Ok(_) => Ok(Redirect::to("/respuestas?guardada=1").into_response()),
        Err(e) => {
            let message = describe_error(&AppError::from(e), page.user.language);
            show(
                &state,
                page,
                String::new(),
                form,
                Some(id),
                Some(message),
                false,
            )
            .await
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
    page.require(Action::IncidentNote)?;
    state.store.archive_canned_response(&page.user, id).await?;
    Ok(Redirect::to("/respuestas?guardada=1").into_response())
}

#[derive(Deserialize)]
struct FindParams {
    q: Option<String>,
    folio: String,
}

/// One match of the answer box's search, filled for the incident.
#[derive(Serialize)]
struct Found {
    id: i64,
    title: String,
    text: String,
}

/// The answer box's search: the canned responses the person may use whose title or text has
/// the words, the incident's topic first, each filled for that incident.
async fn find(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<FindParams>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentNote)?;
    let id = state.store.incident_id(&p.folio).await?;
    if !state
        .store
        .incident_visible(&page.user.incident_scope(), id)
        .await?
    {
        return Err(PageError::from(AppError::NotFound("incident")));
    }
    let incident = state.store.incident(id).await?;
    let items = state
        .store
        .canned_responses(page.user.id, p.q.as_deref(), incident.topic_id)
        .await?;
    let mut found = Vec::new();
    for c in items.into_iter().take(10) {
        let text = state
            .store
            .fill_canned_response(&page.user, c.id, id)
            .await?;
        found.push(Found {
            id: c.id,
            title: c.title,
            text,
        });
    }
    Ok(Json(found).into_response())
}

#[derive(askama::Template)]
#[template(path = "canned_usage.html")]
struct UsagePage {
    ctx: Ctx,
    rows: Vec<CannedUsage>,
    period: String,
    periods: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
struct UsageParams {
    periodo: Option<String>,
}

/// How often each canned response was sent in a month, and how many of those incidents
/// closed at first contact.
async fn usage(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<UsageParams>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let tz = state.store.time_zone();
    let (period, periods) = month_choices(p.periodo.as_deref(), tz, page.user.language);
    let (from, to) = period.bounds(tz);
    let rows = state.store.canned_usage(from, to).await?;
    let view = UsagePage {
        rows,
        period: period.code(),
        periods,
        ctx: page.ctx("quality"),
    };
    Ok(render(&view).into_response())
}

/// The month asked for (`periodo`, this one unless said) and the last twelve to choose from,
/// for the quality office's monthly reports.
pub(super) fn month_choices(
    asked: Option<&str>,
    tz: chrono_tz::Tz,
    lang: atiende_domain::classification::Lang,
) -> (Period, Vec<(String, String)>) {
    let current = Period::containing(chrono::Utc::now(), tz, Periodicity::Monthly);
    let period = asked.and_then(Period::parse).unwrap_or(current);
    let periods = (0..12)
        .scan(current, |p, _| {
            let here = *p;
            *p = p.previous();
            Some(here)
        })
        .map(|p| (p.code(), p.label(lang)))
        .collect();
    (period, periods)
}

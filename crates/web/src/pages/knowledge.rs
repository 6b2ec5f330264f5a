//! The knowledge base in the console (`/conocimiento`): articles with their topic, tags, owner
//! unit, review date and history; what is due for review; which articles resolve the most and
//! which topics lack one. Also the public help page `/ayuda` (public articles only) and the
//! staff's one search `/buscar` over incidents, contacts and articles.

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::ids::{TopicId, UnitId};
use atiende_domain::knowledge::{ArticleInput, SearchQuery, review_due};
use atiende_domain::period::{Period, Periodicity};
use atiende_domain::user::Role;
use atiende_store::Actor;
use atiende_store::knowledge::{Article, ArticleFilter, ArticleUse, TopicGap};
use atiende_store::search::{ArticleHit, ContactHit, IncidentHit, Match};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, local, non_empty, render};
use crate::AppState;
use crate::error::{AppError, request_lang_of};
use crate::html::markdown;
use crate::i18n::{Tr, describe_error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/conocimiento", get(list).post(create))
        .route("/conocimiento/{id}", get(view).post(update))
        .route("/conocimiento/{id}/archivar", post(archive))
        .route("/buscar", get(search))
        .route("/ayuda", get(help))
        .route("/ayuda/{id}", get(help_article))
}

fn today(state: &AppState) -> chrono::NaiveDate {
    chrono::Utc::now()
        .with_timezone(&state.store.time_zone())
        .date_naive()
}

/// Whether this person may write this article (the rule is the domain's).
fn may_write(page: &PageUser, owner: Option<UnitId>) -> bool {
    page.user.may_write_article(owner)
}

pub struct ArticleRow {
    pub id: i64,
    pub title: String,
    pub topic: String,
    pub unit: String,
    pub review: String,
    pub due: bool,
    pub public: bool,
}

#[derive(askama::Template)]
#[template(path = "knowledge.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<ArticleRow>,
    due: Vec<ArticleRow>,
    useful: Vec<ArticleUse>,
    gaps: Vec<TopicGap>,
    topics: Vec<(String, String)>,
    units: Vec<(String, String)>,
    may_write: bool,
    q: String,
    hits: Vec<ArticleHit>,
    error: Option<String>,
    draft: ArticleForm,
}

#[derive(Deserialize, Default)]
struct ListParams {
    q: Option<String>,
    tema: Option<String>,
}

async fn names(
    state: &AppState,
) -> Result<(HashMap<TopicId, String>, HashMap<UnitId, String>), AppError> {
    let topics = state
        .store
        .topics()
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let units = state
        .store
        .units()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok((topics, units))
}

fn rows(
    articles: &[Article],
    topics: &HashMap<TopicId, String>,
    units: &HashMap<UnitId, String>,
    today: chrono::NaiveDate,
) -> Vec<ArticleRow> {
    articles
        .iter()
        .map(|a| ArticleRow {
            id: a.id,
            title: a.title.clone(),
            topic: a
                .topic_id
                .and_then(|t| topics.get(&t).cloned())
                .unwrap_or_default(),
            unit: a
                .owner_unit_id
                .and_then(|u| units.get(&u).cloned())
                .unwrap_or_default(),
            review: a
                .review_on
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
            due: review_due(a.review_on, today),
            public: a.public,
        })
        .collect()
}

async fn list(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    show_list(&state, page, p, None, ArticleForm::default()).await
}

async fn show_list(
    state: &AppState,
    page: PageUser,
    p: ListParams,
    error: Option<String>,
    draft: ArticleForm,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    let err = |e: AppError| PageError::from(e);
    let (topics, units) = names(state).await.map_err(err)?;
    let filter = ArticleFilter {
        topic_id: non_empty(&p.tema).and_then(|t| t.parse().ok()).map(TopicId),
        ..Default::default()
    };
    let today = today(state);
    let articles = state
        .store
        .articles(&filter)
        .await
        .map_err(|e| err(e.into()))?;
    // Due for review: a unit responsible sees their units'; the CAP and quality see them all.
    let due_filter = ArticleFilter {
        due_on: Some(today),
        owner_units: (page.user.role == Role::UnitResponsible).then(|| page.user.unit_ids.clone()),
        ..Default::default()
    };
    let due = state
        .store
        .articles(&due_filter)
        .await
        .map_err(|e| err(e.into()))?;
    let q = p.q.clone().unwrap_or_default();
    let hits = state
        .store
        .search_articles(&SearchQuery::parse(&q), Match::All, false, 20)
        .await
        .map_err(|e| err(e.into()))?;
    let since = Period::containing(
        chrono::Utc::now(),
        state.store.time_zone(),
        Periodicity::Monthly,
    );
    let since = since.trailing(3)[0].months().0;
    let useful = state
        .store
        .most_useful_articles(10)
        .await
        .map_err(|e| err(e.into()))?;
    let gaps = state
        .store
        .topics_without_articles(since)
        .await
        .map_err(|e| err(e.into()))?;
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = ListPage {
        rows: rows(&articles, &topics, &units, today),
        due: rows(&due, &topics, &units, today),
        useful,
        gaps,
        topics: sorted(&topics),
        units: sorted(&units),
        may_write: page.user.may(Action::ArticleWrite),
        q,
        hits,
        error,
        draft,
        ctx: page.ctx("knowledge"),
    };
    Ok((status, render(&view)).into_response())
}

fn sorted<K: ToString>(map: &HashMap<K, String>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = map
        .iter()
        .map(|(k, n)| (k.to_string(), n.clone()))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

#[derive(Deserialize, Default, Clone)]
pub struct ArticleForm {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub topic_id: String,
    #[serde(default)]
    pub tags: String,
    #[serde(default)]
    pub owner_unit_id: String,
    #[serde(default)]
    pub review_on: String,
    #[serde(default)]
    pub public: Option<String>,
}

impl ArticleForm {
    fn input(&self) -> Result<ArticleInput, AppError> {
        let review_on = match self.review_on.trim() {
            "" => None,
            d => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    AppError::Rule(atiende_domain::RuleError::invalid(
                        "review_on",
                        "invalid_date",
                    ))
                })?,
            ),
        };
        Ok(ArticleInput {
            title: self.title.clone(),
            body: self.body.clone(),
            topic_id: self.topic_id.parse().ok().map(TopicId),
            tags: self.tags.clone(),
            owner_unit_id: self.owner_unit_id.parse().ok().map(UnitId),
            review_on,
            public: self.public.is_some(),
        })
    }

    fn of(a: &Article) -> ArticleForm {
        ArticleForm {
            title: a.title.clone(),
            body: a.body.clone(),
            topic_id: a.topic_id.map(|t| t.to_string()).unwrap_or_default(),
            tags: a.tags.clone(),
            owner_unit_id: a.owner_unit_id.map(|u| u.to_string()).unwrap_or_default(),
            review_on: a.review_on.map(|d| d.to_string()).unwrap_or_default(),
            public: a.public.then(|| "1".into()),
        }
    }
}

async fn create(
    State(state): State<AppState>,
    posted: Posted<ArticleForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    let result = match form.input() {
        Ok(input) if may_write(&page, input.owner_unit_id) => state
            .store
            .create_article(Actor::Staff(&page.user), &input)
            .await
            .map_err(AppError::from),
        Ok(_) => Err(AppError::Forbidden),
        Err(e) => Err(e),
    };
    match result {
        Ok(a) => Ok(Redirect::to(&format!("/conocimiento/{}", a.id)).into_response()),
        Err(e @ (AppError::Forbidden | AppError::Internal)) => Err(PageError::from(e)),
        Err(e) => {
            let message = describe_error(&e, page.user.language);
            show_list(&state, page, ListParams::default(), Some(message), form).await
        }
    }
}

pub struct VersionRow {
    pub version: i64,
    pub title: String,
    pub by: String,
    pub at: String,
}

#[derive(askama::Template)]
#[template(path = "article.html")]
struct ArticlePage {
    ctx: Ctx,
    a: Article,
    html: String,
    row: ArticleRow,
    form: ArticleForm,
    versions: Vec<VersionRow>,
    topics: Vec<(String, String)>,
    units: Vec<(String, String)>,
    may_write: bool,
    error: Option<String>,
}

async fn view(
    State(state): State<AppState>,
    page: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    show_article(&state, page, id, None, None).await
}

async fn show_article(
    state: &AppState,
    page: PageUser,
    id: i64,
    error: Option<String>,
    form: Option<ArticleForm>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    let err = |e: AppError| PageError::from(e);
    let a = state.store.article(id).await.map_err(|e| err(e.into()))?;
    let (topics, units) = names(state).await.map_err(err)?;
    let users: HashMap<i64, String> = state
        .store
        .users()
        .await
        .map_err(|e| err(e.into()))?
        .into_iter()
        .map(|u| (u.id.0, u.name))
        .collect();
    let tz = state.store.time_zone();
    let versions = state
        .store
        .article_versions(id)
        .await
        .map_err(|e| err(e.into()))?
        .into_iter()
        .map(|v| VersionRow {
            version: v.version,
            title: v.title,
            by: v
                .changed_by
                .and_then(|u| users.get(&u).cloned())
                .unwrap_or_default(),
            at: local(&v.changed_at, tz),
        })
        .collect();
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = ArticlePage {
        html: markdown(&a.body),
        row: rows(std::slice::from_ref(&a), &topics, &units, today(state)).remove(0),
        form: form.unwrap_or_else(|| ArticleForm::of(&a)),
        may_write: may_write(&page, a.owner_unit_id) && !a.archived,
        a,
        versions,
        topics: sorted(&topics),
        units: sorted(&units),
        error,
        ctx: page.ctx("knowledge"),
    };
    Ok((status, render(&view)).into_response())
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<ArticleForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    let lang = page.user.language;
    let current = state.store.article(id).await?;
    let result = match form.input() {
        Ok(input)
            if may_write(&page, current.owner_unit_id) && may_write(&page, input.owner_unit_id) =>
        {
            state
                .store
                .update_article(Actor::Staff(&page.user), id, &input)
                .await
                .map_err(AppError::from)
        }
        Ok(_) => Err(AppError::Forbidden),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/conocimiento/{id}")).into_response()),
        Err(e @ (AppError::Forbidden | AppError::Internal)) => Err(PageError::from(e)),
        Err(e) => {
            let message = describe_error(&e, lang);
            show_article(&state, page, id, Some(message), Some(form)).await
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn archive(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<Empty>,
) -> Result<Response, PageError> {
    let Posted { page, form: _ } = posted;
    let current = state.store.article(id).await?;
    if !may_write(&page, current.owner_unit_id) {
        return Err(PageError::from(AppError::Forbidden));
    }
    state
        .store
        .archive_article(Actor::Staff(&page.user), id)
        .await?;
    Ok(Redirect::to("/conocimiento").into_response())
}

#[derive(askama::Template)]
#[template(path = "search.html")]
struct SearchPage {
    ctx: Ctx,
    q: String,
    incidents: Vec<IncidentHit>,
    contacts: Vec<ContactHit>,
    articles: Vec<ArticleHit>,
    searched: bool,
}

#[derive(Deserialize, Default)]
struct SearchParams {
    q: Option<String>,
}

/// One search for the staff: the folio goes straight to its incident; otherwise incidents
/// (within what the person may see), contacts (for those who may see them) and articles.
async fn search(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<SearchParams>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    let err = |e: atiende_store::StoreError| PageError::from(e);
    let q = p.q.unwrap_or_default();
    let trimmed = q.trim();
    if trimmed
        .to_uppercase()
        .parse::<atiende_domain::folio::Folio>()
        .is_ok()
        && let Ok(id) = state.store.incident_id(&trimmed.to_uppercase()).await
        && state
            .store
            .incident_visible(&page.user.incident_scope(), id)
            .await
            .map_err(err)?
    {
        return Ok(
            Redirect::to(&format!("/incidentes/{}", trimmed.to_uppercase())).into_response(),
        );
    }
    let query = SearchQuery::parse(&q);
    let store = &state.store;
    let scope = page.user.incident_scope();
    let contacts = async {
        if page.user.may(Action::ContactRead) {
            store.search_contacts(&query, 20).await
        } else {
            Ok(vec![])
        }
    };
    // Three independent searches on three connections.
    let (incidents, contacts, articles) = tokio::try_join!(
        store.search_incidents(&scope, &query, 20),
        contacts,
        store.search_articles(&query, Match::All, false, 20),
    )
    .map_err(err)?;
    Ok(render(&SearchPage {
        searched: !query.is_empty(),
        q,
        incidents,
        contacts,
        articles,
        ctx: page.ctx("search"),
    }))
}

#[derive(askama::Template)]
#[template(path = "help.html")]
struct HelpPage {
    t: Tr,
    lang: atiende_domain::classification::Lang,
    q: String,
    hits: Vec<ArticleHit>,
    articles: Vec<Article>,
    article: Option<(String, String)>,
}

/// The public help page: public articles only, searchable, in Spanish.
async fn help(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<SearchParams>,
) -> Response {
    let lang = request_lang_of(&headers);
    let q = p.q.unwrap_or_default();
    // A search shows its hits; without one the page lists the public articles.
    let (hits, articles) = if q.trim().is_empty() {
        let filter = ArticleFilter {
            public_only: true,
            ..Default::default()
        };
        match state.store.articles(&filter).await {
            Ok(a) => (vec![], a),
            Err(e) => return AppError::from(e).into_response(),
        }
    } else {
        match state
            .store
            .search_articles(&SearchQuery::parse(&q), Match::All, true, 30)
            .await
        {
            Ok(h) => (h, vec![]),
            Err(e) => return AppError::from(e).into_response(),
        }
    };
    render(&HelpPage {
        t: Tr(lang),
        lang,
        q,
        hits,
        articles,
        article: None,
    })
    .into_response()
}

async fn help_article(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let lang = request_lang_of(&headers);
    match state.store.article(id).await {
        Ok(a) if a.public && !a.archived => render(&HelpPage {
            t: Tr(lang),
            lang,
            q: String::new(),
            hits: vec![],
            articles: vec![],
            article: Some((a.title.clone(), markdown(&a.body))),
        })
        .into_response(),
        // An internal article does not exist for the public.
        Ok(_) | Err(atiende_store::StoreError::NotFound(_)) => {
            AppError::NotFound("article").into_response()
        }
        Err(e) => AppError::from(e).into_response(),
    }
}

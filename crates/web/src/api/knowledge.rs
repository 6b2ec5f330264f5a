//! The knowledge base (articles, their versions, "resolved by this article") and the search
//! across incidents, contacts and articles.

use atiende_domain::access::Action;
use atiende_domain::ids::{TopicId, UnitId};
use atiende_domain::knowledge::{ArticleInput, SearchQuery};
use atiende_store::Actor;
use atiende_store::knowledge::{Article, ArticleFilter, ArticleVersion};
use atiende_store::search::{ArticleHit, ContactHit, IncidentHit, Match};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
        .routes(routes!(archive))
        .routes(routes!(versions))
        .routes(routes!(resolved_by))
        .routes(routes!(search))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArticleParams {
    /// Words or "a phrase": articles that match, best first (one page, no cursor).
    pub q: Option<String>,
    pub topic_id: Option<i64>,
    /// Only articles of this unit.
    pub unit_id: Option<i64>,
    /// Only articles past their review date.
    pub review_due: Option<bool>,
    pub public: Option<bool>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// Articles in use, by title, a page at a time; with `q`, the best matches instead.
#[utoipa::path(get, path = "/articles", tag = "knowledge", params(ArticleParams),
    responses((status = 200, body = Page<Article>,
        example = json!({"items": [{"id": 4, "title": "Cómo recuperar tu contraseña de SIIAU", "body": "1. Entra a…", "topic_id": 2, "tags": "contraseña, siiau", "owner_unit_id": null, "review_on": "2027-06-30", "public": true, "version": 3, "archived": false, "updated_by": 1, "updated_at": "2026-11-20T17:02:11Z"}], "next_cursor": "4"}))))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ArticleParams>,
) -> Result<Json<Page<Article>>, AppError> {
    caller.require(Action::IncidentRead)?;
    let page = PageParams {
        cursor: p.cursor.clone(),
        limit: p.limit,
    };
    if let Some(q) = p.q.as_deref().filter(|q| !q.trim().is_empty()) {
        let hits = state
            .store
            .search_articles(
                &SearchQuery::parse(q),
                Match::All,
                p.public == Some(true),
                100,
            )
            .await?;
        let ids: Vec<i64> = hits
            .iter()
            .take(page.limit() as usize)
            .map(|h| h.id)
            .collect();
        let items = state.store.articles_by_id(&ids).await?;
        return Ok(Json(Page {
            items,
            next_cursor: None,
            total: None,
        }));
    }
    let today = chrono::Utc::now()
        .with_timezone(&state.store.time_zone())
        .date_naive();
    let filter = ArticleFilter {
        topic_id: p.topic_id.map(TopicId),
        owner_units: p.unit_id.map(|u| vec![UnitId(u)]),
        due_on: p.review_due.unwrap_or(false).then_some(today),
        public_only: p.public == Some(true),
        after_id: page.before_id()?,
        limit: page.limit() + 1,
    };
    let items = state.store.articles(&filter).await?;
    Ok(Json(Page::of(items, page.limit(), |a| a.id)))
}

#[utoipa::path(post, path = "/articles", tag = "knowledge",
    request_body(content = ArticleInput, example = json!({"title": "Fechas de pago de la matrícula", "body": "Las fechas…", "topic_id": 3, "tags": "pago, matrícula", "public": true})),
    responses((status = 201, body = Article), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(input): Json<ArticleInput>,
) -> Result<(StatusCode, Json<Article>), AppError> {
    let user = caller.require(Action::ArticleWrite)?;
    if !user.may_write_article(input.owner_unit_id) {
        return Err(AppError::Forbidden);
    }
    let article = state
        .store
        .create_article(Actor::Staff(user), &input)
        .await?;
    Ok((StatusCode::CREATED, Json(article)))
}

#[utoipa::path(get, path = "/articles/{id}", tag = "knowledge", params(("id" = i64, Path)),
    responses((status = 200, body = Article), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Article>, AppError> {
    caller.require(Action::IncidentRead)?;
    Ok(Json(state.store.article(id).await?))
}

/// Saves a new version (the whole article: a field left out is emptied).
#[utoipa::path(put, path = "/articles/{id}", tag = "knowledge", params(("id" = i64, Path)),
    request_body(content = ArticleInput, example = json!({"title": "Fechas de pago de la matrícula 2027A", "body": "Las fechas…", "topic_id": 3, "public": true})),
    responses((status = 200, body = Article), (status = 403, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<ArticleInput>,
) -> Result<Json<Article>, AppError> {
    let user = caller.require(Action::ArticleWrite)?;
    let current = state.store.article(id).await?;
    // A unit responsible neither edits another unit's article nor gives theirs away.
    if current.archived
        || !user.may_write_article(current.owner_unit_id)
        || !user.may_write_article(input.owner_unit_id)
    {
        return Err(AppError::Forbidden);
    }
    Ok(Json(
        state
            .store
            .update_article(Actor::Staff(user), id, &input)
            .await?,
    ))
}

/// Takes an article out of use and out of every search; its versions stay.
#[utoipa::path(post, path = "/articles/{id}/archive", tag = "knowledge", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorEnvelope)))]
async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let user = caller.require(Action::ArticleWrite)?;
    let current = state.store.article(id).await?;
    if !user.may_write_article(current.owner_unit_id) {
        return Err(AppError::Forbidden);
    }
    state.store.archive_article(Actor::Staff(user), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every saved version, newest first.
#[utoipa::path(get, path = "/articles/{id}/versions", tag = "knowledge", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ArticleVersion>)))]
async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ArticleVersion>>, AppError> {
    caller.require(Action::IncidentRead)?;
    state.store.article(id).await?;
    Ok(Json(state.store.article_versions(id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct ResolvedBy {
    pub article_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ResolvedByOutcome {
    /// False when the article had been marked on this incident before (nothing changed).
    pub recorded: bool,
}

/// "This article resolved it": recorded once on the incident's timeline and counted for the
/// article.
#[utoipa::path(post, path = "/incidents/{reference}/resolved-by", tag = "knowledge", params(("reference" = String, Path)),
    request_body(content = ResolvedBy, example = json!({"article_id": 4})),
    responses((status = 200, body = ResolvedByOutcome), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn resolved_by(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
    Json(input): Json<ResolvedBy>,
) -> Result<Json<ResolvedByOutcome>, AppError> {
    let user = caller.require(Action::IncidentWork)?;
    let id = super::incidents::visible(&state, user, &reference).await?;
    let recorded = state
        .store
        .mark_resolved_by_article(Actor::Staff(user), id, input.article_id)
        .await?;
    Ok(Json(ResolvedByOutcome { recorded }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words (matched by their beginning) and "quoted phrases".
    pub q: String,
    /// Per kind, 1–50 (default 20).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    /// Within what the caller may see (a unit responsible: what was derived to their units).
    pub incidents: Vec<IncidentHit>,
    /// Empty for those who may not see contacts.
    pub contacts: Vec<ContactHit>,
    pub articles: Vec<ArticleHit>,
}

/// One search across incidents, contacts and articles, best first in each.
#[utoipa::path(get, path = "/search", tag = "knowledge", params(SearchParams),
    responses((status = 200, body = SearchResults,
        example = json!({"incidents": [{"id": 812, "folio": "CAP-2026-000812", "subject": "Constancia de estudios", "status": "closed"}], "contacts": [{"id": 77, "name": "Ana López"}], "articles": [{"id": 9, "title": "Constancias", "snippet": "…solicita tu <b>constancia</b>…", "public": true}]}))))]
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<SearchParams>,
) -> Result<Json<SearchResults>, AppError> {
    let user = caller.require(Action::IncidentRead)?;
    let limit = p.limit.unwrap_or(20).clamp(1, 50);
    let query = SearchQuery::parse(&p.q);
    let store = &state.store;
    let scope = user.incident_scope();
    let contacts = async {
        if user.may(Action::ContactRead) {
            store.search_contacts(&query, limit).await
        } else {
            Ok(vec![])
        }
    };
    let (incidents, contacts, articles) = tokio::try_join!(
        store.search_incidents(&scope, &query, limit),
        contacts,
        store.search_articles(&query, Match::All, false, limit),
    )?;
    Ok(Json(SearchResults {
        incidents,
        contacts,
        articles,
    }))
}

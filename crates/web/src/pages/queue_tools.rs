//! The queue's tools: each person's saved views (`/bandeja/vistas`), bulk actions on the
//! selected incidents (`/bandeja/lote`: assign, classify, close as duplicates, merge — each
//! incident through the same steps as one at a time, each refused or done on its own), and
//! the next incident to attend (`/bandeja/siguiente`, the keyboard's `j` on an incident).

use atiende_domain::access::Action;
use atiende_domain::classification::IncidentType;
use atiende_domain::ids::{IncidentId, TopicId, UserId};
use atiende_domain::incident::ClassifyInput;
use atiende_store::Actor;
use atiende_store::incidents::{IncidentFilter, NamedQueue};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::queue::QueueParams;
use super::{Ctx, PageError, PageUser, Posted, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::describe_error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bandeja/vistas", post(save_view))
        .route("/bandeja/vistas/{id}/borrar", post(delete_view))
        .route("/bandeja/lote", post(bulk))
        .route("/bandeja/siguiente", get(next))
}

/// The most incidents one bulk action takes: a page of the queue and then some.
pub const MAX_BULK: usize = 100;

#[derive(Deserialize)]
struct ViewForm {
    name: String,
    #[serde(default)]
    query: String,
}

/// The queue's filters, read back through the queue's own parameters: what is saved is only
/// what the queue understands (and never the search words).
fn clean_query(raw: &str) -> String {
    serde_urlencoded::from_str::<QueueParams>(raw)
        .map(|p| p.to_save())
        .unwrap_or_default()
}

async fn save_view(
    State(state): State<AppState>,
    Posted { page, form }: Posted<ViewForm>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    let query = clean_query(&form.query);
    state
        .store
        .save_view(page.user.id, &form.name, &query)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to(&format!("/bandeja?{query}")).into_response())
}

#[derive(Deserialize)]
struct Nothing {}

async fn delete_view(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { page, .. }: Posted<Nothing>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    state
        .store
        .delete_view(page.user.id, id)
        .await
        .map_err(AppError::from)?;
    Ok(Redirect::to("/bandeja").into_response())
}

/// What became of one selected incident.
struct Outcome {
    folio: String,
    done: bool,
    message: String,
}

#[derive(askama::Template)]
#[template(path = "bulk.html")]
struct BulkPage {
    ctx: Ctx,
    outcomes: Vec<Outcome>,
    back: String,
}

/// One bulk action, as the form chose it.
enum Bulk {
    Assign(Option<UserId>),
    Classify(ClassifyInput),
    Duplicate { merge: bool },
}

async fn bulk(
    State(state): State<AppState>,
    Posted { page, form }: Posted<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentWork)?;
    let field = |name: &str| {
        form.iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
    };
    let mut folios: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "folios")
        .map(|(_, v)| v.trim().to_string())
        .collect();
    folios.dedup();
    let lang = page.user.language;
    let refuse = |code: &str| -> Result<Response, PageError> {
        Err(AppError::from(atiende_domain::RuleError::invalid("folios", code)).into())
    };
    if folios.is_empty() {
        return refuse("nothing_selected");
    }
    if folios.len() > MAX_BULK {
        return refuse("too_many");
    }
    let action = match field("action").as_deref() {
        Some("assign") => {
            page.require(Action::IncidentAssign)?;
            let target = match field("user_id").as_deref() {
                None => None,
                Some("me") => Some(page.user.id),
                Some(v) => v.parse().ok().map(UserId),
            };
            if !page.user.may_assign_to(target) {
                return Err(AppError::Forbidden.into());
            }
            Bulk::Assign(target)
        }
        Some("classify") => {
            let input = ClassifyInput {
                incident_type: field("incident_type")
                    .as_deref()
                    .and_then(IncidentType::from_code),
                topic_id: field("topic_id").and_then(|t| t.parse().ok()).map(TopicId),
                ..Default::default()
            };
            if input.incident_type.is_none() && input.topic_id.is_none() {
                return Err(AppError::from(atiende_domain::RuleError::invalid(
                    "incident_type",
                    "required",
                ))
                .into());
            }
            Bulk::Classify(input)
        }
        Some("duplicate") => Bulk::Duplicate { merge: false },
        Some("merge") => Bulk::Duplicate { merge: true },
        _ => return Err(AppError::NotFound("action").into()),
    };
    let scope = page.user.incident_scope();
    let store = &state.store;
    // Every selected incident the reader may see, by folio; the others are told as not found.
    let mut selected: Vec<(String, Option<IncidentId>)> = Vec::with_capacity(folios.len());
    for folio in folios {
        let id = match store.incident_id(&folio).await {
            Ok(id)
                if store
                    .incident_visible(&scope, id)
                    .await
                    .map_err(AppError::from)? =>
            {
                Some(id)
            }
            _ => None,
        };
        selected.push((folio, id));
    }
    // The original of duplicates and merges: the folio given, or the oldest selected.
    let original = match &action {
        Bulk::Duplicate { .. } => {
            let given = field("original");
            let id = match &given {
                Some(f) => match store.incident_id(f).await {
                    Ok(id)
                        if store
                            .incident_visible(&scope, id)
                            .await
                            .map_err(AppError::from)? =>
                    {
                        Some(id)
                    }
                    _ => None,
                },
                None => selected
                    .iter()
                    .filter_map(|(_, id)| *id)
                    .min_by_key(|i| i.0),
            };
            match id {
                Some(id) => Some(id),
                None => {
                    return Err(AppError::from(atiende_domain::RuleError::invalid(
                        "original",
                        "unknown_incident",
                    ))
                    .into());
                }
            }
        }
        _ => None,
    };
    let actor = Actor::Staff(&page.user);
    let t = crate::i18n::Tr(lang);
    let mut outcomes = Vec::with_capacity(selected.len());
    for (folio, id) in selected {
        let Some(id) = id else {
            outcomes.push(Outcome {
                folio,
                done: false,
                message: t.s("No existe o no puede verlo.").to_string(),
            });
            continue;
        };
        let result = match &action {
            Bulk::Assign(target) => store.assign_incident(actor, id, *target).await.map(|_| ()),
            Bulk::Classify(input) => store.classify_incident(actor, id, input).await.map(|_| ()),
            Bulk::Duplicate { merge } => {
                let original = original.unwrap_or(id);
                if original == id {
                    outcomes.push(Outcome {
                        folio,
                        done: true,
                        message: t.s("Es el original.").to_string(),
                    });
                    continue;
                }
                store
                    .close_as_duplicate(actor, id, original, *merge)
                    .await
                    .map(|_| ())
            }
        };
        outcomes.push(match result {
            Ok(()) => Outcome {
                folio,
                done: true,
                message: t.s("Hecho.").to_string(),
            },
            Err(e) => Outcome {
                folio,
                done: false,
                message: describe_error(&AppError::from(e), lang),
            },
        });
    }
    let back = clean_back(field("volver").as_deref().unwrap_or_default());
    Ok(render(&BulkPage {
        ctx: page.ctx("queue"),
        outcomes,
        back,
    })
    .into_response())
}

/// The queue the bulk action came from, as a link back (only the queue's own parameters).
fn clean_back(raw: &str) -> String {
    serde_urlencoded::from_str::<QueueParams>(raw)
        .map(|p| p.query_without(""))
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct NextParams {
    despues: Option<String>,
}

/// The next incident still to attend after the one given (the open queue's order, newest
/// first), or the queue when there is none.
async fn next(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<NextParams>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    let store = &state.store;
    let after = match p.despues.as_deref() {
        Some(folio) => store.incident_id(folio).await.ok(),
        None => None,
    };
    let mut filter = IncidentFilter {
        before_id: after.map(|i| i.0),
        limit: 1,
        ..Default::default()
    };
    store
        .apply_queue(&mut filter, NamedQueue::Open, page.user.id)
        .await
        .map_err(AppError::from)?;
    let found = store
        .incidents(&page.user.incident_scope(), &filter)
        .await
        .map_err(AppError::from)?;
    Ok(match found.first() {
        Some(s) => Redirect::to(&format!("/incidentes/{}", s.incident.folio)).into_response(),
        None => Redirect::to("/bandeja").into_response(),
    })
}

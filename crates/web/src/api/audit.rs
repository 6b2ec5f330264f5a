//! The audit trail and the outbox, read-only.

use atiende_domain::access::Action;
use atiende_domain::audit::{AuditEntry, EntityKind};
use atiende_store::audit::AuditQuery;
use atiende_store::outbox::OutboxItem;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(outbox))
}

#[derive(Deserialize, IntoParams)]
pub struct AuditParams {
    pub entity: Option<EntityKind>,
    /// A folio for incidents, an id for the rest.
    pub entity_id: Option<String>,
    pub actor_id: Option<i64>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Who changed what and when, newest first, with the state before and after.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams), responses((status = 200, body = Page<AuditEntry>)))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Json<Page<AuditEntry>>, AppError> {
    let user = caller.require(Action::AuditRead)?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let q = AuditQuery {
        entity: p.entity,
        entity_id: p.entity_id,
        actor_id: p.actor_id,
        before_id: page.before_id()?,
        limit: page.limit() + 1,
        with_blocked: user.may(Action::PersonalData),
    };
    let items = state.store.audit(&q).await?;
    Ok(Json(Page::of(items, page.limit(), |e| e.id)))
}

#[derive(Deserialize, IntoParams)]
pub struct OutboxParams {
    /// Folio or id of one incident.
    pub incident: Option<String>,
    /// The kind of work: `email_send`, `survey_due`, `chat_send`…
    pub kind: Option<String>,
    /// `pending`, `sending`, `done` or `failed`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// At most 200 (50 when not given).
    pub limit: Option<i64>,
}

/// Work waiting for, or done by, background jobs (a `survey_due` after a closing, an
/// `email_send`…), newest first, a page at a time.
#[utoipa::path(get, path = "/outbox", tag = "audit", params(OutboxParams), responses((status = 200, body = Page<OutboxItem>)))]
async fn outbox(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<OutboxParams>,
) -> Result<Json<Page<OutboxItem>>, AppError> {
    caller.require(Action::OutboxRead)?;
    let incident = match p.incident.as_deref() {
        Some(r) => Some(state.store.incident_id(r).await?),
        None => None,
    };
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let q = atiende_store::outbox::OutboxQuery {
        incident,
        kind: p.kind,
        status: p.status,
        before_id: page.before_id()?,
        limit: page.limit() + 1,
    };
    let items = state.store.outbox_page(&q).await?;
    Ok(Json(Page::of(items, page.limit(), |i| i.id)))
}

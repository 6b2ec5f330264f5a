//! Personal data by API (ARCO requests, the administrator's): a person's whole file, blocking,
//! unblocking and suppression, the access log, the privacy notices and the retention
//! settings with a dry run. What each step does, and its record in the access log, is the
//! store's (`atiende_store::privacy`), as for the console.

use atiende_domain::access::Action;
use atiende_domain::contact::Contact;
use atiende_domain::ids::ContactId;
use atiende_domain::privacy::{NoticeKind, RetentionPolicy};
use atiende_domain::{FieldError, RuleError};
use atiende_store::Actor;
use atiende_store::privacy::notices::Notice;
use atiende_store::privacy::retention::RetentionReport;
use atiende_store::privacy::{AccessEntry, Suppression};
use atiende_store::settings::key;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
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
        .routes(routes!(personal_file))
        .routes(routes!(block))
        .routes(routes!(unblock))
        .routes(routes!(suppress))
        .routes(routes!(access_log))
        .routes(routes!(notices, publish_notice))
        .routes(routes!(retention, save_retention))
        .routes(routes!(retention_dry_run))
}

/// Everything atiende holds about one person — contact, merged records, the history of their
/// data, every incident with its timeline, messages, attachments' metadata and survey, calls
/// and who has seen their data — as the console's JSON download. Recorded in the access log
/// as an export.
#[utoipa::path(get, path = "/contacts/{id}/personal-file", tag = "personal data", params(("id" = i64, Path)),
    responses((status = 200, body = Object, example = json!({"generated_at": "2026-12-06T10:00:00Z", "contact": {"id": 77, "name": "Ana López"}, "merged": [], "history": [], "incidents": [], "calls": [], "access_log": []})),
        (status = 404, body = crate::error::ErrorEnvelope)))]
async fn personal_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, AppError> {
    let user = caller.require(Action::PersonalData)?;
    let file = state
        .store
        .personal_file(Actor::Staff(user), ContactId(id), "api")
        .await?;
    Ok(Json(
        serde_json::to_value(&file).map_err(|_| AppError::Internal)?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct Reason {
    /// Why (the ARCO request's folio, a mistake…); kept in the access log.
    #[serde(default)]
    pub reason: String,
}

/// Cancellation, first stage (*bloqueo*): the data stays for the legal retention period but
/// leaves normal use (lists, search, surveys, new incidents).
#[utoipa::path(post, path = "/contacts/{id}/block", tag = "personal data", params(("id" = i64, Path)),
    request_body(content = Reason, example = json!({"reason": "Solicitud ARCO 2026-014"})),
    responses((status = 200, body = Contact), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn block(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(r): Json<Reason>,
) -> Result<Json<Contact>, AppError> {
    set_blocked(&state, &caller, ContactId(id), &r.reason, true).await
}

/// Lifts a block made by mistake (before suppression).
#[utoipa::path(post, path = "/contacts/{id}/unblock", tag = "personal data", params(("id" = i64, Path)),
    request_body(content = Reason, example = json!({"reason": "Bloqueado por error"})),
    responses((status = 200, body = Contact), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn unblock(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(r): Json<Reason>,
) -> Result<Json<Contact>, AppError> {
    set_blocked(&state, &caller, ContactId(id), &r.reason, false).await
}

async fn set_blocked(
    state: &AppState,
    caller: &Caller,
    id: ContactId,
    reason: &str,
    block: bool,
) -> Result<Json<Contact>, AppError> {
    let actor = Actor::Staff(caller.require(Action::PersonalData)?);
    let contact = if block {
        state.store.block_contact(actor, id, reason).await?
    } else {
        state.store.unblock_contact(actor, id, reason).await?
    };
    Ok(Json(contact))
}

#[derive(Deserialize, ToSchema)]
pub struct Confirm {
    /// Must be true: suppression cannot be undone.
    #[serde(default)]
    pub confirm: bool,
}

/// Cancellation, second stage (*supresión*) of a blocked person: their data is removed from
/// every table, the search index and the attachments, for good. Says what it removed.
#[utoipa::path(post, path = "/contacts/{id}/suppress", tag = "personal data", params(("id" = i64, Path)),
    request_body(content = Confirm, example = json!({"confirm": true})),
    responses((status = 200, body = Suppression), (status = 422, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn suppress(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(c): Json<Confirm>,
) -> Result<Json<Suppression>, AppError> {
    let user = caller.require(Action::PersonalData)?;
    if !c.confirm {
        return Err(AppError::Rule(RuleError::Invalid(vec![FieldError::new(
            "confirm", "required",
        )])));
    }
    Ok(Json(
        state
            .store
            .anonymise_contact(Actor::Staff(user), ContactId(id))
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// One person's entries only.
    pub contact_id: Option<i64>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// Who viewed, exported or changed people's data, newest first.
#[utoipa::path(get, path = "/personal-data/access-log", tag = "personal data", params(LogParams),
    responses((status = 200, body = Page<AccessEntry>)))]
async fn access_log(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<LogParams>,
) -> Result<Json<Page<AccessEntry>>, AppError> {
    caller.require(Action::PersonalData)?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let items = state
        .store
        .personal_access_log(
            p.contact_id.map(ContactId),
            page.before_id()?,
            page.limit() + 1,
        )
        .await?;
    Ok(Json(Page::of(items, page.limit(), |e| e.id)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticeParams {
    /// `integral` or `simplified`; both when not given.
    pub kind: Option<NoticeKind>,
}

/// Every published version of the privacy notices, newest first within each kind.
#[utoipa::path(get, path = "/privacy-notices", tag = "personal data", params(NoticeParams),
    responses((status = 200, body = Vec<Notice>)))]
async fn notices(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<NoticeParams>,
) -> Result<Json<Vec<Notice>>, AppError> {
    caller.require(Action::PersonalData)?;
    let mut all = Vec::new();
    for kind in NoticeKind::ALL
        .iter()
        .filter(|k| p.kind.is_none_or(|want| want == **k))
    {
        all.extend(state.store.notice_versions(*kind).await?);
    }
    Ok(Json(all))
}

#[derive(Deserialize, ToSchema)]
pub struct NewNotice {
    pub kind: NoticeKind,
    /// The notice's text (Markdown).
    pub body: String,
}

/// Publishes a new version of a notice; pages show it from now on, and each incident keeps the
/// version the person was shown.
#[utoipa::path(post, path = "/privacy-notices", tag = "personal data",
    request_body(content = NewNotice, example = json!({"kind": "simplified", "body": "La Universidad de Guadalajara… (aviso de privacidad simplificado)"})),
    responses((status = 201, body = Notice), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn publish_notice(
    State(state): State<AppState>,
    caller: Caller,
    Json(n): Json<NewNotice>,
) -> Result<(StatusCode, Json<Notice>), AppError> {
    let user = caller.require(Action::PersonalData)?;
    let notice = state
        .store
        .publish_notice(Actor::Staff(user), n.kind, &n.body)
        .await?;
    Ok((StatusCode::CREATED, Json(notice)))
}

/// How long each kind of personal data is kept (none set: kept until suppressed by hand).
#[utoipa::path(get, path = "/personal-data/retention", tag = "personal data", responses((status = 200, body = RetentionPolicy)))]
async fn retention(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RetentionPolicy>, AppError> {
    caller.require(Action::PersonalData)?;
    Ok(Json(state.store.setting(key::RETENTION_POLICY).await?))
}

#[utoipa::path(put, path = "/personal-data/retention", tag = "personal data",
    request_body(content = RetentionPolicy, example = json!({"blocked_days": 1825, "closed_incident_days": 3650, "attachment_days": 730, "survey_comment_days": 1095})),
    responses((status = 200, body = RetentionPolicy), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_retention(
    State(state): State<AppState>,
    caller: Caller,
    Json(policy): Json<RetentionPolicy>,
) -> Result<Json<RetentionPolicy>, AppError> {
    let user = caller.require(Action::PersonalData)?;
    policy.validate()?;
    state
        .store
        .save_setting(Actor::Staff(user), key::RETENTION_POLICY, &policy)
        .await?;
    Ok(Json(policy))
}

/// What the day's retention run would anonymise now, by category; nothing is changed.
#[utoipa::path(get, path = "/personal-data/retention/dry-run", tag = "personal data",
    responses((status = 200, body = RetentionReport, example = json!({"blocked_contacts": 0, "incidents": 120, "attachments": 45, "surveys": 300}))))]
async fn retention_dry_run(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RetentionReport>, AppError> {
    caller.require(Action::PersonalData)?;
    let policy: RetentionPolicy = state.store.setting(key::RETENTION_POLICY).await?;
    Ok(Json(
        state
            .store
            .retention_due(&policy, atiende_store::db::now())
            .await?,
    ))
}

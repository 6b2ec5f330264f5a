//! Channels by API: mailboxes (administrators'), the call log with its missed calls, the
//! approved WhatsApp templates, and an incident's attachments (listed and downloaded with the
//! console's access rules: only on incidents the caller may see, always as a download).

use atiende_domain::access::Action;
use atiende_domain::chat::Template;
use atiende_store::Actor;
use atiende_store::attachments::Attachment;
use atiende_store::calls::Call;
use atiende_store::email::{Mailbox, MailboxSettings};
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mailboxes, save_mailbox))
        .routes(routes!(calls))
        .routes(routes!(called_back))
        .routes(routes!(templates))
        .routes(routes!(attachments))
        .routes(routes!(download))
}

/// The mailboxes atiende reads and sends from, with their state (last error, whether a token
/// authorization works), a page at a time. Passwords and secrets are never shown.
#[utoipa::path(get, path = "/mailboxes", tag = "channels", params(PageParams), responses((status = 200, body = Page<Mailbox>)))]
async fn mailboxes(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<Mailbox>>, AppError> {
    caller.require(Action::UnitWrite)?;
    Ok(Json(Page::of_catalogue(
        state.store.mailboxes().await?,
        &p,
        |m| m.id,
    )?))
}

/// Adds a mailbox, or changes the one of that name. A password or secret left out keeps the
/// one on record. A mailbox signing in by OAuth 2.0 is then connected from Administración
/// (the provider's consent needs a person in a browser).
#[utoipa::path(post, path = "/mailboxes", tag = "channels",
    request_body(content = MailboxSettings, example = json!({"name": "cap", "address": "cap@udgvirtual.udg.mx", "imap_host": "imap.udg.mx", "imap_user": "cap@udgvirtual.udg.mx", "imap_password": "…", "smtp_host": "smtp.udg.mx", "smtp_user": "cap@udgvirtual.udg.mx", "smtp_password": "…"})),
    responses((status = 200, body = Mailbox), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_mailbox(
    State(state): State<AppState>,
    caller: Caller,
    Json(settings): Json<MailboxSettings>,
) -> Result<Json<Mailbox>, AppError> {
    let user = caller.require(Action::UnitWrite)?;
    let existing = state
        .store
        .mailboxes()
        .await?
        .into_iter()
        .find(|m| m.name == settings.name.trim());
    let settings = settings.keeping_secrets_of(existing.as_ref());
    Ok(Json(
        state
            .store
            .save_mailbox(Actor::Staff(user), &settings)
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallParams {
    /// Only missed calls nobody has called back yet.
    pub missed: Option<bool>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// The call log from the telephone system, newest first.
#[utoipa::path(get, path = "/calls", tag = "channels", params(CallParams), responses((status = 200, body = Page<Call>)))]
async fn calls(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<CallParams>,
) -> Result<Json<Page<Call>>, AppError> {
    caller.require(Action::IncidentCreate)?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let items = state
        .store
        .call_list(
            p.missed.unwrap_or(false),
            page.before_id()?,
            page.limit() + 1,
        )
        .await?;
    Ok(Json(Page::of(items, page.limit(), |c| c.id)))
}

/// Someone called the person of a missed call back (once: a second mark changes nothing).
#[utoipa::path(post, path = "/calls/{id}/called-back", tag = "channels", params(("id" = i64, Path)),
    responses((status = 200, body = Call), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn called_back(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Call>, AppError> {
    let user = caller.require(Action::IncidentCreate)?;
    Ok(Json(
        state.store.mark_called_back(Actor::Staff(user), id).await?,
    ))
}

/// The WhatsApp templates approved by Meta that agents may send outside the 24-hour window.
#[utoipa::path(get, path = "/templates", tag = "channels", responses((status = 200, body = Vec<Template>)))]
async fn templates(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Template>>, AppError> {
    caller.require(Action::IncidentRead)?;
    Ok(Json(state.config.meta.templates.clone()))
}

/// The files that came with an incident's messages.
#[utoipa::path(get, path = "/incidents/{reference}/attachments", tag = "channels", params(("reference" = String, Path)),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn attachments(
    State(state): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
) -> Result<Json<Vec<Attachment>>, AppError> {
    let user = caller.require(Action::IncidentRead)?;
    let id = super::incidents::visible(&state, user, &reference).await?;
    Ok(Json(state.store.attachments(id).await?))
}

/// One attachment's bytes, always as a download (`application/octet-stream`), whatever the
/// sender said it was.
#[utoipa::path(get, path = "/incidents/{reference}/attachments/{id}", tag = "channels",
    params(("reference" = String, Path), ("id" = i64, Path)),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>, example = "%PDF-1.7 …"), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path((reference, attachment)): Path<(String, i64)>,
) -> Result<Response, AppError> {
    let user = caller.require(Action::IncidentRead)?;
    let id = super::incidents::visible(&state, user, &reference).await?;
    let (meta, data) = state.store.attachment_data(id, attachment).await?;
    Ok(crate::pages::email::download(&meta.filename, data))
}

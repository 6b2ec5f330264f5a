//! Email in the console: a message's HTML (sanitised, remote images blocked until an agent
//! allows them, shown in a sandboxed frame), its original bytes, and attachments as downloads.

use atiende_domain::access::Action;
use atiende_domain::ids::IncidentId;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, render};
use crate::AppState;
use crate::error::AppError;
use crate::html::sanitize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidentes/{folio}/adjuntos/{id}", get(attachment))
        .route("/incidentes/{folio}/correo/{message}", get(html_view))
        .route(
            "/incidentes/{folio}/correo/{message}/original",
            get(original),
        )
}

async fn incident_of(
    state: &AppState,
    page: &PageUser,
    folio: &str,
) -> Result<IncidentId, PageError> {
    page.require(Action::IncidentRead)?;
    let id = state.store.incident_id(folio).await?;
    if !state
        .store
        .incident_visible(&page.user.incident_scope(), id)
        .await?
    {
        return Err(PageError::from(AppError::NotFound("incident")));
    }
    Ok(id)
}

/// Always a download, never rendered by the browser, whatever the sender claimed it was.
pub(crate) fn download(filename: &str, body: Vec<u8>) -> Response {
    let safe: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = super::urlencode(filename).replace('+', "%20");
    let disposition = format!("attachment; filename=\"{safe}\"; filename*=UTF-8''{encoded}");
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

async fn attachment(
    State(state): State<AppState>,
    page: PageUser,
    Path((folio, id)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let incident = incident_of(&state, &page, &folio).await?;
    let (meta, data) = state.store.attachment_data(incident, id).await?;
    Ok(download(&meta.filename, data))
}

async fn original(
    State(state): State<AppState>,
    page: PageUser,
    Path((folio, message)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let incident = incident_of(&state, &page, &folio).await?;
    let messages = state.store.email_messages(incident).await?;
    if !messages.iter().any(|m| m.message_id == message) {
        return Err(PageError::from(AppError::NotFound("message")));
    }
    let raw = state.store.email_raw(&message).await?.unwrap_or_default();
    Ok(download("mensaje.eml", raw))
}

#[derive(Deserialize, Default)]
struct ImagesParam {
    imagenes: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "email.html")]
struct EmailPage {
    ctx: Ctx,
    folio: String,
    message_id: String,
    subject: String,
    from: String,
    html: String,
    images_allowed: bool,
    has_remote_images: bool,
}

async fn html_view(
    State(state): State<AppState>,
    page: PageUser,
    Path((folio, message)): Path<(String, String)>,
    Query(p): Query<ImagesParam>,
) -> Result<Response, PageError> {
    let incident = incident_of(&state, &page, &folio).await?;
    let messages = state.store.email_messages(incident).await?;
    let m = messages
        .into_iter()
        .find(|m| m.message_id == message)
        .ok_or(PageError::from(AppError::NotFound("message")))?;
    let raw_html = m.html.unwrap_or_default();
    let images_allowed = p.imagenes.is_some();
    let has_remote_images = sanitize(&raw_html, true) != sanitize(&raw_html, false);
    let page = EmailPage {
        folio,
        message_id: m.message_id,
        subject: m.subject,
        from: m.from_address,
        html: sanitize(&raw_html, images_allowed),
        images_allowed,
        has_remote_images,
        ctx: page.ctx("queue"),
    };
    let mut r = render(&page);
    // Even if something slipped through the sanitiser, this page runs no script.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'self'; img-src 'self' https: http:; frame-src 'self'; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; report-uri /csp-report"),
    );
    Ok(r)
}

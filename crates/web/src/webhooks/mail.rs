//! Mail handed over by the mail server: `POST /api/v1/mail/ingest[?mailbox=NAME]`, the raw
//! message as the body, `Authorization: Bearer <mail_ingest_token>`. `atiende mail ingest
//! --via URL` posts here, so the mail server's delivery program needs neither the
//! configuration nor database rights, and does none of the service's start-up work. Answered
//! only after the message is committed (the same ingest as IMAP polling: a redelivery is
//! recognised by its Message-ID).

use atiende_store::email::IngestOutcome;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;
use crate::extract::Query;

/// Above the store's own limit (it keeps a larger message's headers with a note), below what
/// would let one request fill the memory.
pub(super) const MAX_BODY: usize = 64 * 1024 * 1024;

#[derive(Deserialize)]
pub(super) struct Target {
    /// The configured mailbox the message was sent to (its channel and acknowledgement).
    mailbox: Option<String>,
}

pub(super) async fn ingest(
    State(state): State<AppState>,
    Query(target): Query<Target>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let token = &state.config.mail_ingest_token;
    if token.expose().is_empty() {
        return Err(AppError::NotFound("mail_ingest"));
    }
    if !crate::auth::bearer_is(&headers, token) {
        return Err(AppError::Unauthorized);
    }
    // Over the limit: the delivery program bounces it (the sender learns it did not arrive).
    let body = body.map_err(|r| match r.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
        _ => AppError::BadRequest(r.body_text()),
    })?;
    let mailbox = match target.mailbox {
        Some(name) => Some(
            state
                .store
                .mailboxes()
                .await?
                .into_iter()
                .find(|m| m.name == name)
                .ok_or(AppError::NotFound("mailbox"))?,
        ),
        None => None,
    };
    let email = atiende_channels::email::parse(&body);
    let outcome = state
        .store
        .ingest_email(mailbox.as_ref(), &email, &body)
        .await?;
    let (kind, incident) = match outcome {
        IngestOutcome::Created(id) => ("created", Some(id.0)),
        IngestOutcome::Joined(id) => ("joined", Some(id.0)),
        IngestOutcome::Duplicate(id) => ("duplicate", id.map(|i| i.0)),
        IngestOutcome::Automatic => ("automatic", None),
    };
    Ok(Json(
        serde_json::json!({ "outcome": kind, "incident_id": incident }),
    ))
}

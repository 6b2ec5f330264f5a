//! What providers post to atiende. Meta's webhooks (WhatsApp at `/webhooks/whatsapp`, Messenger
//! and Instagram at `/webhooks/meta`) are checked against the app secret before anything is
//! read, and answered 200 only after every message in them is committed, so Meta's retries
//! never lose one and the store's unique message ids never duplicate one. The telephone
//! system's call events arrive at `/api/v1/cti/{token}` ([`cti`]).

pub mod cti;
mod mail;

use atiende_channels::chat::{messenger, signature_valid, whatsapp};
use atiende_domain::chat::{DeliveryStatus, InboundChat};
use atiende_store::StoreError;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::AppState;
use crate::error::AppError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/whatsapp", get(handshake).post(whatsapp_events))
        .route("/webhooks/meta", get(handshake).post(meta_events))
        .route("/api/v1/cti/{token}", post(cti::event))
        .route(
            "/api/v1/mail/ingest",
            post(mail::ingest).layer(axum::extract::DefaultBodyLimit::max(mail::MAX_BODY)),
        )
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode", default)]
    mode: String,
    #[serde(rename = "hub.verify_token", default)]
    verify_token: String,
    #[serde(rename = "hub.challenge", default)]
    challenge: String,
}

/// Meta's subscription check: echo the challenge when the verify token is ours.
async fn handshake(State(state): State<AppState>, Query(q): Query<Handshake>) -> Response {
    let meta = &state.config.meta;
    if !meta.handshake_valid(&q.mode, &q.verify_token) || q.challenge.len() > 256 {
        return (StatusCode::FORBIDDEN, "verify token mismatch").into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        q.challenge,
    )
        .into_response()
}

/// Refuses a webhook that is not configured here or not signed with our app secret.
fn verified(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), AppError> {
    let meta = &state.config.meta;
    if !meta.enabled() {
        return Err(AppError::NotFound("webhook"));
    }
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if signature_valid(meta.app_secret.expose(), body, signature) {
        Ok(())
    } else {
        tracing::warn!("webhook refused: missing or wrong X-Hub-Signature-256");
        Err(AppError::Unauthorized)
    }
}

/// Commits one message. A message that cannot be an incident (a malformed sender id) is
/// logged and skipped, since Meta would retry it forever; a database failure fails the whole
/// delivery so that Meta retries it.
async fn ingest(state: &AppState, msg: &InboundChat) -> Result<(), AppError> {
    if state
        .config
        .meta
        .token(msg.provider, &msg.account_id)
        .is_none()
    {
        // Meta does not deliver it again: keep it until the account is configured.
        tracing::warn!(provider = msg.provider.code(), account = %msg.account_id, "message for an account not configured; held");
        state.store.hold_chat(msg).await?;
        return Ok(());
    }
    match state.store.ingest_chat(msg).await {
        Ok(outcome) => {
            tracing::debug!(?outcome, external_id = %msg.external_id, "chat message ingested");
            Ok(())
        }
        Err(StoreError::Rule(e)) => {
            tracing::warn!(error = %e, external_id = %msg.external_id, "chat message skipped");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn whatsapp_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, AppError> {
    verified(&state, &headers, &body)?;
    let events = whatsapp::parse(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    for event in events {
        match event {
            whatsapp::Event::Message(m) => ingest(&state, &m).await?,
            whatsapp::Event::Status {
                external_id,
                status,
                error,
            } => {
                state
                    .store
                    .record_chat_status(
                        atiende_domain::chat::Provider::Whatsapp,
                        &external_id,
                        status,
                        error.as_deref(),
                    )
                    .await?;
            }
        }
    }
    Ok("EVENT_RECEIVED")
}

async fn meta_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<&'static str, AppError> {
    verified(&state, &headers, &body)?;
    let events = messenger::parse(&body).map_err(|e| AppError::BadRequest(e.to_string()))?;
    for event in events {
        match event {
            messenger::Event::Message(m) => ingest(&state, &m).await?,
            messenger::Event::Delivered { provider, mids } => {
                for mid in mids {
                    state
                        .store
                        .record_chat_status(provider, &mid, DeliveryStatus::Delivered, None)
                        .await?;
                }
            }
            messenger::Event::Read {
                provider,
                account_id,
                peer_id,
                watermark,
                mid,
            } => {
                if let Some(mid) = mid {
                    state
                        .store
                        .record_chat_status(provider, &mid, DeliveryStatus::Read, None)
                        .await?;
                }
                if let Some(w) = watermark {
                    state
                        .store
                        .record_chat_read_until(provider, &account_id, &peer_id, w)
                        .await?;
                }
            }
        }
    }
    Ok("EVENT_RECEIVED")
}

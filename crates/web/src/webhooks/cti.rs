//! The telephone system's events (Zammad's generic CTI API): `POST /api/v1/cti/{token}`. The
//! token in the path is the only credential, as in Zammad; it is compared in constant time.
//! Reading the event is the channel's (`atiende_channels::cti`).

use atiende_channels::cti::parse_event;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::AppError;

pub(super) async fn event(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    let expected = state.config.cti_token.expose().as_bytes();
    if expected.is_empty() {
        return Err(AppError::NotFound("cti"));
    }
    if !bool::from(expected.ct_eq(token.as_bytes())) {
        return Err(AppError::Unauthorized);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let input = parse_event(json, &body).map_err(|e| AppError::BadRequest(e.0))?;
    let call = state.store.record_call_event(&input).await?;
    tracing::info!(
        call.id = call.id,
        call.state = call.state.code(),
        "call event"
    );
    // Zammad's answer to a call it does not block.
    Ok(Json(serde_json::json!({})))
}

//! The telephone system's events, in the shape of Zammad's generic CTI API: `POST
//! /api/v1/cti/{token}` with `event` (`newCall`, `answer`, `hangup`), `from`, `to`, `direction`,
//! `callId`, `cause`, `user[]` and `answeringNumber`, form-encoded or JSON. The token in the
//! path is the only credential, as in Zammad; it is compared in constant time.

use atiende_domain::call::{CallDirection, CallEvent};
use atiende_store::calls::CallEventInput;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::AppError;

/// Reads the event's fields from a form (`user[]` repeated) or a JSON object.
fn fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, AppError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !json {
        return serde_urlencoded::from_bytes(body)
            .map_err(|e| AppError::BadRequest(format!("form: {e}")));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| AppError::BadRequest(format!("JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| AppError::BadRequest("a JSON object is expected".into()))?;
    let mut out = Vec::new();
    for (key, v) in object {
        let key = key.trim_end_matches("[]").to_string();
        match v {
            serde_json::Value::Array(items) => out.extend(
                items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .map(|i| (key.clone(), i.to_string())),
            ),
            serde_json::Value::String(s) => out.push((key, s.clone())),
            serde_json::Value::Number(n) => out.push((key, n.to_string())),
            _ => {}
        }
    }
    Ok(out)
}

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
    let fields = fields(&headers, &body)?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let missing = |name: &str| AppError::BadRequest(format!("missing field `{name}`"));
    let name = get("event").ok_or_else(|| missing("event"))?;
    let event = CallEvent::parse(&name, get("cause").as_deref())
        .ok_or_else(|| AppError::BadRequest(format!("unknown event `{name}`")))?;
    let call_id = get("callId").ok_or_else(|| missing("callId"))?;
    if call_id.len() > 250 {
        return Err(AppError::BadRequest("callId is longer than 250".into()));
    }
    let direction = match get("direction").as_deref() {
        Some("in") => CallDirection::In,
        Some("out") => CallDirection::Out,
        _ => {
            return Err(AppError::BadRequest(
                "direction must be `in` or `out`".into(),
            ));
        }
    };
    let input = CallEventInput {
        event,
        call_id,
        direction,
        from: get("from").unwrap_or_default(),
        to: get("to").unwrap_or_default(),
        users: fields
            .iter()
            .filter(|(k, _)| k == "user[]" || k == "user")
            .map(|(_, v)| v.clone())
            .collect(),
        answering_number: get("answeringNumber"),
    };
    let call = state.store.record_call_event(&input).await?;
    tracing::info!(
        call.id = call.id,
        call.state = call.state.code(),
        "call event"
    );
    // Zammad's answer to a call it does not block.
    Ok(Json(serde_json::json!({})))
}

//! Phone calls: the telephone system's events in the shape of Zammad's generic CTI API —
//! `event` (`newCall`, `answer`, `hangup`), `from`, `to`, `direction`, `callId`, `cause`,
//! `user[]` and `answeringNumber`, form-encoded or JSON. The web edge checks the token and
//! hands the body here; what a call means to the procedure is in `atiende_domain::call`, how it
//! is stored in `atiende_store::calls`.

use atiende_domain::call::{CallDirection, CallEvent, CallEventInput};

/// Why an event could not be read; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CtiError(pub String);

/// Reads one event from its body (`json` when the content type says so).
pub fn parse_event(json: bool, body: &[u8]) -> Result<CallEventInput, CtiError> {
    let fields = fields(json, body)?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let missing = |name: &str| CtiError(format!("missing field `{name}`"));
    let name = get("event").ok_or_else(|| missing("event"))?;
    let event = CallEvent::parse(&name, get("cause").as_deref())
        .ok_or_else(|| CtiError(format!("unknown event `{name}`")))?;
    let call_id = get("callId").ok_or_else(|| missing("callId"))?;
    if call_id.len() > 250 {
        return Err(CtiError("callId is longer than 250".into()));
    }
    let direction = match get("direction").as_deref() {
        Some("in") => CallDirection::In,
        Some("out") => CallDirection::Out,
        _ => return Err(CtiError("direction must be `in` or `out`".into())),
    };
    Ok(CallEventInput {
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
    })
}

/// The event's fields from a form (`user[]` repeated) or a JSON object.
fn fields(json: bool, body: &[u8]) -> Result<Vec<(String, String)>, CtiError> {
    if !json {
        return serde_urlencoded::from_bytes(body).map_err(|e| CtiError(format!("form: {e}")));
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| CtiError(format!("JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| CtiError("a JSON object is expected".into()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_and_a_json_body_give_the_same_event() {
        let form = b"event=newCall&from=3312345678&to=3300000000&direction=in&callId=c1&user%5B%5D=Ana&user%5B%5D=Luis";
        let json = br#"{"event":"newCall","from":"3312345678","to":"3300000000","direction":"in","callId":"c1","user":["Ana","Luis"]}"#;
        let a = parse_event(false, form).expect("form");
        let b = parse_event(true, json).expect("json");
        assert_eq!(a.call_id, b.call_id);
        assert_eq!(a.users, vec!["Ana", "Luis"]);
        assert_eq!(a.users, b.users);
    }

    #[test]
    fn a_missing_or_unknown_field_is_named() {
        let err = parse_event(false, b"event=newCall&direction=in").expect_err("no callId");
        assert!(err.0.contains("callId"));
        let err = parse_event(false, b"event=ring&callId=x&direction=in").expect_err("event");
        assert!(err.0.contains("ring"));
    }
}

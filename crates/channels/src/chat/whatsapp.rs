//! WhatsApp Business Cloud API: the webhook's `messages` and `statuses`, and the body of a
//! send to `POST /{phone-number-id}/messages`.

use atiende_domain::attachment::{MediaKind, OutgoingFile};
use atiende_domain::chat::{
    ChatContent, DeliveryStatus, InboundChat, MediaRef, OutgoingBody, Provider,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::payload::{PayloadError, from_secs};

/// One thing the webhook reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(InboundChat),
    /// A status callback for a message we sent.
    Status {
        external_id: String,
        status: DeliveryStatus,
        error: Option<String>,
    },
}

#[derive(Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    value: ChangeValue,
}

#[derive(Deserialize)]
struct ChangeValue {
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<Profile>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Profile {
    wa_id: String,
    #[serde(default)]
    profile: Option<ProfileName>,
}

#[derive(Deserialize)]
struct ProfileName {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Message {
    from: String,
    id: String,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    image: Option<Media>,
    #[serde(default)]
    audio: Option<Media>,
    #[serde(default)]
    video: Option<Media>,
    #[serde(default)]
    document: Option<Media>,
    #[serde(default)]
    sticker: Option<Media>,
    #[serde(default)]
    location: Option<Location>,
    #[serde(default)]
    interactive: Option<Interactive>,
    #[serde(default)]
    button: Option<Button>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct Media {
    id: String,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    #[serde(default)]
    button_reply: Option<Choice>,
    #[serde(default)]
    list_reply: Option<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    id: String,
    title: String,
}

#[derive(Deserialize)]
struct Button {
    #[serde(default)]
    payload: String,
    text: String,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: String,
}

fn content_of(m: Message) -> ChatContent {
    let media = |kind: &str, media: Media| ChatContent::Media {
        kind: kind.into(),
        source: MediaRef::GraphId(media.id),
        mime_type: media.mime_type,
        caption: media.caption,
        filename: media.filename,
    };
    match m.kind.as_str() {
        "text" => ChatContent::Text {
            body: m.text.map(|t| t.body).unwrap_or_default(),
        },
        "image" | "audio" | "video" | "document" | "sticker" => {
            let found = match m.kind.as_str() {
                "image" => m.image,
                "audio" => m.audio,
                "video" => m.video,
                "document" => m.document,
                _ => m.sticker,
            };
            match found {
                Some(found) => media(&m.kind, found),
                None => ChatContent::Unsupported { kind: m.kind },
            }
        }
        "location" => match m.location {
            Some(l) => ChatContent::Location {
                latitude: l.latitude,
                longitude: l.longitude,
                name: l.name,
                address: l.address,
            },
            None => ChatContent::Unsupported { kind: m.kind },
        },
        "interactive" => match m.interactive.and_then(|i| i.button_reply.or(i.list_reply)) {
            Some(c) => ChatContent::Reply {
                id: c.id,
                title: c.title,
            },
            None => ChatContent::Unsupported { kind: m.kind },
        },
        "button" => match m.button {
            Some(b) => ChatContent::Reply {
                id: b.payload,
                title: b.text,
            },
            None => ChatContent::Unsupported { kind: m.kind },
        },
        _ => ChatContent::Unsupported { kind: m.kind },
    }
}

/// Reads a webhook body. Only `whatsapp_business_account` objects and `messages` fields are
/// WhatsApp's; anything else is refused as not ours.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, PayloadError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| PayloadError(e.to_string()))?;
    if payload.object != "whatsapp_business_account" {
        return Err(PayloadError(format!("object {:?}", payload.object)));
    }
    let mut events = Vec::new();
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let value = change.value;
        let account = value.metadata.phone_number_id;
        for m in value.messages {
            let name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == m.from)
                .and_then(|c| c.profile.as_ref())
                .map(|p| p.name.clone())
                .filter(|n| !n.is_empty());
            let sent_at = from_secs(m.timestamp.parse().unwrap_or(0));
            let (peer, id) = (m.from.clone(), m.id.clone());
            events.push(Event::Message(InboundChat {
                provider: Provider::Whatsapp,
                account_id: account.clone(),
                peer_id: peer,
                peer_name: name,
                external_id: id,
                sent_at,
                contents: vec![content_of(m)],
            }));
        }
        for s in value.statuses {
            let status = match s.status.as_str() {
                "sent" => DeliveryStatus::Sent,
                "delivered" => DeliveryStatus::Delivered,
                "read" => DeliveryStatus::Read,
                "failed" => DeliveryStatus::Failed,
                _ => continue,
            };
            let error = s.errors.first().map(|e| match e.code {
                Some(code) => format!("{code}: {}", e.title),
                None => e.title.clone(),
            });
            events.push(Event::Status {
                external_id: s.id,
                status,
                error,
            });
        }
    }
    Ok(events)
}

/// Longest text body WhatsApp accepts.
pub const MAX_TEXT: usize = 4096;

/// The JSON of a send to `/{phone-number-id}/messages`.
pub fn send_body(to: &str, body: &OutgoingBody) -> Value {
    match body {
        OutgoingBody::Text { body, .. } => json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": { "preview_url": false, "body": body },
        }),
        OutgoingBody::Template {
            name,
            language,
            parameters,
        } => {
            let mut template = json!({ "name": name, "language": { "code": language } });
            if !parameters.is_empty() {
                let params: Vec<Value> = parameters
                    .iter()
                    .map(|p| json!({ "type": "text", "text": p }))
                    .collect();
                template["components"] = json!([{ "type": "body", "parameters": params }]);
            }
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "template",
                "template": template,
            })
        }
        // A file is sent by `media_body` once uploaded.
        OutgoingBody::Media { .. } => Value::Null,
    }
}

/// The JSON of a send of an authentication template carrying a one-time code: the code in
/// the body's `{{1}}` and in the copy-code button, as Meta's authentication templates take it.
pub fn code_body(to: &str, name: &str, language: &str, code: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": { "code": language },
            "components": [
                { "type": "body", "parameters": [{ "type": "text", "text": code }] },
                { "type": "button", "sub_type": "url", "index": "0",
                  "parameters": [{ "type": "text", "text": code }] },
            ],
        },
    })
}

/// The JSON of a send of a file uploaded to `/{phone-number-id}/media` as `media_id`: a picture
/// over WhatsApp's image limit travels as a document, and a document keeps its name.
pub fn media_body(to: &str, file: &OutgoingFile, media_id: &str) -> Value {
    let kind = file.kind.for_whatsapp(file.size);
    let mut media = json!({ "id": media_id });
    if kind == MediaKind::Document {
        media["filename"] = json!(file.filename);
    }
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind.code(),
    });
    body[kind.code()] = media;
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(value: Value) -> Vec<u8> {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": value }] }]
        })
        .to_string()
        .into_bytes()
    }

    fn message(m: Value) -> Vec<u8> {
        wrap(json!({
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": "16505551234" }],
            "messages": [m]
        }))
    }

    fn only_message(body: &[u8]) -> InboundChat {
        match parse(body).expect("parses").pop() {
            Some(Event::Message(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn a_text_message_names_its_sender_account_and_time() {
        let m = only_message(&message(json!({
            "from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "timestamp": "1749416383", "type": "text", "text": { "body": "Does it come in another color?" }
        })));
        assert_eq!(m.account_id, "106540352242922");
        assert_eq!(m.peer_id, "16505551234");
        assert_eq!(m.peer_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(m.sent_at.timestamp(), 1_749_416_383);
        assert_eq!(
            m.contents,
            vec![ChatContent::Text {
                body: "Does it come in another color?".into()
            }]
        );
    }

    #[test]
    fn media_location_and_interactive_replies_are_read() {
        let doc = only_message(&message(json!({
            "from": "16505551234", "id": "wamid.D", "timestamp": "1749416383", "type": "document",
            "document": { "caption": "Kárdex", "filename": "kardex.pdf", "mime_type": "application/pdf",
                          "sha256": "abc", "id": "1037543291543636" }
        })));
        assert!(
            matches!(&doc.contents[0], ChatContent::Media { source: MediaRef::GraphId(id), filename: Some(f), .. }
            if id == "1037543291543636" && f == "kardex.pdf")
        );
        let place = only_message(&message(json!({
            "from": "16505551234", "id": "wamid.L", "timestamp": "1749416383", "type": "location",
            "location": { "latitude": 20.6736, "longitude": -103.344, "name": "UDG Virtual", "address": "Av. de la Paz 2453" }
        })));
        assert!(
            matches!(&place.contents[0], ChatContent::Location { name: Some(n), .. } if n == "UDG Virtual")
        );
        let reply = only_message(&message(json!({
            "from": "16505551234", "id": "wamid.I", "timestamp": "1749416383", "type": "interactive",
            "interactive": { "type": "button_reply", "button_reply": { "id": "si", "title": "Sí" } }
        })));
        assert_eq!(
            reply.contents[0],
            ChatContent::Reply {
                id: "si".into(),
                title: "Sí".into()
            }
        );
        let unknown = only_message(&message(json!({
            "from": "16505551234", "id": "wamid.R", "timestamp": "1749416383", "type": "reaction",
            "reaction": { "message_id": "wamid.X", "emoji": "👍" }
        })));
        assert_eq!(
            unknown.contents[0],
            ChatContent::Unsupported {
                kind: "reaction".into()
            }
        );
    }

    #[test]
    fn status_callbacks_are_read_with_their_errors() {
        let body = wrap(json!({
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
            "statuses": [
                { "id": "wamid.OUT", "status": "delivered", "timestamp": "1750263773", "recipient_id": "16505551234" },
                { "id": "wamid.OUT2", "status": "failed", "timestamp": "1750263773", "recipient_id": "16505551234",
                  "errors": [{ "code": 131047, "title": "Re-engagement message" }] }
            ]
        }));
        let events = parse(&body).expect("parses");
        assert_eq!(
            events,
            vec![
                Event::Status {
                    external_id: "wamid.OUT".into(),
                    status: DeliveryStatus::Delivered,
                    error: None
                },
                Event::Status {
                    external_id: "wamid.OUT2".into(),
                    status: DeliveryStatus::Failed,
                    error: Some("131047: Re-engagement message".into())
                },
            ]
        );
    }

    #[test]
    fn other_objects_and_broken_json_are_refused() {
        assert!(parse(br#"{"object":"page","entry":[]}"#).is_err());
        assert!(parse(b"{not json").is_err());
        assert!(parse(br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{}}]}]}"#).is_err());
    }

    #[test]
    fn a_template_send_carries_the_folio_as_its_body_parameter() {
        let body = send_body(
            "16505551234",
            &OutgoingBody::Template {
                name: "seguimiento_folio".into(),
                language: "es_MX".into(),
                parameters: vec!["CAP-2026-000007".into()],
            },
        );
        assert_eq!(body["type"], "template");
        assert_eq!(body["template"]["language"]["code"], "es_MX");
        assert_eq!(
            body["template"]["components"][0]["parameters"][0]["text"],
            "CAP-2026-000007"
        );
        let text = send_body(
            "16505551234",
            &OutgoingBody::Text {
                body: "Hola".into(),
                human_agent: false,
            },
        );
        assert_eq!(text["text"]["body"], "Hola");
        assert_eq!(text["messaging_product"], "whatsapp");
    }
}

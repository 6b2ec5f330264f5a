//! Facebook Messenger and Instagram messaging: one webhook family (objects `page` and
//! `instagram`, events in `messaging[]`), people known by page-scoped ids, and the send API
//! `POST /{page-or-account-id}/messages`.

use atiende_domain::attachment::MediaKind;
use atiende_domain::chat::{ChatContent, InboundChat, MediaRef, OutgoingBody, Provider};
use serde::Deserialize;
use serde_json::{Value, json};

use super::payload::{PayloadError, from_millis};

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(InboundChat),
    /// Messenger's delivery receipt for messages we sent.
    Delivered {
        provider: Provider,
        mids: Vec<String>,
    },
    /// The person read our messages: up to a time (Messenger) or one message (Instagram).
    Read {
        provider: Provider,
        account_id: String,
        peer_id: String,
        watermark: Option<chrono::DateTime<chrono::Utc>>,
        mid: Option<String>,
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
    id: String,
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    postback: Option<Postback>,
    #[serde(default)]
    delivery: Option<Delivery>,
    #[serde(default)]
    read: Option<Read>,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    quick_reply: Option<QuickReply>,
}

#[derive(Deserialize)]
struct QuickReply {
    payload: String,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Option<AttachmentPayload>,
}

#[derive(Deserialize)]
struct AttachmentPayload {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    coordinates: Option<Coordinates>,
    #[serde(default)]
    title: Option<String>,
}

#[derive(Deserialize)]
struct Coordinates {
    lat: f64,
    long: f64,
}

#[derive(Deserialize)]
struct Postback {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    payload: String,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
}

#[derive(Deserialize)]
struct Read {
    #[serde(default)]
    watermark: Option<i64>,
    #[serde(default)]
    mid: Option<String>,
}

fn attachment_content(a: Attachment) -> ChatContent {
    let payload = a.payload;
    match (a.kind.as_str(), payload) {
        ("image" | "video" | "audio" | "file", Some(AttachmentPayload { url: Some(url), .. })) => {
            ChatContent::Media {
                kind: a.kind.clone(),
                source: MediaRef::Url(url),
                mime_type: None,
                caption: None,
                filename: None,
            }
        }
        (
            "location",
            Some(AttachmentPayload {
                coordinates: Some(c),
                title,
                ..
            }),
        ) => ChatContent::Location {
            latitude: c.lat,
            longitude: c.long,
            name: title,
            address: None,
        },
        _ => ChatContent::Unsupported { kind: a.kind },
    }
}

/// Reads a webhook body of object `page` (Messenger) or `instagram`. Echoes of the messages
/// our page sent are left out: they are ours already.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, PayloadError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| PayloadError(e.to_string()))?;
    let provider = match payload.object.as_str() {
        "page" => Provider::Messenger,
        "instagram" => Provider::Instagram,
        other => return Err(PayloadError(format!("object {other:?}"))),
    };
    let mut events = Vec::new();
    for entry in payload.entry {
        let account = entry.id;
        for m in entry.messaging {
            let sent_at = from_millis(m.timestamp.unwrap_or_default());
            let peer = m.sender.id;
            if let Some(message) = m.message {
                if message.is_echo || peer == account {
                    continue;
                }
                let mut contents = Vec::new();
                match (message.text, message.quick_reply) {
                    (Some(text), Some(q)) => contents.push(ChatContent::Reply {
                        id: q.payload,
                        title: text,
                    }),
                    (Some(text), None) if !text.is_empty() => {
                        contents.push(ChatContent::Text { body: text })
                    }
                    _ => {}
                }
                contents.extend(message.attachments.into_iter().map(attachment_content));
                events.push(Event::Message(InboundChat {
                    provider,
                    account_id: account.clone(),
                    peer_id: peer,
                    peer_name: None,
                    external_id: message.mid,
                    sent_at,
                    contents,
                }));
            } else if let Some(p) = m.postback {
                // A postback has a mid on current API versions; without one, the sender and
                // the time name it, which a retry repeats.
                let external_id = p
                    .mid
                    .unwrap_or_else(|| format!("postback:{peer}:{}", sent_at.timestamp_millis()));
                events.push(Event::Message(InboundChat {
                    provider,
                    account_id: account.clone(),
                    peer_id: peer,
                    peer_name: None,
                    external_id,
                    sent_at,
                    contents: vec![ChatContent::Reply {
                        id: p.payload,
                        title: p.title,
                    }],
                }));
            } else if let Some(d) = m.delivery {
                events.push(Event::Delivered {
                    provider,
                    mids: d.mids,
                });
            } else if let Some(r) = m.read {
                events.push(Event::Read {
                    provider,
                    account_id: account.clone(),
                    peer_id: peer,
                    watermark: r.watermark.map(from_millis),
                    mid: r.mid,
                });
            }
        }
    }
    Ok(events)
}

/// Longest text Messenger and Instagram accept in one message.
pub const MAX_TEXT: usize = 1000;

/// The JSON bodies of a send to `/{page-or-account-id}/messages`: a long text goes in parts.
pub fn send_bodies(to: &str, body: &OutgoingBody) -> Vec<Value> {
    let (text, human_agent) = match body {
        OutgoingBody::Text { body, human_agent } => (body.as_str(), *human_agent),
        // Templates are WhatsApp's; the store never queues one here. A file is sent by
        // `media_body` once uploaded.
        OutgoingBody::Template { .. } | OutgoingBody::Media { .. } => return vec![],
    };
    split(text, MAX_TEXT)
        .into_iter()
        .map(|part| {
            let mut v = json!({
                "recipient": { "id": to },
                "messaging_type": if human_agent { "MESSAGE_TAG" } else { "RESPONSE" },
                "message": { "text": part },
            });
            if human_agent {
                v["tag"] = json!("HUMAN_AGENT");
            }
            v
        })
        .collect()
}

/// The attachment type Messenger and Instagram are told (`file` for a document).
pub fn attachment_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Document => "file",
    }
}

/// The JSON of a send of a file uploaded to `/{page-or-account-id}/message_attachments` as
/// `attachment_id`.
pub fn media_body(to: &str, kind: MediaKind, attachment_id: &str, human_agent: bool) -> Value {
    let mut v = json!({
        "recipient": { "id": to },
        "messaging_type": if human_agent { "MESSAGE_TAG" } else { "RESPONSE" },
        "message": { "attachment": {
            "type": attachment_type(kind),
            "payload": { "attachment_id": attachment_id },
        } },
    });
    if human_agent {
        v["tag"] = json!("HUMAN_AGENT");
    }
    v
}

/// Splits a text into parts of at most `max` characters, at a line or word break when one is
/// near.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > max {
        let window = &rest[..max];
        let cut = window
            .iter()
            .rposition(|c| *c == '\n')
            .or_else(|| window.iter().rposition(|c| c.is_whitespace()))
            .filter(|i| *i > max / 2)
            .map_or(max, |i| i + 1);
        parts.push(
            rest[..cut]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string(),
        );
        rest.drain(..cut);
    }
    parts.push(rest.into_iter().collect());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(messaging: Value) -> Vec<u8> {
        json!({ "object": "page", "entry": [{ "id": "PAGE1", "time": 1458692752478_i64, "messaging": [messaging] }] })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_messenger_text_becomes_a_message_from_the_page_scoped_id() {
        let events = parse(&page(json!({
            "sender": { "id": "PSID7" }, "recipient": { "id": "PAGE1" }, "timestamp": 1458692752478_i64,
            "message": { "mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM", "text": "¿Hay examen de admisión?" }
        })))
        .expect("parses");
        let Some(Event::Message(m)) = events.first() else {
            panic!("expected a message, got {events:?}");
        };
        assert_eq!(m.provider, Provider::Messenger);
        assert_eq!(m.account_id, "PAGE1");
        assert_eq!(m.peer_id, "PSID7");
        assert_eq!(m.external_id, "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM");
        assert_eq!(m.sent_at.timestamp_millis(), 1_458_692_752_478);
    }

    #[test]
    fn echoes_of_our_own_messages_are_ignored() {
        let events = parse(&page(json!({
            "sender": { "id": "PAGE1" }, "recipient": { "id": "PSID7" }, "timestamp": 1458692752478_i64,
            "message": { "is_echo": true, "app_id": 1517776481860111_i64, "mid": "m_echo", "text": "Respuesta" }
        })))
        .expect("parses");
        assert!(events.is_empty());
    }

    #[test]
    fn instagram_attachments_quick_replies_and_receipts_are_read() {
        let body = json!({ "object": "instagram", "entry": [{ "id": "IG1", "time": 1, "messaging": [
            { "sender": { "id": "IGSID" }, "recipient": { "id": "IG1" }, "timestamp": 1700000000000_i64,
              "message": { "mid": "aWdfZAG1", "attachments": [{ "type": "image", "payload": { "url": "https://lookaside.example/img" } }] } },
            { "sender": { "id": "IGSID" }, "recipient": { "id": "IG1" }, "timestamp": 1700000000001_i64,
              "message": { "mid": "aWdfZAG2", "text": "Sí", "quick_reply": { "payload": "YES" } } },
            { "sender": { "id": "IGSID" }, "recipient": { "id": "IG1" }, "timestamp": 1700000000002_i64,
              "read": { "mid": "aWdfOUT" } }
        ]}]})
        .to_string();
        let events = parse(body.as_bytes()).expect("parses");
        assert_eq!(events.len(), 3);
        let Event::Message(img) = &events[0] else {
            panic!("image");
        };
        assert_eq!(img.provider, Provider::Instagram);
        assert!(
            matches!(&img.contents[0], ChatContent::Media { source: MediaRef::Url(u), .. } if u == "https://lookaside.example/img")
        );
        let Event::Message(reply) = &events[1] else {
            panic!("reply");
        };
        assert_eq!(
            reply.contents,
            vec![ChatContent::Reply {
                id: "YES".into(),
                title: "Sí".into()
            }]
        );
        assert!(matches!(&events[2], Event::Read { mid: Some(m), .. } if m == "aWdfOUT"));
    }

    #[test]
    fn a_reply_outside_the_day_is_tagged_human_agent_and_long_text_goes_in_parts() {
        let long = "palabra ".repeat(300);
        let bodies = send_bodies(
            "PSID7",
            &OutgoingBody::Text {
                body: long.clone(),
                human_agent: true,
            },
        );
        assert_eq!(bodies.len(), 3);
        assert!(bodies.iter().all(|b| {
            b["tag"] == "HUMAN_AGENT"
                && b["messaging_type"] == "MESSAGE_TAG"
                && b["message"]["text"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() <= MAX_TEXT)
        }));
        let joined: Vec<String> = bodies
            .iter()
            .map(|b| {
                b["message"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(joined.join(" ").split_whitespace().count(), 300);
        let short = send_bodies(
            "PSID7",
            &OutgoingBody::Text {
                body: "Hola".into(),
                human_agent: false,
            },
        );
        assert_eq!(short[0]["messaging_type"], "RESPONSE");
        assert_eq!(short[0]["recipient"]["id"], "PSID7");
    }
}

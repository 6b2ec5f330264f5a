//! MIME parsing with mail-parser: charsets, encoded words, multipart/alternative, inline images
//! and attachments. A message that cannot be parsed is kept with its raw text, never dropped.

use atiende_domain::email::{AutomaticSigns, InboundAttachment, InboundEmail};
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .map(|s| s.trim().trim_matches(['<', '>']).to_string())
    .filter(|s| !s.is_empty())
    .collect()
}

/// A stable id for a message that brought none: the same bytes always get the same id, so a
/// retried delivery is still recognised.
fn content_id(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}@sin-message-id.atiende")
}

/// Parses raw RFC 5322 bytes. Never fails: unreadable input becomes a malformed message whose
/// text is the raw content (lossily decoded).
pub fn parse(raw: &[u8]) -> InboundEmail {
    let Some(message) = MessageParser::default().parse(raw) else {
        return InboundEmail {
            message_id: content_id(raw),
            subject: "(mensaje no legible)".into(),
            text: String::from_utf8_lossy(&raw[..raw.len().min(200_000)]).into_owned(),
            malformed: true,
            ..Default::default()
        };
    };
    let text_header = |name: &str| {
        message
            .header(name)
            .and_then(|v| v.as_text())
            .map(|s| s.trim().to_string())
    };
    let from = message.from().and_then(|a| a.first());
    let malformed =
        message.from().is_none() && message.subject().is_none() && message.message_id().is_none();
    let mut attachments = Vec::new();
    for part in message.attachments() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let filename = part
            .attachment_name()
            .map(str::to_string)
            .unwrap_or_else(|| {
                let ext = content_type.rsplit('/').next().unwrap_or("bin");
                format!("adjunto.{ext}")
            });
        let inline = part.content_disposition().is_some_and(|d| d.is_inline())
            || part.content_id().is_some();
        attachments.push(InboundAttachment {
            filename: atiende_domain::email::header_safe(&filename),
            content_type,
            content_id: part
                .content_id()
                .map(|c| c.trim_matches(['<', '>']).to_string()),
            inline,
            data: part.contents().to_vec(),
        });
    }
    let html = message
        .body_html(0)
        .map(|h| h.into_owned())
        .filter(|_| message.html_body_count() > 0);
    InboundEmail {
        message_id: message
            .message_id()
            .map(|m| m.trim_matches(['<', '>']).to_string())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| content_id(raw)),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        from_address: from.and_then(|a| a.address()).map(str::to_string),
        from_name: from
            .and_then(|a| a.name())
            .map(str::to_string)
            .unwrap_or_default(),
        to: message
            .to()
            .map(|t| {
                t.iter()
                    .filter_map(|a| a.address())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        subject: message.subject().unwrap_or_default().to_string(),
        text: message
            .body_text(0)
            .map(|t| t.into_owned())
            .unwrap_or_default(),
        html,
        attachments,
        automatic: AutomaticSigns {
            auto_submitted: text_header("Auto-Submitted"),
            precedence: text_header("Precedence"),
            list_id: message.header("List-Id").is_some(),
            x_autoreply: message.header("X-Autoreply").is_some()
                || message.header("X-Autorespond").is_some(),
            empty_return_path: message
                .return_address()
                .is_some_and(|r| r.trim().is_empty() || r.trim() == "<>")
                || message
                    .header_raw("Return-Path")
                    .is_some_and(|r| r.trim() == "<>"),
        },
        malformed,
    }
}

#[cfg(test)]
mod tests;

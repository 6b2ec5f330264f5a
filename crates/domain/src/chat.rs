//! Chat channels (WhatsApp, Facebook Messenger, Instagram): what an inbound message says, how a
//! sent message's delivery state advances, and when an agent may still write freely — the
//! providers' customer-service window.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::classification::{Channel, coded_enum};
use crate::contact::IdentifierKind;

coded_enum!(
    /// Who carries a chat message.
    Provider {
        Whatsapp = "whatsapp", "WhatsApp", "WhatsApp";
        Messenger = "messenger", "Messenger", "Messenger";
        Instagram = "instagram", "Instagram", "Instagram";
    }
);

impl Provider {
    /// The procedure's channel an incident from this provider is registered under.
    pub fn channel(self) -> Channel {
        match self {
            Provider::Whatsapp => Channel::Whatsapp,
            Provider::Messenger | Provider::Instagram => Channel::Social,
        }
    }

    /// The contact identifier holding the person's id on this provider.
    pub fn identifier_kind(self) -> IdentifierKind {
        match self {
            Provider::Whatsapp => IdentifierKind::Whatsapp,
            Provider::Messenger => IdentifierKind::Facebook,
            Provider::Instagram => IdentifierKind::Instagram,
        }
    }
}

/// Where the bytes of a media message are fetched from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaRef {
    /// WhatsApp: a media id resolved through the Graph API.
    GraphId(String),
    /// Messenger and Instagram: a direct (expiring) URL.
    Url(String),
}

/// One piece of what a person sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatContent {
    Text {
        body: String,
    },
    /// `kind` is the provider's word: image, audio, video, document, sticker, file.
    Media {
        kind: String,
        source: MediaRef,
        mime_type: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// A tap on a button, a list row or a quick reply.
    Reply {
        id: String,
        title: String,
    },
    /// A kind of message atiende does not show (reactions, contacts cards, orders…).
    Unsupported {
        kind: String,
    },
}

impl ChatContent {
    /// The line this content adds to the timeline, in the procedure's language.
    pub fn timeline_text(&self) -> String {
        match self {
            ChatContent::Text { body } => body.clone(),
            ChatContent::Media {
                kind,
                caption,
                filename,
                ..
            } => {
                let what = match kind.as_str() {
                    "image" => "Imagen",
                    "audio" => "Audio",
                    "video" => "Video",
                    "sticker" => "Sticker",
                    _ => "Archivo",
                };
                let mut line = format!("[{what}");
                if let Some(name) = filename.as_deref().filter(|n| !n.is_empty()) {
                    line.push_str(": ");
                    line.push_str(name);
                }
                line.push(']');
                if let Some(caption) = caption.as_deref().filter(|c| !c.is_empty()) {
                    line.push(' ');
                    line.push_str(caption);
                }
                line
            }
            ChatContent::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let place = [name.as_deref(), address.as_deref()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ");
                let map = format!(
                    "https://www.openstreetmap.org/?mlat={latitude}&mlon={longitude}#map=17/{latitude}/{longitude}"
                );
                if place.is_empty() {
                    format!("[Ubicación] {map}")
                } else {
                    format!("[Ubicación] {place} — {map}")
                }
            }
            ChatContent::Reply { title, .. } => format!("[Respuesta] {title}"),
            ChatContent::Unsupported { kind } => {
                format!("[Mensaje de tipo «{kind}» que atiende no muestra]")
            }
        }
    }
}

/// A message a person sent, as the provider's webhook told it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundChat {
    pub provider: Provider,
    /// Our side: the WhatsApp phone-number id, the Facebook page id, the Instagram account id.
    pub account_id: String,
    /// Their side: the WhatsApp id (digits) or the page-scoped id.
    pub peer_id: String,
    /// The profile name, when the provider gives one.
    pub peer_name: Option<String>,
    /// The provider's message id: a retried delivery carries the same one.
    pub external_id: String,
    pub sent_at: DateTime<Utc>,
    pub contents: Vec<ChatContent>,
}

impl InboundChat {
    pub fn timeline_text(&self) -> String {
        let text = self
            .contents
            .iter()
            .map(ChatContent::timeline_text)
            .collect::<Vec<_>>()
            .join("\n");
        if text.trim().is_empty() {
            "(mensaje sin texto)".into()
        } else {
            text
        }
    }

    /// A subject for a new incident: the first words of the message.
    pub fn subject(&self) -> String {
        let text = self.timeline_text();
        let first = text.lines().next().unwrap_or_default().trim();
        let mut subject: String = first.chars().take(80).collect();
        if first.chars().count() > 80 {
            subject.push('…');
        }
        format!(
            "{}: {subject}",
            self.provider.label(crate::classification::Lang::Es)
        )
    }
}

coded_enum!(
    /// Where a message we sent stands. It only moves forward: a late "delivered" never
    /// undoes "read".
    DeliveryStatus {
        Queued = "queued", "En cola", "Queued";
        Sent = "sent", "Enviado", "Sent";
        Delivered = "delivered", "Entregado", "Delivered";
        Read = "read", "Leído", "Read";
        Failed = "failed", "Falló", "Failed";
    }
);

impl DeliveryStatus {
    fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            // A failure can follow a send, but not a delivery.
            DeliveryStatus::Failed => 2,
            DeliveryStatus::Delivered => 3,
            DeliveryStatus::Read => 4,
        }
    }

    /// The status after a callback reporting `reported`, or `None` when it changes nothing.
    pub fn advance(self, reported: DeliveryStatus) -> Option<DeliveryStatus> {
        (reported.rank() > self.rank()).then_some(reported)
    }
}

/// The customer-service window: the providers let a business write freely for 24 hours after
/// the person's last message. After that WhatsApp accepts only approved templates, and
/// Messenger and Instagram accept a human agent's message (tag `HUMAN_AGENT`) for 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyWindow {
    Open { closes_at: DateTime<Utc> },
    HumanAgent { closes_at: DateTime<Utc> },
    TemplatesOnly,
    Closed,
}

pub const SERVICE_WINDOW_HOURS: i64 = 24;
pub const HUMAN_AGENT_WINDOW_DAYS: i64 = 7;

pub fn reply_window(
    provider: Provider,
    last_inbound: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ReplyWindow {
    let free_until = last_inbound.map(|t| t + Duration::hours(SERVICE_WINDOW_HOURS));
    match (provider, free_until) {
        (_, Some(closes_at)) if now < closes_at => ReplyWindow::Open { closes_at },
        (Provider::Whatsapp, _) => ReplyWindow::TemplatesOnly,
        (_, Some(_)) => {
            let closes_at = last_inbound.unwrap_or(now) + Duration::days(HUMAN_AGENT_WINDOW_DAYS);
            if now < closes_at {
                ReplyWindow::HumanAgent { closes_at }
            } else {
                ReplyWindow::Closed
            }
        }
        (_, None) => ReplyWindow::Closed,
    }
}

impl ReplyWindow {
    pub fn allows_text(self) -> bool {
        matches!(
            self,
            ReplyWindow::Open { .. } | ReplyWindow::HumanAgent { .. }
        )
    }

    /// Templates are a WhatsApp thing; they may be sent at any time.
    pub fn allows_template(self, provider: Provider) -> bool {
        provider == Provider::Whatsapp
    }
}

/// A WhatsApp message template approved by Meta, as configured. `{{1}}`, `{{2}}`… in its text
/// are its body parameters: atiende fills `{{1}}` with the incident's folio and, in survey
/// invitations, `{{2}}` with the survey link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    #[serde(default = "default_template_language")]
    pub language: String,
    /// The approved text, for the timeline and the console.
    pub text: String,
}

fn default_template_language() -> String {
    "es_MX".into()
}

impl Template {
    /// How many numbered parameters the text takes.
    pub fn parameter_count(&self) -> usize {
        (1..=9)
            .take_while(|n| self.text.contains(&format!("{{{{{n}}}}}")))
            .count()
    }

    /// The parameters to send: as many of `values` as the text takes.
    pub fn parameters(&self, values: &[String]) -> Vec<String> {
        values
            .iter()
            .take(self.parameter_count())
            .cloned()
            .collect()
    }

    /// The text the person receives.
    pub fn render(&self, values: &[String]) -> String {
        let mut text = self.text.clone();
        for (i, v) in values.iter().enumerate().take(self.parameter_count()) {
            text = text.replace(&format!("{{{{{}}}}}", i + 1), v);
        }
        text
    }
}

/// What an agent's reply asks the provider to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutgoingBody {
    Text {
        body: String,
        /// Messenger/Instagram outside the 24 hours: sent with the `HUMAN_AGENT` tag.
        human_agent: bool,
    },
    Template {
        name: String,
        language: String,
        /// Body parameters in order (the folio, when the template takes it).
        parameters: Vec<String>,
    },
    /// A file staff attached: uploaded to the provider when it leaves, then sent by the id the
    /// upload returns.
    Media {
        file: crate::attachment::OutgoingFile,
        /// As for text: Messenger/Instagram outside the 24 hours.
        human_agent: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap_or_default() + Duration::hours(hours)
    }

    #[test]
    fn whatsapp_allows_free_text_for_24_hours_after_the_persons_last_message() {
        let last = Some(at(0));
        assert!(reply_window(Provider::Whatsapp, last, at(23)).allows_text());
        let after = reply_window(Provider::Whatsapp, last, at(24));
        assert_eq!(after, ReplyWindow::TemplatesOnly);
        assert!(!after.allows_text());
        assert!(after.allows_template(Provider::Whatsapp));
    }

    #[test]
    fn whatsapp_without_any_message_from_the_person_allows_only_templates() {
        assert_eq!(
            reply_window(Provider::Whatsapp, None, at(0)),
            ReplyWindow::TemplatesOnly
        );
    }

    #[test]
    fn messenger_allows_a_human_agent_for_seven_days_then_nothing() {
        let last = Some(at(0));
        assert!(matches!(
            reply_window(Provider::Messenger, last, at(1)),
            ReplyWindow::Open { .. }
        ));
        let tagged = reply_window(Provider::Instagram, last, at(30));
        assert!(matches!(tagged, ReplyWindow::HumanAgent { .. }));
        assert!(tagged.allows_text());
        let closed = reply_window(Provider::Messenger, last, at(24 * 7));
        assert_eq!(closed, ReplyWindow::Closed);
        assert!(!closed.allows_template(Provider::Messenger));
    }

    #[test]
    fn delivery_status_only_moves_forward() {
        use DeliveryStatus::*;
        assert_eq!(Queued.advance(Sent), Some(Sent));
        assert_eq!(Sent.advance(Read), Some(Read));
        assert_eq!(Read.advance(Delivered), None);
        assert_eq!(Sent.advance(Failed), Some(Failed));
        assert_eq!(Delivered.advance(Failed), None);
        assert_eq!(Sent.advance(Sent), None);
    }

    #[test]
    fn media_location_and_replies_read_as_spanish_lines() {
        let media = ChatContent::Media {
            kind: "document".into(),
            source: MediaRef::GraphId("1".into()),
            mime_type: Some("application/pdf".into()),
            caption: Some("mi kárdex".into()),
            filename: Some("kardex.pdf".into()),
        };
        assert_eq!(media.timeline_text(), "[Archivo: kardex.pdf] mi kárdex");
        let place = ChatContent::Location {
            latitude: 20.67,
            longitude: -103.35,
            name: Some("CUCEA".into()),
            address: None,
        };
        assert!(
            place
                .timeline_text()
                .starts_with("[Ubicación] CUCEA — https://")
        );
        let reply = ChatContent::Reply {
            id: "b1".into(),
            title: "Sí, gracias".into(),
        };
        assert_eq!(reply.timeline_text(), "[Respuesta] Sí, gracias");
    }

    #[test]
    fn a_template_fills_its_numbered_parameters_where_its_text_says() {
        let t = Template {
            name: "seguimiento".into(),
            language: "es_MX".into(),
            text: "Su folio {{1}} tiene novedades.".into(),
        };
        assert_eq!(t.parameter_count(), 1);
        let values = [
            "CAP-2026-000001".to_string(),
            "https://x/encuesta/t".to_string(),
        ];
        assert_eq!(t.parameters(&values), vec!["CAP-2026-000001".to_string()]);
        assert_eq!(
            t.render(&values),
            "Su folio CAP-2026-000001 tiene novedades."
        );
        let survey = Template {
            text: "Folio {{1}}: califique la atención en {{2}}".into(),
            ..t
        };
        assert_eq!(
            survey.render(&values),
            "Folio CAP-2026-000001: califique la atención en https://x/encuesta/t"
        );
    }

    #[test]
    fn providers_map_to_the_procedures_channels_and_identifiers() {
        assert_eq!(Provider::Whatsapp.channel(), Channel::Whatsapp);
        assert_eq!(Provider::Instagram.channel(), Channel::Social);
        assert_eq!(
            Provider::Messenger.identifier_kind(),
            IdentifierKind::Facebook
        );
    }
}

//! Email as the procedure sees it: what a parsed message is, when it must never open an
//! incident (auto-replies, bounces, lists, our own mail), how a reply finds its incident, and
//! how our answers are threaded. Parsing and sending are done elsewhere.

use crate::folio::Folio;

/// A message as received, after MIME parsing.
#[derive(Debug, Clone, Default)]
pub struct InboundEmail {
    /// Without angle brackets. Synthesised from the content when the sender gave none, so a
    /// retried delivery of the same bytes is still recognised.
    pub message_id: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from_address: Option<String>,
    pub from_name: String,
    pub to: Vec<String>,
    pub subject: String,
    /// Plain text (converted from HTML when the message had only HTML).
    pub text: String,
    /// The HTML part as sent; sanitised only when shown.
    pub html: Option<String>,
    pub attachments: Vec<InboundAttachment>,
    pub automatic: AutomaticSigns,
    /// The message could not be parsed as MIME; it is kept and shown raw.
    pub malformed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct InboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub content_id: Option<String>,
    pub inline: bool,
    pub data: Vec<u8>,
}

/// Headers that mark mail written by a machine (RFC 3834, RFC 2369, bounces).
#[derive(Debug, Clone, Default)]
pub struct AutomaticSigns {
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub list_id: bool,
    pub x_autoreply: bool,
    pub empty_return_path: bool,
}

impl InboundEmail {
    /// Mail that must never open an incident nor get an automatic answer, so that two robots
    /// can never write to each other forever.
    pub fn is_automatic(&self, own_addresses: &[String]) -> bool {
        let a = &self.automatic;
        let auto_submitted = a
            .auto_submitted
            .as_deref()
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"));
        let bulk = a.precedence.as_deref().is_some_and(|p| {
            matches!(
                p.trim().to_ascii_lowercase().as_str(),
                "bulk" | "list" | "junk" | "auto_reply"
            )
        });
        let from = self
            .from_address
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let daemon = from.starts_with("mailer-daemon@") || from.starts_with("postmaster@");
        let own = own_addresses.iter().any(|o| o.eq_ignore_ascii_case(&from));
        auto_submitted || bulk || a.list_id || a.x_autoreply || a.empty_return_path || daemon || own
    }

    /// Every message id this one answers, nearest first.
    pub fn answered_ids(&self) -> Vec<&str> {
        self.in_reply_to
            .iter()
            .chain(self.references.iter().rev())
            .map(String::as_str)
            .collect()
    }
}

/// The first folio written in a subject, e.g. `Re: [CAP-2026-000123] Pago`.
pub fn folio_in_subject(subject: &str) -> Option<Folio> {
    let bytes = subject.as_bytes();
    let mut from = 0;
    while let Some(pos) = subject[from..].find("CAP-") {
        let start = from + pos;
        let rest = &subject[start..];
        let len = 9 + rest
            .as_bytes()
            .iter()
            .skip(9)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if rest.len() >= 15
            && bytes.get(start + 8) == Some(&b'-')
            && let Ok(folio) = rest[..len.min(rest.len())].parse::<Folio>()
        {
            return Some(folio);
        }
        from = start + 4;
    }
    None
}

/// The subject of our answers: the folio once, in brackets, so replies find their incident.
pub fn reply_subject(folio: &Folio, subject: &str) -> String {
    let mut base = subject.trim();
    loop {
        let lower = base.to_ascii_lowercase();
        if let Some(rest) = ["re:", "rv:", "fw:", "fwd:", "re :"]
            .iter()
            .find_map(|p| lower.starts_with(p).then(|| base[p.len()..].trim_start()))
        {
            base = rest;
        } else {
            break;
        }
    }
    let tag = format!("[{folio}]");
    let base = base.replace(&tag, "");
    let base = base.trim();
    if base.is_empty() {
        format!("Re: {tag}")
    } else {
        format!("Re: {tag} {base}")
    }
}

/// Removes line breaks and other control characters from text that goes into a header, so
/// that nothing a user typed can add a header.
pub fn header_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(from: &str) -> InboundEmail {
        InboundEmail {
            from_address: Some(from.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_folio_is_found_anywhere_in_the_subject() {
        let f = folio_in_subject("Re: [CAP-2026-000123] Pago de inscripción").expect("folio");
        assert_eq!(f.to_string(), "CAP-2026-000123");
        assert_eq!(
            folio_in_subject("RE: RE: CAP-2025-001234").map(|f| f.seq),
            Some(1234)
        );
        assert!(folio_in_subject("CAP-20-1 sin folio").is_none());
        assert!(folio_in_subject("Consulta sobre CAPTURA").is_none());
    }

    #[test]
    fn our_replies_carry_the_folio_once() {
        let folio = Folio { year: 2026, seq: 7 };
        assert_eq!(reply_subject(&folio, "Pago"), "Re: [CAP-2026-000007] Pago");
        assert_eq!(
            reply_subject(&folio, "RE: Re: [CAP-2026-000007] Pago"),
            "Re: [CAP-2026-000007] Pago"
        );
        assert_eq!(reply_subject(&folio, ""), "Re: [CAP-2026-000007]");
    }

    #[test]
    fn auto_replies_bounces_lists_and_our_own_mail_are_automatic() {
        let own = vec!["cap@udgvirtual.udg.mx".to_string()];
        assert!(!email("ana@gmail.com").is_automatic(&own));
        let mut ooo = email("ana@gmail.com");
        ooo.automatic.auto_submitted = Some("auto-replied".into());
        assert!(ooo.is_automatic(&own));
        let mut no = email("ana@gmail.com");
        no.automatic.auto_submitted = Some("no".into());
        assert!(!no.is_automatic(&own));
        let mut list = email("lista@udg.mx");
        list.automatic.list_id = true;
        assert!(list.is_automatic(&own));
        let mut bulk = email("news@udg.mx");
        bulk.automatic.precedence = Some("Bulk".into());
        assert!(bulk.is_automatic(&own));
        assert!(email("MAILER-DAEMON@mx.udg.mx").is_automatic(&own));
        assert!(email("CAP@udgvirtual.udg.mx").is_automatic(&own));
    }

    #[test]
    fn no_line_break_survives_into_a_header() {
        assert_eq!(
            header_safe("Pago\r\nBcc: intruso@x.com"),
            "Pago  Bcc: intruso@x.com"
        );
    }
}

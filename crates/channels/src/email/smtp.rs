//! Sending over SMTP (TLS, STARTTLS, or plain for a local server) with lettre. Every header is
//! built by lettre from checked values; text typed by people never reaches a header unfiltered.

use atiende_domain::email::header_safe;
use atiende_domain::secret::Secret;
use atiende_store::Store;
use atiende_store::email::Mailbox;
use atiende_store::outbox::OutgoingEmail;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::oauth::{TokenError, access_token};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message itself is wrong (an address that does not parse): retrying will not help.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// The server or the network failed: try again later.
    #[error("smtp: {0}")]
    Transport(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Invalid(_))
    }
}

/// `Auto-Submitted: auto-replied` (RFC 3834) on our automatic answers, so that other robots
/// do not answer them.
#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".into())
    }
}

fn angle(id: &str) -> String {
    format!("<{}>", header_safe(id).trim_matches(['<', '>']))
}

/// Builds the message: threaded (Message-ID, In-Reply-To, References), folio in the subject,
/// the files staff attached (`files`, the bytes of `out.files` in order) as attachments.
pub fn build(
    mailbox: &Mailbox,
    out: &OutgoingEmail,
    base_url: &str,
    files: &[Vec<u8>],
) -> Result<Message, SendError> {
    let from = format!("Centro de Atención Personalizada <{}>", mailbox.address)
        .parse()
        .map_err(|e| SendError::Invalid(format!("from: {e}")))?;
    let to = header_safe(&out.to)
        .parse()
        .map_err(|e| SendError::Invalid(format!("to {:?}: {e}", out.to)))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(header_safe(&out.subject))
        .message_id(Some(angle(&out.message_id)));
    if let Some(parent) = &out.in_reply_to {
        builder = builder.in_reply_to(angle(parent));
    }
    if !out.references.is_empty() {
        builder = builder.references(
            out.references
                .iter()
                .map(|r| angle(r))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if out.automatic {
        builder = builder.header(AutoSubmitted);
    }
    let mut text = out.text.clone();
    if let (true, Some(folio)) = (out.link_to_incident, &out.folio) {
        text.push_str(&format!(
            "\n\nVer el incidente: {}/incidentes/{folio}\n",
            base_url.trim_end_matches('/')
        ));
    }
    if out.files.is_empty() {
        return builder
            .header(ContentType::TEXT_PLAIN)
            .body(text)
            .map_err(|e| SendError::Invalid(e.to_string()));
    }
    if files.len() != out.files.len() || files.iter().any(Vec::is_empty) {
        // Suppressed with the person's data after the answer was queued.
        return Err(SendError::Invalid("an attached file has no content".into()));
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(text));
    for (file, data) in out.files.iter().zip(files) {
        let content_type = ContentType::parse(&file.content_type)
            .map_err(|e| SendError::Invalid(format!("content type: {e}")))?;
        // Always base64: a file that looks like text (a PDF's first lines) would otherwise go
        // as 7bit or quoted-printable, and mail servers turn its line ends into CRLF.
        let body = Body::new_with_encoding(data.clone(), ContentTransferEncoding::Base64)
            .map_err(|_| SendError::Invalid("attachment encoding".into()))?;
        parts =
            parts.singlepart(Attachment::new(header_safe(&file.filename)).body(body, content_type));
    }
    builder
        .multipart(parts)
        .map_err(|e| SendError::Invalid(e.to_string()))
}

/// TLS settings trusting the institution's certificate authorities too, if any were given.
fn extra_tls(host: &str) -> Result<Option<TlsParameters>, SendError> {
    let Some(pem) = super::trust::extra_pem() else {
        return Ok(None);
    };
    let cert = Certificate::from_pem(pem).map_err(|e| SendError::Transport(e.to_string()))?;
    TlsParameters::builder(host.to_string())
        .add_root_certificate(cert)
        .build_rustls()
        .map(Some)
        .map_err(|e| SendError::Transport(e.to_string()))
}

/// How the transport signs in: by password, or by an access token (XOAUTH2).
enum SignIn<'a> {
    Password,
    Token(&'a Secret),
}

fn transport(
    mailbox: &Mailbox,
    sign_in: SignIn<'_>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let host = mailbox.smtp_host.as_str();
    let port =
        u16::try_from(mailbox.smtp_port).map_err(|_| SendError::Invalid("smtp port".into()))?;
    let builder = match mailbox.smtp_security.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
            .map_err(|e| SendError::Transport(e.to_string()))?,
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
            .map_err(|e| SendError::Transport(e.to_string()))?,
        _ => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let builder = builder
        .port(port)
        .timeout(Some(std::time::Duration::from_secs(30)));
    // The institution's own certificate authority, when its server's certificate is one of
    // theirs (the public ones are trusted already).
    let builder = match (extra_tls(host)?, mailbox.smtp_security.as_str()) {
        (Some(params), "tls") => builder.tls(Tls::Wrapper(params)),
        (Some(params), "starttls") => builder.tls(Tls::Required(params)),
        _ => builder,
    };
    let builder = match sign_in {
        SignIn::Token(token) => builder
            .credentials(Credentials::new(
                submission_user(mailbox).to_string(),
                token.expose().to_string(),
            ))
            .authentication(vec![Mechanism::Xoauth2]),
        SignIn::Password if mailbox.smtp_user.is_empty() => builder,
        SignIn::Password => builder.credentials(Credentials::new(
            mailbox.smtp_user.clone(),
            mailbox.smtp_password.expose().to_string(),
        )),
    };
    Ok(builder.build())
}

/// The account a token signs in as on submission: the SMTP user, or the IMAP one (the same
/// account, for a mailbox connected once).
fn submission_user(mailbox: &Mailbox) -> &str {
    if mailbox.smtp_user.is_empty() {
        &mailbox.imap_user
    } else {
        &mailbox.smtp_user
    }
}

/// Sends one message through the mailbox's SMTP server, signing in by password or by token
/// (a token the server refuses is replaced by a fresh one once).
pub async fn send(
    store: &Store,
    mailbox: &Mailbox,
    out: &OutgoingEmail,
    base_url: &str,
) -> Result<(), SendError> {
    let mut files = Vec::with_capacity(out.files.len());
    for file in &out.files {
        files.push(
            store
                .outgoing_file_data(file)
                .await
                .map_err(|e| SendError::Transport(e.to_string()))?,
        );
    }
    let message = build(mailbox, out, base_url, &files)?;
    if mailbox.smtp_host.is_empty() {
        return Err(SendError::Transport(format!(
            "mailbox {} has no SMTP server",
            mailbox.name
        )));
    }
    if !mailbox.auth.uses_oauth() {
        return transport(mailbox, SignIn::Password)?
            .send(message)
            .await
            .map(drop)
            .map_err(|e| SendError::Transport(e.to_string()));
    }
    let token = access_token(store, mailbox, None).await?;
    match transport(mailbox, SignIn::Token(&token))?
        .send(message.clone())
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if token_refused(&e) => {
            tracing::info!(mailbox.name = %mailbox.name, "SMTP refused the access token; refreshing it");
            let fresh = access_token(store, mailbox, Some(&token)).await?;
            transport(mailbox, SignIn::Token(&fresh))?
                .send(message)
                .await
                .map(drop)
                .map_err(|e| SendError::Transport(e.to_string()))
        }
        Err(e) => Err(SendError::Transport(e.to_string())),
    }
}

/// Whether the server refused the token, not the message: a 535 (or 534/530/454) answer to
/// AUTH, or the error challenge XOAUTH2 servers send before refusing, which the SMTP client
/// cannot answer (it takes no challenge for that mechanism) and reports as its own error.
fn token_refused(e: &lettre::transport::smtp::Error) -> bool {
    let refused_code = e
        .status()
        .is_some_and(|c| matches!(c.to_string().as_str(), "535" | "534" | "530" | "454"));
    refused_code || (e.is_client() && e.to_string().contains("challenge"))
}

impl From<TokenError> for SendError {
    fn from(e: TokenError) -> Self {
        SendError::Transport(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atiende_domain::classification::Channel;

    fn mailbox() -> Mailbox {
        Mailbox {
            id: 1,
            name: "CAP".into(),
            address: "cap@udgvirtual.udg.mx".into(),
            channel: Channel::Email,
            imap_host: String::new(),
            imap_port: 993,
            imap_security: "tls".into(),
            imap_user: String::new(),
            imap_password: Default::default(),
            imap_folder: "INBOX".into(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_security: "starttls".into(),
            smtp_user: String::new(),
            smtp_password: Default::default(),
            auth: Default::default(),
            oauth: Default::default(),
            oauth_client_secret: Default::default(),
            grant: atiende_domain::mail_auth::GrantState::NotUsed,
            oauth_connected_by: String::new(),
            oauth_connected_at: None,
            acknowledge: true,
            active: true,
            uidvalidity: None,
            last_uid: 0,
            last_polled_at: None,
            last_error: None,
        }
    }

    fn reply() -> OutgoingEmail {
        OutgoingEmail {
            mailbox_id: 1,
            to: "ana@gmail.com".into(),
            subject: "Re: [CAP-2026-000001] Pago".into(),
            text: "Hola Ana".into(),
            message_id: "x1.cap-2026-000001@udgvirtual.udg.mx".into(),
            in_reply_to: Some("orig@gmail.com".into()),
            references: vec!["first@gmail.com".into(), "orig@gmail.com".into()],
            folio: Some("CAP-2026-000001".into()),
            automatic: false,
            link_to_incident: false,
            one_time_link: None,
            files: Vec::new(),
        }
    }

    fn headers(m: &Message) -> String {
        let raw = String::from_utf8_lossy(&m.formatted()).into_owned();
        raw.split("\r\n\r\n").next().unwrap_or("").to_string()
    }

    #[test]
    fn a_reply_is_threaded_under_the_users_message() {
        let h = headers(&build(&mailbox(), &reply(), "http://x", &[]).expect("builds"));
        assert!(
            h.contains("Message-ID: <x1.cap-2026-000001@udgvirtual.udg.mx>"),
            "{h}"
        );
        assert!(h.contains("In-Reply-To: <orig@gmail.com>"), "{h}");
        assert!(
            h.contains("References: <first@gmail.com> <orig@gmail.com>"),
            "{h}"
        );
        assert!(h.contains("Subject: Re: [CAP-2026-000001] Pago"), "{h}");
        assert!(!h.contains("Auto-Submitted"));
    }

    #[test]
    fn our_automatic_answers_say_so() {
        let mut ack = reply();
        ack.automatic = true;
        assert!(
            headers(&build(&mailbox(), &ack, "http://x", &[]).expect("builds"))
                .contains("Auto-Submitted: auto-replied")
        );
    }

    #[test]
    fn a_line_break_in_a_subject_or_address_cannot_add_a_header() {
        let mut evil = reply();
        evil.subject = "Pago\r\nBcc: intruso@evil.com".into();
        let h = headers(&build(&mailbox(), &evil, "http://x", &[]).expect("builds"));
        assert!(
            !h.lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{h}"
        );
        let mut evil_to = reply();
        evil_to.to = "ana@gmail.com\r\nBcc: intruso@evil.com".into();
        match build(&mailbox(), &evil_to, "http://x", &[]) {
            Err(e) => assert!(e.is_permanent()),
            Ok(m) => assert!(
                !headers(&m).to_ascii_lowercase().contains("bcc:"),
                "{}",
                headers(&m)
            ),
        }
        let mut evil_id = reply();
        evil_id.in_reply_to = Some("a@b>\r\nBcc: intruso@evil.com".into());
        let h = headers(&build(&mailbox(), &evil_id, "http://x", &[]).expect("builds"));
        assert!(
            !h.lines()
                .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
            "{h}"
        );
    }
}

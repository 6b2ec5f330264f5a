//! The Graph API over HTTP: sending messages and downloading media. The base URL comes from the
//! configuration, so tests point it at a local stand-in that speaks the same protocol.

use std::time::Duration;

use atiende_domain::attachment::OutgoingFile;
use atiende_domain::chat::{MediaRef, OutgoingBody, Provider};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{messenger, whatsapp};

/// Largest media file downloaded.
pub const MAX_MEDIA_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The provider refused the request for good (bad recipient, policy): retrying will not help.
    #[error("refused by the provider: {0}")]
    Refused(String),
    /// The provider refused our token (HTTP 401 or 403): every message of the account will
    /// be refused until an administrator renews it.
    #[error("refused by the provider: {0}")]
    Unauthorized(String),
    /// Network trouble, rate limits or a server error: try again later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Rate limited or unavailable, and the provider said when to come back (`Retry-After`).
    #[error("temporary failure: {message}")]
    Throttled {
        message: String,
        retry_after: Duration,
    },
}

impl GraphError {
    /// Whether the failure is the provider's or the account's rather than one message's: the
    /// channel's health shows it.
    pub fn is_outage(&self) -> bool {
        !matches!(self, GraphError::Refused(_))
    }
}

/// The longest wait a `Retry-After` may ask for; a longer one is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A client of one Graph API base URL.
#[derive(Clone)]
pub struct Graph {
    base: String,
    agent: ureq::Agent,
}

/// How long a request to the Graph API may take in all before it is given up and retried
/// later.
const TIMEOUT: Duration = Duration::from_secs(30);

impl Graph {
    pub fn new(base_url: &str) -> Graph {
        Graph::with_timeout(base_url, TIMEOUT)
    }

    /// A client whose requests are given up after `timeout` (tests of a provider that hangs).
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Graph {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Graph {
            base: base_url.trim_end_matches('/').to_string(),
            agent,
        }
    }

    /// Sends a message from one of our accounts and returns the provider's message id (the last
    /// one, when a long text went in parts).
    pub async fn send(
        &self,
        token: &str,
        provider: Provider,
        account_id: &str,
        to: &str,
        body: &OutgoingBody,
    ) -> Result<String, GraphError> {
        let url = format!("{}/{}/messages", self.base, segment(account_id)?);
        let bodies = match provider {
            Provider::Whatsapp => Some(whatsapp::send_body(to, body))
                .filter(|b| !b.is_null())
                .into_iter()
                .collect(),
            Provider::Messenger | Provider::Instagram => messenger::send_bodies(to, body),
        };
        if bodies.is_empty() {
            return Err(GraphError::Refused(
                "nothing this provider takes as a message (a template outside WhatsApp, or a file not uploaded)".into(),
            ));
        }
        let mut last = String::new();
        for b in bodies {
            let answer: Value = self.json(&url, token, Some(b)).await?;
            last = match provider {
                Provider::Whatsapp => answer["messages"][0]["id"].as_str(),
                _ => answer["message_id"].as_str(),
            }
            .ok_or_else(|| GraphError::Temporary(format!("no message id in {answer}")))?
            .to_string();
        }
        Ok(last)
    }

    /// Sends a one-time code in an authentication template from one of our WhatsApp numbers.
    /// Returns the provider's message id.
    pub async fn send_whatsapp_code(
        &self,
        token: &str,
        account_id: &str,
        to: &str,
        template: &atiende_domain::chat::Template,
        code: &str,
    ) -> Result<String, GraphError> {
        let url = format!("{}/{}/messages", self.base, segment(account_id)?);
        let body = whatsapp::code_body(to, &template.name, &template.language, code);
        let answer: Value = self.json(&url, token, Some(body)).await?;
        answer["messages"][0]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| GraphError::Temporary(format!("no message id in {answer}")))
    }

    /// Sends a file staff attached: uploaded first (WhatsApp: `/{phone-number-id}/media`;
    /// Messenger and Instagram: `/{id}/message_attachments`), then sent by the id the upload
    /// returns. Returns the provider's message id.
    #[allow(clippy::too_many_arguments)]
    pub async fn send_media(
        &self,
        token: &str,
        provider: Provider,
        account_id: &str,
        to: &str,
        file: &OutgoingFile,
        human_agent: bool,
        data: Vec<u8>,
    ) -> Result<String, GraphError> {
        if data.is_empty() {
            // Suppressed with the person's data, or never kept.
            return Err(GraphError::Refused(format!(
                "{} has no content",
                file.filename
            )));
        }
        let account = segment(account_id)?;
        let (url, fields, file_field) = match provider {
            Provider::Whatsapp => (
                format!("{}/{account}/media", self.base),
                vec![
                    ("messaging_product", "whatsapp".to_string()),
                    ("type", file.content_type.clone()),
                ],
                "file",
            ),
            Provider::Messenger | Provider::Instagram => {
                let mut fields = vec![(
                    "message",
                    json!({ "attachment": {
                        "type": messenger::attachment_type(file.kind),
                        "payload": { "is_reusable": false },
                    } })
                    .to_string(),
                )];
                if provider == Provider::Instagram {
                    fields.push(("platform", "instagram".to_string()));
                }
                (
                    format!("{}/{account}/message_attachments", self.base),
                    fields,
                    "filedata",
                )
            }
        };
        let agent = self.agent.clone();
        let auth = format!("Bearer {token}");
        let (filename, content_type) = (file.filename.clone(), file.content_type.clone());
        let uploaded: Value = blocking(move || {
            let mut form = ureq::unversioned::multipart::Form::new();
            for (name, value) in &fields {
                form = form.text(name, value);
            }
            let part = ureq::unversioned::multipart::Part::bytes(&data)
                .file_name(&filename)
                .mime_str(&content_type)
                .map_err(|e| GraphError::Refused(format!("content type: {e}")))?;
            form = form.part(file_field, part);
            let mut resp = agent
                .post(&url)
                .header("Authorization", &auth)
                .send(form)
                .map_err(|e| GraphError::Temporary(e.to_string()))?;
            check(&mut resp)?;
            resp.body_mut()
                .read_json::<Value>()
                .map_err(|e| GraphError::Temporary(e.to_string()))
        })
        .await?;
        let id_field = match provider {
            Provider::Whatsapp => "id",
            _ => "attachment_id",
        };
        let media_id = uploaded[id_field]
            .as_str()
            .ok_or_else(|| GraphError::Temporary(format!("no {id_field} in {uploaded}")))?
            .to_string();
        let url = format!("{}/{account}/messages", self.base);
        let body = match provider {
            Provider::Whatsapp => whatsapp::media_body(to, file, &media_id),
            _ => messenger::media_body(to, file.kind, &media_id, human_agent),
        };
        let answer: Value = self.json(&url, token, Some(body)).await?;
        match provider {
            Provider::Whatsapp => answer["messages"][0]["id"].as_str(),
            _ => answer["message_id"].as_str(),
        }
        .map(str::to_string)
        .ok_or_else(|| GraphError::Temporary(format!("no message id in {answer}")))
    }

    /// A person's name from their page-scoped profile (Messenger: first and last name;
    /// Instagram: name, else username).
    pub async fn profile_name(
        &self,
        token: &str,
        provider: Provider,
        peer_id: &str,
    ) -> Result<String, GraphError> {
        let fields = match provider {
            Provider::Instagram => "name,username",
            _ => "first_name,last_name",
        };
        let url = format!("{}/{}?fields={fields}", self.base, segment(peer_id)?);
        let profile: Value = self.json(&url, token, None).await?;
        let text = |k: &str| profile[k].as_str().unwrap_or_default().trim().to_string();
        let name = match provider {
            Provider::Instagram => Some(text("name"))
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| text("username")),
            _ => format!("{} {}", text("first_name"), text("last_name"))
                .trim()
                .to_string(),
        };
        Ok(name)
    }

    /// Downloads media: a WhatsApp media id is first resolved to its URL through the Graph API
    /// (both requests carry the token); a Messenger URL is fetched as it is.
    pub async fn fetch_media(
        &self,
        token: &str,
        source: &MediaRef,
    ) -> Result<(String, Vec<u8>), GraphError> {
        match source {
            MediaRef::GraphId(id) => {
                let url = format!("{}/{}", self.base, segment(id)?);
                let info: Value = self.json(&url, token, None).await?;
                let media_url = info["url"]
                    .as_str()
                    .ok_or_else(|| GraphError::Refused(format!("no url in {info}")))?
                    .to_string();
                self.get_bytes(media_url, Some(token.to_string())).await
            }
            MediaRef::Url(url) => self.get_bytes(url.clone(), None).await,
        }
    }

    /// A JSON request with the token: a POST of `body`, or a GET without one.
    async fn json<T: DeserializeOwned + Send + 'static>(
        &self,
        url: &str,
        token: &str,
        body: Option<Value>,
    ) -> Result<T, GraphError> {
        let agent = self.agent.clone();
        let (url, auth) = (url.to_string(), format!("Bearer {token}"));
        blocking(move || {
            let mut resp = match body {
                Some(body) => agent
                    .post(&url)
                    .header("Authorization", &auth)
                    .send_json(&body),
                None => agent.get(&url).header("Authorization", &auth).call(),
            }
            .map_err(|e| GraphError::Temporary(e.to_string()))?;
            check(&mut resp)?;
            resp.body_mut()
                .read_json::<T>()
                .map_err(|e| GraphError::Temporary(e.to_string()))
        })
        .await
    }

    async fn get_bytes(
        &self,
        url: String,
        token: Option<String>,
    ) -> Result<(String, Vec<u8>), GraphError> {
        let agent = self.agent.clone();
        blocking(move || {
            let mut req = agent.get(&url);
            if let Some(t) = token {
                req = req.header("Authorization", &format!("Bearer {t}"));
            }
            let mut resp = req
                .call()
                .map_err(|e| GraphError::Temporary(e.to_string()))?;
            check(&mut resp)?;
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = resp
                .body_mut()
                .with_config()
                .limit(MAX_MEDIA_BYTES)
                .read_to_vec()
                .map_err(|e| GraphError::Refused(format!("media: {e}")))?;
            Ok((content_type, bytes))
        })
        .await
    }
}

/// An id used as a path segment: the configuration and webhooks give digits and letters; a
/// slash or a dot-dot would reach another endpoint.
fn segment(id: &str) -> Result<&str, GraphError> {
    if !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(id)
    } else {
        Err(GraphError::Refused(format!("bad id {id:?}")))
    }
}

/// 4xx (other than 429) means the request itself is wrong; the rest may pass later.
fn check(resp: &mut ureq::http::Response<ureq::Body>) -> Result<(), GraphError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let text = resp
        .body_mut()
        .with_config()
        .limit(4096)
        .read_to_string()
        .unwrap_or_default();
    let message = format!("HTTP {status}: {text}");
    if let Some(retry_after) = retry_after(resp).filter(|_| status == 429 || status == 503) {
        return Err(GraphError::Throttled {
            message,
            retry_after,
        });
    }
    match status {
        401 | 403 => Err(GraphError::Unauthorized(message)),
        408 | 429 => Err(GraphError::Temporary(message)),
        400..500 => Err(GraphError::Refused(message)),
        _ => Err(GraphError::Temporary(message)),
    }
}

/// A response's `Retry-After`, in seconds (the form Meta's API uses) or as an HTTP date.
fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<Duration> {
    let value = resp.headers().get("retry-after")?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GraphError> + Send + 'static,
) -> Result<T, GraphError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| GraphError::Temporary(e.to_string()))?
}

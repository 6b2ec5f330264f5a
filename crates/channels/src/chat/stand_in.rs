//! A local server speaking the Graph API's documented protocol, for tests and demos: it takes
//! sends at `POST /{version}/{id}/messages` and answers as WhatsApp or Messenger does, resolves
//! WhatsApp media ids at `GET /{version}/{media-id}` and serves the bytes, answers page-scoped
//! profiles at `GET /{version}/{psid}`, takes files at `POST /{version}/{id}/media` (WhatsApp) and
//! `/message_attachments` (Messenger, Instagram), and serves direct
//! attachment URLs as Messenger's CDN does. Every request must carry a bearer token, as the
//! real API requires. Recipients `400…` and `500…` make the provider refuse or fail, to test
//! what atiende does then; [`Trouble`] makes every send fail, throttle, hang or answer late,
//! as an outage does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const VERSION: &str = "v21.0";

/// A request the stand-in received at a send endpoint.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The account the message was sent from (phone-number id, page id, Instagram id).
    pub account: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A file the stand-in received at an upload endpoint (WhatsApp's `/media`, Messenger's and
/// Instagram's `/message_attachments`).
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub account: String,
    /// `media` or `message_attachments`.
    pub endpoint: String,
    /// The form's text fields.
    pub fields: HashMap<String, String>,
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// The id the stand-in answered with.
    pub id: String,
}

/// How the stand-in answers every send, to make an outage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trouble {
    #[default]
    None,
    /// 500, as during an outage.
    Failing,
    /// 429 with `Retry-After` in seconds, as when the application's rate limit is reached.
    Throttling(u64),
    /// Accepts the request and never answers.
    Hanging,
    /// Takes the message, but answers only after this long.
    Slow(std::time::Duration),
}

#[derive(Default)]
struct Inner {
    trouble: Trouble,
    sent: Vec<Sent>,
    uploads: Vec<Uploaded>,
    media: HashMap<String, (String, Vec<u8>)>,
    profiles: HashMap<String, Value>,
    base: String,
    /// Tells this stand-in's message ids from an earlier one's (Meta's ids never repeat; a
    /// benchmark reusing a database meets the ids an earlier run stored).
    run: i64,
}

#[derive(Clone)]
pub struct GraphStandIn {
    /// What atiende's `graph_url` is set to: the server's address plus the version.
    pub graph_url: String,
    inner: Arc<Mutex<Inner>>,
}

impl GraphStandIn {
    /// Starts the server on a free loopback port; it runs until the runtime stops.
    pub async fn start() -> GraphStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Graph stand-in");
        let addr = listener.local_addr().expect("address");
        let base = format!("http://{addr}");
        let inner = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            run: chrono::Utc::now().timestamp_micros(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/{version}/{id}/messages", post(send))
            .route("/{version}/{id}/media", post(upload_media))
            .route(
                "/{version}/{id}/message_attachments",
                post(upload_attachment),
            )
            .route("/{version}/{id}", get(media_info))
            .route("/media/{id}", get(media_bytes))
            .route("/cdn/{id}", get(cdn))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GraphStandIn {
            graph_url: format!("{base}/{VERSION}"),
            inner,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes a media id (WhatsApp) or a CDN name (Messenger) downloadable.
    pub fn add_media(&self, id: &str, content_type: &str, bytes: &[u8]) {
        self.lock()
            .media
            .insert(id.to_string(), (content_type.to_string(), bytes.to_vec()));
    }

    /// A page-scoped profile, as `GET /{psid}?fields=…` answers it.
    pub fn add_profile(&self, psid: &str, profile: Value) {
        self.lock().profiles.insert(psid.to_string(), profile);
    }

    /// The direct URL Messenger would put in an attachment's payload.
    pub fn cdn_url(&self, id: &str) -> String {
        format!("{}/cdn/{id}", self.lock().base)
    }

    /// How every send is answered from now on.
    pub fn set_trouble(&self, trouble: Trouble) {
        self.lock().trouble = trouble;
    }

    pub fn sent(&self) -> Vec<Sent> {
        self.lock().sent.clone()
    }

    pub fn uploads(&self) -> Vec<Uploaded> {
        self.lock().uploads.clone()
    }
}

/// Takes a file as the upload endpoints do (a multipart form with the bytes in `file` on
/// WhatsApp, `filedata` on Messenger) and answers with an id to send it by.
async fn upload_media(
    State(inner): State<Shared>,
    Path((_version, account)): Path<(String, String)>,
    headers: HeaderMap,
    form: axum::extract::Multipart,
) -> Response {
    upload(inner, account, "media", headers, form).await
}

async fn upload_attachment(
    State(inner): State<Shared>,
    Path((_version, account)): Path<(String, String)>,
    headers: HeaderMap,
    form: axum::extract::Multipart,
) -> Response {
    upload(inner, account, "message_attachments", headers, form).await
}

async fn upload(
    inner: Shared,
    account: String,
    endpoint: &str,
    headers: HeaderMap,
    mut form: axum::extract::Multipart,
) -> Response {
    if bearer(&headers).is_none() {
        return oauth_error();
    }
    let mut fields = HashMap::new();
    let mut file = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(filename) => {
                let content_type = field.content_type().unwrap_or_default().to_string();
                let bytes = field.bytes().await.unwrap_or_default().to_vec();
                file = Some((name, filename, content_type, bytes));
            }
            None => {
                fields.insert(name, field.text().await.unwrap_or_default());
            }
        }
    }
    let expected = if endpoint == "media" {
        "file"
    } else {
        "filedata"
    };
    let Some((_, filename, content_type, bytes)) = file.filter(|f| f.0 == expected) else {
        let body = json!({ "error": { "message": format!("(#100) The parameter {expected} is required"), "type": "OAuthException", "code": 100 } });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    let id = format!("upload.standin{}", inner.uploads.len() + 1);
    inner.uploads.push(Uploaded {
        account,
        endpoint: endpoint.to_string(),
        fields,
        filename,
        content_type,
        bytes,
        id: id.clone(),
    });
    let answer = if endpoint == "media" {
        json!({ "id": id })
    } else {
        json!({ "attachment_id": id })
    };
    axum::Json(answer).into_response()
}

type Shared = Arc<Mutex<Inner>>;

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("Bearer ") && v.len() > 7)
        .map(str::to_string)
}

fn oauth_error() -> Response {
    let body = json!({ "error": { "message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190 } });
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

async fn send(
    State(inner): State<Shared>,
    Path((_version, account)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let Some(auth) = bearer(&headers) else {
        return oauth_error();
    };
    let trouble = inner.lock().unwrap_or_else(|p| p.into_inner()).trouble;
    match trouble {
        Trouble::None => {}
        Trouble::Failing => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "unavailable").into_response();
        }
        Trouble::Throttling(seconds) => {
            let body = json!({ "error": { "message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4 } });
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, seconds.to_string())],
                axum::Json(body),
            )
                .into_response();
        }
        Trouble::Hanging => {
            std::future::pending::<()>().await;
        }
        Trouble::Slow(delay) => tokio::time::sleep(delay).await,
    }
    let whatsapp = body["messaging_product"] == "whatsapp";
    let to = if whatsapp {
        body["to"].as_str()
    } else {
        body["recipient"]["id"].as_str()
    }
    .unwrap_or_default()
    .to_string();
    if to.starts_with("400") {
        let body = json!({ "error": { "message": "(#131026) Message undeliverable", "type": "OAuthException", "code": 131026 } });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    if to.starts_with("500") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "unavailable").into_response();
    }
    let n = {
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.sent.push(Sent {
            account,
            authorization: Some(auth),
            body: body.clone(),
        });
        format!("{}-{}", inner.run, inner.sent.len())
    };
    let answer = if whatsapp {
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": to }],
            "messages": [{ "id": format!("wamid.standin{n}") }]
        })
    } else {
        json!({ "recipient_id": to, "message_id": format!("m_standin{n}") })
    };
    axum::Json(answer).into_response()
}

async fn media_info(
    State(inner): State<Shared>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if bearer(&headers).is_none() {
        return oauth_error();
    }
    let inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(profile) = inner.profiles.get(&id) {
        return axum::Json(profile.clone()).into_response();
    }
    match inner.media.get(&id) {
        Some((content_type, bytes)) => axum::Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}/media/{id}", inner.base),
            "mime_type": content_type,
            "file_size": bytes.len(),
            "id": id,
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "unknown media").into_response(),
    }
}

fn bytes_of(inner: &Shared, id: &str) -> Response {
    let inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    match inner.media.get(id) {
        Some((content_type, bytes)) => (
            [(header::CONTENT_TYPE, content_type.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "unknown media").into_response(),
    }
}

/// WhatsApp media URLs need the token too.
async fn media_bytes(
    State(inner): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if bearer(&headers).is_none() {
        return oauth_error();
    }
    bytes_of(&inner, &id)
}

async fn cdn(State(inner): State<Shared>, Path(id): Path<String>) -> Response {
    bytes_of(&inner, &id)
}

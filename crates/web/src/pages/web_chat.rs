//! The web chat for the university's sites: one `<script src="…/chat/widget.js">` (served
//! here, no third-party code) puts a button on the page that opens a form and then a live
//! conversation with the CAP. The widget speaks JSON to the endpoints below (errors in the
//! API's envelope) and reads a stream of events for the CAP's answers, an agent typing and
//! the closing — read from the database, so an answer written on any instance reaches a
//! widget connected to any other. Outside business hours (the service levels' calendar) the
//! form takes a message that becomes an incident answered later.
//!
//! Other sites may call these endpoints only from the origins configured
//! (`web_chat_origins`, CORS); the widget holds its conversation with a bearer token, never a
//! cookie, so no other page can act in its name. Starting conversations is counted per
//! client, messages per conversation, streams per conversation.

use std::convert::Infallible;
use std::time::Duration;

use atiende_domain::classification::{Lang, UserType};
use atiende_domain::ids::TopicId;
use atiende_store::portal::PortalMessage;
use atiende_store::web_chat::{WebChat, WebChatStart};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use serde_json::json;

use super::public::simplified_notice;
use crate::AppState;
use crate::error::{AppError, request_lang_of};
use crate::extract::{Json, Query};
use crate::i18n::Tr;
use crate::quota::Permit;
use crate::rate_limit::ClientAddr;

const WIDGET: &str = include_str!("../../assets/widget.js");

/// Streams one conversation may hold open on one instance (a few tabs of the site).
pub const STREAMS_PER_CHAT: usize = 3;
/// Streams all conversations may hold open on one instance.
pub const STREAMS_IN_ALL: usize = 2_000;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/chat/widget.js", get(widget))
        .route("/chat", get(demo_page))
        .route("/chat/inicio", get(start_info))
        .route("/chat/conversaciones", post(start))
        .route("/chat/conversacion", get(conversation))
        .route("/chat/mensajes", post(say))
        .route("/chat/escribiendo", post(typing))
        .route("/chat/fin", post(end))
        .route("/chat/eventos", get(events))
        .layer(cors(state))
}

/// CORS for the configured origins only: their pages may call the endpoints with a bearer
/// token and JSON; any other origin's page gets no answer it can read and cannot send JSON
/// (the browser's preflight is refused). The widget's script itself is loaded by `<script>`,
/// which needs no CORS.
fn cors(state: &AppState) -> tower_http::cors::CorsLayer {
    let origins: Vec<HeaderValue> = state
        .config
        .web_chat_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

/// The widget's script: other sites load it, so it may be read across origins.
async fn widget() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        WIDGET,
    )
        .into_response()
}

#[derive(askama::Template)]
#[template(path = "web_chat.html")]
struct DemoPage {
    t: Tr,
    lang: Lang,
}

/// A page of atiende's own with the widget on it, under the console's security policy: for
/// a person sent here by a link, and to try the widget before it goes on the university's
/// sites.
async fn demo_page(headers: HeaderMap) -> Response {
    let lang = request_lang_of(&headers);
    super::render(&DemoPage { t: Tr(lang), lang }).into_response()
}

/// Whether a live conversation is offered now: within the service levels' business hours.
async fn open_now(state: &AppState) -> Result<bool, AppError> {
    let calendar = state.store.business_calendar().await?;
    Ok(calendar.is_open(chrono::Utc::now(), state.store.time_zone()))
}

/// What the widget's form needs, in the visitor's language: whether agents are online, the
/// privacy notice, the topics and user types, and its words.
async fn start_info(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let lang = crate::error::request_lang_of(&headers);
    let t = Tr(lang);
    let (notice_id, notice) = simplified_notice(&state).await;
    let topics: Vec<_> = state
        .store
        .topics()
        .await?
        .into_iter()
        .filter(|topic| topic.active)
        .map(|topic| json!({"id": topic.id.0, "name": topic.name}))
        .collect();
    let user_types: Vec<_> = UserType::of_people()
        .map(|u| json!({"code": u.code(), "label": u.label(lang)}))
        .collect();
    let texts = json!({
        "open": t.s("Chatee con nosotros"),
        "title": t.s("Centro de Atención Personalizada"),
        "online": t.s("Le atendemos en línea. Escríbanos y un agente le responderá en unos momentos."),
        "offline": t.s("Ahora no hay agentes en línea. Déjenos su mensaje y le responderemos en horario de atención."),
        "name": t.s("Nombre"),
        "email": t.s("Correo electrónico"),
        "phone": t.s("Teléfono"),
        "contact_hint": t.s("Déjenos su correo o su teléfono para responderle."),
        "user_type": t.s("Usted es"),
        "topic": t.s("Tema"),
        "choose": t.s("Elija una opción"),
        "message": t.s("Mensaje"),
        "privacy": t.s("Aviso de privacidad integral"),
        "start": t.s("Iniciar conversación"),
        "leave": t.s("Enviar mensaje"),
        "send": t.s("Enviar"),
        "your_message": t.s("Escriba su mensaje"),
        "you": t.s("Usted"),
        "cap": t.s("Centro de Atención Personalizada"),
        "typing": t.s("está escribiendo…"),
        "agent": t.s("Un agente"),
        "folio": t.s("Su folio es"),
        "left": t.s("Recibimos su mensaje. Le responderemos por correo o teléfono en horario de atención."),
        "closed": t.s("La conversación terminó. Le enviamos una copia a su correo."),
        "end": t.s("Terminar conversación"),
        "ended": t.s("Terminó la conversación. Le responderemos por correo si hace falta."),
        "close": t.s("Cerrar"),
        "error": t.s("No pudimos enviar su mensaje. Intente de nuevo."),
    });
    Ok(axum::Json(json!({
        "open": open_now(&state).await?,
        "lang": lang.code(),
        "privacy_notice_id": notice_id,
        "privacy_notice": notice,
        "privacy_url": format!("{}/aviso-de-privacidad", state.config.base_url.trim_end_matches('/')),
        "topics": topics,
        "user_types": user_types,
        "texts": texts,
    }))
    .into_response())
}

#[derive(serde::Deserialize)]
struct StartBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    user_type: Option<UserType>,
    #[serde(default)]
    topic_id: Option<i64>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    privacy_notice_id: Option<i64>,
}

/// The form sent: an incident on channel chat web. Within business hours the answer carries
/// the conversation's token (shown once); outside them, only the folio.
async fn start(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    Json(body): Json<StartBody>,
) -> Result<Response, AppError> {
    if !state.public_limiter.check(&format!("chat:{address}")) {
        return Err(AppError::RateLimited);
    }
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let live = open_now(&state).await?;
    let opened = state
        .store
        .start_web_chat(&WebChatStart {
            name: body.name,
            email: body.email,
            phone: body.phone,
            user_type: body.user_type,
            topic_id: body.topic_id.map(TopicId),
            message: body.message,
            privacy_notice_id: body.privacy_notice_id,
            origin,
            live,
        })
        .await?;
    let folio = opened.incident.folio.to_string();
    if !live {
        // Nobody to chat with: the message waits as an incident, answered by email.
        return Ok((
            StatusCode::CREATED,
            axum::Json(json!({"folio": folio, "live": false})),
        )
            .into_response());
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"folio": folio, "live": true, "token": opened.token})),
    )
        .into_response())
}

/// The conversation the request's bearer token opens.
async fn chat_of(state: &AppState, headers: &HeaderMap) -> Result<WebChat, AppError> {
    let token = crate::auth::bearer(headers).ok_or(AppError::Unauthorized)?;
    state
        .store
        .web_chat(token)
        .await?
        .ok_or(AppError::Unauthorized)
}

fn message_json(m: &PortalMessage, tz: chrono_tz::Tz) -> serde_json::Value {
    json!({
        "id": m.id,
        "from_cap": m.from_cap,
        "by": m.by,
        "body": m.body,
        "at": m.at.with_timezone(&tz).format("%H:%M").to_string(),
        "files": m.files.iter().map(|(_, name)| name).collect::<Vec<_>>(),
    })
}

/// The whole conversation, for a widget coming back (the person moved to another page of
/// the site).
async fn conversation(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let chat = chat_of(&state, &headers).await?;
    let tz = state.store.time_zone();
    let messages: Vec<_> = state
        .store
        .conversation(chat.incident_id, 0)
        .await?
        .iter()
        .map(|m| message_json(m, tz))
        .collect();
    Ok(axum::Json(json!({
        "folio": chat.folio.to_string(),
        "closed": chat.closed,
        "ended": chat.ended,
        "messages": messages,
    }))
    .into_response())
}

#[derive(serde::Deserialize)]
struct SayBody {
    #[serde(default)]
    body: String,
}

async fn say(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<SayBody>,
) -> Result<Response, AppError> {
    let chat = chat_of(&state, &headers).await?;
    if !state
        .chat_limiter
        .check(&format!("chat:{}", chat.incident_id.0))
    {
        return Err(AppError::RateLimited);
    }
    let entry = state.store.web_chat_say(&chat, &body.body).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"id": entry.0}))).into_response())
}

async fn typing(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, AppError> {
    let chat = chat_of(&state, &headers).await?;
    // The widget tells a keystroke at most every 4 s; more is not a person typing.
    if !state
        .chat_limiter
        .check(&format!("typing:{}", chat.incident_id.0))
    {
        return Err(AppError::RateLimited);
    }
    state.store.mark_web_chat(&chat, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn end(State(state): State<AppState>, headers: HeaderMap) -> Result<StatusCode, AppError> {
    let chat = chat_of(&state, &headers).await?;
    state.store.end_web_chat(&chat).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct EventParams {
    /// The newest message the widget shows.
    desde: Option<i64>,
}

struct Cursor {
    state: AppState,
    chat: WebChat,
    _permit: Permit<i64>,
    seen: i64,
    agent_typing: bool,
    closed: bool,
    marked: Option<std::time::Instant>,
    first: bool,
}

/// How often the stream marks the person connected (within `web_chat::CONNECTED_FOR`).
const MARK_EVERY: Duration = Duration::from_secs(10);

impl Cursor {
    async fn next_event(&mut self) -> Option<Event> {
        let store = &self.state.store;
        if self.marked.is_none_or(|t| t.elapsed() >= MARK_EVERY) {
            if let Err(e) = store.mark_web_chat(&self.chat, false).await {
                tracing::warn!(error = %e, "web chat: cannot mark the person connected");
            }
            self.marked = Some(std::time::Instant::now());
        }
        match store.conversation(self.chat.incident_id, self.seen).await {
            Ok(messages) => {
                if let Some(m) = messages.iter().find(|m| m.from_cap) {
                    self.seen = m.id;
                    let data = message_json(m, store.time_zone());
                    return Some(Event::default().event("message").data(data.to_string()));
                }
                // The person's own messages the widget already shows.
                if let Some(last) = messages.last() {
                    self.seen = last.id;
                }
            }
            Err(e) => tracing::warn!(error = %e, "web chat: cannot read the conversation"),
        }
        match store.web_chat_state(self.chat.incident_id).await {
            Ok(s) if s.closed && !self.closed => {
                self.closed = true;
                Some(Event::default().event("closed").data("{}"))
            }
            Ok(s) if s.agent_typing != self.agent_typing => {
                self.agent_typing = s.agent_typing;
                let data = json!({ "typing": s.agent_typing });
                Some(Event::default().event("typing").data(data.to_string()))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "web chat: cannot read its state");
                None
            }
        }
    }
}

/// The widget's live stream: the CAP's answers after `desde`, an agent typing, the closing.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let chat = chat_of(&state, &headers).await?;
    let permit = state
        .chat_streams
        .take(chat.incident_id.0, STREAMS_PER_CHAT, STREAMS_IN_ALL)
        .ok_or(AppError::RateLimited)?;
    let cursor = Cursor {
        seen: p.desde.unwrap_or(0),
        closed: chat.closed,
        chat,
        state,
        _permit: permit,
        agent_typing: false,
        marked: None,
        first: true,
    };
    let stream = stream::unfold(cursor, |mut cursor| async move {
        loop {
            if !cursor.first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            cursor.first = false;
            if let Some(event) = cursor.next_event().await {
                cursor.first = true;
                return Some((Ok(event), cursor));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

//! atiende's HTTP edge. Handlers parse, check the role, call the store (which calls the domain's
//! rules) and shape the answer; no rule is decided here.
//!
//! - [`pages`]: the agent console, server-rendered pages over the same store and rules;
//! - [`api`]: the JSON API under `/api/v1`, one module per resource, and its OpenAPI document;
//! - [`auth`]: who is calling (session cookie with CSRF token, or bearer API token) and the
//!   role check every handler starts with;
//! - [`error`] and [`i18n`]: one error envelope, in Spanish or English;
//! - [`webhooks`]: what providers post to us — WhatsApp, Messenger/Instagram (signed) and the
//!   telephone system's call events (token in the path);
//! - [`health`]: `/healthz`, `/readyz`, `/metrics`.

pub mod api;
pub mod auth;
pub mod error;
pub mod extract;
pub mod guard;
pub mod headers;
pub mod health;
pub mod html;
pub mod i18n;
pub mod pages;
pub mod proxy;
pub mod pulse;
pub mod quota;
pub mod rate_limit;
pub mod server;
pub mod sso;
pub mod tls;
pub mod webhooks;

use std::sync::Arc;

use atiende_store::Store;
use axum::Router;

pub use error::AppError;

/// Settings the web edge needs, taken from the service configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Public URL of the service (links in messages, cookie `Secure` flag when https).
    pub base_url: String,
    pub session_hours: i64,
    /// Minutes a session may go unused before it ends.
    pub session_idle_minutes: i64,
    /// Days after closing in which a reopening cancels first-contact resolution.
    pub reopen_window_days: i64,
    /// Login attempts allowed per minute from one address (and for one login).
    pub login_attempts_per_minute: u32,
    /// Buzón and status-page submissions allowed per minute from one address.
    pub public_posts_per_minute: u32,
    /// The simplified privacy notice shown on public pages.
    pub privacy_notice: String,
    /// WhatsApp, Messenger and Instagram: webhook secrets, accounts, approved templates.
    pub meta: atiende_channels::chat::MetaConfig,
    /// Secret path segment of the telephone system's event URL; empty turns CTI off.
    pub cti_token: atiende_domain::secret::Secret,
    /// Bearer token Prometheus sends to read `/metrics`; empty keeps `/metrics` closed.
    pub metrics_token: atiende_domain::secret::Secret,
    /// Bearer token of `POST /api/v1/mail/ingest` (the mail server's delivery program); empty
    /// turns the endpoint off.
    pub mail_ingest_token: atiende_domain::secret::Secret,
    /// Whether webhooks may be subscribed at private and local addresses.
    pub webhooks_allow_private: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (rate limits, logs).
    pub trusted_proxies: proxy::TrustedProxies,
    /// Identity providers staff sign in with (`sso`).
    pub sso: Vec<atiende_domain::sign_in::IdentityProvider>,
    /// Which roles need a second factor to work with a password.
    pub second_factor: atiende_domain::second_factor::SecondFactorRule,
    /// Sites (`https://www.example.mx`) whose pages may hold the web chat's widget.
    pub web_chat_origins: Vec<String>,
    /// Messages one web chat conversation may send per minute.
    pub chat_messages_per_minute: u32,
    /// Folders where this instance's data lives (SQLite's database): `/readyz` warns when one
    /// has less than `storage_alert_bytes` free, and `/metrics` reports their free space.
    pub storage: Vec<std::path::PathBuf>,
    pub storage_alert_bytes: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            base_url: "http://127.0.0.1:8080".into(),
            session_hours: 12,
            session_idle_minutes: 120,
            reopen_window_days: atiende_domain::indicators::DEFAULT_REOPEN_WINDOW_DAYS,
            login_attempts_per_minute: 10,
            public_posts_per_minute: 5,
            // The binary publishes the institution's notices at start; this is only shown
            // where none was ever published.
            privacy_notice: "Aviso de privacidad simplificado.".to_string(),
            meta: atiende_channels::chat::MetaConfig::default(),
            cti_token: Default::default(),
            metrics_token: Default::default(),
            mail_ingest_token: Default::default(),
            webhooks_allow_private: false,
            trusted_proxies: Default::default(),
            sso: Vec::new(),
            second_factor: Default::default(),
            web_chat_origins: Vec::new(),
            chat_messages_per_minute: 30,
            storage: Vec::new(),
            storage_alert_bytes: 0,
        }
    }
}

impl WebConfig {
    pub fn session_idle(&self) -> chrono::Duration {
        chrono::Duration::minutes(self.session_idle_minutes.max(1))
    }

    /// Whether this session may do nothing until its owner sets up a second factor: a
    /// password session (an identity provider answers for its own) of a role that needs one.
    pub fn must_enrol(&self, session: &atiende_store::users::SessionOf) -> bool {
        session.provider.is_none()
            && !session.user.second_factor
            && self.second_factor.required_for(session.user.role)
    }

    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// What every handler can reach, shared: axum hands each request its own copy of the state,
/// and copying a score of shared pointers one by one (and dropping them) was 1 % of the
/// service's time at a busy intake; this is one.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds. Nothing here holds state that correctness depends on: with
/// several instances, the database is the only truth (rate limits are per instance).
pub struct Shared {
    pub store: Store,
    pub config: Arc<WebConfig>,
    pub login_limiter: Arc<rate_limit::KeyedLimiter>,
    pub public_limiter: Arc<rate_limit::KeyedLimiter>,
    pub metrics: Arc<health::Metrics>,
    /// Live streams open on this instance, per person.
    pub live_streams: Arc<quota::Quota<atiende_domain::ids::UserId>>,
    /// This instance is stopping: `/readyz` says so, so that a load balancer sends its requests
    /// elsewhere before the instance stops accepting (see `health::Draining`).
    pub draining: health::Draining,
    /// The identity providers and what discovery found for each (a cache).
    pub sso: Arc<sso::Providers>,
    /// Messages per web chat conversation.
    pub chat_limiter: Arc<rate_limit::KeyedLimiter>,
    /// Web chat streams open on this instance, per conversation (incident id).
    pub chat_streams: Arc<quota::Quota<i64>>,
    /// Wakes this instance's live streams when a new incident or derivation is stored.
    pub pulse: Arc<pulse::Pulse>,
}

impl AppState {
    pub fn new(store: Store, config: WebConfig) -> Self {
        let limiter = rate_limit::KeyedLimiter::per_minute(config.login_attempts_per_minute);
        let public_limiter = rate_limit::KeyedLimiter::per_minute(config.public_posts_per_minute);
        let chat_limiter = rate_limit::KeyedLimiter::per_minute(config.chat_messages_per_minute);
        AppState(Arc::new(Shared {
            store,
            sso: Arc::new(sso::Providers::new(config.sso.clone())),
            config: Arc::new(config),
            login_limiter: Arc::new(limiter),
            public_limiter: Arc::new(public_limiter),
            metrics: Arc::new(health::Metrics::default()),
            live_streams: Arc::default(),
            draining: health::Draining::default(),
            chat_limiter: Arc::new(chat_limiter),
            chat_streams: Arc::default(),
            pulse: Arc::default(),
        }))
    }
}

/// The API's OpenAPI 3.1 document, as served at `/api/v1/openapi.json` (and printed by
/// `atiende openapi`, for client generators and the CI's validator).
pub fn openapi_document() -> serde_json::Value {
    api::routes_and_document().1
}

/// The whole application as one router; tests call it in process, the binary serves it.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api::routes_and_document();
    // Under /api/v1 every answer is the JSON envelope, an unknown address or method too.
    let api = api
        .fallback(|| async { error::AppError::NotFound("route") })
        .method_not_allowed_fallback(|| async { error::AppError::MethodNotAllowed });
    let openapi = Arc::new(openapi);
    Router::new()
        .nest("/api/v1", api)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(health::router())
        .merge(pages::router())
        .merge(pages::web_chat::router(&state))
        .merge(webhooks::router())
        .merge(headers::router())
        .layer(axum::middleware::from_fn(guard::check))
        .layer(axum::middleware::from_fn(error::localize))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            headers::secure,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::count,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |req: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %req.method(),
                        path = %headers::loggable_path(req.uri().path()),
                    )
                },
            ),
        )
        .with_state(state)
}

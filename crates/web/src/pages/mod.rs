//! The agent console: server-rendered pages (askama, escaped by default) over the same store
//! methods and domain rules as the API. Forms post with the session's CSRF token; a little
//! vanilla JavaScript (embedded, no CDN) adds live updates and dialogs.

pub mod admin;
pub mod admin_webhooks;
pub mod assets;
pub mod calls;
pub mod canned_responses;
pub mod charts;
pub mod contacts;
pub mod email;
pub mod events;
pub mod export;
pub mod incident;
pub mod indicators;
pub mod knowledge;
pub mod leads;
pub mod login;
pub mod macros;
pub mod mailbox_consent;
pub mod nonconformities;
pub mod notifications;
pub mod portal;
pub mod privacy;
pub mod public;
pub mod quality;
pub mod queue;
pub mod queue_tools;
pub mod register;
pub mod second_factor;
pub mod service_levels;
pub mod sso;
pub mod suggestions;
pub mod survey;
pub mod web_chat;

use atiende_domain::access::Action;
use atiende_domain::classification::Lang;
use atiende_domain::user::StaffUser;
use axum::Router;
use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::auth::{SESSION_COOKIE, cookie_value};
use crate::error::AppError;
use crate::i18n::Tr;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(login::router())
        .merge(sso::router())
        .merge(second_factor::router())
        .merge(public::router())
        .merge(survey::router())
        .merge(queue::router())
        .merge(register::router())
        .merge(incident::router())
        .merge(contacts::router())
        .merge(privacy::router())
        .merge(email::router())
        .merge(leads::router())
        .merge(calls::router())
        .merge(quality::router())
        .merge(indicators::router())
        .merge(nonconformities::router())
        .merge(service_levels::router())
        .merge(notifications::router())
        .merge(knowledge::router())
        .merge(canned_responses::router())
        .merge(queue_tools::router())
        .merge(portal::router())
        .merge(suggestions::router())
        .merge(macros::router())
        .merge(admin::router())
        .merge(mailbox_consent::router())
        .merge(events::router())
        .merge(assets::router())
        .layer(axum::middleware::from_fn(localize))
}

/// What every page's layout needs: who is looking, in which language, the CSRF token for its
/// forms, and which menu entry is current.
pub struct Ctx {
    pub user: StaffUser,
    pub lang: Lang,
    pub t: Tr,
    pub csrf: String,
    pub nav: &'static str,
    pub unread: i64,
    /// The newest notification when the page was made (the live stream tells what came after).
    pub latest_notification: i64,
}

impl Ctx {
    pub fn may(&self, action: Action) -> bool {
        self.user.may(action)
    }

    pub fn is_lead(&self) -> bool {
        matches!(
            self.user.role,
            atiende_domain::user::Role::CapLead
                | atiende_domain::user::Role::Admin
                | atiende_domain::user::Role::Management
        )
    }
}

/// The signed-in person of a page request. Without a session the browser goes to the login
/// page; with a temporary password, to the password page.
pub struct PageUser {
    pub user: StaffUser,
    pub csrf: String,
    /// Notifications not read yet, for the header.
    pub unread: i64,
    /// The newest notification's id (0: none).
    pub latest_notification: i64,
}

impl PageUser {
    pub fn ctx(self, nav: &'static str) -> Ctx {
        let lang = self.user.language;
        Ctx {
            lang,
            t: Tr(lang),
            csrf: self.csrf,
            nav,
            unread: self.unread,
            latest_notification: self.latest_notification,
            user: self.user,
        }
    }

    pub fn require(&self, action: Action) -> Result<(), PageError> {
        if self.user.may(action) {
            Ok(())
        } else {
            Err(PageError::App(AppError::Forbidden))
        }
    }
}

/// Where a person sets up their second factor.
pub const ENROLMENT_PAGE: &str = "/preferencias/segundo-factor";

async fn session_of(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<atiende_store::users::SessionOf>, AppError> {
    match cookie_value(parts, SESSION_COOKIE) {
        Some(token) => Ok(state
            .store
            .session_user(token, state.config.session_idle())
            .await?),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Some(session) = session_of(parts, state).await.map_err(PageError::App)? else {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            return Err(PageError::Login(next.to_string()));
        };
        // Errors from here on are written in the person's language (see `localize`).
        if let Some(lang) = parts.extensions.get::<PageLang>() {
            let _ = lang.0.set(session.user.language);
        }
        let must_enrol = state.config.must_enrol(&session);
        let atiende_store::users::SessionOf { user, csrf, .. } = session;
        if user.must_change_password && parts.uri.path() != "/clave" {
            return Err(PageError::Redirect("/clave".into()));
        }
        // Where a second factor is required, nothing else until it is set up.
        if must_enrol && ![ENROLMENT_PAGE, "/logout"].contains(&parts.uri.path()) {
            return Err(PageError::Redirect(ENROLMENT_PAGE.into()));
        }
        let (unread, latest_notification) = state
            .store
            .notification_mark(user.id)
            .await
            .map_err(|e| PageError::App(e.into()))?;
        Ok(PageUser {
            user,
            csrf,
            unread,
            latest_notification,
        })
    }
}

/// A form posted from a console page: the signed-in person and the form, accepted only when it
/// carries the session's CSRF token in `_csrf`.
pub struct Posted<T> {
    pub page: PageUser,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    _csrf: String,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let page = PageUser::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| PageError::App(AppError::BadRequest(e.body_text())))?;
        let sent: CsrfField = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField {
            _csrf: String::new(),
        });
        check_csrf(&sent._csrf, &page)?;
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| PageError::App(AppError::BadRequest(e.to_string())))?;
        Ok(Posted { page, form })
    }
}

fn check_csrf(sent: &str, page: &PageUser) -> Result<(), PageError> {
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(page.csrf.as_bytes())) {
        return Err(PageError::App(AppError::Csrf));
    }
    Ok(())
}

/// A console form that may carry files (`multipart/form-data`), or a plain one: the same
/// CSRF check as [`Posted`], the text fields read as `T`, and the files.
pub struct PostedWithFiles<T> {
    pub page: PageUser,
    pub form: T,
    pub files: Vec<atiende_store::attachments::Upload>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PostedWithFiles<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        if !crate::extract::MultipartForm::is_multipart(req.headers()) {
            let Posted { page, form } = Posted::from_request(req, state).await?;
            return Ok(PostedWithFiles {
                page,
                form,
                files: Vec::new(),
            });
        }
        let (mut parts, body) = req.into_parts();
        let page = PageUser::from_request_parts(&mut parts, state).await?;
        let sent =
            crate::extract::MultipartForm::from_request(Request::from_parts(parts, body), state)
                .await?;
        check_csrf(sent.field("_csrf").unwrap_or_default(), &page)?;
        let encoded = serde_urlencoded::to_string(&sent.fields)
            .map_err(|e| PageError::App(AppError::BadRequest(e.to_string())))?;
        let form = serde_urlencoded::from_str(&encoded)
            .map_err(|e| PageError::App(AppError::BadRequest(e.to_string())))?;
        Ok(PostedWithFiles {
            page,
            form,
            files: sent.files,
        })
    }
}

/// How a page fails: back to the login page, elsewhere, or an error page. Handlers return
/// store and rule errors with `?`; [`localize`] writes the page in the person's language.
#[derive(Debug)]
pub enum PageError {
    Login(String),
    Redirect(String),
    App(AppError),
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError::App(e)
    }
}

impl From<atiende_store::StoreError> for PageError {
    fn from(e: atiende_store::StoreError) -> Self {
        PageError::App(e.into())
    }
}

impl From<atiende_domain::RuleError> for PageError {
    fn from(e: atiende_domain::RuleError) -> Self {
        PageError::App(e.into())
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorPage {
    t: Tr,
    lang: Lang,
    status: u16,
    message: String,
}

impl ErrorPage {
    fn response(
        status: StatusCode,
        (code, what): (&'static str, Option<&'static str>),
        lang: Lang,
    ) -> Response {
        let page = ErrorPage {
            t: Tr(lang),
            lang,
            status: status.as_u16(),
            message: crate::i18n::error_message(code, &[], what, None, lang),
        };
        (status, render(&page)).into_response()
    }
}

/// The language error pages are written in: the signed-in person's once [`PageUser`] knows
/// them, else the request's (`?lang=`, `Accept-Language`).
#[derive(Clone, Default)]
struct PageLang(Arc<OnceLock<Lang>>);

/// An error page waiting for [`localize`] to write it in the reader's language.
#[derive(Clone, Copy)]
struct PendingPage(&'static str, Option<&'static str>);

/// Writes every console page's error in its reader's language: the one place errors are
/// localised, so handlers never pass a language around.
async fn localize(mut req: Request, next: Next) -> Response {
    let lang = PageLang::default();
    req.extensions_mut().insert(lang.clone());
    let fallback = crate::error::request_lang(&req);
    let mut response = next.run(req).await;
    let Some(PendingPage(code, what)) = response.extensions_mut().remove::<PendingPage>() else {
        return response;
    };
    let lang = lang.0.get().copied().unwrap_or(fallback);
    ErrorPage::response(response.status(), (code, what), lang)
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login(next) => {
                let target = format!("/login?next={}", urlencode(&next));
                Redirect::to(&target).into_response()
            }
            PageError::Redirect(to) => Redirect::to(&to).into_response(),
            PageError::App(AppError::Unauthorized) => Redirect::to("/login").into_response(),
            PageError::App(err) => {
                // In Spanish until `localize` rewrites it in the reader's language.
                let what = match err {
                    AppError::NotFound(what) => Some(what),
                    _ => None,
                };
                let mut response = ErrorPage::response(err.status(), (err.code(), what), Lang::Es);
                response
                    .extensions_mut()
                    .insert(PendingPage(err.code(), what));
                response
            }
        }
    }
}

/// Renders a template; a template that fails to render is a bug, logged and shown as a 500.
pub fn render<T: askama::Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => {
            let mut r = Html(html).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("v", s)])
        .map(|q| q[2..].to_string())
        .unwrap_or_default()
}

/// Where to go after signing in: a path on this service, or the queue.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if crate::html::is_own_path(n) => n.to_string(),
        _ => "/bandeja".to_string(),
    }
}

/// Empty form fields mean "not given".
pub fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Dates shown in the institution's time zone.
pub fn local(at: &chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    at.with_timezone(&tz).format("%d/%m/%Y %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn after_login_only_a_path_on_this_service_is_followed() {
        assert_eq!(
            safe_next(Some("/incidentes/CAP-2026-000001?x=1")),
            "/incidentes/CAP-2026-000001?x=1"
        );
        for evil in [
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\nSet-Cookie: x=1",
            "https://evil.example/",
            "/ espacio",
            "",
        ] {
            assert_eq!(safe_next(Some(evil)), "/bandeja", "{evil:?}");
        }
        assert_eq!(safe_next(None), "/bandeja");
    }
}

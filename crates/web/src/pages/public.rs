//! Public pages, no account needed: the buzón (suggestion box) and the status page. Both are
//! rate limited per address, carry a form token tied to a cookie, and show the privacy notice.

use atiende_domain::classification::{IncidentType, Lang};
use atiende_store::public::{PublicStatus, SuggestionBoxEntry};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{local, render};
use crate::AppState;
use crate::auth::cookie_value_from;
use crate::error::{AppError, request_lang_of};
use crate::i18n::{Tr, describe_error};
use crate::rate_limit::ClientAddr;

const FORM_COOKIE: &str = "atiende_form";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/buzon", get(suggestion_box_page).post(suggestion_box_post))
        .route("/estado", get(status_page).post(status_post))
}

#[derive(Deserialize, Default, Clone)]
pub struct BuzonForm {
    #[serde(default)]
    _csrf: String,
    /// Left empty by people; filled by robots that fill every field.
    #[serde(default)]
    website: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    student_code: String,
    /// The version of the privacy notice the form showed.
    #[serde(default)]
    privacy_notice_id: Option<i64>,
}

#[derive(askama::Template)]
#[template(path = "suggestion_box.html")]
struct BuzonPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    notice: String,
    notice_id: Option<i64>,
    form: BuzonForm,
    error: Option<String>,
    folio: Option<String>,
}

/// The simplified privacy notice in force and its version, which is stored with what the
/// person sends; the configured text while none is published.
pub(super) async fn simplified_notice(state: &AppState) -> (Option<i64>, String) {
    match state
        .store
        .current_notice(atiende_domain::privacy::NoticeKind::Simplified)
        .await
    {
        Ok(Some(n)) => (Some(n.id), n.body),
        _ => (None, state.config.privacy_notice.clone()),
    }
}

pub(super) fn with_form_cookie(state: &AppState, mut response: Response, token: &str) -> Response {
    let secure = state.config.secure_cookies();
    let cookie = crate::auth::cookie(FORM_COOKIE, token, "/", "Strict", 7200, secure);
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The per-address rate limit, then the form token; a refusal carries its status and sentence.
pub(super) fn admit(
    state: &AppState,
    headers: &HeaderMap,
    key: &str,
    token: &str,
    lang: Lang,
    too_many: &str,
) -> Result<(), (StatusCode, String)> {
    if !state.public_limiter.check(key) {
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            Tr(lang).s(too_many).to_string(),
        ));
    }
    if !token_ok(headers, token) {
        return Err((
            StatusCode::FORBIDDEN,
            crate::i18n::error_message("csrf", &[], None, None, lang),
        ));
    }
    Ok(())
}

fn token_ok(headers: &HeaderMap, sent: &str) -> bool {
    let expected = cookie_value_from(headers, FORM_COOKIE).unwrap_or("");
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

async fn suggestion_box_response(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    form: BuzonForm,
    error: Option<String>,
    folio: Option<String>,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let (notice_id, notice) = simplified_notice(state).await;
    let page = BuzonPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        notice,
        notice_id,
        form,
        error,
        folio,
    };
    with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

async fn suggestion_box_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    suggestion_box_response(
        &state,
        request_lang_of(&headers),
        StatusCode::OK,
        BuzonForm::default(),
        None,
        None,
    )
    .await
}

async fn suggestion_box_post(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BuzonForm>,
) -> Response {
    let lang = request_lang_of(&headers);
    let t = Tr(lang);
    if let Err((status, message)) = admit(
        &state,
        &headers,
        &format!("buzon:{address}"),
        &form._csrf,
        lang,
        t.s("Ha enviado demasiados mensajes en poco tiempo. Espere un minuto e intente de nuevo."),
    ) {
        return suggestion_box_response(&state, lang, status, form, Some(message), None).await;
    }
    if !form.website.is_empty() {
        // A robot: answer as if accepted, keep nothing.
        tracing::info!(client.address = %address, "buzón honeypot triggered");
        return suggestion_box_response(
            &state,
            lang,
            StatusCode::OK,
            BuzonForm::default(),
            None,
            Some(String::new()),
        )
        .await;
    }
    let entry = SuggestionBoxEntry {
        kind: IncidentType::from_code(&form.kind),
        message: form.message.clone(),
        name: form.name.clone(),
        email: form.email.clone(),
        phone: form.phone.clone(),
        student_code: form.student_code.clone(),
        privacy_notice_id: form.privacy_notice_id,
    };
    match state.store.submit_to_suggestion_box(&entry).await {
        Ok(incident) => {
            suggestion_box_response(
                &state,
                lang,
                StatusCode::OK,
                BuzonForm::default(),
                None,
                Some(incident.folio.to_string()),
            )
            .await
        }
        Err(e) => {
            let e = AppError::from(e);
            let status = e.status();
            suggestion_box_response(
                &state,
                lang,
                status,
                form,
                Some(describe_error(&e, lang)),
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct StatusForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    folio: String,
    #[serde(default)]
    contact: String,
}

#[derive(askama::Template)]
#[template(path = "estado.html")]
struct StatusPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    notice: String,
    form: StatusForm,
    error: Option<String>,
    found: Option<PublicStatus>,
    received: String,
    closed: String,
}

async fn status_response(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    form: StatusForm,
    error: Option<String>,
    found: Option<PublicStatus>,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let tz = state.store.time_zone();
    let received = found
        .as_ref()
        .map(|f| local(&f.received_at, tz))
        .unwrap_or_default();
    let closed = found
        .as_ref()
        .and_then(|f| f.closed_at)
        .map(|c| local(&c, tz))
        .unwrap_or_default();
    let (_, notice) = simplified_notice(state).await;
    let page = StatusPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        notice,
        form,
        error,
        found,
        received,
        closed,
    };
    with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

async fn status_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    status_response(
        &state,
        request_lang_of(&headers),
        StatusCode::OK,
        StatusForm::default(),
        None,
        None,
    )
    .await
}

async fn status_post(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<StatusForm>,
) -> Response {
    let lang = request_lang_of(&headers);
    let t = Tr(lang);
    if let Err((status, message)) = admit(
        &state,
        &headers,
        &format!("estado:{address}"),
        &form._csrf,
        lang,
        t.s("Ha hecho demasiadas consultas en poco tiempo. Espere un minuto e intente de nuevo."),
    ) {
        return status_response(&state, lang, status, form, Some(message), None).await;
    }
    match state.store.public_status(&form.folio, &form.contact).await {
        Ok(Some(found)) => {
            status_response(&state, lang, StatusCode::OK, form, None, Some(found)).await
        }
        Ok(None) => {
            let message = t.s("No encontramos un incidente con ese folio y ese correo o teléfono. Revise los datos.").to_string();
            status_response(&state, lang, StatusCode::OK, form, Some(message), None).await
        }
        Err(e) => {
            let e = AppError::from(e);
            status_response(
                &state,
                lang,
                e.status(),
                form,
                Some(describe_error(&e, lang)),
                None,
            )
            .await
        }
    }
}

//! *Mis solicitudes*, the person's portal: sign-in without a password (a one-time link to an
//! address on record, confirmed with a button so that a mail scanner opening the link does not
//! use it), the person's incidents and what was said on them, a reply with files, a new
//! incident with the privacy notice, and signing out. Its session cookie is its own
//! (`atiende_portal`, only under `/mis-solicitudes`), never a staff session; every form carries
//! the public pages' form token and is rate-limited per address.

use atiende_domain::classification::Lang;
use atiende_domain::ids::ContactId;
use atiende_store::portal::{PortalIncident, PortalMessage};
use axum::Router;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::public::{admit, simplified_notice, with_form_cookie};
use super::{local, render};
use crate::AppState;
use crate::auth::cookie_value_from;
use crate::error::{AppError, request_lang_of};
use crate::extract::MultipartForm;
use crate::i18n::{Tr, describe_error};
use crate::rate_limit::ClientAddr;

const PORTAL_COOKIE: &str = "atiende_portal";
const TOO_MANY: &str =
    "Ha enviado demasiadas solicitudes en poco tiempo. Espere un minuto e intente de nuevo.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mis-solicitudes", get(home).post(ask_for_link))
        .route("/mis-solicitudes/entrar/{token}", get(confirm).post(enter))
        .route("/mis-solicitudes/codigo", post(ask_for_code))
        .route("/mis-solicitudes/codigo/entrar", post(enter_with_code))
        .route("/mis-solicitudes/nueva", get(new_page).post(new_incident))
        .route("/mis-solicitudes/salir", post(sign_out))
        .route("/mis-solicitudes/mis-datos", get(own_data))
        .route("/mis-solicitudes/mis-datos.json", get(own_data_json))
        .route("/mis-solicitudes/{folio}", get(incident_page))
        .route("/mis-solicitudes/{folio}/responder", post(reply))
        .route(
            "/mis-solicitudes/{folio}/encuesta",
            get(survey_page).post(survey_post),
        )
}

/// The person the request's portal cookie belongs to, if any.
async fn person(state: &AppState, headers: &HeaderMap) -> Option<ContactId> {
    let token = cookie_value_from(headers, PORTAL_COOKIE)?;
    state.store.portal_person(token).await.ok().flatten()
}

fn portal_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    crate::auth::cookie(
        PORTAL_COOKIE,
        value,
        "/mis-solicitudes",
        "Lax",
        max_age,
        state.config.secure_cookies(),
    )
}

#[derive(askama::Template)]
#[template(path = "portal_sign_in.html")]
struct SignInPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    notice: String,
    sent: bool,
    error: Option<String>,
    /// A code by WhatsApp is offered too.
    whatsapp: bool,
}

async fn sign_in_page(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    sent: bool,
    error: Option<String>,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let (_, notice) = simplified_notice(state).await;
    let page = SignInPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        notice,
        sent,
        error,
        whatsapp: state.config.meta.sign_in_template().is_some(),
    };
    with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

/// One incident in the person's list, ready to show.
struct Row {
    folio: String,
    status: &'static str,
    status_code: &'static str,
    subject: String,
    received: String,
    survey_pending: bool,
}

fn row(i: &PortalIncident, lang: Lang, tz: chrono_tz::Tz) -> Row {
    Row {
        folio: i.folio.to_string(),
        status: i.status.label(lang),
        status_code: i.status.code(),
        subject: i.subject.clone(),
        received: local(&i.received_at, tz),
        survey_pending: i.survey_pending,
    }
}

#[derive(askama::Template)]
#[template(path = "portal_list.html")]
struct ListPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    rows: Vec<Row>,
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let lang = request_lang_of(&headers);
    let Some(me) = person(&state, &headers).await else {
        return Ok(sign_in_page(&state, lang, StatusCode::OK, false, None).await);
    };
    let tz = state.store.time_zone();
    let rows = state
        .store
        .portal_incidents(me)
        .await?
        .iter()
        .map(|i| row(i, lang, tz))
        .collect();
    let csrf = atiende_store::users::random_token();
    let page = ListPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        rows,
    };
    Ok(with_form_cookie(
        &state,
        render(&page).into_response(),
        &csrf,
    ))
}

#[derive(serde::Deserialize)]
struct AskForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    email: String,
}

/// A person asks for a sign-in link: the same answer whether or not the address is on record.
async fn ask_for_link(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AskForm>,
) -> Response {
    let lang = request_lang_of(&headers);
    if let Err((status, message)) = admit_client(&state, &headers, &address, &form._csrf, lang) {
        return sign_in_page(&state, lang, status, false, Some(message)).await;
    }
    match state
        .store
        .request_portal_link(&form.email, &state.config.base_url)
        .await
    {
        Ok(()) => sign_in_page(&state, lang, StatusCode::OK, true, None).await,
        Err(e) => {
            let e = AppError::from(e);
            let message = describe_error(&e, lang);
            sign_in_page(&state, lang, e.status(), false, Some(message)).await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "portal_enter.html")]
struct EnterPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    token: String,
    error: Option<String>,
}

fn enter_page(state: &AppState, lang: Lang, token: &str, error: Option<String>) -> Response {
    let csrf = atiende_store::users::random_token();
    let status = if error.is_some() {
        StatusCode::GONE
    } else {
        StatusCode::OK
    };
    let page = EnterPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        token: token.to_string(),
        error,
    };
    with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

/// The link from the email shows a button: opening it uses nothing (mail scanners open links).
async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    enter_page(&state, request_lang_of(&headers), &token, None)
}

#[derive(serde::Deserialize)]
struct EnterForm {
    #[serde(default)]
    _csrf: String,
}

async fn enter(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    Path(token): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<EnterForm>,
) -> Result<Response, AppError> {
    let lang = request_lang_of(&headers);
    if let Err((_, message)) = admit_client(&state, &headers, &address, &form._csrf, lang) {
        return Ok(enter_page(&state, lang, &token, Some(message)));
    }
    let Some(session) = state.store.open_portal_session(&token).await? else {
        let t = Tr(lang);
        return Ok(enter_page(
            &state,
            lang,
            "",
            Some(
                t.s("Este enlace ya se usó o venció. Pida otro desde Mis solicitudes.")
                    .to_string(),
            ),
        ));
    };
    Ok(signed_in(&state, &session))
}

#[derive(askama::Template)]
#[template(path = "portal_code.html")]
struct CodePage {
    t: Tr,
    lang: Lang,
    csrf: String,
    number: String,
    error: Option<String>,
}

fn code_page(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    number: &str,
    error: Option<String>,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let page = CodePage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        number: number.to_string(),
        error,
    };
    with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

#[derive(serde::Deserialize)]
struct CodeForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    whatsapp: String,
    #[serde(default)]
    code: String,
}

/// The portal's forms are counted per client (and checked for the form token).
fn admit_client(
    state: &AppState,
    headers: &HeaderMap,
    address: &str,
    csrf: &str,
    lang: Lang,
) -> Result<(), (StatusCode, String)> {
    admit(
        state,
        headers,
        &format!("portal:{address}"),
        csrf,
        lang,
        TOO_MANY,
    )
}

/// The number's digits, the key its requests are counted under.
fn number_key(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!("portal-whatsapp:{digits}")
}

/// A person asks for a code by WhatsApp: the same answer whether or not the number is on
/// record. Counted per client and per number.
async fn ask_for_code(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    let lang = request_lang_of(&headers);
    if state.config.meta.sign_in_template().is_none() {
        return sign_in_page(&state, lang, StatusCode::NOT_FOUND, false, None).await;
    }
    let admitted = admit_client(&state, &headers, &address, &form._csrf, lang).and_then(|()| {
        if state.public_limiter.check(&number_key(&form.whatsapp)) {
            Ok(())
        } else {
            Err((
                StatusCode::TOO_MANY_REQUESTS,
                Tr(lang).s(TOO_MANY).to_string(),
            ))
        }
    });
    if let Err((status, message)) = admitted {
        return sign_in_page(&state, lang, status, false, Some(message)).await;
    }
    let accounts = state.config.meta.whatsapp_accounts();
    match state
        .store
        .request_portal_code(&form.whatsapp, &accounts)
        .await
    {
        Ok(()) => code_page(&state, lang, StatusCode::OK, form.whatsapp.trim(), None),
        Err(e) => {
            let e = AppError::from(e);
            let message = describe_error(&e, lang);
            sign_in_page(&state, lang, e.status(), false, Some(message)).await
        }
    }
}

/// The code from WhatsApp opens a session; a wrong one counts against the code's tries.
async fn enter_with_code(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CodeForm>,
) -> Result<Response, AppError> {
    let lang = request_lang_of(&headers);
    if let Err((status, message)) = admit_client(&state, &headers, &address, &form._csrf, lang) {
        return Ok(code_page(
            &state,
            lang,
            status,
            &form.whatsapp,
            Some(message),
        ));
    }
    let Some(session) = state
        .store
        .open_portal_session_by_code(&form.whatsapp, &form.code)
        .await?
    else {
        let message = Tr(lang)
            .s("El código no es válido o ya venció. Revise el último que recibió o pida otro.")
            .to_string();
        return Ok(code_page(
            &state,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form.whatsapp,
            Some(message),
        ));
    };
    Ok(signed_in(&state, &session))
}

/// Where a proven sign-in leads: the person's list, with the portal's cookie.
fn signed_in(state: &AppState, session: &str) -> Response {
    let cookie = portal_cookie(state, session, atiende_store::portal::SESSION_HOURS * 3600);
    let mut response = Redirect::to("/mis-solicitudes").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<EnterForm>,
) -> Result<Response, AppError> {
    let lang = request_lang_of(&headers);
    if let Err((status, message)) =
        admit(&state, &headers, "portal:out", &form._csrf, lang, TOO_MANY)
    {
        return Ok((status, message).into_response());
    }
    if let Some(token) = cookie_value_from(&headers, PORTAL_COOKIE) {
        state.store.end_portal_session(token).await?;
    }
    let mut response = Redirect::to("/mis-solicitudes").into_response();
    if let Ok(v) = header::HeaderValue::from_str(&portal_cookie(&state, "", 0)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// A message of the conversation, ready to show.
struct MessageView {
    from_cap: bool,
    who: String,
    at: String,
    body: String,
    files: Vec<String>,
}

#[derive(askama::Template)]
#[template(path = "portal_incident.html")]
struct IncidentPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    incident: Row,
    closed: bool,
    messages: Vec<MessageView>,
    notice: Option<String>,
    error: Option<String>,
}

async fn show_incident(
    state: &AppState,
    me: ContactId,
    folio: &str,
    lang: Lang,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, AppError> {
    let Some((incident, messages)) = state.store.portal_incident(me, folio).await? else {
        return Err(AppError::NotFound("incident"));
    };
    let tz = state.store.time_zone();
    let t = Tr(lang);
    let messages = messages
        .into_iter()
        .map(|m: PortalMessage| MessageView {
            from_cap: m.from_cap,
            who: match (&m.by, m.from_cap) {
                (Some(name), true) => {
                    format!("{name} · {}", t.s("Centro de Atención Personalizada"))
                }
                (None, true) => t.s("Centro de Atención Personalizada").to_string(),
                _ => t.s("Usted").to_string(),
            },
            at: local(&m.at, tz),
            body: m.body,
            files: m.files.into_iter().map(|(_, name)| name).collect(),
        })
        .collect();
    let csrf = atiende_store::users::random_token();
    let page = IncidentPage {
        t,
        lang,
        csrf: csrf.clone(),
        closed: incident.closed_at.is_some(),
        incident: row(&incident, lang, tz),
        messages,
        notice,
        error,
    };
    Ok(with_form_cookie(
        state,
        (status, render(&page)).into_response(),
        &csrf,
    ))
}

async fn incident_page(
    State(state): State<AppState>,
    Path(folio): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let lang = request_lang_of(&headers);
    let Some(me) = person(&state, &headers).await else {
        return Ok(Redirect::to("/mis-solicitudes").into_response());
    };
    show_incident(&state, me, &folio, lang, StatusCode::OK, None, None).await
}

/// The person's reply, with files (a multipart form) or without.
async fn reply(
    State(state): State<AppState>,
    Path(folio): Path<String>,
    request: Request,
) -> Result<Response, AppError> {
    let headers = request.headers().clone();
    let lang = request_lang_of(&headers);
    let Some(me) = person(&state, &headers).await else {
        return Ok(Redirect::to("/mis-solicitudes").into_response());
    };
    let (fields, files) = if MultipartForm::is_multipart(&headers) {
        let sent = MultipartForm::from_request(request, &state).await?;
        (sent.fields, sent.files)
    } else {
        let bytes = axum::body::Bytes::from_request(request, &state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::BadRequest(e.to_string()))?;
        (fields, Vec::new())
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let token = field("_csrf");
    if let Err((status, message)) = admit(
        &state,
        &headers,
        &format!("portal:person:{}", me.0),
        &token,
        lang,
        TOO_MANY,
    ) {
        return show_incident(&state, me, &folio, lang, status, None, Some(message)).await;
    }
    let Some((incident, _)) = state.store.portal_incident(me, &folio).await? else {
        return Err(AppError::NotFound("incident"));
    };
    let body = field("body");
    match state
        .store
        .portal_reply(me, incident.id, &body, &files)
        .await
    {
        Ok(()) => {
            let t = Tr(lang);
            show_incident(
                &state,
                me,
                &folio,
                lang,
                StatusCode::OK,
                Some(t.s("Recibimos su mensaje.").to_string()),
                None,
            )
            .await
        }
        Err(e) => {
            let e = AppError::from(e);
            let message = describe_error(&e, lang);
            show_incident(&state, me, &folio, lang, e.status(), None, Some(message)).await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "portal_new.html")]
struct NewPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    notice: String,
    notice_id: Option<i64>,
    subject: String,
    body: String,
    error: Option<String>,
}

async fn new_form(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    subject: String,
    body: String,
    error: Option<String>,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let (notice_id, notice) = simplified_notice(state).await;
    let page = NewPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        notice,
        notice_id,
        subject,
        body,
        error,
    };
    with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

async fn new_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let lang = request_lang_of(&headers);
    if person(&state, &headers).await.is_none() {
        return Redirect::to("/mis-solicitudes").into_response();
    }
    new_form(
        &state,
        lang,
        StatusCode::OK,
        String::new(),
        String::new(),
        None,
    )
    .await
}

#[derive(serde::Deserialize)]
struct NewForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
    privacy_notice_id: Option<i64>,
}

async fn new_incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<NewForm>,
) -> Response {
    let lang = request_lang_of(&headers);
    let Some(me) = person(&state, &headers).await else {
        return Redirect::to("/mis-solicitudes").into_response();
    };
    if let Err((status, message)) = admit(
        &state,
        &headers,
        &format!("portal:person:{}", me.0),
        &form._csrf,
        lang,
        TOO_MANY,
    ) {
        return new_form(&state, lang, status, form.subject, form.body, Some(message)).await;
    }
    match state
        .store
        .portal_new_incident(me, &form.subject, &form.body, form.privacy_notice_id)
        .await
    {
        Ok(incident) => {
            Redirect::to(&format!("/mis-solicitudes/{}", incident.folio)).into_response()
        }
        Err(e) => {
            let e = AppError::from(e);
            let message = describe_error(&e, lang);
            new_form(
                &state,
                lang,
                e.status(),
                form.subject,
                form.body,
                Some(message),
            )
            .await
        }
    }
}

/// The satisfaction survey of one of the person's incidents, answered from the portal (the
/// same page and rules as the emailed link's).
async fn survey_page(
    State(state): State<AppState>,
    Path(folio): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = request_lang_of(&headers);
    let Some(me) = person(&state, &headers).await else {
        return Redirect::to("/mis-solicitudes").into_response();
    };
    super::survey::show(
        &state,
        lang,
        atiende_store::surveys::SurveyKey::Portal(me, &folio),
        format!("/mis-solicitudes/{folio}/encuesta"),
    )
    .await
}

async fn survey_post(
    State(state): State<AppState>,
    Path(folio): Path<String>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<std::collections::BTreeMap<String, String>>,
) -> Response {
    let lang = request_lang_of(&headers);
    let Some(me) = person(&state, &headers).await else {
        return Redirect::to("/mis-solicitudes").into_response();
    };
    super::survey::submit(
        &state,
        &headers,
        lang,
        atiende_store::surveys::SurveyKey::Portal(me, &folio),
        format!("/mis-solicitudes/{folio}/encuesta"),
        &format!("portal:person:{}", me.0),
        form,
    )
    .await
}

/// The person's own file (the right of access), as `/mis-datos` shows it after its emailed
/// link; each opening is in the access log as the holder's.
async fn own_data(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let lang = request_lang_of(&headers);
    let Some(me) = person(&state, &headers).await else {
        return Ok(Redirect::to("/mis-solicitudes").into_response());
    };
    let file = state.store.personal_file_for_portal(me, "html").await?;
    let html = super::privacy::personal_file_html(&file, lang, state.store.time_zone()).replace(
        "<main id=\"main\">",
        &format!(
            "<main id=\"main\"><p class=\"no-print\"><a href=\"/mis-solicitudes\">← {}</a> · <a href=\"/mis-solicitudes/mis-datos.json\">{}</a></p>",
            Tr(lang).s("Mis solicitudes"),
            Tr(lang).s("Descargar mis datos (JSON)")
        ),
    );
    Ok(axum::response::Html(html).into_response())
}

async fn own_data_json(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(me) = person(&state, &headers).await else {
        return Ok(Redirect::to("/mis-solicitudes").into_response());
    };
    let file = state.store.personal_file_for_portal(me, "json").await?;
    let bytes = serde_json::to_vec_pretty(&file).map_err(|_| AppError::Internal)?;
    Ok(super::export::download(
        "application/json",
        "mis-datos.json",
        bytes,
    ))
}

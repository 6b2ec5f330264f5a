//! Personal data in the console (the administrator's, for ARCO requests): a person's whole
//! file as a readable page or a JSON download, blocking and suppression, and the access log.
//! What each step does is the store's (`atiende_store::privacy`); every step is logged there.

use atiende_domain::access::Action;
use atiende_domain::ids::ContactId;
use atiende_domain::privacy::{DataAction, NoticeKind, RetentionPolicy};
use atiende_store::Actor;
use atiende_store::contacts::ContactQuery;
use atiende_store::privacy::retention::RetentionReport;
use atiende_store::privacy::{AccessEntry, PersonalFile};
use atiende_store::settings::key;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, local, render};
use crate::AppState;
use crate::i18n::Tr;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/privacidad", get(overview))
        .route("/privacidad/bitacora.csv", get(log_csv))
        .route("/privacidad/avisos", get(notices).post(publish_notice))
        .route("/privacidad/conservacion", post(save_retention))
        .route("/aviso-de-privacidad", get(public_notice))
        .route("/mis-datos", get(own_data_page).post(own_data_request))
        .route("/mis-datos/{token}", get(own_data_file))
        .route("/mis-datos/{token}/expediente.json", get(own_data_json))
        .route("/contactos/{id}/expediente", get(file_page))
        .route("/contactos/{id}/expediente.json", get(file_json))
        .route("/contactos/{id}/bloquear", post(block))
        .route("/contactos/{id}/desbloquear", post(unblock))
        .route("/contactos/{id}/suprimir", post(suppress))
}

#[derive(Deserialize, Default)]
struct LogParams {
    contacto: Option<i64>,
    ok: Option<String>,
}

/// One access-log line as shown.
pub struct LogRow {
    pub at: String,
    pub at_utc: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub contact_id: i64,
    pub action: &'static str,
    pub detail: String,
}

fn log_rows(entries: &[AccessEntry], page: &PageUser, tz: chrono_tz::Tz) -> Vec<LogRow> {
    entries
        .iter()
        .map(|e| LogRow {
            at: local(&e.at, tz),
            at_utc: e.at,
            actor: e.actor.clone(),
            contact_id: e.contact_id.0,
            action: e.action.label(page.user.language),
            detail: e.detail.clone(),
        })
        .collect()
}

#[derive(askama::Template)]
#[template(path = "privacy.html")]
struct PrivacyPage {
    ctx: Ctx,
    contact: Option<i64>,
    log: Vec<LogRow>,
    cancelled: Vec<(i64, String, String)>,
    policy: RetentionPolicy,
    /// What the next daily run would anonymise.
    due: RetentionReport,
    saved: bool,
}

impl PrivacyPage {
    fn days(&self, d: &Option<i64>) -> String {
        d.map(|d| d.to_string()).unwrap_or_default()
    }
}

async fn overview(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<LogParams>,
) -> Result<Response, PageError> {
    page.require(Action::PersonalData)?;
    let lang = page.user.language;
    let tz = state.store.time_zone();
    let entries = state
        .store
        .personal_access_log(p.contacto.map(ContactId), None, 500)
        .await?;
    let t = Tr(lang);
    let cancelled = state
        .store
        .contacts(&ContactQuery {
            limit: 200,
            cancelled: true,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|c| {
            let state = match (&c.anonymised_at, &c.blocked_at) {
                (Some(at), _) => format!("{} {}", t.s("Suprimido el"), local(at, tz)),
                (None, Some(at)) => format!("{} {}", t.s("Bloqueado el"), local(at, tz)),
                (None, None) => String::new(),
            };
            (c.id.0, c.name, state)
        })
        .collect();
    let log = log_rows(&entries, &page, tz);
    let policy: RetentionPolicy = state.store.setting(key::RETENTION_POLICY).await?;
    let due = state
        .store
        .retention_due(&policy, atiende_store::db::now())
        .await?;
    Ok(render(&PrivacyPage {
        ctx: page.ctx("privacy"),
        contact: p.contacto,
        log,
        cancelled,
        policy,
        due,
        saved: p.ok.is_some(),
    }))
}

async fn log_csv(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<LogParams>,
) -> Result<Response, PageError> {
    page.require(Action::PersonalData)?;
    let lang = page.user.language;
    let entries = state
        .store
        .personal_access_log(p.contacto.map(ContactId), None, 10_000)
        .await?;
    let t = Tr(lang);
    let tz = state.store.time_zone();
    let mut rows = vec![vec![
        format!("{} ({tz})", t.s("Fecha")),
        t.s("Quién").to_string(),
        t.s("Número de usuario").to_string(),
        t.s("Acción").to_string(),
        t.s("Detalle").to_string(),
    ]];
    rows.extend(log_rows(&entries, &page, tz).into_iter().map(|r| {
        vec![
            super::export::when(&r.at_utc, tz),
            r.actor,
            r.contact_id.to_string(),
            r.action.to_string(),
            r.detail,
        ]
    }));
    super::export::csv(&rows, "bitacora-datos-personales").map_err(PageError::from)
}

#[derive(askama::Template)]
#[template(path = "personal_file.html")]
pub struct FilePage<'a> {
    pub t: Tr,
    pub lang: atiende_domain::classification::Lang,
    pub file: &'a PersonalFile,
    pub tz: chrono_tz::Tz,
}

impl FilePage<'_> {
    fn at(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        local(t, self.tz)
    }

    fn survey_status(&self, s: &atiende_store::surveys::Survey) -> &'static str {
        super::quality::survey_status(s, self.lang)
    }

    /// A message's direction: from the person, or to them.
    fn direction(&self, direction: &str) -> &'static str {
        self.t.s(if direction == "in" {
            "recibido"
        } else {
            "enviado"
        })
    }

    /// A snapshot as "campo: valor; …" in the reader's words (the JSON export keeps it raw).
    fn json(&self, v: &Option<serde_json::Value>) -> String {
        v.as_ref()
            .map(|v| crate::i18n::shown_value("", v, self.lang))
            .unwrap_or_default()
    }

    fn action(&self, action: &str) -> &'static str {
        atiende_domain::audit::action_label(action, self.lang)
    }
}

/// The person's file as a readable, printable page (also what `atiende privacy export` writes).
pub fn personal_file_html(
    file: &PersonalFile,
    lang: atiende_domain::classification::Lang,
    tz: chrono_tz::Tz,
) -> String {
    use askama::Template;
    FilePage {
        t: Tr(lang),
        lang,
        file,
        tz,
    }
    .render()
    .unwrap_or_default()
}

async fn file_page(
    State(state): State<AppState>,
    page: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    page.require(Action::PersonalData)?;
    let lang = page.user.language;
    let file = state
        .store
        .personal_file(Actor::Staff(&page.user), ContactId(id), "html")
        .await?;
    let html = personal_file_html(&file, lang, state.store.time_zone());
    Ok(axum::response::Html(html).into_response())
}

async fn file_json(
    State(state): State<AppState>,
    page: PageUser,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    page.require(Action::PersonalData)?;
    let file = state
        .store
        .personal_file(Actor::Staff(&page.user), ContactId(id), "json")
        .await?;
    let bytes = serde_json::to_vec_pretty(&file)
        .map_err(|_| PageError::from(crate::error::AppError::Internal))?;
    Ok(super::export::download(
        "application/json",
        &format!("expediente-{id}.json"),
        bytes,
    ))
}

#[derive(Deserialize)]
struct ReasonForm {
    reason: Option<String>,
    confirm: Option<String>,
}

async fn block(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<ReasonForm>,
) -> Result<Response, PageError> {
    cancellation_step(state, id, posted, DataAction::Block).await
}

async fn unblock(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<ReasonForm>,
) -> Result<Response, PageError> {
    cancellation_step(state, id, posted, DataAction::Unblock).await
}

async fn suppress(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<ReasonForm>,
) -> Result<Response, PageError> {
    cancellation_step(state, id, posted, DataAction::Anonymise).await
}

async fn cancellation_step(
    state: AppState,
    id: i64,
    posted: Posted<ReasonForm>,
    step: DataAction,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::PersonalData)?;
    let lang = page.user.language;
    let actor = Actor::Staff(&page.user);
    let contact = ContactId(id);
    let reason = form.reason.unwrap_or_default();
    match step {
        DataAction::Block => {
            state.store.block_contact(actor, contact, &reason).await?;
        }
        DataAction::Unblock => {
            state.store.unblock_contact(actor, contact, &reason).await?;
        }
        _ => {
            // Irreversible: the form asks for the word, not just a click.
            if form.confirm.as_deref().map(str::trim) != Some("SUPRIMIR") {
                return Err(PageError::from(crate::error::AppError::BadRequest(
                    Tr(lang)
                        .s("Escriba SUPRIMIR para confirmar la supresión.")
                        .to_string(),
                )));
            }
            state.store.anonymise_contact(actor, contact).await?;
        }
    }
    Ok(Redirect::to(&format!("/contactos/{id}?ok=1")).into_response())
}

#[derive(askama::Template)]
#[template(path = "aviso.html")]
struct PublicNoticePage {
    t: Tr,
    lang: atiende_domain::classification::Lang,
    integral: Option<atiende_store::privacy::notices::Notice>,
    simplified: Option<atiende_store::privacy::notices::Notice>,
    published_integral: String,
    published_simplified: String,
}

/// The notices in force, for anyone (linked from the buzón, survey and status pages).
async fn public_notice(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let lang = crate::error::request_lang_of(&headers);
    let tz = state.store.time_zone();
    let integral = state.store.current_notice(NoticeKind::Integral).await?;
    let simplified = state.store.current_notice(NoticeKind::Simplified).await?;
    let when = |n: &Option<atiende_store::privacy::notices::Notice>| {
        n.as_ref()
            .map(|n| local(&n.published_at, tz))
            .unwrap_or_default()
    };
    Ok(render(&PublicNoticePage {
        t: Tr(lang),
        lang,
        published_integral: when(&integral),
        published_simplified: when(&simplified),
        integral,
        simplified,
    }))
}

#[derive(askama::Template)]
#[template(path = "notices.html")]
struct NoticesPage {
    ctx: Ctx,
    notice: Option<String>,
    kinds: Vec<NoticeColumn>,
}

/// One kind of notice on the page: its text in force and its versions.
struct NoticeColumn {
    code: &'static str,
    label: &'static str,
    current: String,
    /// (version, published).
    versions: Vec<(i64, String)>,
}

#[derive(Deserialize, Default)]
struct SavedParams {
    ok: Option<String>,
}

async fn notices(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<SavedParams>,
) -> Result<Response, PageError> {
    page.require(Action::PersonalData)?;
    let lang = page.user.language;
    let tz = state.store.time_zone();
    let mut kinds = Vec::new();
    for kind in NoticeKind::ALL {
        let versions = state.store.notice_versions(*kind).await?;
        let current = versions.first().map(|n| n.body.clone()).unwrap_or_default();
        kinds.push(NoticeColumn {
            code: kind.code(),
            label: kind.label(lang),
            current,
            versions: versions
                .iter()
                .map(|n| (n.version, local(&n.published_at, tz)))
                .collect(),
        });
    }
    Ok(render(&NoticesPage {
        notice: p.ok.map(|_| Tr(lang).s("Publicado.").to_string()),
        ctx: page.ctx("privacy"),
        kinds,
    }))
}

#[derive(Deserialize)]
struct NoticeForm {
    kind: String,
    body: String,
}

async fn publish_notice(
    State(state): State<AppState>,
    posted: Posted<NoticeForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::PersonalData)?;
    let kind = NoticeKind::from_code(&form.kind)
        .ok_or_else(|| PageError::from(crate::error::AppError::BadRequest("kind".into())))?;
    state
        .store
        .publish_notice(Actor::Staff(&page.user), kind, &form.body)
        .await?;
    Ok(Redirect::to("/privacidad/avisos?ok=1").into_response())
}

#[derive(Deserialize)]
struct RetentionForm {
    blocked_days: Option<String>,
    closed_incident_days: Option<String>,
    attachment_days: Option<String>,
    survey_comment_days: Option<String>,
}

/// An empty box keeps that category; a number is a period in days.
fn days_of(raw: &Option<String>, field: &str) -> Result<Option<i64>, PageError> {
    match raw.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) => r.parse().map(Some).map_err(|_| {
            PageError::from(atiende_domain::RuleError::invalid(
                field,
                "between_1_and_36500_days",
            ))
        }),
    }
}

async fn save_retention(
    State(state): State<AppState>,
    posted: Posted<RetentionForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::PersonalData)?;
    let policy = RetentionPolicy {
        blocked_days: days_of(&form.blocked_days, "blocked_days")?,
        closed_incident_days: days_of(&form.closed_incident_days, "closed_incident_days")?,
        attachment_days: days_of(&form.attachment_days, "attachment_days")?,
        survey_comment_days: days_of(&form.survey_comment_days, "survey_comment_days")?,
    };
    policy.validate()?;
    state
        .store
        .save_setting(Actor::Staff(&page.user), key::RETENTION_POLICY, &policy)
        .await?;
    Ok(Redirect::to("/privacidad?ok=1").into_response())
}

#[derive(askama::Template)]
#[template(path = "mis_datos.html")]
struct OwnDataPage {
    t: Tr,
    lang: atiende_domain::classification::Lang,
    csrf: String,
    notice: String,
    sent: bool,
    error: Option<String>,
}

async fn own_data_response(
    state: &AppState,
    lang: atiende_domain::classification::Lang,
    status: axum::http::StatusCode,
    sent: bool,
    error: Option<String>,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let (_, notice) = super::public::simplified_notice(state).await;
    let page = OwnDataPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        notice,
        sent,
        error,
    };
    super::public::with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

/// A person asks for their own file (the public side of the right of access).
async fn own_data_page(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let lang = crate::error::request_lang_of(&headers);
    own_data_response(&state, lang, axum::http::StatusCode::OK, false, None).await
}

#[derive(Deserialize)]
struct OwnDataForm {
    #[serde(default)]
    _csrf: String,
    #[serde(default)]
    email: String,
}

async fn own_data_request(
    State(state): State<AppState>,
    crate::rate_limit::ClientAddr(address): crate::rate_limit::ClientAddr,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<OwnDataForm>,
) -> Response {
    let lang = crate::error::request_lang_of(&headers);
    if let Err((status, message)) = super::public::admit(
        &state,
        &headers,
        &format!("mis-datos:{address}"),
        &form._csrf,
        lang,
        "Ha enviado demasiadas solicitudes en poco tiempo. Espere un minuto e intente de nuevo.",
    ) {
        return own_data_response(&state, lang, status, false, Some(message)).await;
    }
    match state
        .store
        .request_personal_file(&form.email, &state.config.base_url)
        .await
    {
        // The same answer whether or not the address is on record.
        Ok(()) => own_data_response(&state, lang, axum::http::StatusCode::OK, true, None).await,
        Err(e) => {
            let e = crate::error::AppError::from(e);
            let message = crate::i18n::describe_error(&e, lang);
            own_data_response(&state, lang, e.status(), false, Some(message)).await
        }
    }
}

/// The file a person's one-time link opens, in the format asked for (each opening is logged).
async fn linked_file(
    state: &AppState,
    token: &str,
    format: &str,
) -> Result<PersonalFile, PageError> {
    state
        .store
        .personal_file_by_link(token, format)
        .await?
        .ok_or_else(|| PageError::from(crate::error::AppError::NotFound("link")))
}

async fn own_data_file(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let lang = crate::error::request_lang_of(&headers);
    let file = linked_file(&state, &token, "html").await?;
    let html = personal_file_html(&file, lang, state.store.time_zone()).replace(
        "<main id=\"main\">",
        &format!(
            "<main id=\"main\"><p class=\"no-print\"><a href=\"/mis-datos/{token}/expediente.json\">{}</a></p>",
            Tr(lang).s("Descargar mis datos (JSON)")
        ),
    );
    Ok(axum::response::Html(html).into_response())
}

async fn own_data_json(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let file = linked_file(&state, &token, "json").await?;
    let bytes = serde_json::to_vec_pretty(&file)
        .map_err(|_| PageError::from(crate::error::AppError::Internal))?;
    Ok(super::export::download(
        "application/json",
        "mis-datos.json",
        bytes,
    ))
}

//! The public satisfaction survey, `/encuesta/{token}` (and the same page from the person's
//! portal, `/mis-solicitudes/{folio}/encuesta`): mobile-first, in Spanish, with the privacy
//! notice. Opening the page records nothing (mail scanners follow links); only a submission
//! from the page, with its form token, records an answer, and only once.

use std::collections::BTreeMap;

use atiende_domain::classification::Lang;
use atiende_domain::survey::{Question, SurveyPolicy};
use atiende_store::settings::key;
use atiende_store::surveys::{AnswerOutcome, SurveyKey, SurveyLink};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::public::{admit, with_form_cookie};
use super::render;
use crate::AppState;
use crate::error::{AppError, request_lang_of};
use crate::i18n::{Tr, describe_error};
use crate::rate_limit::ClientAddr;

pub fn router() -> Router<AppState> {
    Router::new().route("/encuesta/{token}", get(survey_page).post(survey_post))
}

/// What the page shows.
pub enum Shown {
    Form,
    Thanks,
    AlreadyAnswered,
    Expired,
    Unknown,
}

#[derive(askama::Template)]
#[template(path = "encuesta.html")]
struct SurveyPage {
    t: Tr,
    lang: Lang,
    csrf: String,
    notice: String,
    notice_id: Option<i64>,
    /// Where the form posts: the link's address, or the portal's.
    action: String,
    folio: String,
    questions: Vec<Question>,
    shown: Shown,
    given: BTreeMap<String, String>,
    error: Option<String>,
}

impl SurveyPage {
    fn given_is(&self, key: &str, value: &str) -> bool {
        self.given.get(key).map(String::as_str) == Some(value)
    }

    fn given(&self, key: &str) -> &str {
        self.given.get(key).map_or("", String::as_str)
    }

    fn is(&self, what: &str) -> bool {
        matches!(
            (&self.shown, what),
            (Shown::Form, "form")
                | (Shown::Thanks, "thanks")
                | (Shown::AlreadyAnswered, "answered")
                | (Shown::Expired, "expired")
                | (Shown::Unknown, "unknown")
        )
    }
}

struct View {
    shown: Shown,
    folio: String,
    questions: Vec<Question>,
}

async fn view_of(state: &AppState, key: SurveyKey<'_>) -> Result<View, AppError> {
    Ok(match state.store.survey_by(key).await? {
        SurveyLink::Open { survey, questions } => View {
            shown: Shown::Form,
            folio: survey.folio.clone(),
            questions,
        },
        SurveyLink::Answered => View::just(Shown::AlreadyAnswered),
        SurveyLink::Expired => View::just(Shown::Expired),
        SurveyLink::Unknown => View::just(Shown::Unknown),
    })
}

impl View {
    fn just(shown: Shown) -> View {
        View {
            shown,
            folio: String::new(),
            questions: vec![],
        }
    }
}

async fn respond(
    state: &AppState,
    lang: Lang,
    action: String,
    view: View,
    given: BTreeMap<String, String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let csrf = atiende_store::users::random_token();
    let status = match view.shown {
        Shown::Unknown if status == StatusCode::OK => StatusCode::NOT_FOUND,
        Shown::Expired if status == StatusCode::OK => StatusCode::GONE,
        _ => status,
    };
    let (notice_id, notice) = super::public::simplified_notice(state).await;
    let page = SurveyPage {
        t: Tr(lang),
        lang,
        csrf: csrf.clone(),
        notice,
        notice_id,
        action,
        folio: view.folio,
        questions: view.questions,
        shown: view.shown,
        given,
        error,
    };
    with_form_cookie(state, (status, render(&page)).into_response(), &csrf)
}

async fn survey_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = request_lang_of(&headers);
    show(
        &state,
        lang,
        SurveyKey::Token(&token),
        format!("/encuesta/{token}"),
    )
    .await
}

/// The survey's page, reached by `key`, its form posting to `action`.
pub(super) async fn show(
    state: &AppState,
    lang: Lang,
    key: SurveyKey<'_>,
    action: String,
) -> Response {
    match view_of(state, key).await {
        Ok(view) => {
            respond(
                state,
                lang,
                action,
                view,
                BTreeMap::new(),
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

async fn survey_post(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let lang = request_lang_of(&headers);
    submit(
        &state,
        &headers,
        lang,
        SurveyKey::Token(&token),
        format!("/encuesta/{token}"),
        &format!("encuesta:{address}"),
        form,
    )
    .await
}

/// Records a submission of the survey reached by `key` (rate-limited by `limit_key`), and
/// shows what became of it.
pub(super) async fn submit(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    key: SurveyKey<'_>,
    action: String,
    limit_key: &str,
    form: BTreeMap<String, String>,
) -> Response {
    let t = Tr(lang);
    let sent_token = form.get("_csrf").cloned().unwrap_or_default();
    if let Err((status, message)) = admit(
        state,
        headers,
        limit_key,
        &sent_token,
        lang,
        t.s(
            "Ha enviado demasiadas respuestas en poco tiempo. Espere un minuto e intente de nuevo.",
        ),
    ) {
        return match view_of(state, key).await {
            Ok(view) => respond(state, lang, action, view, form, Some(message), status).await,
            Err(e) => e.into_response(),
        };
    }
    let policy: SurveyPolicy = match state.store.setting(key::SURVEY_POLICY).await {
        Ok(p) => p,
        Err(e) => return AppError::from(e).into_response(),
    };
    let outcome = state.store.answer_survey_by(key, &form, &policy).await;
    let shown = match outcome {
        Ok(AnswerOutcome::Recorded { .. }) => Shown::Thanks,
        Ok(AnswerOutcome::AlreadyAnswered) => Shown::AlreadyAnswered,
        Ok(AnswerOutcome::Expired) => Shown::Expired,
        Ok(AnswerOutcome::Unknown) => Shown::Unknown,
        Err(e) => {
            let e = AppError::from(e);
            if matches!(e, AppError::Internal) {
                return e.into_response();
            }
            let message = describe_error(&e, lang);
            return match view_of(state, key).await {
                Ok(view) => {
                    respond(state, lang, action, view, form, Some(message), e.status()).await
                }
                Err(e) => e.into_response(),
            };
        }
    };
    respond(
        state,
        lang,
        action,
        View::just(shown),
        BTreeMap::new(),
        None,
        StatusCode::OK,
    )
    .await
}

//! The quality owner's pages: the survey's settings (delay, once-per-period, expiry, low-score
//! threshold, WhatsApp template) and its questionnaire, edited as new versions; the latest
//! surveys with their answers.

use std::collections::BTreeMap;

use atiende_domain::access::Action;
use atiende_domain::survey::{Question, QuestionKind, SurveyPolicy};
use atiende_store::Actor;
use atiende_store::settings::key;
use atiende_store::surveys::Survey;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, local, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::describe_error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calidad/encuesta", get(page))
        .route("/calidad/encuesta/ajustes", post(save_policy))
        .route("/calidad/encuesta/preguntas", post(save_questions))
        .route("/calidad/encuesta/exportar", get(export_surveys))
}

pub struct SurveyRow {
    pub folio: String,
    pub status: String,
    pub detail: String,
    pub sent: String,
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
    pub overall: String,
    pub comment: String,
}

/// A survey's state in the reader's words.
pub(crate) fn survey_status(
    s: &Survey,
    lang: atiende_domain::classification::Lang,
) -> &'static str {
    crate::i18n::Tr(lang).s(match s.status.as_str() {
        "answered" => "Respondida",
        "skipped" => "No enviada",
        _ => "Enviada",
    })
}

fn survey_row(
    s: &Survey,
    lang: atiende_domain::classification::Lang,
    tz: chrono_tz::Tz,
) -> SurveyRow {
    let t = crate::i18n::Tr(lang);
    SurveyRow {
        folio: s.folio.clone(),
        status: survey_status(s, lang).to_string(),
        detail: match (&s.skip_reason, s.invited_by.as_deref()) {
            (Some(r), _) => r.label(lang).to_string(),
            (None, Some("whatsapp")) => "WhatsApp".into(),
            (None, Some(_)) => t.s("Correo").to_string(),
            _ => String::new(),
        },
        sent: s.sent_at.map(|t| local(&t, tz)).unwrap_or_default(),
        sent_at: s.sent_at,
        overall: s.overall.map(|o| format!("{o}/5")).unwrap_or_default(),
        comment: s
            .answers
            .as_ref()
            .and_then(|a| a["comment"].as_str())
            .unwrap_or_default()
            .to_string(),
    }
}

#[derive(Deserialize, Default)]
struct ExportParams {
    formato: Option<String>,
}

/// The latest surveys with their answers, as a spreadsheet.
async fn export_surveys(
    State(state): State<AppState>,
    page: PageUser,
    axum::extract::Query(p): axum::extract::Query<ExportParams>,
) -> Result<Response, PageError> {
    page.require(Action::QualityManage)?;
    let lang = page.user.language;
    let t = crate::i18n::Tr(lang);
    let tz = state.store.time_zone();
    let surveys = state.store.surveys(500).await?;
    let mut rows = vec![
        [
            "Folio",
            "Estado",
            "Detalle",
            "Enviada",
            "Satisfacción",
            "Comentario",
        ]
        .iter()
        .map(|h| t.s(h).to_string())
        .collect::<Vec<_>>(),
    ];
    rows[0][3] = format!("{} ({tz})", rows[0][3]);
    rows[0][4] = format!("{} (1-5)", rows[0][4]);
    for s in &surveys {
        let r = survey_row(s, lang, tz);
        let sent = r.sent_at.map(|at| super::export::when(&at, tz));
        rows.push(vec![
            r.folio,
            r.status,
            r.detail,
            sent.unwrap_or_default(),
            s.overall.map(|o| o.to_string()).unwrap_or_default(),
            r.comment,
        ]);
    }
    let file = "encuestas";
    match p.formato.as_deref() {
        Some("xlsx") => super::export::xlsx(&[(t.s("Últimas encuestas").to_string(), rows)], file),
        _ => super::export::csv(&rows, file),
    }
    .map_err(PageError::from)
}

#[derive(askama::Template)]
#[template(path = "quality_survey.html")]
struct QualitySurveyPage {
    ctx: Ctx,
    policy: SurveyPolicy,
    version: i64,
    /// The questions plus two empty rows to add more.
    rows: Vec<Question>,
    kinds: Vec<(&'static str, &'static str)>,
    templates: Vec<String>,
    surveys: Vec<SurveyRow>,
    sent: usize,
    answered: usize,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct Params {
    ok: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    page: PageUser,
    axum::extract::Query(p): axum::extract::Query<Params>,
) -> Result<Response, PageError> {
    let t = crate::i18n::Tr(page.user.language);
    let notice = p.ok.map(|_| t.s("Cambios guardados.").to_string());
    show(&state, page, notice, None).await
}

async fn show(
    state: &AppState,
    page: PageUser,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    page.require(Action::QualityManage)?;
    let lang = page.user.language;
    let policy: SurveyPolicy = state.store.setting(key::SURVEY_POLICY).await?;
    let questionnaire = state.store.current_questionnaire().await?;
    let mut rows = questionnaire.questions.clone();
    for _ in 0..2 {
        rows.push(Question {
            key: String::new(),
            label: String::new(),
            kind: QuestionKind::Scale,
            required: false,
        });
    }
    let tz = state.store.time_zone();
    let recent = state.store.surveys(100).await?;
    let sent = recent.iter().filter(|s| s.sent_at.is_some()).count();
    let answered = recent.iter().filter(|s| s.answered_at.is_some()).count();
    let surveys = recent.iter().map(|s| survey_row(s, lang, tz)).collect();
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = QualitySurveyPage {
        policy,
        version: questionnaire.version,
        rows,
        kinds: QuestionKind::ALL
            .iter()
            .map(|k| (k.code(), k.label(lang)))
            .collect(),
        templates: state
            .config
            .meta
            .templates
            .iter()
            .map(|t| t.name.clone())
            .collect(),
        surveys,
        sent,
        answered,
        notice,
        error,
        ctx: page.ctx("quality"),
    };
    Ok((status, render(&view)).into_response())
}

#[derive(Deserialize)]
struct PolicyForm {
    delay_hours: i64,
    min_days_between: i64,
    expiry_days: i64,
    low_score_threshold: i64,
    #[serde(default)]
    whatsapp_template: String,
}

async fn save_policy(
    State(state): State<AppState>,
    posted: Posted<PolicyForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let policy = SurveyPolicy {
        delay_hours: form.delay_hours,
        min_days_between: form.min_days_between,
        expiry_days: form.expiry_days,
        low_score_threshold: form.low_score_threshold,
        whatsapp_template: form.whatsapp_template.trim().to_string(),
    };
    let result = match policy.check() {
        Ok(()) => state
            .store
            .save_setting(Actor::Staff(&page.user), key::SURVEY_POLICY, &policy)
            .await
            .map_err(AppError::from),
        Err(e) => Err(AppError::from(e)),
    };
    finish(&state, page, result).await
}

/// Rows `key_N`, `label_N`, `kind_N`, `required_N`; a row without key and label is dropped.
fn questions_of(form: &BTreeMap<String, String>) -> Vec<Question> {
    let mut rows = Vec::new();
    for n in 0..40 {
        let field = |name: &str| {
            form.get(&format!("{name}_{n}"))
                .map(|v| v.trim().to_string())
        };
        let (Some(key), Some(label)) = (field("key"), field("label")) else {
            continue;
        };
        if key.is_empty() && label.is_empty() {
            continue;
        }
        rows.push(Question {
            key,
            label,
            kind: field("kind")
                .and_then(|k| QuestionKind::from_code(&k))
                .unwrap_or(QuestionKind::Scale),
            required: field("required").is_some(),
        });
    }
    rows
}

async fn save_questions(
    State(state): State<AppState>,
    posted: Posted<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let result = state
        .store
        .save_questionnaire(Actor::Staff(&page.user), &questions_of(&form))
        .await
        .map(|_| ())
        .map_err(AppError::from);
    finish(&state, page, result).await
}

async fn finish(
    state: &AppState,
    page: PageUser,
    result: Result<(), AppError>,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to("/calidad/encuesta?ok=1").into_response()),
        Err(AppError::Internal) => Err(PageError::from(AppError::Internal)),
        Err(e) => {
            let message = describe_error(&e, page.user.language);
            show(state, page, None, Some(message)).await
        }
    }
}

//! The quality system by API: indicators for a period with their targets and breakdowns, the
//! targets themselves, the nonconformity register and its criteria, and the satisfaction
//! survey (settings, questionnaire versions, answers and their export, low-score follow-ups).
//! The figures are the console's: one report (`pages::indicators::build_report`) for both.

use atiende_domain::access::Action;
use atiende_domain::business_hours::BusinessCalendar;
use atiende_domain::ids::IncidentId;
use atiende_domain::indicators::{IndicatorKind, Targets, Unit};
use atiende_domain::nonconformity::{Criteria, NcStatus, NonconformityInput};
use atiende_domain::period::{Period, Periodicity};
use atiende_domain::service_level::ServicePolicy;
use atiende_domain::survey::{Question, SurveyPolicy};
use atiende_domain::{FieldError, RuleError};
use atiende_store::Actor;
use atiende_store::nonconformities::{NcFilter, Nonconformity};
use atiende_store::settings::key;
use atiende_store::surveys::{Questionnaire, Survey, SurveyFilter};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, PageParams};
use crate::AppState;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::{Json, Path, Query};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(indicators))
        .routes(routes!(targets, save_targets))
        .routes(routes!(list_nonconformities, create_nonconformity))
        .routes(routes!(get_nonconformity, update_nonconformity))
        .routes(routes!(close_nonconformity))
        .routes(routes!(criteria, save_criteria))
        .routes(routes!(survey_settings, save_survey_settings))
        .routes(routes!(questionnaires, new_questionnaire))
        .routes(routes!(surveys))
        .routes(routes!(export_surveys))
        .routes(routes!(follow_ups))
        .routes(routes!(close_follow_up))
        .routes(routes!(service_levels, save_service_levels))
        .routes(routes!(business_hours, save_business_hours))
}

/// The service-level targets: first response and resolution by channel, incident type,
/// critical and topic (the most specific row applies), in working minutes; the warning
/// thresholds; the units' time to answer a derivation.
#[utoipa::path(get, path = "/quality/service-levels", tag = "quality", responses((status = 200, body = ServicePolicy)))]
async fn service_levels(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ServicePolicy>, AppError> {
    caller.require(Action::IndicatorRead)?;
    Ok(Json(state.store.service_policy().await?))
}

/// Replaces the targets; the clocks of every incident not closed are recomputed.
#[utoipa::path(put, path = "/quality/service-levels", tag = "quality", request_body = ServicePolicy,
    responses((status = 200, body = ServicePolicy), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_service_levels(
    State(state): State<AppState>,
    caller: Caller,
    Json(policy): Json<ServicePolicy>,
) -> Result<Json<ServicePolicy>, AppError> {
    let user = caller.require(Action::QualityManage)?;
    state
        .store
        .save_service_policy(Actor::Staff(user), &policy)
        .await?;
    Ok(Json(state.store.service_policy().await?))
}

/// The institution's business hours (Monday first; `null` closed) and days off (holidays,
/// vacation periods), in which service levels and the nonconformity criteria count time.
#[utoipa::path(get, path = "/quality/business-hours", tag = "quality", responses((status = 200, body = BusinessCalendar)))]
async fn business_hours(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<BusinessCalendar>, AppError> {
    caller.require(Action::IndicatorRead)?;
    Ok(Json(state.store.business_calendar().await?))
}

/// Replaces the business hours and days off; the clocks of every incident not closed are
/// recomputed.
#[utoipa::path(put, path = "/quality/business-hours", tag = "quality", request_body = BusinessCalendar,
    responses((status = 200, body = BusinessCalendar), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_business_hours(
    State(state): State<AppState>,
    caller: Caller,
    Json(calendar): Json<BusinessCalendar>,
) -> Result<Json<BusinessCalendar>, AppError> {
    let user = caller.require(Action::QualityManage)?;
    state
        .store
        .save_business_calendar(Actor::Staff(user), &calendar)
        .await?;
    Ok(Json(state.store.business_calendar().await?))
}

/// Which period: a code (`2026-11`, `2026-Q3`, `2026-S2`, `2026`) or the current one of a
/// periodicity (the current semester when neither is given).
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PeriodParams {
    /// `2026-11` (month), `2026-Q3`, `2026-S2` or `2026`.
    pub period: Option<String>,
    /// The current period of this kind when `period` is not given.
    pub periodicity: Option<Periodicity>,
}

/// A period's code, or the validation error naming the `period` parameter.
fn parse_period(code: &str) -> Result<Period, AppError> {
    Period::parse(code).ok_or_else(|| {
        AppError::Rule(RuleError::Invalid(vec![FieldError::new(
            "period", "invalid",
        )]))
    })
}

impl PeriodParams {
    fn period(&self, state: &AppState) -> Result<Period, AppError> {
        match self.period.as_deref() {
            Some(code) => parse_period(code),
            None => Ok(Period::containing(
                chrono::Utc::now(),
                state.store.time_zone(),
                self.periodicity.unwrap_or(Periodicity::Semester),
            )),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueUnit {
    Percent,
    Hours,
    Count,
}

#[derive(Serialize, ToSchema)]
pub struct PeriodValue {
    pub period: String,
    pub value: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct IndicatorValue {
    pub indicator: IndicatorKind,
    pub label: String,
    pub definition: String,
    /// None when the period has nothing to measure (no closings, no surveys…).
    pub value: Option<f64>,
    pub unit: ValueUnit,
    /// Whether meeting the target means reaching at least it (else at most it).
    pub higher_is_better: bool,
    pub target: Option<f64>,
    /// Whether the value meets its target; None without a target or a value.
    pub met: Option<bool>,
    pub periodicity: Option<Periodicity>,
    pub responsible: Option<String>,
    /// The five periods before this one and this one, oldest first.
    pub trend: Vec<PeriodValue>,
}

#[derive(Serialize, ToSchema)]
pub struct BreakdownRow {
    pub label: String,
    pub incidents: i64,
    pub closed: i64,
    /// First-contact resolution among the closed (%); None without closings.
    pub first_contact_resolution: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct Breakdown {
    /// `channel`, `user_type`, `incident_type`, `topic`, `unit` or `agent`.
    pub dimension: String,
    pub label: String,
    pub rows: Vec<BreakdownRow>,
}

#[derive(Serialize, ToSchema)]
pub struct IndicatorReport {
    pub period: String,
    pub label: String,
    pub indicators: Vec<IndicatorValue>,
    pub breakdowns: Vec<Breakdown>,
}

/// Every indicator of a period against its target, with its trend, and the volumes by
/// channel, user type, incident type, topic, unit and agent.
#[utoipa::path(get, path = "/quality/indicators", tag = "quality", params(PeriodParams),
    responses((status = 200, body = IndicatorReport, example = json!({
        "period": "2026-11", "label": "noviembre de 2026",
        "indicators": [{"indicator": "satisfaction_index", "label": "Índice de satisfacción", "definition": "Encuestas respondidas con satisfacción general de 4 o 5, entre encuestas respondidas (%).", "value": 91.3, "unit": "percent", "higher_is_better": true, "target": 90.0, "met": true, "periodicity": "monthly", "responsible": "Coordinación del CAP", "trend": [{"period": "2026-10", "value": 88.0}, {"period": "2026-11", "value": 91.3}]}],
        "breakdowns": [{"dimension": "channel", "label": "Medio de contacto", "rows": [{"label": "Correo", "incidents": 412, "closed": 398, "first_contact_resolution": 81.2}]}]
    })), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn indicators(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PeriodParams>,
) -> Result<Json<IndicatorReport>, AppError> {
    let user = caller.require(Action::IndicatorRead)?;
    let period = p.period(&state)?;
    let report = crate::pages::indicators::build_report(&state, period, user.language).await?;
    let indicators = report
        .rows
        .into_iter()
        .zip(IndicatorKind::ALL)
        .map(|(row, &kind)| IndicatorValue {
            indicator: kind,
            label: row.label.to_string(),
            definition: row.definition.to_string(),
            value: row.value,
            unit: match kind.unit() {
                Unit::Percent => ValueUnit::Percent,
                Unit::Hours => ValueUnit::Hours,
                Unit::Count => ValueUnit::Count,
            },
            higher_is_better: kind.higher_is_better(),
            target: row.target,
            met: row.met,
            periodicity: Periodicity::from_code(row.periodicity_code),
            responsible: row.target.map(|_| row.responsible),
            trend: row
                .history
                .into_iter()
                .map(|(period, value)| PeriodValue { period, value })
                .collect(),
        })
        .collect();
    let breakdowns = report
        .breakdowns
        .into_iter()
        .map(|b| Breakdown {
            dimension: b.code.to_string(),
            label: b.title.to_string(),
            rows: b
                .rows
                .into_iter()
                .map(|(label, incidents, closed, fcr)| BreakdownRow {
                    label,
                    incidents,
                    closed,
                    first_contact_resolution: fcr,
                })
                .collect(),
        })
        .collect();
    Ok(Json(IndicatorReport {
        period: report.period.code(),
        label: report.period_label,
        indicators,
        breakdowns,
    }))
}

/// The targets (metas) in force, with their periodicity and responsible.
#[utoipa::path(get, path = "/quality/targets", tag = "quality", responses((status = 200, body = Targets)))]
async fn targets(State(state): State<AppState>, caller: Caller) -> Result<Json<Targets>, AppError> {
    caller.require(Action::IndicatorRead)?;
    Ok(Json(state.store.setting(key::INDICATOR_TARGETS).await?))
}

/// Replaces the targets: an indicator left out has none.
#[utoipa::path(put, path = "/quality/targets", tag = "quality",
    request_body(content = Targets, example = json!({"targets": [{"indicator": "satisfaction_index", "target": 90.0, "periodicity": "semester", "responsible": "Coordinación del CAP"}]})),
    responses((status = 200, body = Targets), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_targets(
    State(state): State<AppState>,
    caller: Caller,
    Json(targets): Json<Targets>,
) -> Result<Json<Targets>, AppError> {
    let user = caller.require(Action::QualityManage)?;
    targets.check()?;
    state
        .store
        .save_setting(Actor::Staff(user), key::INDICATOR_TARGETS, &targets)
        .await?;
    Ok(Json(targets))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NcParams {
    pub status: Option<NcStatus>,
    /// Detected in this period (`2026-11`, `2026-Q3`, `2026-S2`, `2026`); all when not given.
    pub period: Option<String>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// The nonconformity register (producto no conforme), newest first.
#[utoipa::path(get, path = "/nonconformities", tag = "quality", params(NcParams),
    responses((status = 200, body = Page<Nonconformity>), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn list_nonconformities(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<NcParams>,
) -> Result<Json<Page<Nonconformity>>, AppError> {
    caller.require(Action::IndicatorRead)?;
    let page = PageParams {
        cursor: p.cursor,
        limit: p.limit,
    };
    let months = p
        .period
        .as_deref()
        .map(parse_period)
        .transpose()?
        .map(|period| period.months());
    let filter = NcFilter {
        status: p.status,
        months,
        before_id: page.before_id()?,
        limit: page.limit() + 1,
    };
    let items = state.store.nonconformities(&filter).await?;
    Ok(Json(Page::of(items, page.limit(), |n| n.id)))
}

#[derive(Deserialize, ToSchema)]
pub struct NewNonconformity {
    /// The incident it is about, by folio or id; none for one found elsewhere.
    pub incident: Option<String>,
    #[serde(flatten)]
    pub input: NonconformityInput,
}

/// Registers a nonconformity by hand.
#[utoipa::path(post, path = "/nonconformities", tag = "quality",
    request_body(content = NewNonconformity, example = json!({"incident": "CAP-2026-000812", "description": "Se respondió con información desactualizada del calendario.", "responsible": "Coordinación del CAP"})),
    responses((status = 201, body = Nonconformity), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn create_nonconformity(
    State(state): State<AppState>,
    caller: Caller,
    Json(new): Json<NewNonconformity>,
) -> Result<(StatusCode, Json<Nonconformity>), AppError> {
    let user = caller.require(Action::QualityManage)?;
    let incident: Option<IncidentId> = match new.incident.as_deref() {
        Some(reference) => Some(state.store.incident_id(reference).await.map_err(|_| {
            AppError::Rule(RuleError::Invalid(vec![FieldError::new(
                "incident",
                "unknown_incident",
            )]))
        })?),
        None => None,
    };
    let nc = state
        .store
        .register_nonconformity(Actor::Staff(user), incident, &new.input)
        .await?;
    Ok((StatusCode::CREATED, Json(nc)))
}

#[utoipa::path(get, path = "/nonconformities/{id}", tag = "quality", params(("id" = i64, Path)),
    responses((status = 200, body = Nonconformity), (status = 404, body = crate::error::ErrorEnvelope)))]
async fn get_nonconformity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Nonconformity>, AppError> {
    caller.require(Action::IndicatorRead)?;
    Ok(Json(state.store.nonconformity(id).await?))
}

/// Records the treatment (the whole entry: disposition, corrective action, responsible, due
/// date, effectiveness check, status). Closing needs the treatment and its check.
#[utoipa::path(put, path = "/nonconformities/{id}", tag = "quality", params(("id" = i64, Path)),
    request_body(content = NonconformityInput, example = json!({"description": "Se respondió con información desactualizada del calendario.", "disposition": "Se envió la información correcta a la persona.", "corrective_action": "Actualizar el artículo del calendario cada ciclo.", "responsible": "Coordinación del CAP", "due_date": "2026-12-15", "effectiveness": "", "status": "in_treatment"})),
    responses((status = 200, body = Nonconformity), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn update_nonconformity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(input): Json<NonconformityInput>,
) -> Result<Json<Nonconformity>, AppError> {
    let user = caller.require(Action::QualityManage)?;
    Ok(Json(
        state
            .store
            .update_nonconformity(Actor::Staff(user), id, &input)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct CloseNonconformity {
    /// How and when the corrective action was checked to work.
    pub effectiveness: String,
}

/// Closes an entry with the check that its corrective action worked; the rest of its treatment
/// stays as recorded (and must be there).
#[utoipa::path(post, path = "/nonconformities/{id}/close", tag = "quality", params(("id" = i64, Path)),
    request_body(content = CloseNonconformity, example = json!({"effectiveness": "Sin reincidencias en el ciclo 2027A (revisado el 2027-03-01)."})),
    responses((status = 200, body = Nonconformity), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn close_nonconformity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(close): Json<CloseNonconformity>,
) -> Result<Json<Nonconformity>, AppError> {
    let user = caller.require(Action::QualityManage)?;
    let nc = state.store.nonconformity(id).await?;
    let input = NonconformityInput {
        description: nc.description,
        disposition: nc.disposition,
        corrective_action: nc.corrective_action,
        responsible: nc.responsible,
        responsible_user: nc.responsible_user,
        due_date: nc.due_date,
        effectiveness: close.effectiveness,
        status: Some(NcStatus::Closed),
    };
    Ok(Json(
        state
            .store
            .update_nonconformity(Actor::Staff(user), id, &input)
            .await?,
    ))
}

/// The criteria by which nonconformities are found (late complaints, low scores…).
#[utoipa::path(get, path = "/nonconformities/criteria", tag = "quality", responses((status = 200, body = Criteria)))]
async fn criteria(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Criteria>, AppError> {
    caller.require(Action::IndicatorRead)?;
    Ok(Json(
        state.store.setting(key::NONCONFORMITY_CRITERIA).await?,
    ))
}

#[utoipa::path(put, path = "/nonconformities/criteria", tag = "quality",
    request_body(content = Criteria, example = json!({"complaint_business_days": 5, "low_survey_score": 2, "closed_incomplete": true, "derivation_days": 5, "reopened_days": 7})),
    responses((status = 200, body = Criteria), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_criteria(
    State(state): State<AppState>,
    caller: Caller,
    Json(criteria): Json<Criteria>,
) -> Result<Json<Criteria>, AppError> {
    let user = caller.require(Action::QualityManage)?;
    criteria.check()?;
    state
        .store
        .save_setting(Actor::Staff(user), key::NONCONFORMITY_CRITERIA, &criteria)
        .await?;
    Ok(Json(criteria))
}

/// When invitations go, how often a person is asked, how long a link lasts, which score
/// opens a follow-up.
#[utoipa::path(get, path = "/surveys/settings", tag = "quality", responses((status = 200, body = SurveyPolicy)))]
async fn survey_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SurveyPolicy>, AppError> {
    caller.require(Action::QualityManage)?;
    Ok(Json(state.store.setting(key::SURVEY_POLICY).await?))
}

#[utoipa::path(put, path = "/surveys/settings", tag = "quality",
    request_body(content = SurveyPolicy, example = json!({"delay_hours": 1, "min_days_between": 30, "expiry_days": 14, "low_score_threshold": 2, "whatsapp_template": "encuesta_cap"})),
    responses((status = 200, body = SurveyPolicy), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn save_survey_settings(
    State(state): State<AppState>,
    caller: Caller,
    Json(policy): Json<SurveyPolicy>,
) -> Result<Json<SurveyPolicy>, AppError> {
    let user = caller.require(Action::QualityManage)?;
    policy.check()?;
    state
        .store
        .save_setting(Actor::Staff(user), key::SURVEY_POLICY, &policy)
        .await?;
    Ok(Json(policy))
}

/// Every questionnaire version, newest (the one new surveys get) first.
#[utoipa::path(get, path = "/surveys/questionnaires", tag = "quality", responses((status = 200, body = Vec<Questionnaire>)))]
async fn questionnaires(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Questionnaire>>, AppError> {
    caller.require(Action::IndicatorRead)?;
    Ok(Json(state.store.questionnaire_versions().await?))
}

#[derive(Deserialize, ToSchema)]
pub struct NewQuestionnaire {
    pub questions: Vec<Question>,
}

/// Saves the questions as a new version (answers given before keep theirs); the same
/// questions as now change nothing.
#[utoipa::path(post, path = "/surveys/questionnaires", tag = "quality",
    request_body(content = NewQuestionnaire, example = json!({"questions": [{"key": "overall", "label": "¿Qué tan satisfecho está con la atención recibida?", "kind": "scale", "required": true}, {"key": "comment", "label": "Comentarios", "kind": "text", "required": false}]})),
    responses((status = 201, body = Questionnaire), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn new_questionnaire(
    State(state): State<AppState>,
    caller: Caller,
    Json(new): Json<NewQuestionnaire>,
) -> Result<(StatusCode, Json<Questionnaire>), AppError> {
    let user = caller.require(Action::QualityManage)?;
    let saved = state
        .store
        .save_questionnaire(Actor::Staff(user), &new.questions)
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

/// Where a survey stands: invited, answered, or not sent (and why, in `skip_reason`).
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum SurveyStatus {
    Sent,
    Answered,
    Skipped,
}

impl SurveyStatus {
    fn code(self) -> &'static str {
        match self {
            SurveyStatus::Sent => "sent",
            SurveyStatus::Answered => "answered",
            SurveyStatus::Skipped => "skipped",
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SurveyParams {
    #[param(inline)]
    pub status: Option<SurveyStatus>,
    /// Answered in this period (`2026-11`, `2026-Q3`, `2026-S2`, `2026`).
    pub period: Option<String>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

impl SurveyParams {
    fn filter(&self, state: &AppState) -> Result<SurveyFilter, AppError> {
        let answered = self
            .period
            .as_deref()
            .map(parse_period)
            .transpose()?
            .map(|period| answer_window(period, state.store.time_zone()));
        Ok(SurveyFilter {
            status: self.status.map(|s| s.code().to_string()),
            answered,
            ..Default::default()
        })
    }
}

fn answer_window(period: Period, tz: chrono_tz::Tz) -> (i64, i64) {
    let (start, end) = period.bounds(tz);
    (start.timestamp_millis(), end.timestamp_millis())
}

/// Surveys with their answers, newest first: the status of each invitation and, once
/// answered, each question's answer and the questionnaire version it was given with.
#[utoipa::path(get, path = "/surveys", tag = "quality", params(SurveyParams),
    responses((status = 200, body = Page<Survey>), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn surveys(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<SurveyParams>,
) -> Result<Json<Page<Survey>>, AppError> {
    caller.require(Action::QualityManage)?;
    let page = PageParams {
        cursor: p.cursor.clone(),
        limit: p.limit,
    };
    let filter = SurveyFilter {
        before_id: page.before_id()?,
        limit: page.limit() + 1,
        ..p.filter(&state)?
    };
    let items = state.store.survey_list(&filter).await?;
    Ok(Json(Page::of(items, page.limit(), |s| s.id)))
}

/// Every answered survey of a period as CSV, one column per question (as a spreadsheet or BI
/// tool reads it); moments in UTC (RFC 3339).
#[utoipa::path(get, path = "/surveys/export", tag = "quality", params(PeriodParams),
    responses((status = 200, content_type = "text/csv", body = String,
        example = "folio,channel,sent_at,answered_at,questionnaire_version,overall,resolved,comment\r\nCAP-2026-000812,email,2026-11-03T16:00:00+00:00,2026-11-03T18:12:40+00:00,2,5,sí,Muy amables\r\n"),
        (status = 422, body = crate::error::ErrorEnvelope)))]
async fn export_surveys(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PeriodParams>,
) -> Result<Response, AppError> {
    caller.require(Action::QualityManage)?;
    let period = p.period(&state)?;
    let mut filter = SurveyFilter {
        status: Some("answered".into()),
        answered: Some(answer_window(period, state.store.time_zone())),
        limit: atiende_store::MAX_PAGE,
        ..Default::default()
    };
    let mut all: Vec<Survey> = Vec::new();
    loop {
        let page = state.store.survey_list(&filter).await?;
        let done = (page.len() as i64) < filter.limit;
        filter.before_id = page.last().map(|s| s.id);
        all.extend(page);
        if done {
            break;
        }
    }
    // One column per question key, in the order keys first appear.
    let mut keys: Vec<String> = Vec::new();
    for s in &all {
        if let Some(serde_json::Value::Object(map)) = &s.answers {
            for k in map.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    let mut header: Vec<String> = [
        "folio",
        "channel",
        "sent_at",
        "answered_at",
        "questionnaire_version",
    ]
    .map(String::from)
    .to_vec();
    header.extend(keys.iter().cloned());
    let mut rows = vec![header];
    for s in all.iter().rev() {
        let mut row = vec![
            s.folio.clone(),
            s.channel.code().to_string(),
            s.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.answered_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.questionnaire_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
        ];
        for k in &keys {
            let value = s.answers.as_ref().and_then(|a| a.get(k));
            row.push(match value {
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(serde_json::Value::Bool(b)) => b.to_string(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            });
        }
        rows.push(row);
    }
    crate::pages::export::csv(&rows, &format!("encuestas-{}", period.code()))
}

/// Low scores waiting for the CAP lead's follow-up, newest first, a page at a time.
#[utoipa::path(get, path = "/surveys/follow-ups", tag = "quality", params(PageParams), responses((status = 200, body = Page<Survey>)))]
async fn follow_ups(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<Survey>>, AppError> {
    caller.require(Action::SurveyFollowUp)?;
    let filter = SurveyFilter {
        follow_up: Some("pending".into()),
        before_id: p.before_id()?,
        limit: p.limit() + 1,
        ..Default::default()
    };
    let items = state.store.survey_list(&filter).await?;
    Ok(Json(Page::of(items, p.limit(), |s| s.id)))
}

#[derive(Deserialize, ToSchema)]
pub struct FollowUpNote {
    /// What was done about the low score.
    pub note: String,
}

/// Records what was done about a low score, which closes its follow-up.
#[utoipa::path(post, path = "/surveys/{id}/follow-up", tag = "quality", params(("id" = i64, Path)),
    request_body(content = FollowUpNote, example = json!({"note": "Se llamó a la persona; se resolvió su trámite el mismo día."})),
    responses((status = 204), (status = 404, body = crate::error::ErrorEnvelope), (status = 422, body = crate::error::ErrorEnvelope)))]
async fn close_follow_up(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(note): Json<FollowUpNote>,
) -> Result<StatusCode, AppError> {
    let user = caller.require(Action::SurveyFollowUp)?;
    state
        .store
        .close_survey_follow_up(Actor::Staff(user), id, &note.note)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! The nonconformity register in the console: the findings of the period with their status,
//! one entry's treatment (disposition, corrective action, responsible, due date, effectiveness
//! check), entries added by hand, and the criteria the worker applies.

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::nonconformity::{Criteria, NcStatus, NonconformityInput};
use atiende_domain::period::{Period, Periodicity};
use atiende_store::Actor;
use atiende_store::nonconformities::{NcFilter, Nonconformity};
use atiende_store::settings::key;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, local, non_empty, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::{Tr, describe_error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calidad/pnc", get(list).post(create))
        .route("/calidad/pnc/criterios", post(save_criteria))
        .route("/calidad/pnc/exportar", get(export_register))
        .route("/calidad/pnc/{id}", get(view).post(update))
}

pub struct NcRow {
    pub id: i64,
    pub folio: String,
    pub criterion: &'static str,
    pub detected: String,
    /// The moment, for exports ([`super::export::when`]).
    pub detected_at: chrono::DateTime<chrono::Utc>,
    pub description: String,
    pub status: &'static str,
    pub status_code: &'static str,
    pub responsible: String,
    pub due: String,
    /// The due date as exports write it (`2026-12-31`).
    pub due_iso: String,
}

pub(super) fn row(n: &Nonconformity, state: &AppState, t: Tr) -> NcRow {
    NcRow {
        id: n.id,
        folio: n.folio.clone().unwrap_or_default(),
        criterion: n.criterion.label(t.0),
        detected: local(&n.detected_at, state.store.time_zone()),
        detected_at: n.detected_at,
        description: n.description.clone(),
        status: n.status.label(t.0),
        status_code: n.status.code(),
        responsible: n.responsible.clone(),
        due: n
            .due_date
            .map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_default(),
        due_iso: n
            .due_date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
    }
}

#[derive(askama::Template)]
#[template(path = "nonconformities.html")]
struct ListPage {
    ctx: Ctx,
    rows: Vec<NcRow>,
    period: Period,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    criteria: Criteria,
    may_edit: bool,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListParams {
    periodo: Option<String>,
    estado: Option<String>,
    ok: Option<String>,
    formato: Option<String>,
}

impl ListParams {
    /// The period asked for, else the current semester.
    fn period(&self, tz: chrono_tz::Tz) -> Period {
        self.periodo
            .as_deref()
            .and_then(Period::parse)
            .unwrap_or_else(|| Period::containing(chrono::Utc::now(), tz, Periodicity::Semester))
    }
}

/// The period's register as rows of a spreadsheet, header first.
pub(super) fn register_table(rows: &[NcRow], t: Tr, tz: chrono_tz::Tz) -> super::export::Table {
    let mut out = vec![
        [
            "#",
            "Folio",
            "Criterio",
            "Detectado",
            "Descripción",
            "Responsable",
            "Fecha compromiso",
            "Estado",
        ]
        .iter()
        .map(|h| t.s(h).to_string())
        .collect::<Vec<_>>(),
    ];
    // The moment's column names its zone: an XLSX date cell carries none.
    out[0][3] = format!("{} ({tz})", out[0][3]);
    for r in rows {
        out.push(vec![
            r.id.to_string(),
            r.folio.clone(),
            r.criterion.to_string(),
            super::export::when(&r.detected_at, tz),
            r.description.clone(),
            r.responsible.clone(),
            r.due_iso.clone(),
            r.status.to_string(),
        ]);
    }
    (t.s("Producto no conforme").to_string(), out)
}

/// The nonconformities detected in a period, as the register shows them.
pub(super) async fn period_rows(
    state: &AppState,
    period: Period,
    status: Option<NcStatus>,
    t: Tr,
) -> Result<Vec<NcRow>, AppError> {
    let filter = NcFilter {
        status,
        months: Some(period.months()),
        limit: 1000,
        ..Default::default()
    };
    Ok(state
        .store
        .nonconformities(&filter)
        .await?
        .iter()
        .map(|n| row(n, state, t))
        .collect())
}

async fn export_register(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let lang = page.user.language;
    let period = p.period(state.store.time_zone());
    let t = Tr(lang);
    let rows = period_rows(&state, period, None, t).await?;
    let table = register_table(&rows, t, state.store.time_zone());
    let file = format!("pnc-{}", period.code());
    match p.formato.as_deref() {
        Some("xlsx") => super::export::xlsx(&[table], &file),
        _ => super::export::csv(&table.1, &file),
    }
    .map_err(PageError::from)
}

async fn list(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let notice =
        p.ok.as_ref()
            .map(|_| Tr(page.user.language).s("Cambios guardados.").to_string());
    show_list(&state, page, p, notice, None).await
}

async fn show_list(
    state: &AppState,
    page: PageUser,
    p: ListParams,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let lang = page.user.language;
    let period = p.period(state.store.time_zone());
    let status = p.estado.clone().unwrap_or_default();
    let t = Tr(lang);
    let rows = period_rows(state, period, NcStatus::from_code(&status), t).await?;
    let criteria: Criteria = state.store.setting(key::NONCONFORMITY_CRITERIA).await?;
    let code = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = ListPage {
        rows,
        period,
        status,
        statuses: NcStatus::ALL
            .iter()
            .map(|s| (s.code(), s.label(lang)))
            .collect(),
        criteria,
        may_edit: page.user.may(Action::QualityManage),
        notice,
        error,
        ctx: page.ctx("nonconformities"),
    };
    Ok((code, render(&view)).into_response())
}

/// The treatment form's fields (also the manual entry's).
#[derive(Deserialize, Default)]
struct NcForm {
    #[serde(default)]
    folio: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    disposition: String,
    #[serde(default)]
    corrective_action: String,
    #[serde(default)]
    responsible: String,
    #[serde(default)]
    responsible_user: String,
    #[serde(default)]
    due_date: String,
    #[serde(default)]
    effectiveness: String,
    #[serde(default)]
    status: String,
}

impl NcForm {
    fn input(&self) -> Result<NonconformityInput, AppError> {
        let due_date = match self.due_date.trim() {
            "" => None,
            d => Some(
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    AppError::Rule(atiende_domain::RuleError::invalid(
                        "due_date",
                        "invalid_date",
                    ))
                })?,
            ),
        };
        let responsible_user = match self.responsible_user.trim() {
            "" => None,
            id => Some(atiende_domain::ids::UserId(id.parse().map_err(|_| {
                AppError::Rule(atiende_domain::RuleError::invalid(
                    "responsible_user",
                    "not_allowed",
                ))
            })?)),
        };
        Ok(NonconformityInput {
            description: self.description.clone(),
            disposition: self.disposition.clone(),
            corrective_action: self.corrective_action.clone(),
            responsible: self.responsible.clone(),
            responsible_user,
            due_date,
            effectiveness: self.effectiveness.clone(),
            status: NcStatus::from_code(&self.status),
        })
    }
}

async fn create(
    State(state): State<AppState>,
    posted: Posted<NcForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let result = async {
        let input = form.input()?;
        let incident = match non_empty(&Some(form.folio.clone())) {
            Some(folio) => Some(state.store.incident_id(folio).await.map_err(|_| {
                AppError::Rule(atiende_domain::RuleError::invalid(
                    "folio",
                    "unknown_incident",
                ))
            })?),
            None => None,
        };
        let nc = state
            .store
            .register_nonconformity(Actor::Staff(&page.user), incident, &input)
            .await?;
        Ok::<_, AppError>(nc.id)
    }
    .await;
    match result {
        Ok(id) => Ok(Redirect::to(&format!("/calidad/pnc/{id}?ok=1")).into_response()),
        Err(AppError::Internal) => Err(PageError::from(AppError::Internal)),
        Err(e) => {
            let message = describe_error(&e, page.user.language);
            show_list(&state, page, ListParams::default(), None, Some(message)).await
        }
    }
}

#[derive(askama::Template)]
#[template(path = "nonconformity.html")]
struct EntryPage {
    ctx: Ctx,
    n: NcRow,
    nc: Nonconformity,
    statuses: Vec<(&'static str, &'static str)>,
    /// Who may answer for it: the active people who may read the register (id, name).
    people: Vec<(i64, String)>,
    /// The one chosen now (0: nobody).
    responsible_user: i64,
    may_edit: bool,
    notice: Option<String>,
    error: Option<String>,
}

async fn view(
    State(state): State<AppState>,
    page: PageUser,
    Path(id): Path<i64>,
    Query(p): Query<ListParams>,
) -> Result<Response, PageError> {
    let notice =
        p.ok.as_ref()
            .map(|_| Tr(page.user.language).s("Cambios guardados.").to_string());
    show_entry(&state, page, id, notice, None).await
}

async fn show_entry(
    state: &AppState,
    page: PageUser,
    id: i64,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let lang = page.user.language;
    let nc = state.store.nonconformity(id).await?;
    let responsible_user = nc.responsible_user.map_or(0, |u| u.0);
    let code = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = EntryPage {
        n: row(&nc, state, Tr(lang)),
        nc,
        statuses: NcStatus::ALL
            .iter()
            .map(|s| (s.code(), s.label(lang)))
            .collect(),
        people: state
            .store
            .users()
            .await?
            .into_iter()
            .filter(|u| u.may(Action::IndicatorRead))
            .map(|u| (u.id.0, u.name))
            .collect(),
        responsible_user,
        may_edit: page.user.may(Action::QualityManage),
        notice,
        error,
        ctx: page.ctx("nonconformities"),
    };
    Ok((code, render(&view)).into_response())
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    posted: Posted<NcForm>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let result = match form.input() {
        Ok(input) => state
            .store
            .update_nonconformity(Actor::Staff(&page.user), id, &input)
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/calidad/pnc/{id}?ok=1")).into_response()),
        Err(AppError::Internal) => Err(PageError::from(AppError::Internal)),
        Err(e) => {
            let message = describe_error(&e, page.user.language);
            show_entry(&state, page, id, None, Some(message)).await
        }
    }
}

async fn save_criteria(
    State(state): State<AppState>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let mut v = atiende_domain::error::Validator::new();
    let mut number = |field: &str| -> Option<i64> {
        if !form.contains_key(&format!("{field}_on")) {
            return None;
        }
        match form
            .get(field)
            .map(|s| s.trim())
            .unwrap_or("")
            .parse::<i64>()
        {
            Ok(n) => Some(n),
            Err(_) => {
                v.push(field, "invalid_number");
                None
            }
        }
    };
    let complaint_business_days = number("complaint_business_days");
    let low_survey_score = number("low_survey_score");
    let derivation_days = number("derivation_days");
    let reopened_days = number("reopened_days");
    let criteria = Criteria {
        complaint_business_days,
        low_survey_score,
        closed_incomplete: form.contains_key("closed_incomplete_on"),
        service_level_breached: form.contains_key("service_level_breached_on"),
        derivation_days,
        reopened_days,
    };
    let result = v
        .finish()
        .and_then(|()| criteria.check())
        .map_err(AppError::from);
    let result = match result {
        Ok(()) => state
            .store
            .save_setting(
                Actor::Staff(&page.user),
                key::NONCONFORMITY_CRITERIA,
                &criteria,
            )
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/calidad/pnc?ok=1#criterios").into_response()),
        Err(AppError::Internal) => Err(PageError::from(AppError::Internal)),
        Err(e) => {
            let message = describe_error(&e, page.user.language);
            show_list(&state, page, ListParams::default(), None, Some(message)).await
        }
    }
}

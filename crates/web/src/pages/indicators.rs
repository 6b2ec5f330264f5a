//! The quality system's indicators: every built-in indicator for a period against its target
//! (meta) with its trend, volumes by channel, user type, incident type, topic, unit and agent,
//! the targets form, exports (CSV, XLSX) and the printable period report for management review.

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::classification::{Channel, IncidentType, Lang, UserType};
use atiende_domain::indicators::{Dimension, IndicatorKind, Target, Targets, Unit};
use atiende_domain::period::{Period, Periodicity};
use atiende_store::Actor;
use atiende_store::settings::key;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, Posted, charts, export, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::{Tr, describe_error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calidad/indicadores", get(dashboard))
        .route("/calidad/indicadores/exportar", get(export))
        .route("/calidad/reporte", get(report))
        .route("/calidad/metas", post(save_targets))
}

/// How many periods a trend shows.
const TREND: usize = 6;

pub struct IndicatorRow {
    pub code: &'static str,
    pub label: &'static str,
    pub definition: &'static str,
    pub value: Option<f64>,
    pub value_text: String,
    pub target: Option<f64>,
    pub target_text: String,
    pub met: Option<bool>,
    pub periodicity: String,
    pub periodicity_code: &'static str,
    pub responsible: String,
    pub trend: String,
    pub trend_large: String,
    pub history: Vec<(String, Option<f64>)>,
}

impl IndicatorRow {
    pub fn status_class(&self) -> &'static str {
        match self.met {
            Some(true) => "met",
            Some(false) => "missed",
            None => "none",
        }
    }
}

pub struct BreakdownTable {
    pub code: &'static str,
    pub title: &'static str,
    /// Label, incidents, closed, first-contact resolution (%, none without closings).
    pub rows: Vec<(String, i64, i64, Option<f64>)>,
}

pub struct Report {
    pub period: Period,
    pub period_label: String,
    pub rows: Vec<IndicatorRow>,
    pub breakdowns: Vec<BreakdownTable>,
}

fn format_value(kind: IndicatorKind, v: Option<f64>) -> String {
    match (v, kind.unit()) {
        (None, _) => "—".into(),
        (Some(v), Unit::Percent) => format!("{v:.1} %"),
        (Some(v), Unit::Hours) => format!("{v:.1} h"),
        (Some(v), Unit::Count) => format!("{v:.0}"),
    }
}

/// Everything a period's report shows, from the rollups.
pub async fn build_report(
    state: &AppState,
    period: Period,
    lang: Lang,
) -> Result<Report, AppError> {
    let store = &state.store;
    let targets: Targets = store.setting(key::INDICATOR_TARGETS).await?;
    let (first, last) = period.months();
    let current = store.period_rollup(first, last, true).await?;
    let mut history = Vec::new();
    for p in period.previous().trailing(TREND - 1) {
        let (a, b) = p.months();
        history.push((p, store.period_rollup(a, b, false).await?));
    }
    history.push((period, current.clone()));
    let t = Tr(lang);
    let rows = IndicatorKind::ALL
        .iter()
        .map(|&kind| {
            let value = kind.value(&current.totals, &current.first_response, &current.close);
            let target = targets.of(kind);
            let points: Vec<(String, Option<f64>)> = history
                .iter()
                .map(|(p, r)| (p.code(), kind.value(&r.totals, &r.first_response, &r.close)))
                .collect();
            let label = kind.label(lang);
            IndicatorRow {
                code: kind.code(),
                label,
                definition: kind.definition(lang),
                value,
                value_text: format_value(kind, value),
                target: target.map(|t| t.target),
                target_text: target.map_or_else(String::new, |t| {
                    format!(
                        "{} {}",
                        if kind.higher_is_better() {
                            "≥"
                        } else {
                            "≤"
                        },
                        format_value(kind, Some(t.target))
                    )
                }),
                met: target.zip(value).map(|(t, v)| t.met_by(v)),
                periodicity: target
                    .map_or_else(String::new, |t| t.periodicity.label(lang).to_string()),
                periodicity_code: target.map_or("", |t| t.periodicity.code()),
                responsible: target.map_or_else(String::new, |t| t.responsible.clone()),
                trend: charts::trend(&points, target.map(|t| t.target), 160, 40, label),
                trend_large: charts::trend(&points, target.map(|t| t.target), 480, 140, label),
                history: points,
            }
        })
        .collect();
    let topics: HashMap<String, String> = store
        .topics()
        .await?
        .into_iter()
        .map(|t| (t.id.to_string(), t.name))
        .collect();
    let units: HashMap<String, String> = store
        .units()
        .await?
        .into_iter()
        .map(|u| (u.id.to_string(), u.name))
        .collect();
    let users: HashMap<String, String> = store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id.to_string(), u.name))
        .collect();
    let none = t.s("Sin dato").to_string();
    let name = |dim: Dimension, v: &str| -> String {
        if v.is_empty() {
            return none.clone();
        }
        let found = match dim {
            Dimension::Channel => Channel::from_code(v).map(|c| c.label(lang).to_string()),
            Dimension::UserType => UserType::from_code(v).map(|c| c.label(lang).to_string()),
            Dimension::IncidentType => {
                IncidentType::from_code(v).map(|c| c.label(lang).to_string())
            }
            Dimension::Topic => topics.get(v).cloned(),
            Dimension::Unit => units.get(v).cloned(),
            Dimension::Agent => users.get(v).cloned(),
            Dimension::Total => None,
        };
        found.unwrap_or_else(|| v.to_string())
    };
    let breakdowns = Dimension::ALL
        .iter()
        .filter(|d| **d != Dimension::Total)
        .map(|&dim| {
            let mut rows: Vec<(String, i64, i64, Option<f64>)> = current
                .breakdown(dim)
                .iter()
                .map(|(v, c)| {
                    let fcr = (c.closed > 0).then(|| 100.0 * c.fcr as f64 / c.closed as f64);
                    (name(dim, v), c.incidents, c.closed, fcr)
                })
                .collect();
            rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            BreakdownTable {
                code: dim.code(),
                title: dim.label(lang),
                rows,
            }
        })
        .collect();
    Ok(Report {
        period,
        period_label: period.label(lang),
        rows,
        breakdowns,
    })
}

#[derive(Deserialize, Default)]
struct PeriodParams {
    periodo: Option<String>,
    periodicidad: Option<String>,
    formato: Option<String>,
    tabla: Option<String>,
    ok: Option<String>,
}

impl PeriodParams {
    fn period(&self, tz: chrono_tz::Tz) -> Period {
        self.periodo
            .as_deref()
            .and_then(Period::parse)
            .unwrap_or_else(|| {
                let periodicity = self
                    .periodicidad
                    .as_deref()
                    .and_then(Periodicity::from_code)
                    .unwrap_or(Periodicity::Semester);
                Period::containing(chrono::Utc::now(), tz, periodicity)
            })
    }
}

#[derive(askama::Template)]
#[template(path = "indicators.html")]
struct DashboardPage {
    ctx: Ctx,
    report: Report,
    previous: String,
    next: String,
    periodicities: Vec<(&'static str, &'static str)>,
    may_set_targets: bool,
    notice: Option<String>,
    error: Option<String>,
}

async fn dashboard(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<PeriodParams>,
) -> Result<Response, PageError> {
    let notice =
        p.ok.as_ref()
            .map(|_| Tr(page.user.language).s("Metas guardadas.").to_string());
    show(
        &state,
        page,
        p.period(state.store.time_zone()),
        notice,
        None,
    )
    .await
}

async fn show(
    state: &AppState,
    page: PageUser,
    period: Period,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let lang = page.user.language;
    let report = build_report(state, period, lang).await?;
    let next = period.next().code();
    let status = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = DashboardPage {
        previous: period.previous().code(),
        next,
        periodicities: Periodicity::ALL
            .iter()
            .map(|p| (p.code(), p.label(lang)))
            .collect(),
        may_set_targets: page.user.may(Action::QualityManage),
        notice,
        error,
        report,
        ctx: page.ctx("indicators"),
    };
    Ok((status, render(&view)).into_response())
}

#[derive(askama::Template)]
#[template(path = "report.html")]
struct ReportPage {
    ctx: Ctx,
    report: Report,
    generated: String,
    nonconformities: Vec<super::nonconformities::NcRow>,
}

async fn report(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<PeriodParams>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let lang = page.user.language;
    let report = build_report(&state, p.period(state.store.time_zone()), lang).await?;
    let nonconformities =
        super::nonconformities::period_rows(&state, report.period, None, Tr(lang)).await?;
    Ok(render(&ReportPage {
        generated: super::local(&chrono::Utc::now(), state.store.time_zone()),
        nonconformities,
        report,
        ctx: page.ctx("indicators"),
    }))
}

/// One table as rows of cells, with its header.
/// One exported table, by the exports' one convention: counts as whole numbers, rates and
/// hours as plain numbers with their unit in the header or its own column, never as text
/// ("100.0 %"), so that a spreadsheet computes with them (XLSX cells are typed from them).
fn table(report: &Report, which: &str, t: Tr) -> Option<(String, Vec<Vec<String>>)> {
    let number = |kind: IndicatorKind, v: f64| match kind.unit() {
        Unit::Count => format!("{v:.0}"),
        Unit::Percent => format!("{v:.1}"),
        Unit::Hours => format!("{v:.2}"),
    };
    if which == "indicadores" {
        let mut rows = vec![vec![
            t.s("Indicador").to_string(),
            t.s("Valor").to_string(),
            t.s("Meta").to_string(),
            t.s("Unidad").to_string(),
            t.s("Cumple").to_string(),
            t.s("Periodicidad").to_string(),
            t.s("Responsable").to_string(),
        ]];
        for r in &report.rows {
            let kind = IndicatorKind::from_code(r.code)?;
            let unit = match kind.unit() {
                Unit::Count => t.s("incidentes"),
                Unit::Percent => "%",
                Unit::Hours => t.s("horas"),
            };
            rows.push(vec![
                r.label.to_string(),
                r.value.map(|v| number(kind, v)).unwrap_or_default(),
                r.target.map(|v| number(kind, v)).unwrap_or_default(),
                unit.to_string(),
                match r.met {
                    Some(true) => t.s("Sí").to_string(),
                    Some(false) => t.s("No").to_string(),
                    None => String::new(),
                },
                r.periodicity.clone(),
                r.responsible.clone(),
            ]);
        }
        return Some((t.s("Indicadores").to_string(), rows));
    }
    let b = report.breakdowns.iter().find(|b| b.code == which)?;
    let mut rows = vec![vec![
        b.title.to_string(),
        t.s("Incidentes").to_string(),
        t.s("Cerrados").to_string(),
        t.s("Resolución al primer contacto (%)").to_string(),
    ]];
    for (label, n, closed, fcr) in &b.rows {
        rows.push(vec![
            label.clone(),
            n.to_string(),
            closed.to_string(),
            fcr.map(|f| format!("{f:.1}")).unwrap_or_default(),
        ]);
    }
    Some((b.title.to_string(), rows))
}

async fn export(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<PeriodParams>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let lang = page.user.language;
    let period = p.period(state.store.time_zone());
    let report = build_report(&state, period, lang).await?;
    let t = Tr(lang);
    let base = format!("indicadores-{}", period.code());
    let response = match p.formato.as_deref() {
        Some("xlsx") => {
            let tables: Vec<_> = std::iter::once("indicadores")
                .chain(report.breakdowns.iter().map(|b| b.code))
                .filter_map(|which| table(&report, which, t))
                .collect();
            export::xlsx(&tables, &base)
        }
        _ => {
            let which = p.tabla.as_deref().unwrap_or("indicadores");
            let (_, rows) = table(&report, which, t)
                .ok_or_else(|| PageError::from(AppError::NotFound("table")))?;
            export::csv(&rows, &format!("{base}-{which}"))
        }
    };
    response.map_err(PageError::from)
}

async fn save_targets(
    State(state): State<AppState>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let lang = page.user.language;
    let period = form
        .get("periodo")
        .and_then(|p| Period::parse(p))
        .unwrap_or_else(|| {
            Period::containing(
                chrono::Utc::now(),
                state.store.time_zone(),
                Periodicity::Semester,
            )
        });
    let mut targets: Targets = state.store.setting(key::INDICATOR_TARGETS).await?;
    let mut v = atiende_domain::error::Validator::new();
    for kind in IndicatorKind::ALL {
        let field = |name: &str| {
            form.get(&format!("{name}_{}", kind.code()))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let raw = field("target").replace(',', ".");
        if raw.is_empty() {
            targets.targets.retain(|t| t.indicator != *kind);
            continue;
        }
        match raw.parse::<f64>() {
            Ok(value) if value.is_finite() && value >= 0.0 => targets.set(Target {
                indicator: *kind,
                target: value,
                periodicity: Periodicity::from_code(&field("periodicity"))
                    .unwrap_or(period.periodicity),
                responsible: field("responsible").chars().take(200).collect(),
            }),
            _ => v.push(&format!("target_{}", kind.code()), "invalid_number"),
        }
    }
    let result = match v.finish() {
        Ok(()) => state
            .store
            .save_setting(Actor::Staff(&page.user), key::INDICATOR_TARGETS, &targets)
            .await
            .map_err(AppError::from),
        Err(e) => Err(AppError::from(e)),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!(
            "/calidad/indicadores?periodo={}&ok=1",
            period.code()
        ))
        .into_response()),
        Err(AppError::Internal) => Err(PageError::from(AppError::Internal)),
        Err(e) => {
            let message = describe_error(&e, lang);
            show(&state, page, period, None, Some(message)).await
        }
    }
}

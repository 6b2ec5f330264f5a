//! *Sugerencias* for the quality office (`/calidad/sugerencias`): the model learned from the
//! CAP's history — when, from how many incidents, how often its first guess (and its first
//! three) was right on held-out history — and how many of its suggestions agents confirmed or
//! corrected in a month.

use atiende_domain::access::Action;
use atiende_domain::suggestion::Accuracy;
use atiende_store::suggestions::{OutcomeCounts, SuggestionReport};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, local, render};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/calidad/sugerencias", get(report))
}

/// One question's row: accuracy on held-out history, and what agents did.
struct QuestionRow {
    label: &'static str,
    examples: u64,
    top1: String,
    top3: String,
    confirmed: i64,
    corrected: i64,
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1} %", r * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn row(label: &'static str, a: Accuracy, o: OutcomeCounts) -> QuestionRow {
    QuestionRow {
        label,
        examples: a.examples,
        top1: rate(a.top1_rate()),
        top3: rate(a.top3_rate()),
        confirmed: o.confirmed,
        corrected: o.corrected,
    }
}

#[derive(askama::Template)]
#[template(path = "suggestions.html")]
struct ReportPage {
    ctx: Ctx,
    trained: Option<(String, i64)>,
    rows: Vec<QuestionRow>,
    period: String,
    periods: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
struct ReportParams {
    periodo: Option<String>,
}

async fn report(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<ReportParams>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let tz = state.store.time_zone();
    let (period, periods) =
        super::canned_responses::month_choices(p.periodo.as_deref(), tz, page.user.language);
    let (from, to) = period.bounds(tz);
    let SuggestionReport {
        model,
        topic,
        incident_type,
        critical,
    } = state.store.suggestion_report(from, to).await?;
    let accuracy = model.as_ref().map(|m| m.accuracy).unwrap_or_default();
    let view = ReportPage {
        trained: model.map(|m| (local(&m.trained_at, tz), m.examples)),
        rows: vec![
            row("Tema", accuracy.topic, topic),
            row("Tipo de incidencia", accuracy.incident_type, incident_type),
            row("Asunto crítico", accuracy.critical, critical),
        ],
        period: period.code(),
        periods,
        ctx: page.ctx("indicators"),
    };
    Ok(render(&view).into_response())
}

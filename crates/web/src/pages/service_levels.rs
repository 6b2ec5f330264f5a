//! *Tiempos comprometidos*: the institution's business hours and days off (the UDG calendar's
//! holidays and vacation periods, per year), and the service-level targets by channel,
//! incident type, critical and topic, with the units' own times to answer a derivation. The
//! quality owner and administrators edit them; saving recomputes the clocks of every incident
//! not closed.

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::business_hours::{BusinessCalendar, DayOff, Shift};
use atiende_domain::classification::{Channel, IncidentType};
use atiende_domain::ids::{TopicId, UnitId};
use atiende_domain::service_level::{ServicePolicy, ServiceTarget, UnitTarget};
use atiende_store::Actor;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{NaiveDate, NaiveTime};

use super::{Ctx, PageError, PageUser, Posted, render};
use crate::AppState;
use crate::error::AppError;
use crate::i18n::{Tr, describe_error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/calidad/tiempos", get(page))
        .route("/calidad/tiempos/horario", post(save_calendar))
        .route("/calidad/tiempos/metas", post(save_policy))
}

/// Empty rows the form offers for new targets.
const NEW_ROWS: usize = 3;

pub struct DayRow {
    pub index: usize,
    pub name: &'static str,
    pub open: bool,
    pub opens: String,
    pub closes: String,
}

pub struct TargetRow {
    pub index: usize,
    pub channel: String,
    pub incident_type: String,
    pub critical: String,
    pub topic_id: String,
    pub first_response: String,
    pub resolution: String,
}

pub struct UnitRow {
    pub id: i64,
    pub name: String,
    pub minutes: String,
}

#[derive(askama::Template)]
#[template(path = "service_levels.html")]
struct ServiceLevelsPage {
    ctx: Ctx,
    days: Vec<DayRow>,
    days_off: String,
    targets: Vec<TargetRow>,
    units: Vec<UnitRow>,
    policy: ServicePolicy,
    channels: Vec<(&'static str, &'static str)>,
    incident_types: Vec<(&'static str, &'static str)>,
    topics: Vec<(String, String)>,
    may_edit: bool,
    notice: Option<String>,
    error: Option<String>,
}

const DAYS_ES: [&str; 7] = [
    "Lunes",
    "Martes",
    "Miércoles",
    "Jueves",
    "Viernes",
    "Sábado",
    "Domingo",
];

fn number(v: Option<i64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// Days off as the form shows them: one per line, `AAAA-MM-DD [AAAA-MM-DD] name`.
fn days_off_text(days: &[DayOff]) -> String {
    days.iter()
        .map(|d| {
            let span = if d.from == d.to {
                d.from.to_string()
            } else {
                format!("{} {}", d.from, d.to)
            };
            format!("{span} {}", d.name).trim().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn page(
    State(state): State<AppState>,
    page: PageUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let notice = q.contains_key("ok").then(|| {
        Tr(page.user.language)
            .s("Guardado. Los tiempos de los incidentes sin cerrar se recalcularon.")
            .to_string()
    });
    show(&state, page, notice, None).await
}

async fn show(
    state: &AppState,
    page: PageUser,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    page.require(Action::IndicatorRead)?;
    let lang = page.user.language;
    let t = Tr(lang);
    let (calendar, policy, topics, units) = tokio::try_join!(
        state.store.business_calendar(),
        state.store.service_policy(),
        state.store.topics(),
        state.store.units(),
    )?;
    let days = calendar
        .week
        .iter()
        .enumerate()
        .map(|(index, shift)| DayRow {
            index,
            name: t.s(DAYS_ES[index]),
            open: shift.is_some(),
            opens: shift.map_or("09:00".into(), |s| s.opens.format("%H:%M").to_string()),
            closes: shift.map_or("18:00".into(), |s| s.closes.format("%H:%M").to_string()),
        })
        .collect();
    let mut targets: Vec<TargetRow> = policy
        .targets
        .iter()
        .enumerate()
        .map(|(index, r)| TargetRow {
            index,
            channel: r.channel.map(|c| c.code().to_string()).unwrap_or_default(),
            incident_type: r
                .incident_type
                .map(|c| c.code().to_string())
                .unwrap_or_default(),
            critical: match r.critical {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => String::new(),
            },
            topic_id: r.topic_id.map(|t| t.0.to_string()).unwrap_or_default(),
            first_response: number(r.first_response_minutes),
            resolution: number(r.resolution_minutes),
        })
        .collect();
    let next = targets.len();
    targets.extend((0..NEW_ROWS).map(|n| TargetRow {
        index: next + n,
        channel: String::new(),
        incident_type: String::new(),
        critical: String::new(),
        topic_id: String::new(),
        first_response: String::new(),
        resolution: String::new(),
    }));
    let units = units
        .into_iter()
        .filter(|u| u.active)
        .map(|u| UnitRow {
            id: u.id.0,
            minutes: number(
                policy
                    .unit_targets
                    .iter()
                    .find(|t| t.unit_id == u.id)
                    .map(|t| t.minutes),
            ),
            name: u.name,
        })
        .collect();
    let code = if error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    let view = ServiceLevelsPage {
        days,
        days_off: days_off_text(&calendar.days_off),
        targets,
        units,
        policy,
        channels: Channel::ALL
            .iter()
            .map(|c| (c.code(), c.label(lang)))
            .collect(),
        incident_types: IncidentType::ALL
            .iter()
            .map(|c| (c.code(), c.label(lang)))
            .collect(),
        topics: topics
            .into_iter()
            .map(|t| (t.id.0.to_string(), t.name))
            .collect(),
        may_edit: page.user.may(Action::QualityManage),
        notice,
        error,
        ctx: page.ctx("service_levels"),
    };
    Ok((code, render(&view)).into_response())
}

/// Reads the calendar form: each weekday's hours and the days off, one per line.
fn calendar_of(form: &HashMap<String, String>) -> Result<BusinessCalendar, AppError> {
    let mut v = atiende_domain::error::Validator::new();
    let time =
        |s: Option<&String>| s.and_then(|s| NaiveTime::parse_from_str(s.trim(), "%H:%M").ok());
    let mut calendar = BusinessCalendar {
        week: [None; 7],
        days_off: Vec::new(),
    };
    for (i, day) in calendar.week.iter_mut().enumerate() {
        if !form.contains_key(&format!("open_{i}")) {
            continue;
        }
        match (
            time(form.get(&format!("opens_{i}"))),
            time(form.get(&format!("closes_{i}"))),
        ) {
            (Some(opens), Some(closes)) => *day = Some(Shift { opens, closes }),
            _ => v.push(&format!("week[{i}]"), "invalid_time"),
        }
    }
    for (n, line) in form
        .get("days_off")
        .map(String::as_str)
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let mut words = line.split_whitespace().peekable();
        let date = |w: Option<&str>| w.and_then(|w| NaiveDate::parse_from_str(w, "%Y-%m-%d").ok());
        let Some(from) = date(words.next()) else {
            v.push(&format!("days_off[{n}]"), "invalid_date");
            continue;
        };
        let to = match words.peek().copied().and_then(|w| date(Some(w))) {
            Some(to) => {
                words.next();
                to
            }
            None => from,
        };
        calendar.days_off.push(DayOff {
            from,
            to,
            name: words.collect::<Vec<_>>().join(" "),
        });
    }
    v.finish()?;
    calendar.check()?;
    Ok(calendar)
}

/// Reads the targets form: the rows (a row with no time is dropped), the warnings and the
/// units' times.
fn policy_of(form: &HashMap<String, String>) -> Result<ServicePolicy, AppError> {
    let mut v = atiende_domain::error::Validator::new();
    let field = |name: String| form.get(&name).map(|s| s.trim()).unwrap_or("");
    let minutes = |name: String, v: &mut atiende_domain::error::Validator| -> Option<i64> {
        let raw = form.get(&name).map(|s| s.trim()).unwrap_or("");
        if raw.is_empty() {
            return None;
        }
        match raw.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                v.push(&name, "invalid_number");
                None
            }
        }
    };
    let mut policy = ServicePolicy {
        targets: Vec::new(),
        ..ServicePolicy::default()
    };
    for i in 0..200 {
        if !form.contains_key(&format!("channel_{i}")) {
            break;
        }
        let first_response_minutes = minutes(format!("first_response_{i}"), &mut v);
        let resolution_minutes = minutes(format!("resolution_{i}"), &mut v);
        if first_response_minutes.is_none() && resolution_minutes.is_none() {
            continue;
        }
        policy.targets.push(ServiceTarget {
            channel: Channel::from_code(field(format!("channel_{i}"))),
            incident_type: IncidentType::from_code(field(format!("incident_type_{i}"))),
            critical: match field(format!("critical_{i}")) {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
            topic_id: field(format!("topic_id_{i}")).parse().ok().map(TopicId),
            first_response_minutes,
            resolution_minutes,
        });
    }
    policy.warning_percent = minutes("warning_percent".into(), &mut v).unwrap_or(0);
    policy.critical_warning_percent =
        minutes("critical_warning_percent".into(), &mut v).unwrap_or(0);
    policy.unit_answer_minutes = minutes("unit_answer_minutes".into(), &mut v);
    let units: Vec<i64> = form
        .keys()
        .filter_map(|k| k.strip_prefix("unit_")?.parse().ok())
        .collect();
    for id in units {
        if let Some(m) = minutes(format!("unit_{id}"), &mut v) {
            policy.unit_targets.push(UnitTarget {
                unit_id: UnitId(id),
                minutes: m,
            });
        }
    }
    policy.unit_targets.sort_by_key(|t| t.unit_id.0);
    v.finish()?;
    policy.check()?;
    Ok(policy)
}

async fn save_calendar(
    State(state): State<AppState>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let result = match calendar_of(&form) {
        Ok(calendar) => state
            .store
            .save_business_calendar(Actor::Staff(&page.user), &calendar)
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    finish(&state, page, result, "horario").await
}

async fn save_policy(
    State(state): State<AppState>,
    posted: Posted<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { page, form } = posted;
    page.require(Action::QualityManage)?;
    let result = match policy_of(&form) {
        Ok(policy) => state
            .store
            .save_service_policy(Actor::Staff(&page.user), &policy)
            .await
            .map_err(AppError::from),
        Err(e) => Err(e),
    };
    finish(&state, page, result, "metas").await
}

async fn finish(
    state: &AppState,
    page: PageUser,
    result: Result<(), AppError>,
    anchor: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/calidad/tiempos?ok=1#{anchor}")).into_response()),
        Err(AppError::Internal) => Err(PageError::from(AppError::Internal)),
        Err(e) => {
            let message = describe_error(&e, page.user.language);
            show(state, page, None, Some(message)).await
        }
    }
}

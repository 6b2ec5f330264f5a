//! The bandeja: working queues with counts, filters, search, keyset pages and live updates.

use std::collections::HashMap;

use atiende_domain::access::Action;
use atiende_domain::calendar::parse_bound;
use atiende_domain::classification::{Channel, IncidentType, Lang, UserType};
use atiende_domain::ids::{ContactId, TopicId, UnitId, UserId};
use atiende_domain::incident::Status;
use atiende_domain::unit::UnitKind;
use atiende_domain::user::Role;
use atiende_store::incidents::{DueCursor, NamedQueue};
use atiende_store::incidents::{IncidentFilter, IncidentSummary};
use atiende_store::queue::QueueCounts;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use serde::Deserialize;

use super::{Ctx, PageError, PageUser, local, non_empty, render, urlencode};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/bandeja", get(queue))
}

pub const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default, Clone)]
pub struct QueueParams {
    pub queue: Option<String>,
    pub channel: Option<String>,
    pub user_type: Option<String>,
    pub incident_type: Option<String>,
    pub topic_id: Option<String>,
    pub unit_id: Option<String>,
    pub agent: Option<String>,
    pub status: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    /// Service level: `breached` or `warning`.
    pub clock: Option<String>,
    /// `due`: the earliest due first; otherwise newest first.
    pub order: Option<String>,
    pub cursor: Option<String>,
    /// `rows`: only the table body, for live refresh.
    pub partial: Option<String>,
    /// `compacta`: twenty and more rows on a laptop's screen.
    pub vista: Option<String>,
}

impl QueueParams {
    /// The same filters as a query string, without the cursor (for links and tabs).
    pub fn query_without(&self, skip: &str) -> String {
        let pairs = [
            ("queue", &self.queue),
            ("channel", &self.channel),
            ("user_type", &self.user_type),
            ("incident_type", &self.incident_type),
            ("topic_id", &self.topic_id),
            ("unit_id", &self.unit_id),
            ("agent", &self.agent),
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
            ("clock", &self.clock),
            ("order", &self.order),
            ("vista", &self.vista),
        ];
        pairs
            .iter()
            .filter(|(k, _)| *k != skip)
            .filter_map(|(k, v)| non_empty(v).map(|v| format!("{k}={}", urlencode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Whether any filter narrows the list (the filters then show unfolded).
    pub fn filtering(&self) -> bool {
        [
            &self.channel,
            &self.user_type,
            &self.incident_type,
            &self.topic_id,
            &self.unit_id,
            &self.agent,
            &self.status,
            &self.from,
            &self.to,
            &self.q,
            &self.clock,
            &self.order,
        ]
        .iter()
        .any(|v| non_empty(v).is_some())
    }

    pub fn compact(&self) -> bool {
        self.vista.as_deref() == Some("compacta")
    }

    /// The filters to keep in a saved view: all but the search words, which may name a person.
    pub fn to_save(&self) -> String {
        let mut kept = self.clone();
        kept.q = None;
        kept.query_without("")
    }

    pub fn get(&self, key: &str) -> &str {
        let v = match key {
            "channel" => &self.channel,
            "user_type" => &self.user_type,
            "incident_type" => &self.incident_type,
            "topic_id" => &self.topic_id,
            "unit_id" => &self.unit_id,
            "agent" => &self.agent,
            "status" => &self.status,
            "from" => &self.from,
            "to" => &self.to,
            "q" => &self.q,
            "clock" => &self.clock,
            "order" => &self.order,
            "vista" => &self.vista,
            _ => &None,
        };
        v.as_deref().unwrap_or("")
    }
}

/// One row of the queue, ready to show.
pub struct Row {
    pub folio: String,
    pub received: String,
    pub age: String,
    pub contact: String,
    pub subject: String,
    pub channel: &'static str,
    pub incident_type: &'static str,
    pub status: &'static str,
    pub status_code: &'static str,
    pub assigned: String,
    pub critical: bool,
    pub clock: Option<ClockCell>,
}

/// A service-level clock as a cell: its state (for the badge's colour and words) and what it
/// measures and when it is due.
pub struct ClockCell {
    pub state: &'static str,
    pub label: &'static str,
    pub detail: String,
}

impl ClockCell {
    /// The most urgent clock not yet met, if any.
    pub fn of(
        clocks: &[atiende_domain::service_level::Clock],
        lang: Lang,
        tz: chrono_tz::Tz,
    ) -> Option<ClockCell> {
        let now = Utc::now();
        let clock = atiende_domain::service_level::most_urgent(clocks, now)?;
        Some(ClockCell::describe(clock, now, lang, tz))
    }

    pub fn describe(
        clock: &atiende_domain::service_level::Clock,
        now: chrono::DateTime<Utc>,
        lang: Lang,
        tz: chrono_tz::Tz,
    ) -> ClockCell {
        let state = clock.state(now);
        let t = crate::i18n::Tr(lang);
        let when = match (clock.due_at, clock.paused_minutes_left, clock.done_at) {
            (_, _, Some(done)) => format!("{} {}", t.s("el"), super::local(&done, tz)),
            (_, Some(left), None) => match lang {
                Lang::Es => format!("quedan {} hábiles", hours_and_minutes(left)),
                Lang::En => format!("{} of working time left", hours_and_minutes(left)),
            },
            (Some(due), None, None) if due <= now => {
                format!("{} {}", t.s("venció el"), super::local(&due, tz))
            }
            (Some(due), None, None) => format!("{} {}", t.s("vence el"), super::local(&due, tz)),
            (None, None, None) => String::new(),
        };
        ClockCell {
            state: state.code(),
            label: state.label(lang),
            detail: format!("{} · {when}", clock.measure.label(lang)),
        }
    }
}

fn hours_and_minutes(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// How long ago, in the largest unit that fits.
pub fn age(since: chrono::DateTime<Utc>, lang: Lang) -> String {
    let minutes = (Utc::now() - since).num_minutes().max(0);
    let (n, es, en) = if minutes < 60 {
        (minutes, "min", "min")
    } else if minutes < 48 * 60 {
        (minutes / 60, "h", "h")
    } else {
        (minutes / (24 * 60), "d", "d")
    };
    match lang {
        Lang::Es => format!("{n} {es}"),
        Lang::En => format!("{n} {en}"),
    }
}

/// Staff names by id, to show who is assigned or who wrote.
pub async fn staff_names(
    state: &AppState,
) -> Result<HashMap<UserId, String>, atiende_store::StoreError> {
    Ok(state
        .store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect())
}

/// The rows of the incidents a filter selects within a scope.
pub async fn incident_rows(
    state: &AppState,
    scope: &atiende_domain::access::Scope,
    filter: &IncidentFilter,
    lang: Lang,
) -> Result<Vec<Row>, atiende_store::StoreError> {
    let items = state.store.incidents(scope, filter).await?;
    Ok(rows(
        &items,
        &staff_names(state).await?,
        lang,
        state.store.time_zone(),
    ))
}

pub fn rows(
    items: &[IncidentSummary],
    names: &HashMap<UserId, String>,
    lang: Lang,
    tz: chrono_tz::Tz,
) -> Vec<Row> {
    items
        .iter()
        .map(|s| {
            let i = &s.incident;
            Row {
                folio: i.folio.to_string(),
                received: local(&i.received_at, tz),
                age: age(i.received_at, lang),
                contact: s
                    .contact_name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "—".into()),
                subject: i.subject.clone(),
                channel: i.channel.label(lang),
                incident_type: i.incident_type.map_or("—", |t| t.label(lang)),
                status: i.status.label(lang),
                status_code: i.status.code(),
                assigned: i
                    .assigned_to
                    .and_then(|a| names.get(&a).cloned())
                    .unwrap_or_default(),
                critical: i.critical,
                clock: ClockCell::of(&s.clocks, lang, tz),
            }
        })
        .collect()
}

#[derive(askama::Template)]
#[template(path = "queue.html")]
struct QueuePage {
    ctx: Ctx,
    p: QueueParams,
    queue: String,
    counts: QueueCounts,
    /// What waits on the SIGA (the quality owner), for those who answer or watch it.
    siga: Option<i64>,
    rows: Vec<Row>,
    next: Option<String>,
    latest: i64,
    options: FilterOptions,
    error: Option<String>,
    /// The reader's saved views.
    views: Vec<atiende_store::saved_views::SavedView>,
    /// Rows can be selected for a bulk action.
    select: bool,
}

#[derive(askama::Template)]
#[template(path = "queue_rows.html")]
struct QueueRows {
    ctx: Ctx,
    rows: Vec<Row>,
    select: bool,
}

/// Choices of the filter form.
pub struct FilterOptions {
    pub channels: Vec<(&'static str, &'static str)>,
    pub user_types: Vec<(&'static str, &'static str)>,
    pub incident_types: Vec<(&'static str, &'static str)>,
    pub statuses: Vec<(&'static str, &'static str)>,
    pub topics: Vec<(String, String)>,
    pub units: Vec<(String, String)>,
    pub agents: Vec<(String, String)>,
}

macro_rules! choices {
    ($t:ty, $lang:expr) => {
        <$t>::ALL
            .iter()
            .map(|v| (v.code(), v.label($lang)))
            .collect()
    };
}

fn parse<T>(raw: &Option<String>, f: impl Fn(&str) -> Option<T>) -> Option<T> {
    non_empty(raw).and_then(f)
}

/// The page's rows and the cursor of the next page (the list is read one row longer than a
/// page to know whether there is one).
fn first_page(
    mut items: Vec<IncidentSummary>,
    due_first: bool,
) -> (Vec<IncidentSummary>, Option<String>) {
    let next = if items.len() as i64 > PAGE_SIZE {
        items.truncate(PAGE_SIZE as usize);
        items.last().map(|s| {
            if due_first {
                DueCursor::after(s).encode()
            } else {
                s.incident.id.0.to_string()
            }
        })
    } else {
        None
    };
    (items, next)
}

async fn queue(
    State(state): State<AppState>,
    page: PageUser,
    Query(p): Query<QueueParams>,
) -> Result<Response, PageError> {
    page.require(Action::IncidentRead)?;
    let lang = page.user.language;
    let tz = state.store.time_zone();
    let err = |e: atiende_store::StoreError| PageError::from(e);
    let is_unit = page.user.role == atiende_domain::user::Role::UnitResponsible;
    let queue = non_empty(&p.queue)
        .unwrap_or(if is_unit { "all" } else { "open" })
        .to_string();
    let mut error = None;
    let mut bound = |raw: &Option<String>, end: bool| {
        non_empty(raw).and_then(|r| {
            let b = parse_bound(r, tz, end);
            if b.is_none() {
                error = Some(
                    crate::i18n::Tr(lang)
                        .s("Fecha no válida: use AAAA-MM-DD.")
                        .to_string(),
                );
            }
            b
        })
    };
    let received_from = bound(&p.from, false);
    let received_to = bound(&p.to, true);
    let mut filter = IncidentFilter {
        status: parse(&p.status, Status::from_code),
        channel: parse(&p.channel, Channel::from_code),
        user_type: parse(&p.user_type, UserType::from_code),
        incident_type: parse(&p.incident_type, IncidentType::from_code),
        topic_id: parse(&p.topic_id, |s| s.parse().ok().map(TopicId)),
        unit_id: parse(&p.unit_id, |s| s.parse().ok().map(UnitId)),
        assigned_to: parse(&p.agent, |s| s.parse().ok().map(UserId)),
        contact_id: None::<ContactId>,
        received_from,
        received_to,
        clock: parse(&p.clock, |c| match c {
            "breached" => Some(atiende_domain::service_level::ClockState::Breached),
            "warning" => Some(atiende_domain::service_level::ClockState::Warning),
            _ => None,
        }),
        q: non_empty(&p.q).map(str::to_string),
        limit: PAGE_SIZE + 1,
        ..Default::default()
    };
    filter.due_first = p.order.as_deref() == Some("due");
    if filter.in_due_order() {
        filter.after_due = parse(&p.cursor, DueCursor::decode);
    } else {
        filter.before_id = parse(&p.cursor, |s| s.parse().ok());
    }
    let named = NamedQueue::from_code(&queue).unwrap_or(NamedQueue::All);
    state
        .store
        .apply_queue(&mut filter, named, page.user.id)
        .await
        .map_err(err)?;
    let scope = page.user.incident_scope();
    let store = &state.store;
    if p.partial.as_deref() == Some("rows") {
        let (items, users) =
            tokio::try_join!(store.incidents(&scope, &filter), store.users()).map_err(err)?;
        let names: HashMap<_, _> = users.iter().map(|u| (u.id, u.name.clone())).collect();
        let (items, _) = first_page(items, filter.in_due_order());
        return Ok(render(&QueueRows {
            select: page.user.may(Action::IncidentWork),
            ctx: page.ctx("queue"),
            rows: rows(&items, &names, lang, tz),
        }));
    }
    // The page's reads do not depend on each other: on separate connections they take as long
    // as the slowest of them (the list or the counts), not their sum.
    let (items, users, counts, latest, topics, units, views) = tokio::try_join!(
        store.incidents(&scope, &filter),
        store.users(),
        store.queue_counts(page.user.id, &scope),
        store.latest_incident_id(&scope),
        store.topics(),
        store.units(),
        store.saved_views(page.user.id),
    )
    .map_err(err)?;
    let (items, next) = first_page(items, filter.in_due_order());
    let names: HashMap<_, _> = users.iter().map(|u| (u.id, u.name.clone())).collect();
    let rows = rows(&items, &names, lang, tz);
    let watches_siga = matches!(
        page.user.role,
        Role::QualityOwner | Role::CapLead | Role::Admin
    );
    let siga = if watches_siga {
        Some(store.waiting_on(UnitKind::Quality).await.map_err(err)?)
    } else {
        None
    };
    let options = FilterOptions {
        channels: choices!(Channel, lang),
        user_types: choices!(UserType, lang),
        incident_types: choices!(IncidentType, lang),
        statuses: choices!(Status, lang),
        topics: topics
            .iter()
            .map(|t| (t.id.to_string(), t.name.clone()))
            .collect(),
        units: units
            .iter()
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect(),
        agents: users
            .iter()
            .filter(|u| {
                matches!(
                    u.role,
                    atiende_domain::user::Role::Agent | atiende_domain::user::Role::CapLead
                )
            })
            .map(|u| (u.id.to_string(), u.name.clone()))
            .collect(),
    };
    Ok(render(&QueuePage {
        select: page.user.may(Action::IncidentWork),
        views,
        ctx: page.ctx("queue"),
        p,
        queue,
        counts,
        siga,
        rows,
        next,
        latest,
        options,
        error,
    }))
}

//! Incidents, their timeline and derivations: each step of the procedure is one transaction that
//! loads what the rule needs, asks the domain, and writes the result with its audit record.

use atiende_domain::access::Scope;
use atiende_domain::attachment::OutgoingFile;
use atiende_domain::audit::EntityKind;
use atiende_domain::classification::{Channel, IncidentType, Medium, UserType};
use atiende_domain::derivation::{Derivation, DeriveInput, UnitAnswer};
use atiende_domain::folio::Folio;
use atiende_domain::ids::{ContactId, DerivationId, EntryId, IncidentId, TopicId, UnitId, UserId};
use atiende_domain::incident::MAX_ENTRY_CHARS;
use atiende_domain::incident::{
    ClassifyInput, CloseFacts, EntryKind, Incident, Status, TimelineEntry,
};
use atiende_domain::{RuleError, indicators};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use atiende_domain::notification::NotificationKind;
use atiende_domain::service_level::ClockState;
use atiende_domain::unit::UnitKind;
use atiende_domain::webhook::EventType;

use crate::Actor;
use crate::attachments::Upload;
use crate::audit::{Change, snapshot};
use crate::contacts::contact_in_tx;
use crate::db::{Engine, Sql, Store, ms};
use crate::error::{Result, StoreError};
use crate::outbox::{self, Job, SurveyDue};
use crate::search;
use crate::tx::Tx;
use crate::units::unit_in_tx;

pub mod duplicates;
pub(crate) mod rows;

use rows::{
    DERIVATIONS_OF, IncidentChange, append, derivation_from_row, derivations_in_tx, entry_from_row,
    event_data, has_intervention_notes, incident_change, incident_from_row, insert_derivation,
    route_to_quality_if_needed,
};

/// Intervention notes (pormenores) count as the CAP's response.
pub(crate) async fn record_intervention(
    tx: &mut Tx,
    incident: &mut Incident,
    actor: Actor<'_>,
    notes: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    append(
        tx,
        incident.id,
        EntryKind::Intervention,
        actor.user_id(),
        notes,
        serde_json::json!({}),
        now,
    )
    .await?;
    incident.record_response(now);
    Ok(())
}

/// What closing depends on besides the incident itself.
struct CloseData {
    derivations: Vec<Derivation>,
    has_intervention_notes: bool,
    contact_programme_line: Option<atiende_domain::classification::ProgrammeLine>,
}

impl CloseData {
    async fn load(tx: &mut Tx, incident: &Incident) -> Result<CloseData> {
        let contact_programme_line = match incident.contact_id {
            Some(c) => contact_in_tx(tx, c).await?.programme_line,
            None => None,
        };
        Ok(CloseData {
            derivations: derivations_in_tx(tx, incident.id).await?,
            has_intervention_notes: has_intervention_notes(tx, incident.id).await?,
            contact_programme_line,
        })
    }

    fn facts(&self) -> CloseFacts<'_> {
        CloseFacts {
            derivations: &self.derivations,
            has_intervention_notes: self.has_intervention_notes,
            contact_programme_line: self.contact_programme_line,
        }
    }
}

async fn close_in_tx(
    tx: &mut Tx,
    incident: &mut Incident,
    actor: Actor<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    incident.updated_at = now;
    if let Some(contact) = incident.contact_id {
        // Procedure step 13: the survey is due; the survey job decides channel, delay, opt-outs.
        let due = SurveyDue {
            folio: incident.folio.to_string(),
            contact_id: contact,
            closed_at: now,
            closed_by: actor.user_id(),
        };
        outbox::enqueue(tx, Some(incident.id), &Job::SurveyDue(due)).await?;
    }
    if incident.channel == atiende_domain::classification::Channel::ChatWeb {
        crate::web_chat::send_transcript(tx, incident).await?;
    }
    Ok(())
}

/// An incident with everything the incident view shows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    pub derivations: Vec<Derivation>,
    pub timeline: Vec<TimelineEntry>,
    /// Critical and not yet derived to top management (procedure step 7).
    pub in_leads_queue: bool,
    pub first_contact_resolution: bool,
    /// Its service-level clocks (first response, resolution).
    pub clocks: Vec<atiende_domain::service_level::Clock>,
}

/// A row of the queue.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentSummary {
    #[serde(flatten)]
    pub incident: Incident,
    pub contact_name: Option<String>,
    /// Its service-level clocks (first response, resolution) as last computed.
    pub clocks: Vec<atiende_domain::service_level::Clock>,
}

impl IncidentSummary {
    /// When its earliest running target falls due (what the due order sorts by).
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        atiende_domain::service_level::pending(&self.clocks).1
    }
}

/// How many of the newest incidents that pass a page's other filters PostgreSQL checks one by
/// one for a text filter before it asks the full-text index (see `Store::incidents`).
const TEXT_PROBED: i64 = 2_000;

/// The text filter of a page of incidents, resolved.
enum Text {
    /// No text filter.
    Any,
    /// Within these incidents (the index's matches).
    Ids(Vec<i64>),
    /// PostgreSQL: each incident from `floor` up checked against its own and its contact's
    /// search document (the tsquery).
    Probe(String, i64),
}

/// Filters for the incident list; newest first, cursor on id.
#[derive(Debug, Default, Clone)]
pub struct IncidentFilter {
    pub status: Option<Status>,
    /// Open or waiting on a unit.
    pub not_closed: bool,
    pub channel: Option<Channel>,
    pub user_type: Option<UserType>,
    pub incident_type: Option<IncidentType>,
    pub topic_id: Option<TopicId>,
    pub unit_id: Option<UnitId>,
    pub assigned_to: Option<UserId>,
    pub unassigned: bool,
    pub contact_id: Option<ContactId>,
    pub critical: Option<bool>,
    /// Critical incidents not yet derived to top management.
    pub leads_queue: bool,
    /// Incidents whose service level is overdue (`Breached`) or due soon (`Warning`).
    pub clock: Option<ClockState>,
    pub received_from: Option<DateTime<Utc>>,
    pub received_to: Option<DateTime<Utc>>,
    /// Words (or their beginnings) in the incident's search document (folio, subject,
    /// messages) or its contact's (name, identifiers).
    pub q: Option<String>,
    pub before_id: Option<i64>,
    /// Earliest due first instead of newest first (ignored with `q`: words list newest first;
    /// a clock filter lists in due order anyway, see [`IncidentFilter::in_due_order`]).
    pub due_first: bool,
    /// Where a page in due order continues (the last row of the page before).
    pub after_due: Option<DueCursor>,
    pub limit: i64,
}

/// Which index a page of the list walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// The incidents, newest first.
    Newest,
    /// The running clocks, earliest due first.
    Due,
}

impl IncidentFilter {
    /// Whether the list comes in due order: asked for, or kept to overdue or due-soon
    /// incidents (listed most urgent first). Words always list newest first.
    pub fn in_due_order(&self) -> bool {
        (self.due_first || self.clock.is_some())
            && self.q.as_deref().is_none_or(|q| q.trim().is_empty())
    }
}

/// Where a list in due order continues: among the incidents whose clock runs (after this due
/// instant and id), or among those with none running (below this id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueCursor {
    Running { due_at: i64, id: i64 },
    Stopped { id: i64 },
}

impl DueCursor {
    /// The cursor after this row of a list in due order.
    pub fn after(row: &IncidentSummary) -> DueCursor {
        match row.due_at() {
            Some(due) => DueCursor::Running {
                due_at: due.timestamp_millis(),
                id: row.incident.id.0,
            },
            None => DueCursor::Stopped {
                id: row.incident.id.0,
            },
        }
    }

    /// As a page link carries it: `d<due>.<id>` or `s<id>`.
    pub fn encode(self) -> String {
        match self {
            DueCursor::Running { due_at, id } => format!("d{due_at}.{id}"),
            DueCursor::Stopped { id } => format!("s{id}"),
        }
    }

    pub fn decode(raw: &str) -> Option<DueCursor> {
        if let Some(rest) = raw.strip_prefix('d') {
            let (due, id) = rest.split_once('.')?;
            Some(DueCursor::Running {
                due_at: due.parse().ok()?,
                id: id.parse().ok()?,
            })
        } else {
            Some(DueCursor::Stopped {
                id: raw.strip_prefix('s')?.parse().ok()?,
            })
        }
    }
}

/// The console's named queues, the same for the API's `queue` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NamedQueue {
    /// Open or waiting, and not closed: everything still to do.
    Open,
    /// Assigned to the caller and not closed.
    Mine,
    /// Nobody's yet, not closed.
    Unassigned,
    /// Waiting on a unit's answer.
    Waiting,
    /// Critical incidents waiting for the CAP lead to derive them to top management.
    #[serde(alias = "critical")]
    Leads,
    /// What the buzón routed to the quality owner (SIGA) and still waits on them.
    Siga,
    Closed,
    /// No queue's filter: every incident the caller may see.
    All,
}

impl NamedQueue {
    pub fn from_code(code: &str) -> Option<NamedQueue> {
        Some(match code {
            "open" => NamedQueue::Open,
            "mine" => NamedQueue::Mine,
            "unassigned" => NamedQueue::Unassigned,
            "waiting" => NamedQueue::Waiting,
            "leads" | "critical" => NamedQueue::Leads,
            "siga" => NamedQueue::Siga,
            "closed" => NamedQueue::Closed,
            "all" => NamedQueue::All,
            _ => return None,
        })
    }
}

impl Store {
    /// Narrows a filter to a named queue, seen by `me`.
    pub async fn apply_queue(
        &self,
        filter: &mut IncidentFilter,
        queue: NamedQueue,
        me: UserId,
    ) -> Result<()> {
        match queue {
            NamedQueue::Mine => {
                filter.assigned_to = Some(me);
                filter.not_closed = true;
            }
            NamedQueue::Unassigned => {
                filter.unassigned = true;
                filter.not_closed = true;
            }
            NamedQueue::Waiting => filter.status = Some(Status::WaitingUnit),
            NamedQueue::Leads => filter.leads_queue = true,
            NamedQueue::Siga => {
                let units = self.units().await?;
                let quality = units.iter().find(|u| u.kind == UnitKind::Quality);
                filter.status = Some(Status::WaitingUnit);
                filter.unit_id = Some(quality.map_or(UnitId(0), |u| u.id));
            }
            NamedQueue::Closed => filter.status = Some(Status::Closed),
            NamedQueue::Open => filter.not_closed = filter.status.is_none(),
            NamedQueue::All => {}
        }
        Ok(())
    }
}

fn summaries(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<IncidentSummary>> {
    rows.iter()
        .map(|r| {
            let clocks = match r.try_get::<Option<String>, _>("clocks_json")? {
                Some(json) => serde_json::from_str(&json).map_err(StoreError::corrupt)?,
                None => Vec::new(),
            };
            Ok(IncidentSummary {
                incident: incident_from_row(r)?,
                contact_name: r.try_get("contact_name")?,
                clocks,
            })
        })
        .collect()
}

pub(crate) fn push_scope(sql: &mut Sql, scope: &Scope) {
    if let Scope::DerivedTo(units) = scope {
        if units.is_empty() {
            sql.push(" AND 1 = 0");
            return;
        }
        sql.push(" AND i.id IN (SELECT incident_id FROM derivations WHERE unit_id IN (");
        for (n, u) in units.iter().enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.bind(u.0);
        }
        sql.push("))");
    }
}

impl Store {
    /// Finds an incident by numeric id or by folio.
    pub async fn incident_id(&self, reference: &str) -> Result<IncidentId> {
        let row = if let Ok(id) = reference.parse::<i64>() {
            sqlx::query("SELECT id FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_optional(self.reader())
                .await?
        } else {
            let folio: Folio = reference
                .parse()
                .map_err(|_| StoreError::NotFound("incident"))?;
            sqlx::query("SELECT id FROM incidents WHERE folio = $1")
                .bind(folio.to_string())
                .fetch_optional(self.reader())
                .await?
        };
        Ok(IncidentId(
            row.ok_or(StoreError::NotFound("incident"))?.try_get("id")?,
        ))
    }

    pub async fn incident(&self, id: IncidentId) -> Result<Incident> {
        let row = sqlx::query("SELECT * FROM incidents WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.reader())
            .await?
            .ok_or(StoreError::NotFound("incident"))?;
        incident_from_row(&row)
    }

    /// Whether an incident is within what a person may see.
    pub async fn incident_visible(&self, scope: &Scope, id: IncidentId) -> Result<bool> {
        let mut sql = Sql::new("SELECT i.id FROM incidents i WHERE i.id = ");
        sql.bind(id.0);
        push_scope(&mut sql, scope);
        Ok(!sql.fetch_all(self.reader()).await?.is_empty())
    }

    pub async fn derivations(&self, id: IncidentId) -> Result<Vec<Derivation>> {
        let rows = sqlx::query(DERIVATIONS_OF)
            .bind(id.0)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(derivation_from_row).collect()
    }

    pub async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>> {
        let rows =
            sqlx::query("SELECT * FROM timeline_entries WHERE incident_id = $1 ORDER BY at, id")
                .bind(id.0)
                .fetch_all(self.reader())
                .await?;
        rows.iter().map(entry_from_row).collect()
    }

    pub async fn incident_detail(
        &self,
        id: IncidentId,
        reopen_window_days: i64,
    ) -> Result<IncidentDetail> {
        // Independent reads on their own connections.
        let (incident, derivations, timeline, clocks) = tokio::try_join!(
            self.incident(id),
            self.derivations(id),
            self.timeline(id),
            self.incident_clocks(id)
        )?;
        Ok(IncidentDetail {
            clocks,
            in_leads_queue: incident.in_leads_queue(&derivations),
            first_contact_resolution: indicators::first_contact_resolution(
                &incident,
                &timeline,
                reopen_window_days,
            ),
            incident,
            derivations,
            timeline,
        })
    }

    /// A page of incidents, newest first. The text filter `q` finds the incidents whose own
    /// search document (folio, subject, messages) or whose contact's (name, addresses, phones,
    /// codes) holds every word: a LIKE over every subject read the whole history for a word
    /// no subject has (2 s at a million incidents). The newest matches are taken from the
    /// index a window at a time, and the window grows only when the other filters leave the
    /// page short.
    pub async fn incidents(
        &self,
        scope: &Scope,
        f: &IncidentFilter,
    ) -> Result<Vec<IncidentSummary>> {
        let Some(text) = f.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            if f.in_due_order() {
                return self.due_page(scope, f).await;
            }
            return self.incident_page(scope, f, &Text::Any).await;
        };
        let query = atiende_domain::knowledge::SearchQuery::parse(text);
        if query.is_empty() {
            return Ok(vec![]);
        }
        let limit = crate::page_rows(f.limit);
        let mut found = Vec::new();
        let mut below = f.before_id;
        // No match among the newest incidents the other filters keep: the words are rare.
        let mut rare = false;
        if self.engine() == Engine::Postgres {
            // PostgreSQL reads each match the full-text index gives from the table (a common
            // word is tens of thousands of reads); the newest incidents that pass the other
            // filters are checked one by one first, each against its own and its contact's
            // document by key, and only what they leave short of a page goes to the index.
            // (Checking the newest incidents of any kind left closed emails, say, to the
            // index whenever the newest 2,000 were the day's open ones: 670 ms.)
            let floor = self.nth_newest_id(scope, f, below, TEXT_PROBED).await?;
            let probe = Text::Probe(
                search::tsquery_expr(&query, search::Match::All),
                floor.unwrap_or(0),
            );
            found = self.incident_page(scope, f, &probe).await?;
            if found.len() as i64 >= limit || floor.is_none() {
                return Ok(found);
            }
            rare = found.is_empty();
            below = floor;
        }
        let rest = IncidentFilter {
            before_id: below,
            limit: limit - found.len() as i64,
            ..f.clone()
        };
        let query = self.index_query(&query).await?;
        for window in [2_000, 16_000, 128_000] {
            let (ids, complete) = self.text_matches(&query, below, Some(window), rare).await?;
            let page = self.incident_page(scope, &rest, &Text::Ids(ids)).await?;
            if complete || page.len() as i64 >= rest.limit {
                found.extend(page);
                return Ok(found);
            }
        }
        let (ids, _) = self.text_matches(&query, below, None, rare).await?;
        found.extend(self.incident_page(scope, &rest, &Text::Ids(ids)).await?);
        Ok(found)
    }

    /// The id of the `n`th newest incident below `before` that passes `f`'s filters other
    /// than the text, if there are that many.
    async fn nth_newest_id(
        &self,
        scope: &Scope,
        f: &IncidentFilter,
        before: Option<i64>,
        n: i64,
    ) -> Result<Option<i64>> {
        let mut sql = self.filtered_columns("SELECT i.id ", scope, f, &Text::Any, Walk::Newest);
        if let Some(b) = before {
            sql.push(" AND i.id < ").bind(b);
        }
        sql.push(" ORDER BY i.id DESC LIMIT 1 OFFSET ");
        sql.bind(n - 1);
        match sql.fetch_all(self.reader()).await?.first() {
            Some(r) => Ok(Some(r.try_get("id")?)),
            None => Ok(None),
        }
    }

    /// [`Store::incidents`] with its text filter already resolved: newest first.
    async fn incident_page(
        &self,
        scope: &Scope,
        f: &IncidentFilter,
        text: &Text,
    ) -> Result<Vec<IncidentSummary>> {
        let mut sql = self.filtered(scope, f, text, Walk::Newest);
        if let Some(b) = f.before_id {
            sql.push(" AND i.id < ").bind(b);
        }
        sql.push(" ORDER BY i.id DESC LIMIT ")
            .bind(crate::page_rows(f.limit));
        summaries(sql.fetch_all(self.reader()).await?)
    }

    /// The list in due order: first the incidents whose clock runs, the earliest due first
    /// (walking the clocks' due index), then those with no clock running, newest first. A
    /// page that crosses from one to the other is read in two steps.
    async fn due_page(&self, scope: &Scope, f: &IncidentFilter) -> Result<Vec<IncidentSummary>> {
        let limit = crate::page_rows(f.limit);
        let mut found = Vec::new();
        // Due soon means not due yet: the walk starts at now.
        let start = match f.clock {
            Some(ClockState::Warning) => ms(crate::db::now()),
            _ => i64::MIN,
        };
        let after = f.after_due.unwrap_or(DueCursor::Running {
            due_at: start,
            id: 0,
        });
        if let DueCursor::Running { due_at, id } = after {
            let mut sql = self.filtered(scope, f, &Text::Any, Walk::Due);
            sql.push(" AND k.due_at IS NOT NULL AND (k.due_at > ")
                .bind(due_at)
                .push(" OR (k.due_at = ")
                .bind(due_at)
                .push(" AND k.incident_id > ")
                .bind(id)
                .push(")) ORDER BY k.due_at, k.incident_id LIMIT ")
                .bind(limit);
            found = summaries(sql.fetch_all(self.reader()).await?)?;
            // With a clock filter only running clocks qualify: there is no second part.
            if found.len() as i64 >= limit || f.clock.is_some() {
                return Ok(found);
            }
        }
        let mut sql = self.filtered(scope, f, &Text::Any, Walk::Newest);
        sql.push(" AND k.due_at IS NULL");
        if let DueCursor::Stopped { id } = after {
            sql.push(" AND i.id < ").bind(id);
        }
        sql.push(" ORDER BY i.id DESC LIMIT ")
            .bind(limit - found.len() as i64);
        found.extend(summaries(sql.fetch_all(self.reader()).await?)?);
        Ok(found)
    }

    /// The list's query up to its filters: the incidents, their contact's name and clocks.
    fn filtered(&self, scope: &Scope, f: &IncidentFilter, text: &Text, walk: Walk) -> Sql {
        self.filtered_columns(
            "SELECT i.*, CASE WHEN c.blocked_at IS NULL THEN c.name END AS contact_name, \
             k.clocks AS clocks_json ",
            scope,
            f,
            text,
            walk,
        )
    }

    /// [`Store::filtered`] with other columns: the ids alone let PostgreSQL leave out the joins
    /// no filter needs.
    fn filtered_columns(
        &self,
        columns: &str,
        scope: &Scope,
        f: &IncidentFilter,
        text: &Text,
        walk: Walk,
    ) -> Sql {
        let from = match (walk, self.engine(), f.not_closed) {
            // Running clocks are the open incidents' (tens of thousands among millions): the
            // due order walks their own index and stops at the page, whatever the queue.
            (Walk::Due, Engine::Sqlite, _) => {
                "FROM incident_clocks k INDEXED BY incident_clocks_running \
                 JOIN incidents i ON i.id = k.incident_id LEFT JOIN contacts c ON c.id = i.contact_id"
            }
            (Walk::Due, _, _) => {
                "FROM incident_clocks k JOIN incidents i ON i.id = k.incident_id \
                 LEFT JOIN contacts c ON c.id = i.contact_id"
            }
            // Open incidents are a few thousand among millions: walk their own index newest
            // first (SQLite's planner otherwise sorts them out of the status index).
            (Walk::Newest, Engine::Sqlite, true) => {
                "FROM incidents i INDEXED BY incidents_not_closed \
                 LEFT JOIN contacts c ON c.id = i.contact_id LEFT JOIN incident_clocks k ON k.incident_id = i.id"
            }
            (Walk::Newest, _, _) => {
                "FROM incidents i LEFT JOIN contacts c ON c.id = i.contact_id \
                 LEFT JOIN incident_clocks k ON k.incident_id = i.id"
            }
        };
        let mut sql = Sql::new(&format!("{columns}{from} WHERE 1 = 1"));
        push_scope(&mut sql, scope);
        if let Some(s) = f.status {
            sql.push(" AND i.status = ").bind(s.code());
        }
        if f.not_closed {
            sql.push(" AND i.status IN ('open', 'waiting_unit')");
        }
        if let Some(c) = f.channel {
            sql.push(" AND i.channel = ").bind(c.code());
        }
        if let Some(t) = f.user_type {
            sql.push(" AND i.user_type = ").bind(t.code());
        }
        if let Some(t) = f.incident_type {
            sql.push(" AND i.incident_type = ").bind(t.code());
        }
        if let Some(t) = f.topic_id {
            sql.push(" AND i.topic_id = ").bind(t.0);
        }
        if let Some(u) = f.unit_id {
            sql.push(" AND i.id IN (SELECT incident_id FROM derivations WHERE unit_id = ")
                .bind(u.0)
                .push(")");
        }
        if let Some(a) = f.assigned_to {
            sql.push(" AND i.assigned_to = ").bind(a.0);
        }
        if f.unassigned {
            sql.push(" AND i.assigned_to IS NULL");
        }
        if let Some(c) = f.contact_id {
            sql.push(" AND i.contact_id = ").bind(c.0);
        }
        if let Some(c) = f.critical {
            sql.push(" AND i.critical = ").bind(i64::from(c));
        }
        if f.leads_queue {
            sql.push(" AND i.critical = 1 AND i.status <> 'closed' AND i.id NOT IN (SELECT d.incident_id FROM derivations d JOIN units u ON u.id = d.unit_id WHERE u.kind = 'top_management')");
        }
        match f.clock {
            Some(ClockState::Breached) => {
                sql.push(" AND k.due_at <= ").bind(ms(crate::db::now()));
            }
            Some(ClockState::Warning) => {
                let now = ms(crate::db::now());
                sql.push(" AND k.warn_at <= ").bind(now);
                sql.push(" AND k.due_at > ").bind(now);
            }
            _ => {}
        }
        if let Some(from) = f.received_from {
            sql.push(" AND i.received_at >= ").bind(ms(from));
        }
        if let Some(to) = f.received_to {
            sql.push(" AND i.received_at < ").bind(ms(to));
        }
        match text {
            Text::Any => {}
            Text::Ids(ids) => {
                sql.push(" AND i.id").push_in_ids(self.engine(), ids);
            }
            Text::Probe(query, floor) => {
                // Each incident's documents are read by key: `OFFSET 0` keeps PostgreSQL from
                // turning the checks into a hash of every match in the index, which it does
                // when it expects many incidents to check (closed emails since a floor: 84,000
                // matches read from the table, 300 ms against 17). The query is a subquery
                // of its own, computed once, where a generic plan would parse it per check.
                sql.push(" AND i.id >= ").bind(*floor);
                sql.push(
                    " AND (EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = 'incident' AND d.ref_id = i.id \
                     AND d.tsv @@ (SELECT to_tsquery('spanish_unaccent', ",
                )
                .bind(query.clone())
                .push(
                    ")) OFFSET 0) OR EXISTS (SELECT 1 FROM search_docs d WHERE d.kind = 'contact' \
                     AND d.ref_id = i.contact_id AND d.tsv @@ (SELECT to_tsquery('spanish_unaccent', ",
                )
                .bind(query.clone())
                .push(")) OFFSET 0))");
            }
        }
        sql
    }

    pub async fn classify_incident(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        input: &ClassifyInput,
    ) -> Result<Incident> {
        let mut change = self.change_incident(id).await?;
        classify_step(&mut change, actor, input).await?;
        change.commit(actor, "incident.classify").await
    }

    /// Records an internal note, intervention notes (pormenores) or an answer given to the user.
    pub async fn add_entry(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        kind: EntryKind,
        body: &str,
    ) -> Result<TimelineEntry> {
        self.add_entry_with(actor, id, kind, body, None, &[], None)
            .await
    }

    /// An answer or an internal note with files: each is checked (kind, size, content that
    /// matches its name) before anything is written, kept on the entry, and, on an answer,
    /// sent with it on the incident's channel. The text may then be empty.
    pub async fn add_entry_with_files(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        kind: EntryKind,
        body: &str,
        files: &[Upload],
    ) -> Result<TimelineEntry> {
        self.add_entry_with(actor, id, kind, body, None, files, None)
            .await
    }

    /// [`Store::add_entry_with_files`] written from a canned response: its use is counted with
    /// the entry (the author must be able to use it).
    pub async fn add_entry_from_canned(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        kind: EntryKind,
        body: &str,
        files: &[Upload],
        canned_response: i64,
    ) -> Result<TimelineEntry> {
        self.add_entry_with(actor, id, kind, body, None, files, Some(canned_response))
            .await
    }

    /// Answers a WhatsApp incident with an approved template (the only message the provider
    /// takes 24 hours after the person's last one); the timeline shows the template's text.
    pub async fn answer_with_template(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        template: &atiende_domain::chat::Template,
    ) -> Result<TimelineEntry> {
        let folio = self.incident(id).await?.folio.to_string();
        let values = [folio];
        self.add_entry_with(
            actor,
            id,
            EntryKind::OutboundMessage,
            &template.render(&values),
            Some((template, &values)),
            &[],
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn add_entry_with(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        kind: EntryKind,
        body: &str,
        template: Option<(&atiende_domain::chat::Template, &[String])>,
        uploads: &[Upload],
        canned: Option<i64>,
    ) -> Result<TimelineEntry> {
        let mut v = atiende_domain::error::Validator::new();
        let body = v.text("body", body, MAX_ENTRY_CHARS, uploads.is_empty());
        v.finish()?;
        if !matches!(
            kind,
            EntryKind::Note | EntryKind::Intervention | EntryKind::OutboundMessage
        ) {
            return Err(RuleError::invalid("kind", "invalid").into());
        }
        if !uploads.is_empty() && !matches!(kind, EntryKind::Note | EntryKind::OutboundMessage) {
            return Err(RuleError::invalid("files", "files_not_allowed_here").into());
        }
        let named: Vec<(&str, &[u8])> = uploads
            .iter()
            .map(|u| (u.filename.as_str(), u.data.as_slice()))
            .collect();
        let checked = atiende_domain::attachment::check_files(&named)?;
        let mut change = self.change_incident(id).await?;
        let now = change.now;
        let draft = EntryDraft {
            kind,
            body: &body,
            template,
            files: checked
                .into_iter()
                .zip(uploads.iter().map(|u| u.data.as_slice()))
                .collect(),
            canned,
        };
        let (entry_id, data, files) = entry_step(&mut change, actor, draft).await?;
        let audit = Change {
            entity: EntityKind::Incident,
            entity_id: change.after.folio.to_string(),
            action: match kind {
                EntryKind::Note => "incident.note",
                EntryKind::Intervention => "incident.intervention",
                _ => "incident.answer",
            },
            before: None,
            after: Some(serde_json::json!({
                "entry_id": entry_id,
                "kind": kind,
                "body": body,
                "files": files.iter().map(|f| serde_json::json!({ "name": f.filename, "size": f.size })).collect::<Vec<_>>(),
            })),
        };
        change.commit_with(actor, "", audit).await?;
        Ok(TimelineEntry {
            id: entry_id,
            incident_id: id,
            kind,
            at: now,
            author_id: actor.user_id(),
            body,
            data,
        })
    }

    /// Staff wait on the person (a document, an answer to a question): the resolution clock
    /// stops until the person writes again or the incident moves on. Only an open incident
    /// waits on the person; one waiting on a unit already stops the CAP's clock.
    pub async fn wait_on_person(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        note: &str,
    ) -> Result<TimelineEntry> {
        let mut v = atiende_domain::error::Validator::new();
        let note = v.text("note", note, 5_000, false);
        v.finish()?;
        let mut change = self.change_incident(id).await?;
        match change.before.status {
            Status::Closed => return Err(RuleError::AlreadyClosed.into()),
            Status::WaitingUnit => {
                return Err(RuleError::invalid("status", "waiting_on_a_unit").into());
            }
            Status::Open => {}
        }
        let now = change.now;
        let data = serde_json::json!({});
        let entry_id = append(
            &mut change.tx,
            id,
            EntryKind::WaitingOnPerson,
            actor.user_id(),
            &note,
            data.clone(),
            now,
        )
        .await?;
        let audit = Change {
            entity: EntityKind::Incident,
            entity_id: change.after.folio.to_string(),
            action: "incident.wait_on_person",
            before: None,
            after: Some(serde_json::json!({ "entry_id": entry_id, "note": note })),
        };
        change.commit_with(actor, "", audit).await?;
        Ok(TimelineEntry {
            id: entry_id,
            incident_id: id,
            kind: EntryKind::WaitingOnPerson,
            at: now,
            author_id: actor.user_id(),
            body: note,
            data,
        })
    }

    /// Procedure steps 11–13: records the intervention notes (if given), closes, and writes the
    /// survey-due entry, all or nothing.
    pub async fn close_incident(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        notes: Option<&str>,
    ) -> Result<Incident> {
        let mut change = self.change_incident(id).await?;
        close_step(&mut change, actor, notes).await?;
        change.commit(actor, "incident.close").await
    }

    pub async fn reopen_incident(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        reason: &str,
    ) -> Result<Incident> {
        let mut v = atiende_domain::error::Validator::new();
        let reason = v.text("reason", reason, 5_000, false);
        v.finish()?;
        let mut change = self.change_incident(id).await?;
        change.after.reopen()?;
        duplicates::forget_original(&mut change.tx, id).await?;
        let audit = incident_change("incident.reopen", &change.before, &change.after);
        change.commit_with(actor, &reason, audit).await
    }

    pub async fn assign_incident(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        to: Option<UserId>,
    ) -> Result<Incident> {
        let mut change = self.change_incident(id).await?;
        if let Some(user) = to {
            let ok = sqlx::query("SELECT id FROM users WHERE id = $1 AND disabled = 0")
                .bind(user.0)
                .fetch_optional(&mut *change.tx)
                .await?;
            if ok.is_none() {
                return Err(RuleError::invalid("user_id", "unknown_user").into());
            }
        }
        change.after.assigned_to = to;
        if let Some(user) = to.filter(|u| Some(*u) != change.before.assigned_to) {
            crate::notifications::notify_user(
                &mut change.tx,
                NotificationKind::Assigned,
                id,
                user,
                actor.user_id(),
            )
            .await?;
        }
        let data = serde_json::json!({ "from": change.before.assigned_to, "to": to });
        append(
            &mut change.tx,
            id,
            EntryKind::Assignment,
            actor.user_id(),
            "",
            data,
            change.now,
        )
        .await?;
        change.commit(actor, "incident.assign").await
    }

    /// Procedure steps 6a, 7 and 9. With `close`, also steps 11–13 in the same transaction.
    pub async fn derive_incident(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        input: &DeriveInput,
    ) -> Result<(Incident, Derivation)> {
        let mut change = self.change_incident(id).await?;
        let derivation = derive_step(&mut change, actor, input).await?;
        let audit = Change {
            entity: EntityKind::Incident,
            entity_id: change.after.folio.to_string(),
            action: "incident.derive",
            before: snapshot(&change.before),
            after: Some(serde_json::json!({ "incident": change.after, "derivation": derivation })),
        };
        let after = change.commit_with(actor, "", audit).await?;
        Ok((after, derivation))
    }

    /// The unit's answer to a derivation. Only those who answer for that unit may give it.
    pub async fn answer_derivation(
        &self,
        actor: Actor<'_>,
        id: IncidentId,
        derivation: DerivationId,
        input: &UnitAnswer,
    ) -> Result<(Incident, Derivation)> {
        let mut change = self.change_incident(id).await?;
        let now = change.now;
        let tx = &mut change.tx;
        let derivations = derivations_in_tx(tx, id).await?;
        let d = derivations
            .iter()
            .find(|d| d.id == derivation)
            .ok_or(StoreError::NotFound("derivation"))?;
        let unit = unit_in_tx(tx, d.unit_id).await?;
        if let Actor::Staff(staff) = actor
            && !staff.may_answer_for(&unit)
        {
            return Err(StoreError::Forbidden);
        }
        let text = d.check_answer(&input.answer)?;
        sqlx::query(
            "UPDATE derivations SET answer = $1, answered_by = $2, answered_at = $3 WHERE id = $4",
        )
        .bind(text.clone())
        .bind(actor.user_id().map(|u| u.0))
        .bind(ms(now))
        .bind(derivation.0)
        .execute(&mut **tx)
        .await?;
        let data = serde_json::json!({ "derivation_id": derivation, "unit_id": unit.id, "unit_name": unit.name });
        append(
            tx,
            id,
            EntryKind::DerivationAnswer,
            actor.user_id(),
            &text,
            data,
            now,
        )
        .await?;
        // Derivations that close the incident in the same step never hold it waiting.
        let still_waiting = derivations
            .iter()
            .any(|o| o.id != derivation && !o.is_answered() && !o.closed_incident);
        change.after.apply_unit_answer(still_waiting);
        let action = if input.close {
            // The quality owner's treatment is the answer the person gets.
            change.after.record_response(now);
            let data = CloseData::load(tx, &change.before).await?;
            change
                .after
                .close_on_unit_answer(&unit, input.user_type, data.facts(), now)?;
            close_in_tx(tx, &mut change.after, actor, now).await?;
            "incident.derivation_answer_close"
        } else {
            "incident.derivation_answer"
        };
        let answered = derivations_in_tx(tx, id)
            .await?
            .into_iter()
            .find(|x| x.id == derivation)
            .ok_or(StoreError::NotFound("derivation"))?;
        // Closing is recorded as a derivation that closes is; an answer alone, as the
        // derivation it changed.
        let (before, after) = if input.close {
            (
                snapshot(&change.before),
                Some(serde_json::json!({ "incident": change.after, "derivation": answered })),
            )
        } else {
            (snapshot(d), snapshot(&answered))
        };
        crate::notifications::notify(
            tx,
            NotificationKind::UnitAnswered,
            id,
            None,
            actor.user_id(),
        )
        .await?;
        let mut data = event_data(&change.after, change.before.status);
        data["derivation_id"] = serde_json::json!(answered.id.0);
        data["unit_id"] = serde_json::json!(answered.unit_id.0);
        crate::webhooks::emit(tx, EventType::DerivationAnswered, Some(id), data).await?;
        let audit = Change {
            entity: EntityKind::Incident,
            entity_id: change.after.folio.to_string(),
            action,
            before,
            after,
        };
        let after = change.commit_with(actor, "", audit).await?;
        Ok((after, answered))
    }

    /// A mark that grows whenever the reader's queue gains an incident: the newest incident's
    /// id for those who see every incident, the newest derivation to their units for a unit's
    /// responsible (so no one learns of other units' incidents). The console polls it to show
    /// new incidents without reloading; read from the database, so it is right whichever
    /// instance created the incident.
    /// The newest incident's and derivation's ids, whoever may see them: what the live
    /// streams' pulse watches (each stream then asks `latest_incident_id` for its reader).
    pub async fn newest_ids(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM incidents) AS i, \
             (SELECT COALESCE(MAX(id), 0) FROM derivations) AS d",
        )
        .fetch_one(self.reader())
        .await?;
        Ok((row.try_get("i")?, row.try_get("d")?))
    }

    pub async fn latest_incident_id(&self, scope: &Scope) -> Result<i64> {
        let sql = match scope {
            Scope::All => Sql::new("SELECT COALESCE(MAX(id), 0) AS id FROM incidents"),
            Scope::DerivedTo(units) => {
                let mut sql =
                    Sql::new("SELECT COALESCE(MAX(id), 0) AS id FROM derivations WHERE unit_id");
                let ids: Vec<i64> = units.iter().map(|u| u.0).collect();
                sql.push_in_ids(self.engine(), &ids);
                sql
            }
        };
        let row = sql.fetch_one(self.reader()).await?;
        Ok(row.try_get("id")?)
    }
}

/// Classifies the incident of a change: the domain's rule, the entry on the timeline, the
/// buzón's routing, the leads told of a new critical incident, the event.
pub(crate) async fn classify_step(
    change: &mut IncidentChange,
    actor: Actor<'_>,
    input: &ClassifyInput,
) -> Result<()> {
    let id = change.after.id;
    change.after.classify(input)?;
    if let Some(topic) = input.topic_id {
        let exists = sqlx::query("SELECT id FROM topics WHERE id = $1")
            .bind(topic.0)
            .fetch_optional(&mut *change.tx)
            .await?;
        if exists.is_none() {
            return Err(RuleError::invalid("topic_id", "unknown_topic").into());
        }
    }
    let after = &change.after;
    let data = serde_json::json!({
        "channel": after.channel, "user_type": after.user_type, "incident_type": after.incident_type,
        "topic_id": after.topic_id, "critical": after.critical,
    });
    append(
        &mut change.tx,
        id,
        EntryKind::Classification,
        actor.user_id(),
        "",
        data,
        change.now,
    )
    .await?;
    route_to_quality_if_needed(&mut change.tx, &mut change.after, change.now).await?;
    crate::suggestions::record_outcome(&mut change.tx, &change.after, change.now).await?;
    if change.after.critical && !change.before.critical {
        crate::notifications::notify(
            &mut change.tx,
            NotificationKind::CriticalIncident,
            id,
            None,
            actor.user_id(),
        )
        .await?;
    }
    let data = event_data(&change.after, change.before.status);
    crate::webhooks::emit(
        &mut change.tx,
        EventType::IncidentClassified,
        Some(id),
        data,
    )
    .await?;
    Ok(())
}

/// An entry to write on an incident, its files already checked.
pub(crate) struct EntryDraft<'a> {
    pub(crate) kind: EntryKind,
    pub(crate) body: &'a str,
    pub(crate) template: Option<(&'a atiende_domain::chat::Template, &'a [String])>,
    pub(crate) files: Vec<(atiende_domain::attachment::CheckedFile, &'a [u8])>,
    /// The canned response it was written from (its use is counted).
    pub(crate) canned: Option<i64>,
}

/// Writes an entry on the incident of a change: on the timeline with its files, an answer
/// sent on the incident's channel (and counted as a response), the canned response's use.
pub(crate) async fn entry_step(
    change: &mut IncidentChange,
    actor: Actor<'_>,
    draft: EntryDraft<'_>,
) -> Result<(EntryId, serde_json::Value, Vec<OutgoingFile>)> {
    let id = change.after.id;
    let now = change.now;
    let kind = draft.kind;
    if kind.is_response() {
        change.after.record_response(now);
    }
    let mut data = match draft.template {
        Some((t, _)) => serde_json::json!({ "template": t.name }),
        None => serde_json::json!({}),
    };
    if let Some(c) = draft.canned {
        data["canned_response_id"] = serde_json::json!(c);
    }
    let tx = &mut change.tx;
    let entry_id = append(tx, id, kind, actor.user_id(), draft.body, data.clone(), now).await?;
    if let Some(c) = draft.canned {
        crate::canned_responses::record_use(tx, c, id, entry_id, actor.user_id()).await?;
    }
    let files = crate::attachments::store_files(tx, id, entry_id, &draft.files).await?;
    if matches!(kind, EntryKind::Note | EntryKind::Intervention) {
        tell_mentioned(tx, id, draft.body, actor.user_id()).await?;
    }
    if kind == EntryKind::OutboundMessage {
        crate::replies::answer(
            tx,
            &change.after,
            entry_id,
            draft.body,
            draft.template,
            &files,
        )
        .await?;
        let mut event = event_data(&change.after, change.before.status);
        event["entry_id"] = serde_json::json!(entry_id.0);
        event["files"] = serde_json::json!(files.len());
        crate::webhooks::emit(tx, EventType::IncidentAnswered, Some(id), event).await?;
    }
    Ok((entry_id, data, files))
}

/// Tells the people of the console a note mentions (`@login`) — those active who may see the
/// incident, not its author.
async fn tell_mentioned(
    tx: &mut Tx,
    incident: IncidentId,
    body: &str,
    author: Option<UserId>,
) -> Result<()> {
    for login in atiende_domain::notification::mentions(body) {
        let Some(user) = crate::users::active_by_login(tx, &login).await? else {
            continue;
        };
        if Some(user.id) == author || !user.may(atiende_domain::access::Action::IncidentRead) {
            continue;
        }
        let mut sql = Sql::new("SELECT i.id FROM incidents i WHERE i.id = ");
        sql.bind(incident.0);
        push_scope(&mut sql, &user.incident_scope());
        if sql.fetch_all(&mut **tx).await?.is_empty() {
            continue;
        }
        crate::notifications::notify_user(
            tx,
            NotificationKind::Mentioned,
            incident,
            user.id,
            author,
        )
        .await?;
    }
    Ok(())
}

/// Closes the incident of a change (procedure step 12), with intervention notes if given:
/// refused as the procedure says (unclassified, no notes, a critical one not derived…);
/// the survey is then due.
pub(crate) async fn close_step(
    change: &mut IncidentChange,
    actor: Actor<'_>,
    notes: Option<&str>,
) -> Result<()> {
    let notes = notes.map(str::trim).filter(|n| !n.is_empty());
    let now = change.now;
    let data = CloseData::load(&mut change.tx, &change.after).await?;
    let facts = CloseFacts {
        has_intervention_notes: notes.is_some() || data.has_intervention_notes,
        ..data.facts()
    };
    change.after.close(facts, now)?;
    if let Some(n) = notes {
        record_intervention(&mut change.tx, &mut change.after, actor, n, now).await?;
    }
    close_in_tx(&mut change.tx, &mut change.after, actor, now).await
}

/// Derives the incident of a change to a unit as the procedure plans it (who may derive where,
/// telling the person, closing with it), tells the unit, and returns the derivation.
pub(crate) async fn derive_step(
    change: &mut IncidentChange,
    actor: Actor<'_>,
    input: &DeriveInput,
) -> Result<Derivation> {
    let Actor::Staff(staff) = actor else {
        return Err(StoreError::Forbidden);
    };
    let id = change.after.id;
    let now = change.now;
    let tx = &mut change.tx;
    let unit = unit_in_tx(tx, input.unit_id).await.map_err(|e| match e {
        StoreError::NotFound(_) => RuleError::invalid("unit_id", "unknown_unit").into(),
        e => e,
    })?;
    let data = CloseData::load(tx, &change.after).await?;
    let plan = change
        .after
        .plan_derivation(staff, &unit, input, data.facts())?;
    let derivation_id = insert_derivation(tx, &change.after, &unit, &plan, actor, now).await?;
    crate::notifications::notify(
        tx,
        NotificationKind::DerivedToUnit,
        id,
        Some(unit.id),
        actor.user_id(),
    )
    .await?;
    if plan.medium == Medium::Email {
        crate::replies::notify_unit(tx, &change.after, &unit, &plan.reason).await?;
    }
    if let Some(n) = &plan.notes {
        record_intervention(tx, &mut change.after, actor, n, now).await?;
    }
    change.after.apply_derivation(&plan, now);
    if plan.close {
        close_in_tx(tx, &mut change.after, actor, now).await?;
    }
    derivations_in_tx(tx, id)
        .await?
        .into_iter()
        .find(|d| d.id == derivation_id)
        .ok_or(StoreError::NotFound("derivation"))
}

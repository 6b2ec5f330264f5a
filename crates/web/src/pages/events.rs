//! Server-sent events for the console: `incidents` tells an open queue a new incident arrived,
//! `call` pops up a call the agent just answered (the telephone system reported it), with a
//! link to register it, and `notifications` gives the unread count and, for a new one, its words
//! (the header's badge, and a browser notification where the person allowed them); on an
//! incident page, `presence` says who else has it open or is writing on it, `changed` that
//! others added to it, and on a web chat `visitor` whether its person is writing. All are read from the database, so an event received by any instance
//! reaches the console connected to any other. Each stream carries only what its reader may
//! see, and one person holds a few streams at most on an instance.

use std::convert::Infallible;
use std::time::Duration;

use atiende_domain::access::{Action, Scope};
use atiende_domain::ids::{IncidentId, UserId};
use atiende_domain::user::StaffUser;
use atiende_store::presence::Present;
use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream};

use super::PageUser;
use crate::AppState;
use crate::error::AppError;
use crate::quota::Permit;

/// Streams one person may hold open at once on one instance: a few tabs. More are refused
/// (429), so that one account cannot hold the server's connections.
pub const STREAMS_PER_USER: usize = 6;

pub fn router() -> Router<AppState> {
    Router::new().route("/eventos", get(events))
}

/// Calls answered this long ago still pop up when the console connects (a page reload right
/// after picking up the phone).
const POP_RECENT_MS: i64 = 120_000;

struct Cursor {
    state: AppState,
    user: StaffUser,
    scope: Scope,
    _permit: Permit<UserId>,
    latest_incident: i64,
    last_call: i64,
    /// The unread count and newest notification last told (-1: not yet).
    unread: i64,
    latest_notification: i64,
    since_ms: i64,
    first: bool,
    /// The incident page this stream serves, if any.
    watch: Option<Watch>,
    /// Wakes the stream when a new incident or derivation is stored (`pulse`).
    pulse: tokio::sync::watch::Receiver<(i64, i64)>,
    /// When every check (calls, presence, notifications) is next due.
    next_full: tokio::time::Instant,
}

/// How often a stream makes every check when no pulse wakes it sooner.
const FULL_EVERY: Duration = Duration::from_secs(2);

/// An incident open in the console: its reader is marked present, and told who else is on it
/// and what others added since the page was made.
struct Watch {
    incident: IncidentId,
    /// The newest entry the reader has been told about.
    seen: i64,
    /// Who else was there, as last told (none told yet: `None`).
    others: Option<Vec<Present>>,
    marked: Option<std::time::Instant>,
    /// A web chat's person writing, as last told (`None`: not told yet).
    visitor_typing: Option<bool>,
    /// The incident may be a web chat (until the store says it is not).
    web_chat: bool,
}

/// How often the stream marks its reader present (within `presence::PRESENT_FOR`).
const MARK_EVERY: Duration = Duration::from_secs(8);

impl Drop for Cursor {
    fn drop(&mut self) {
        // The page was closed: the others stop seeing its reader at once rather than when the
        // mark grows old.
        if let Some(w) = &self.watch
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.state.store.clone();
            let (incident, user) = (w.incident, self.user.id);
            runtime.spawn(async move {
                if let Err(e) = store.leave_incident(incident, user).await {
                    tracing::debug!(error = %e, "events: cannot mark the reader gone");
                }
            });
        }
    }
}

impl Cursor {
    async fn next_event(&mut self) -> Option<Event> {
        let store = &self.state.store;
        if self.user.may(Action::IncidentCreate) {
            match store
                .calls_to_pop(self.user.id, self.last_call, self.since_ms)
                .await
            {
                Ok(calls) => {
                    if let Some(call) = calls.first() {
                        self.last_call = call.id;
                        let data = serde_json::json!({
                            "id": call.id,
                            "number": call.their_number(),
                            "name": call.contact_name,
                        });
                        return Some(Event::default().event("call").data(data.to_string()));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "events: cannot read calls"),
            }
        }
        if let Some(event) = self.newest_incident().await {
            return Some(event);
        }
        if let Some(event) = self.together().await {
            return Some(event);
        }
        self.notifications().await
    }

    /// A new incident the reader may see, when the newest changed.
    async fn newest_incident(&mut self) -> Option<Event> {
        match self.state.store.latest_incident_id(&self.scope).await {
            Ok(latest) => self.tell_newest(latest),
            Err(e) => {
                tracing::warn!(error = %e, "events: cannot read the newest incident");
                None
            }
        }
    }

    /// Woken by the pulse: a reader who may see every incident is told the newest id the
    /// pulse has just read from the database, without asking again (each stream asking made
    /// a burst of identical queries per instance at every beat); a reader who sees only
    /// what was derived to their units asks for theirs.
    async fn newest_incident_after_pulse(&mut self) -> Option<Event> {
        match self.scope {
            Scope::All => {
                let (latest, _) = *self.pulse.borrow();
                // A full check may have read a newer id than this beat's.
                if latest > self.latest_incident {
                    self.tell_newest(latest)
                } else {
                    None
                }
            }
            Scope::DerivedTo(_) => self.newest_incident().await,
        }
    }

    fn tell_newest(&mut self, latest: i64) -> Option<Event> {
        if latest == self.latest_incident {
            return None;
        }
        self.latest_incident = latest;
        Some(Event::default().event("incidents").data(latest.to_string()))
    }

    /// Waits for the next round: every check when they are due, only the newest incident's
    /// when the pulse wakes the stream sooner. Returns whether every check is due.
    async fn wait(&mut self) -> bool {
        tokio::select! {
            () = tokio::time::sleep_until(self.next_full) => {
                self.next_full = tokio::time::Instant::now() + FULL_EVERY;
                true
            }
            woke = self.pulse.changed() => {
                if woke.is_err() {
                    // The pulse is gone (the instance stops): every check on the timer.
                    tokio::time::sleep_until(self.next_full).await;
                    self.next_full = tokio::time::Instant::now() + FULL_EVERY;
                    return true;
                }
                false
            }
        }
    }

    /// On an incident page: marks the reader present, then tells who else is there (and who is
    /// writing) when that changed, and what others added since the page was made.
    async fn together(&mut self) -> Option<Event> {
        let store = &self.state.store;
        let user = self.user.id;
        let w = self.watch.as_mut()?;
        let now = chrono::Utc::now();
        if w.marked.is_none_or(|t| t.elapsed() >= MARK_EVERY) {
            if let Err(e) = store.mark_present(w.incident, user, false, now).await {
                tracing::warn!(error = %e, "events: cannot mark the reader present");
            }
            w.marked = Some(std::time::Instant::now());
        }
        match store.present_on(w.incident, user, now).await {
            Ok(others) if w.others.as_ref() != Some(&others) => {
                let data = serde_json::to_string(&others).unwrap_or_default();
                w.others = Some(others);
                return Some(Event::default().event("presence").data(data));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "events: cannot read who is present"),
        }
        // A web chat: whether its person is writing in the widget. Asked until the answer
        // says the incident is no web chat.
        if w.web_chat {
            match store.visitor_typing(w.incident).await {
                Ok(Some(typing)) if w.visitor_typing != Some(typing) => {
                    w.visitor_typing = Some(typing);
                    let data = serde_json::json!({ "typing": typing });
                    return Some(Event::default().event("visitor").data(data.to_string()));
                }
                Ok(None) => w.web_chat = false,
                Ok(Some(_)) => {}
                Err(e) => tracing::warn!(error = %e, "events: cannot read the person typing"),
            }
        }
        match store.added_since(w.incident, w.seen, user).await {
            Ok(added) if !added.is_empty() => {
                w.seen = added.iter().map(|a| a.entry_id).max().unwrap_or(w.seen);
                let data = serde_json::json!({ "added": added.len(), "newest": w.seen });
                Some(Event::default().event("changed").data(data.to_string()))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "events: cannot read what was added");
                None
            }
        }
    }

    /// The unread count when it changed, with the words of a notification that arrived since
    /// the stream opened (none for those already there).
    async fn notifications(&mut self) -> Option<Event> {
        let store = &self.state.store;
        let (unread, latest) = match store.notification_mark(self.user.id).await {
            Ok(mark) => mark,
            Err(e) => {
                tracing::warn!(error = %e, "events: cannot read notifications");
                return None;
            }
        };
        if unread == self.unread && latest == self.latest_notification {
            return None;
        }
        let arrived = self.latest_notification >= 0 && latest > self.latest_notification;
        self.unread = unread;
        self.latest_notification = latest;
        let mut data = serde_json::json!({ "unread": unread, "latest": latest });
        let newest = if arrived {
            store
                .notifications(self.user.id, Some(latest + 1), 1)
                .await
                .ok()
                .and_then(|mut n| n.pop())
        } else {
            None
        };
        // Words only about an incident the reader may still see.
        let visible = match newest.as_ref().and_then(|n| n.incident_id) {
            Some(id) => store
                .incident_visible(&self.scope, atiende_domain::ids::IncidentId(id))
                .await
                .unwrap_or(false),
            None => true,
        };
        if let Some(n) = newest.filter(|_| visible) {
            let row =
                super::notifications::NotificationRow::of(n, self.user.language, store.time_zone());
            data["title"] = serde_json::json!(row.label);
            data["body"] = serde_json::json!(row.title);
            data["url"] = serde_json::json!(if row.href.is_empty() {
                "/avisos".to_string()
            } else {
                row.href
            });
        }
        Some(
            Event::default()
                .event("notifications")
                .data(data.to_string()),
        )
    }
}

#[derive(serde::Deserialize)]
struct EventParams {
    /// The newest notification the page was made with: newer ones are told with their words.
    avisos: Option<String>,
    /// An incident page: its id, and the newest entry the page shows.
    incidente: Option<i64>,
    visto: Option<i64>,
}

async fn events(
    State(state): State<AppState>,
    page: PageUser,
    axum::extract::Query(p): axum::extract::Query<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    // Only an incident the reader may see: its presence and changes are not for others.
    let watch = match p.incidente {
        Some(id) => {
            let incident = IncidentId(id);
            if !state
                .store
                .incident_visible(&page.user.incident_scope(), incident)
                .await?
            {
                return Err(AppError::NotFound("incident"));
            }
            Some(Watch {
                incident,
                seen: p.visto.unwrap_or(i64::MAX),
                others: None,
                marked: None,
                visitor_typing: None,
                web_chat: true,
            })
        }
        None => None,
    };
    let permit = state
        .live_streams
        .take(page.user.id, STREAMS_PER_USER, usize::MAX)
        .ok_or(AppError::RateLimited)?;
    let state_pulse = state.pulse.subscribe(&state.store);
    let cursor = Cursor {
        scope: page.user.incident_scope(),
        _permit: permit,
        state,
        user: page.user,
        latest_incident: -1,
        last_call: 0,
        unread: -1,
        latest_notification: p
            .avisos
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .unwrap_or(-1),
        since_ms: chrono::Utc::now().timestamp_millis() - POP_RECENT_MS,
        first: true,
        watch,
        pulse: state_pulse,
        next_full: tokio::time::Instant::now() + FULL_EVERY,
    };
    let stream = stream::unfold(cursor, |mut cursor| async move {
        loop {
            if !cursor.first && !cursor.wait().await {
                // Woken by the pulse: only the newest incident is worth asking now.
                if let Some(event) = cursor.newest_incident_after_pulse().await {
                    return Some((Ok(event), cursor));
                }
                continue;
            }
            cursor.first = false;
            if let Some(event) = cursor.next_event().await {
                // Answer at once while events are waiting.
                cursor.first = true;
                return Some((Ok(event), cursor));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

//! Server-sent events that tell an open queue a new incident arrived. The newest id is read from
//! the database, so an incident created on any instance shows on every console.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream};

use super::PageUser;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/eventos", get(events))
}

async fn events(
    State(state): State<AppState>,
    _page: PageUser,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = stream::unfold((state, -1i64), |(state, last)| async move {
        loop {
            if last >= 0 {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            match state.store.latest_incident_id().await {
                Ok(latest) if latest != last => {
                    let event = Event::default().event("incidents").data(latest.to_string());
                    return Some((Ok(event), (state, latest)));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "events: cannot read the newest incident");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

//! Liveness, readiness and Prometheus metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

/// Request counters of this instance (each instance exposes its own, as Prometheus expects).
#[derive(Default)]
pub struct Metrics {
    by_class: [AtomicU64; 5],
    micros_total: AtomicU64,
    /// Reports of what the content security policy blocked (see `headers`).
    pub csp_violations: AtomicU64,
}

/// Set when the instance begins to stop. Behind a load balancer, the instance answers
/// `/readyz` with 503 for `shutdown_grace_seconds` while still serving, so the balancer's
/// checks take it out before it stops accepting: no request then meets a closing connection.
#[derive(Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining.is_on() {
        return (StatusCode::SERVICE_UNAVAILABLE, "stopping").into_response();
    }
    // A database that does not answer within a second is not there for the balancer: the
    // pool would wait up to its acquire timeout for one that is restarting.
    let ping = tokio::time::timeout(std::time::Duration::from_secs(1), state.store.ping()).await;
    match ping {
        Ok(Ok(())) => {
            // Ready to serve; what needs an administrator follows, one line each, so that a
            // revoked mailbox is seen by monitoring rather than lost silently.
            let mut body = String::from("ready");
            for line in attention(&state).await {
                body.push('\n');
                body.push_str(&line);
            }
            body.into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database not reachable").into_response()
        }
        Err(_) => {
            tracing::warn!("database not reachable: no answer within a second");
            (StatusCode::SERVICE_UNAVAILABLE, "database not reachable").into_response()
        }
    }
}

/// Bytes free for this process in each folder the data lives in (unreadable ones left out).
fn storage_free(state: &AppState) -> Vec<(&std::path::Path, u64)> {
    state
        .config
        .storage
        .iter()
        .filter_map(|folder| {
            let stat = rustix::fs::statvfs(folder).ok()?;
            Some((
                folder.as_path(),
                stat.f_bavail.saturating_mul(stat.f_frsize),
            ))
        })
        .collect()
}

/// What an administrator must mend, in the operators' words (English, like the logs).
async fn attention(state: &AppState) -> Vec<String> {
    let mut lines: Vec<String> = storage_free(state)
        .into_iter()
        .filter(|(_, free)| *free < state.config.storage_alert_bytes)
        .map(|(folder, free)| {
            format!(
                "storage: {} MB free in {} (writes fail when it is full)",
                free / (1024 * 1024),
                folder.display()
            )
        })
        .collect();
    lines.extend(mailbox_attention(state).await);
    lines
}

async fn mailbox_attention(state: &AppState) -> Vec<String> {
    use atiende_domain::mail_auth::GrantState;
    let Ok(mailboxes) = state.store.mailboxes().await else {
        return Vec::new();
    };
    mailboxes
        .iter()
        .filter(|m| m.active)
        .filter_map(|m| match m.grant {
            GrantState::Revoked => Some(format!(
                "mailbox {:?}: the provider revoked its authorization; connect it again in Administración → Buzones de correo",
                m.name
            )),
            GrantState::NotConnected => Some(format!(
                "mailbox {:?}: signs in by OAuth 2.0 and is not connected with its provider yet",
                m.name
            )),
            GrantState::NotUsed | GrantState::Connected => None,
        })
        .collect()
}

/// Counts every request by status class and time spent.
pub async fn count(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(req).await;
    let class = (response.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    state.metrics.by_class[class].fetch_add(1, Ordering::Relaxed);
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    state
        .metrics
        .micros_total
        .fetch_add(micros, Ordering::Relaxed);
    response
}

/// Prometheus metrics, for whoever holds the metrics token: the counts say how busy the CAP
/// is, which is not for anyone on the network.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    use std::fmt::Write;
    if !crate::auth::bearer_is(&headers, &state.config.metrics_token) {
        return crate::error::AppError::NotFound("metrics").into_response();
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP atiende_http_requests_total HTTP requests served by this instance."
    );
    let _ = writeln!(out, "# TYPE atiende_http_requests_total counter");
    let mut total = 0;
    for (i, c) in state.metrics.by_class.iter().enumerate() {
        let n = c.load(Ordering::Relaxed);
        total += n;
        let _ = writeln!(
            out,
            "atiende_http_requests_total{{class=\"{}xx\"}} {n}",
            i + 1
        );
    }
    let secs = state.metrics.micros_total.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "# HELP atiende_http_request_duration_seconds_sum Time spent serving requests."
    );
    let _ = writeln!(
        out,
        "# TYPE atiende_http_request_duration_seconds_sum counter"
    );
    let _ = writeln!(out, "atiende_http_request_duration_seconds_sum {secs}");
    let _ = writeln!(
        out,
        "# HELP atiende_csp_violations_total Reports of content the security policy blocked."
    );
    let _ = writeln!(out, "# TYPE atiende_csp_violations_total counter");
    let _ = writeln!(
        out,
        "atiende_csp_violations_total {}",
        state.metrics.csp_violations.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "atiende_http_request_duration_seconds_count {total}");
    let intake = state.store.intake_totals();
    let _ = writeln!(
        out,
        "# HELP atiende_intake_group_duration_seconds Groups of new incidents this instance committed together, and the time spent writing them."
    );
    let _ = writeln!(out, "# TYPE atiende_intake_group_duration_seconds summary");
    let _ = writeln!(
        out,
        "atiende_intake_group_duration_seconds_sum {}",
        intake.seconds
    );
    let _ = writeln!(
        out,
        "atiende_intake_group_duration_seconds_count {}",
        intake.groups
    );
    let _ = writeln!(
        out,
        "# HELP atiende_intake_incidents_total New incidents written in those groups."
    );
    let _ = writeln!(out, "# TYPE atiende_intake_incidents_total counter");
    let _ = writeln!(out, "atiende_intake_incidents_total {}", intake.incidents);
    let storage = storage_free(&state);
    if !storage.is_empty() {
        let _ = writeln!(
            out,
            "# HELP atiende_storage_free_bytes Space free where this instance's data lives."
        );
        let _ = writeln!(out, "# TYPE atiende_storage_free_bytes gauge");
        for (folder, free) in storage {
            let folder = label_value(&folder.display().to_string());
            let _ = writeln!(
                out,
                "atiende_storage_free_bytes{{folder=\"{folder}\"}} {free}"
            );
        }
    }
    match state.store.counts().await {
        Ok(c) => {
            let _ = writeln!(out, "# HELP atiende_incidents Incidents by status.");
            let _ = writeln!(out, "# TYPE atiende_incidents gauge");
            for (status, n) in c.incidents_by_status {
                let _ = writeln!(out, "atiende_incidents{{status=\"{status}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "# HELP atiende_outbox_pending Outbox entries waiting for a job."
            );
            let _ = writeln!(out, "# TYPE atiende_outbox_pending gauge");
            let _ = writeln!(out, "atiende_outbox_pending {}", c.outbox_pending);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: counts unavailable"),
    }
    match state.store.external_services().await {
        Ok(services) if !services.is_empty() => {
            let _ = writeln!(
                out,
                "# HELP atiende_external_service_up Whether an outside service worked when last used (1) or is failing (0)."
            );
            let _ = writeln!(out, "# TYPE atiende_external_service_up gauge");
            for s in &services {
                let _ = writeln!(
                    out,
                    "atiende_external_service_up{{kind=\"{}\",name=\"{}\"}} {}",
                    s.kind.code(),
                    label_value(&s.name),
                    u8::from(s.working())
                );
            }
            let _ = writeln!(
                out,
                "# HELP atiende_external_service_failing_seconds How long an outside service has been failing (0 when it works)."
            );
            let _ = writeln!(out, "# TYPE atiende_external_service_failing_seconds gauge");
            let now = chrono::Utc::now();
            for s in &services {
                let failing = s
                    .failing_since
                    .map_or(0, |t| (now - t).num_seconds().max(0));
                let _ = writeln!(
                    out,
                    "atiende_external_service_failing_seconds{{kind=\"{}\",name=\"{}\"}} {failing}",
                    s.kind.code(),
                    label_value(&s.name),
                );
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "metrics: outside services unavailable"),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}

/// A value as a Prometheus label may hold it: quotes, backslashes and line breaks replaced.
fn label_value(value: &str) -> String {
    value.replace(['"', '\\', '\n'], "_")
}

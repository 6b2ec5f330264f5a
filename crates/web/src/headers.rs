//! Security headers on every response, and where browsers report what the policy blocked.
//!
//! The policy lets a page run only the service's own script and style files: no inline code,
//! no other origin, no plugins, no framing by anyone. A page that needs more (the sanitised
//! email, whose inline styles are the sender's) sets its own policy, which is kept.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::post;

use crate::AppState;

/// Where browsers post reports of what the policy blocked.
pub const REPORT_PATH: &str = "/csp-report";

/// The console's and public pages' policy.
pub const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
    report-uri /csp-report";

/// Pages whose address carries a one-time token: no address of theirs leaves in a Referer.
const TOKEN_PAGES: [&str; 2] = ["/encuesta/", "/mis-datos/"];

/// Addresses whose last part is a secret: the telephone system's event URL.
const SECRET_PATHS: [&str; 1] = ["/api/v1/cti/"];

/// A request's path as the log may show it: a one-time token or a secret in it is cut off, the
/// query (search words, names) is never included, and control characters are escaped.
pub fn loggable_path(path: &str) -> String {
    for prefix in TOKEN_PAGES.iter().chain(SECRET_PATHS.iter()) {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.split_once('/').map_or("", |(_, t)| t);
            let tail = if tail.is_empty() {
                String::new()
            } else {
                format!("/{tail}")
            };
            return format!("{prefix}…{}", tail.escape_debug());
        }
    }
    path.escape_debug().to_string()
}

pub fn router() -> Router<AppState> {
    Router::new().route(REPORT_PATH, post(report))
}

/// Adds the headers every response carries.
pub async fn secure(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let carries_token = TOKEN_PAGES.iter().any(|p| req.uri().path().starts_with(p));
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    set_default(h, header::CONTENT_SECURITY_POLICY, POLICY);
    set_default(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(h, header::X_FRAME_OPTIONS, "DENY");
    set_default(
        h,
        header::REFERRER_POLICY,
        if carries_token {
            "no-referrer"
        } else {
            "same-origin"
        },
    );
    set_default(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    );
    set_default(h, "cross-origin-opener-policy", "same-origin");
    set_default(h, "cross-origin-resource-policy", "same-origin");
    if state.config.secure_cookies() {
        set_default(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    response
}

fn set_default(h: &mut HeaderMap, name: impl header::IntoHeaderName, value: &'static str) {
    if let header::Entry::Vacant(slot) = h.entry(name) {
        slot.insert(HeaderValue::from_static(value));
    }
}

/// A browser's report of something the policy blocked: counted in `/metrics` and logged (the
/// directive and what was blocked, never the page's address, which may carry a token).
async fn report(State(state): State<AppState>, body: Bytes) -> StatusCode {
    state.metrics.csp_violations.fetch_add(1, Ordering::Relaxed);
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let r = &report["csp-report"];
    let field = |k: &str| {
        r[k].as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect::<String>()
    };
    tracing::warn!(
        directive = %field("violated-directive"),
        blocked = %field("blocked-uri"),
        "the content security policy blocked something"
    );
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn a_token_or_secret_in_a_path_never_reaches_the_log() {
        assert_eq!(loggable_path("/encuesta/abc123"), "/encuesta/…");
        assert_eq!(
            loggable_path("/mis-datos/tok/descargar"),
            "/mis-datos/…/descargar"
        );
        assert_eq!(loggable_path("/api/v1/cti/secreto"), "/api/v1/cti/…");
        assert_eq!(loggable_path("/bandeja"), "/bandeja");
        assert_eq!(loggable_path("/x\n[forged]"), "/x\\n[forged]");
    }
}

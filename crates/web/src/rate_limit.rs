//! Rate limits on login and public forms, keyed by client address or login (governor's GCRA).

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct KeyedLimiter(DefaultKeyedRateLimiter<String>);

impl KeyedLimiter {
    pub fn per_minute(n: u32) -> Self {
        let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        KeyedLimiter(RateLimiter::keyed(Quota::per_minute(n)))
    }

    /// Counts one attempt; false when the key is over its quota.
    pub fn check(&self, key: &str) -> bool {
        let ok = self.0.check_key(&key.to_string()).is_ok();
        if self.0.len() > 100_000 {
            // Forget keys whose bucket is full again, so the map cannot grow without bound.
            self.0.retain_recent();
        }
        ok
    }
}

/// The client's address: the peer's, or behind a trusted proxy the one it forwarded
/// ([`crate::proxy`]); `local` when the app runs without a socket (tests).
pub struct ClientAddr(pub String);

impl axum::extract::FromRequestParts<crate::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(ClientAddr(peer.map_or_else(
            || "local".to_string(),
            |peer| {
                state
                    .config
                    .trusted_proxies
                    .client(peer, forwarded)
                    .to_string()
            },
        )))
    }
}

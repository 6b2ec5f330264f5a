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

/// The client's address as the server saw it (the proxy's, behind a reverse proxy), or
/// `local` when the app runs without a socket (tests).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(ClientAddr(addr.map_or_else(
            || "local".to_string(),
            |c| c.0.ip().to_string(),
        )))
    }
}

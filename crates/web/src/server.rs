//! Serving connections. A connection must send each request's headers within a time limit —
//! a half-open or idle keep-alive connection is closed when it runs out — one address holds a
//! limited number of connections, and all of them together stay below the process's file limit,
//! so that a flood of slow connections cannot keep `/healthz` (or anyone else) from an answer.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::quota::Quota;

/// How many connections, and how slow, the server accepts.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time a connection has to send a request's headers, including while it waits idle
    /// between two requests.
    pub header_read_timeout: Duration,
    /// Time a request's body may keep silent between two of its parts: a client that sends
    /// headers and then trickles (or withholds) its body is cut off.
    pub body_read_timeout: Duration,
    /// Connections one address may hold at once; 0 for no cap (behind a proxy every
    /// connection comes from its address).
    pub per_address: usize,
    /// Connections held at once in all; 0 for a share of the process's file limit.
    pub total: usize,
    /// Proxies and load balancers: every client comes through their addresses, so the cap
    /// per address does not apply to them (the total one does).
    pub trusted: crate::proxy::TrustedProxies,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            per_address: 64,
            total: 0,
            trusted: Default::default(),
        }
    }
}

impl ConnectionLimits {
    /// The total cap in force: the configured one, never more than the file limit leaves once
    /// the database pools, logs and attachments have their share.
    pub fn total_in_force(&self) -> usize {
        let from_files = open_files_limit().map_or(4096, |n| n.saturating_sub(128).max(16));
        match self.total {
            0 => from_files,
            n => n.min(from_files),
        }
    }
}

#[cfg(unix)]
fn open_files_limit() -> Option<usize> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    limit
        .current
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
fn open_files_limit() -> Option<usize> {
    None
}

/// Live streams never end by themselves: at shutdown, requests in flight get this long.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops accepting
/// and lets requests in flight finish. With `tls`, every connection speaks HTTPS (see
/// `tls.rs`); its handshake has the same time limit as a request's headers.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let total = limits.total_in_force();
    // Plain connections speak HTTP/1.1 only (proxies speak it to their backends): a
    // version-sniffing server waits for a connection's first bytes without any time limit.
    // Over TLS the client and server agree on HTTP/2 or HTTP/1.1 in the handshake.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Over TLS, for clients that agreed on HTTP/2 in the handshake.
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_concurrent_streams(128)
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let held: Arc<Quota<IpAddr>> = Arc::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors (or a connection reset before it was taken):
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let per_address = if limits.trusted.contains(peer.ip()) {
            0
        } else {
            limits.per_address
        };
        let Some(slot) = held.take(peer.ip(), per_address, total) else {
            tracing::debug!(%peer, "connection refused: over the connection limits");
            drop(stream);
            continue;
        };
        let service =
            tower_http::timeout::RequestBodyTimeout::new(app.clone(), limits.body_read_timeout)
                .map_request(
                    move |mut request: axum::http::Request<hyper::body::Incoming>| {
                        request
                            .extensions_mut()
                            .insert(ConnectInfo::<SocketAddr>(peer));
                        request
                    },
                );
        let service = TowerToHyperService::new(service);
        match &tls {
            None => {
                let connection =
                    graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                let (builder, h2, watcher) = (builder.clone(), h2.clone(), graceful.watcher());
                let limit = limits.header_read_timeout;
                tokio::spawn(async move {
                    match tokio::time::timeout(limit, handshake).await {
                        Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
                            let connection =
                                watcher.watch(h2.serve_connection(TokioIo::new(stream), service));
                            let _ = connection.await;
                        }
                        Ok(Ok(stream)) => {
                            let connection = watcher
                                .watch(builder.serve_connection(TokioIo::new(stream), service));
                            let _ = connection.await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake too slow"),
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("connections still open after the drain time are closed");
    }
}

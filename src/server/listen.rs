//! The accept loop: hyper under axum with the limits that `axum::serve` does not offer. Without
//! them a client that sends half a request header (slowloris), or trickles a body, holds a
//! connection and a task for as long as it likes, and a thousand such clients hold a thousand.
//!
//! - a header read timeout closes a connection whose request header has not arrived in time;
//! - a request deadline answers 408 when a request (its body included) takes too long;
//! - a connection limit stops accepting while that many connections are open: the rest wait
//!   in the kernel's listen backlog instead of costing memory here.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::config::ServerConfig;

/// How much of the server one client, or all of them, may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's whole header.
    pub header_read_timeout: Duration,
    /// Time a request may take from its header to the response, its body included.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_config(config: &ServerConfig) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout.0,
            request_timeout: config.request_timeout.0,
            max_connections: config.max_connections,
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::from_config(&ServerConfig::default())
    }
}

/// How long a shutdown waits for requests in flight before it closes their connections.
const DRAIN: Duration = Duration::from_secs(10);
/// A failed accept (out of file descriptors, say) is retried after this pause, not at once.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` under `limits` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let router = router.layer(middleware::from_fn_with_state(
        limits.request_timeout,
        request_deadline,
    ));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    debug!(%peer, "connection accepted");
                    stream
                }
                Err(error) => {
                    warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(router.clone()),
            );
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => warn!("requests still in flight at shutdown were cut off"),
    }
}

/// Answers 408 when the rest of the request (a trickled body) and its handling take longer
/// than the deadline.
async fn request_deadline(
    State(deadline): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request took too long").into_response(),
    }
}

//! The service's one HTTP port: webhook receivers under `/hooks/<provider>`, `/healthz`,
//! `/readyz` and `/status/webhooks` (the last delivery per receiver, as JSON).

mod deliveries;
mod listen;
mod liveness;
mod secrets;
pub use secrets::WebhookSecrets;
pub mod signature;
pub(crate) mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use tracing::info;

use crate::leader::LeaderRelay;
use crate::source::{FetchTrigger, Reference};

pub use deliveries::{Delivery, DeliveryLog, DeliveryResult};
pub use listen::{ConnectionLimits, serve};
pub use liveness::Liveness;
pub use webhook::Provider;

/// Larger bodies get 413 before any signature work. GitHub caps payloads at 25 MB but a push
/// with a normal commit list is a few KiB.
pub const MAX_WEBHOOK_BODY: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot read the {receiver} webhook secret from {path}: {detail}")]
    SecretFile {
        receiver: &'static str,
        path: String,
        detail: String,
    },
    #[error("the {receiver} webhook secret in {path} is empty")]
    EmptySecret {
        receiver: &'static str,
        path: String,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What a verified push acts on: the followed reference, the source's trigger, and (with
/// leader election) the relay that passes the push on to the leader when this replica is a
/// standby.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    pub reference: Reference,
    pub trigger: FetchTrigger,
    pub relay: Option<LeaderRelay>,
}

impl WebhookTarget {
    /// A verified push to the followed reference: sync here, and make the leader sync.
    pub(crate) fn push_received(&self) {
        self.trigger.request();
        if let Some(relay) = &self.relay {
            relay.push_received();
        }
    }
}

/// `/readyz` answers 200 once this is set (the first snapshot is loaded).
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `/readyz` turns ready once every gate has opened (caches filled, first snapshot in).
#[derive(Clone)]
pub(crate) struct ReadinessGates {
    left: Arc<AtomicUsize>,
    readiness: Readiness,
}

impl ReadinessGates {
    pub(crate) fn new(readiness: Readiness, gates: usize) -> Self {
        Self {
            left: Arc::new(AtomicUsize::new(gates)),
            readiness,
        }
    }

    pub(crate) fn open(&self, gate: &str) {
        let left = self.left.fetch_sub(1, Ordering::AcqRel) - 1;
        info!(gate, left, "readiness gate open");
        if left == 0 {
            self.readiness.set_ready();
        }
    }
}

/// Shared by every route.
#[derive(Debug, Clone)]
pub struct AppState {
    pub secrets: Arc<WebhookSecrets>,
    pub target: WebhookTarget,
    pub deliveries: DeliveryLog,
    pub readiness: Readiness,
    pub liveness: Liveness,
}

/// Builds the HTTP router. Receivers without a secret are left out, so their paths answer 404
/// and no endpoint ever accepts an unsigned request.
pub fn router(state: AppState) -> Router {
    let mut hooks = Router::new();
    for provider in Provider::ALL {
        if state.secrets.get(provider).is_some() {
            let path = format!("/hooks/{}", provider.name());
            hooks = hooks.route(
                &path,
                post(move |state, headers, body| webhook::receive(provider, state, headers, body)),
            );
        }
    }
    hooks
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status/webhooks", get(webhook_status))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.liveness.stopped_stage() {
        None => (StatusCode::OK, "ok".to_string()),
        Some(stage) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the {stage} task has stopped"),
        ),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first snapshot",
        )
    }
}

async fn webhook_status(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.deliveries.last())
}

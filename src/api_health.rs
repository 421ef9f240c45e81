//! Whether the Kubernetes API answers, as this replica sees it, and what ends an outage.
//!
//! Every watch of the service reports here: an error that means the API server did not
//! answer (no connection, or a 5xx/429 such as an API server whose etcd is gone) starts an
//! outage; any event of a watch ends it. A watch that reconnects quietly delivers no event,
//! so while an outage lasts [`probe`] asks `/readyz` (which includes etcd) every second; its
//! first `ok` ends the outage too. Nothing is probed while the API answers.
//!
//! The end of an outage is what the controller needs to resume at once: reconciles that
//! failed during it backed off (1 s, 2 s, 4 s ...), and without a reset the last of them
//! would wait far past the outage. [`ApiHealth::returns`] yields once per outage ended; the
//! controller forgets those backoffs and reconciles every database then. The watches
//! themselves retry on [`watch_backoff`], capped at a few seconds for the same reason.
//! The state is published to `/metrics` (`pg_gitops_kubernetes_api_reachable`) and
//! `/status` (`kubernetes`).

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::runtime::utils::Backoff as _;
use kube::runtime::watcher;
use tokio::sync::watch;
use tracing::{info, warn};

/// How often `/readyz` is asked while the API is unreachable.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// What this replica last saw of the API server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Reachability {
    #[default]
    Reachable,
    /// Since the first failure of this outage; `error` is the latest failure (kube errors
    /// name the API server's address and the request, never a credential).
    Unreachable { since: Timestamp, error: String },
}

impl Reachability {
    pub fn is_reachable(&self) -> bool {
        matches!(self, Self::Reachable)
    }
}

/// The shared state; cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiHealth {
    state: Arc<watch::Sender<Reachability>>,
    /// Outages ended so far: a count, so that an outage shorter than a poll is not missed.
    ended: Arc<watch::Sender<u64>>,
}

impl Default for ApiHealth {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiHealth {
    pub fn new() -> Self {
        Self {
            state: Arc::new(watch::Sender::new(Reachability::Reachable)),
            ended: Arc::new(watch::Sender::new(0)),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Reachability> {
        self.state.subscribe()
    }

    pub fn now(&self) -> Reachability {
        self.state.borrow().clone()
    }

    /// One event of a watch: an event proves the API answers; an error may start an outage.
    pub fn observe_watch<T>(&self, event: &Result<T, watcher::Error>) {
        match event {
            Ok(_) => self.answered(),
            Err(error) if is_outage_of_watch(error) => self.failed(error),
            Err(_) => {}
        }
    }

    /// The API server did not answer.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        let error = error.to_string();
        self.state.send_if_modified(|state| match state {
            Reachability::Reachable => {
                warn!(%error, "the Kubernetes API does not answer");
                *state = Reachability::Unreachable {
                    since: Timestamp::now(),
                    error,
                };
                true
            }
            Reachability::Unreachable { error: latest, .. } => {
                *latest = error;
                // The latest error is shown by /status, which reads it; nobody waits on it.
                false
            }
        });
    }

    /// The API server answered.
    pub fn answered(&self) {
        let ended = self.state.send_if_modified(|state| match state {
            Reachability::Reachable => false,
            Reachability::Unreachable { since, .. } => {
                let lasted = Timestamp::now().duration_since(*since);
                info!(outage = %format!("{:.1} s", lasted.as_secs_f64()), "the Kubernetes API answers again");
                *state = Reachability::Reachable;
                true
            }
        });
        if ended {
            self.ended.send_modify(|count| *count += 1);
        }
    }

    /// One item after an outage ends (outages that end before the item is taken are one).
    pub fn returns(&self) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(self.ended.subscribe(), |mut ended| async move {
            ended.changed().await.ok()?;
            Some(((), ended))
        })
    }
}

/// Asks `/readyz` every [`PROBE_INTERVAL`] while an outage lasts; its `ok` ends the outage.
/// Runs until the state's last receiver is gone.
pub async fn probe(client: Client, health: ApiHealth) {
    let mut state = health.subscribe();
    loop {
        if state.wait_for(|state| !state.is_reachable()).await.is_err() {
            return;
        }
        while !health.now().is_reachable() {
            tokio::time::sleep(PROBE_INTERVAL).await;
            let request = hyper::Request::get("/readyz")
                .body(Vec::new())
                .expect("a GET of a fixed path is a valid request");
            match client.request_text(request).await {
                Ok(text) if text.trim() == "ok" => health.answered(),
                Ok(text) => health.failed(&format!("/readyz answered {}", text.trim())),
                Err(error) if is_outage(&error) => health.failed(&error),
                // Answered, but not with ok (e.g. 403 where /readyz is not allowed): the API
                // server is up; its watches will tell the rest.
                Err(_) => health.answered(),
            }
        }
    }
}

/// A watch's retry delays ([`watch_backoff`]) that start over once per outage that ended:
/// the first failure after the API server returned (typically `410 Gone`, because a restarted
/// API server's watch cache no longer holds the resource version the watch had reached) is
/// retried at once, not after the longest delay the outage built up. Once per outage, so a
/// failure that repeats still backs off.
pub struct OutageAwareBackoff {
    delays: kube::runtime::watcher::ExponentialBackoff,
    ended: watch::Receiver<u64>,
}

impl Iterator for OutageAwareBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.ended.has_changed().unwrap_or(false) {
            self.ended.mark_unchanged();
            self.delays.reset();
            return Some(Duration::ZERO);
        }
        self.delays.next()
    }
}

impl kube::runtime::utils::Backoff for OutageAwareBackoff {
    fn reset(&mut self) {
        self.delays.reset();
    }
}

impl ApiHealth {
    /// [`watch_backoff`] for a watch that reports to this state.
    pub fn watch_backoff(&self) -> OutageAwareBackoff {
        OutageAwareBackoff {
            delays: watch_backoff(),
            ended: self.ended.subscribe(),
        }
    }
}

/// The watches' retry delays: from half a second, doubling up to 2 s, each plus a random
/// jitter of up to itself, so never over 4 s (kube-runtime's default grows to 30 s, which
/// would leave the service blind for up to 30 s after the API server returns). Reset by every
/// event, as kube-runtime's `StreamBackoff` does. A handful of watches retrying every few
/// seconds is no load an API server notices, however many databases there are.
pub fn watch_backoff() -> kube::runtime::watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(2))
        .with_jitter()
        .without_max_times()
        .into()
}

/// Whether a failed request means the API server did not answer: no connection or a broken
/// one, or a status that says it cannot serve now (5xx, 429).
pub(crate) fn is_outage(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

fn is_outage_of_watch(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(error)
        | watcher::Error::WatchStartFailed(error)
        | watcher::Error::WatchFailed(error) => is_outage(error),
        watcher::Error::WatchError(status) => status.code >= 500 || status.code == 429,
        watcher::Error::NoResourceVersion => false,
    }
}

#[cfg(test)]
mod tests;

//! The last delivery each receiver saw, and counters per outcome, for the status API and
//! metrics. A delivery's commit is recorded only after its signature checked out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What a receiver did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    /// Signed push to the followed ref: a sync was requested.
    Triggered,
    /// Signed push to another branch or tag.
    IgnoredRef,
    /// Signed event that is not a push.
    IgnoredEvent,
    Ping,
    /// Missing or wrong signature.
    Unauthorized,
    /// Signed, but the payload could not be read.
    BadRequest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub received_at_unix_ms: u64,
    pub result: DeliveryResult,
    /// Why it was refused or ignored, in words.
    pub detail: String,
    pub git_ref: Option<String>,
    pub commit: Option<String>,
}

#[derive(Debug, Default)]
struct Log {
    last: BTreeMap<&'static str, Delivery>,
    counts: BTreeMap<(&'static str, DeliveryResult), u64>,
}

/// Told of every delivery as it is recorded (the service counts them in its metrics). A
/// callback rather than a `Metrics` field, so the server does not depend on the metrics
/// module, which already names the server's types.
type Observer = Arc<dyn Fn(&'static str, DeliveryResult) + Send + Sync>;

/// Shared, cheap to clone.
#[derive(Clone, Default)]
pub struct DeliveryLog {
    log: Arc<Mutex<Log>>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for DeliveryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryLog").finish_non_exhaustive()
    }
}

impl DeliveryLog {
    /// A log that also tells `observer` of each delivery.
    pub fn observed_by(
        observer: impl Fn(&'static str, DeliveryResult) + Send + Sync + 'static,
    ) -> Self {
        Self {
            log: Arc::default(),
            observer: Some(Arc::new(observer)),
        }
    }

    pub fn record(
        &self,
        receiver: &'static str,
        result: DeliveryResult,
        detail: impl Into<String>,
        git_ref: Option<String>,
        commit: Option<String>,
    ) {
        let received_at_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_millis() as u64)
            .unwrap_or_default();
        let delivery = Delivery {
            received_at_unix_ms,
            result,
            detail: detail.into(),
            git_ref,
            commit,
        };
        let mut log = self.lock();
        *log.counts.entry((receiver, result)).or_default() += 1;
        log.last.insert(receiver, delivery);
        drop(log);
        if let Some(observer) = &self.observer {
            observer(receiver, result);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// The last delivery per receiver name (`github`, `gitlab`, ...).
    pub fn last(&self) -> BTreeMap<&'static str, Delivery> {
        self.lock().last.clone()
    }

    /// Every (receiver, result, count) seen so far, for the metrics endpoint.
    pub fn counts(&self) -> Vec<(&'static str, DeliveryResult, u64)> {
        let log = self.lock();
        log.counts
            .iter()
            .map(|((receiver, result), count)| (*receiver, *result, *count))
            .collect()
    }

    /// How many deliveries `receiver` answered with `result`.
    pub fn count(&self, receiver: &str, result: DeliveryResult) -> u64 {
        let log = self.lock();
        log.counts
            .iter()
            .filter(|((name, kind), _)| *name == receiver && *kind == result)
            .map(|(_, count)| *count)
            .sum()
    }
}

//! The one retry backoff of the service and the one jitter. Every loop that retries after a
//! failure (a reconcile, a leader-election step, a Git sync) doubles its delay from a first
//! value up to a cap, and spreads its sleeps with [`jittered`] so that replicas or objects
//! that failed together do not retry in lockstep against the same API server or remote.
//!
//! Not `backon` (which kube-runtime's watchers use through `default_backoff`): its backoffs
//! are iterators owned by one retry loop, while the controller keeps a failure count per
//! object between reconciles and asks for the delay of the n-th failure.

use std::time::Duration;

/// Doubling from `first` per consecutive failure, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    pub(crate) const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The delay after `failures` consecutive failures (the first failure waits `first`).
    /// Deterministic, so callers and tests can reason about it; sleep with [`Self::jittered`].
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
            .min(self.max)
    }

    /// [`Self::delay`] plus up to a tenth more.
    pub(crate) fn jittered(&self, failures: u32) -> Duration {
        spread(self.delay(failures))
    }
}

/// A retry delay plus up to a tenth more.
pub(crate) fn spread(delay: Duration) -> Duration {
    jittered(delay, delay / 10)
}

/// `interval` plus a pseudo-random share of `jitter`. Randomness only spreads replicas apart,
/// so the std hasher's per-process random keys are good enough.
pub(crate) fn jittered(interval: Duration, jitter: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    if jitter.is_zero() {
        return interval;
    }
    let random = RandomState::new().hash_one(std::time::Instant::now());
    let jitter_millis = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    interval + Duration::from_millis(random % (jitter_millis + 1))
}

#[cfg(test)]
mod tests;

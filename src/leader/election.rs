//! The election task: drives the [`LeaseManager`], watches the Lease, and keeps the fence
//! (see the parent module's doc for why both are needed).

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::watcher::Event;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerError};
use tracing::{info, warn};

use crate::api_health::watch_backoff;
use crate::backoff::{Backoff, spread};

use super::{
    Fence, LeaderError, LeaderSettings, RELEASE_TIMEOUT, RETRY_MAX, RETRY_MIN, Shared, Timing,
    new_lease_manager,
};

/// What the Lease said the last time the watch delivered it. An absent Lease reads as free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ObservedLease {
    pub(super) holder: Option<String>,
    pub(super) renew_time: Option<SystemTime>,
}

impl ObservedLease {
    fn from_lease(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        ObservedLease {
            holder: spec
                .and_then(|spec| spec.holder_identity.clone())
                .filter(|holder| !holder.is_empty()),
            renew_time: spec
                .and_then(|spec| spec.renew_time.as_ref())
                .map(|renewed| SystemTime::from(renewed.0)),
        }
    }
}

/// The one election step in flight: asking the current manager for its next change, or
/// replacing the manager by a fresh one (which reads the Lease anew).
enum Step {
    Changed(Result<bool, LeaseManagerError>),
    Rebuilt(Result<Arc<LeaseManager>, LeaderError>),
}

type StepFuture = Pin<Box<dyn Future<Output = Step> + Send>>;

fn next_change(manager: Arc<LeaseManager>, delay: Duration) -> StepFuture {
    Box::pin(async move {
        tokio::time::sleep(delay).await;
        Step::Changed(manager.changed().await)
    })
}

pub(super) struct Election {
    pub(super) client: Client,
    pub(super) settings: LeaderSettings,
    pub(super) timing: Timing,
    pub(super) shared: Arc<Shared>,
    /// What the current manager last reported: whether it holds the lock by its own account.
    pub(super) library_holds: bool,
    /// The Lease as our watch last saw it; None until the first list has completed.
    pub(super) observed: Option<ObservedLease>,
}

impl Election {
    fn rebuild(&self, delay: Duration) -> StepFuture {
        let (client, settings, timing) = (self.client.clone(), self.settings.clone(), self.timing);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Step::Rebuilt(new_lease_manager(&client, &settings, timing).await)
        })
    }

    fn observed_holder(&self) -> Option<&str> {
        self.observed.as_ref()?.holder.as_deref()
    }

    pub(super) async fn run(
        mut self,
        mut manager: Arc<LeaseManager>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), &self.settings.lease_namespace);
        let by_name = format!("metadata.name={}", self.settings.lease_name);
        let mut lease_events = pin!(
            watcher(api, watcher::Config::default().fields(&by_name)).backoff(watch_backoff())
        );
        // The Lease as listed so far while a (re-)list is in progress.
        let mut listing = ObservedLease::default();
        let mut shutdown = pin!(shutdown);
        let mut step = next_change(manager.clone(), Duration::ZERO);
        let mut rebuilding = false;
        let mut retry = Retry::default();

        loop {
            let fence_deadline = match self.shared.fence() {
                Fence::Until(deadline) => Some(deadline),
                Fence::Always | Fence::Closed => None,
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                finished = &mut step => {
                    (step, rebuilding) = self.next_step(finished, &mut manager, &mut retry);
                }
                event = lease_events.next() => {
                    match event {
                        Some(Ok(event)) => self.observe(event, &mut listing),
                        Some(Err(err)) => warn!(error = %err, "leader election: watching the Lease"),
                        None => {
                            warn!("leader election: the Lease watch ended; stepping down");
                            break;
                        }
                    }
                    if !rebuilding && self.manager_is_out_of_date() {
                        // Drops the manager's pending step, which is only waiting for a time
                        // that no longer matters; the fresh manager reads the Lease at once.
                        self.library_holds = false;
                        step = self.rebuild(Duration::ZERO);
                        rebuilding = true;
                    }
                }
                () = sleep_until(fence_deadline) => {}
            }
            self.update_fence();
        }
        self.stop(manager, step).await;
    }

    /// What to do once the step in flight has finished; the bool says whether the next step
    /// is a rebuild of the manager.
    fn next_step(
        &mut self,
        finished: Step,
        manager: &mut Arc<LeaseManager>,
        retry: &mut Retry,
    ) -> (StepFuture, bool) {
        match finished {
            Step::Changed(Ok(holds)) => {
                self.library_holds = holds;
                retry.succeeded();
                (next_change(manager.clone(), Duration::ZERO), false)
            }
            // The Lease is gone or unreadable: a fresh manager recreates or rereads it.
            Step::Changed(Err(
                err @ (LeaseManagerError::NonexistentLease(_)
                | LeaseManagerError::InconsistentState(_)),
            )) => {
                let delay = spread(retry.failed());
                warn!(error = %err, retry_in = ?delay, "leader election: starting over");
                self.library_holds = false;
                (self.rebuild(delay), true)
            }
            // API errors: retry on the same manager, which keeps its own view of whether it
            // holds the lock. The fence bounds how long that view counts.
            Step::Changed(Err(err)) => {
                let delay = spread(retry.failed());
                warn!(error = %err, retry_in = ?delay, "leader election step failed");
                (next_change(manager.clone(), delay), false)
            }
            Step::Rebuilt(Ok(fresh)) => {
                *manager = fresh;
                (next_change(manager.clone(), Duration::ZERO), false)
            }
            Step::Rebuilt(Err(err)) => {
                let delay = spread(retry.failed());
                warn!(error = %err, retry_in = ?delay, "leader election: rereading the Lease failed");
                (self.rebuild(delay), true)
            }
        }
    }

    fn observe(&mut self, event: Event<Lease>, listing: &mut ObservedLease) {
        match event {
            Event::Init => *listing = ObservedLease::default(),
            Event::InitApply(lease) => *listing = ObservedLease::from_lease(&lease),
            Event::InitDone => self.observed = Some(std::mem::take(listing)),
            Event::Apply(lease) => self.observed = Some(ObservedLease::from_lease(&lease)),
            Event::Delete(_) => self.observed = Some(ObservedLease::default()),
        }
    }

    /// Whether the Lease as watched contradicts what the manager acts on, so that waiting for
    /// the manager would be slow or wrong:
    /// - the Lease is free (released by its holder, or deleted) while we do not hold it: the
    ///   manager would sleep until the expiry it last read before trying;
    /// - someone else holds it while the manager thinks we do: it would renew blindly.
    pub(super) fn manager_is_out_of_date(&self) -> bool {
        let Some(observed) = &self.observed else {
            return false;
        };
        match observed.holder.as_deref() {
            None => !self.library_holds,
            Some(holder) => self.library_holds && holder != self.settings.identity,
        }
    }

    /// Open the fence until the renew deadline of our last renewal seen on the Lease, if the
    /// manager holds the lock and the Lease names us; close it otherwise.
    pub(super) fn update_fence(&self) {
        let renewed = match &self.observed {
            Some(ObservedLease {
                holder: Some(holder),
                renew_time: Some(renewed),
            }) if self.library_holds && *holder == self.settings.identity => Some(*renewed),
            _ => None,
        };
        let fence = renewed
            .and_then(|renewed| {
                (renewed + self.timing.renew_deadline)
                    .duration_since(SystemTime::now())
                    .ok()
            })
            .map_or(Fence::Closed, |left| Fence::Until(Instant::now() + left));
        let was_leader = *self.shared.leader.borrow();
        self.shared.set_fence(fence);
        let is_leader = *self.shared.leader.borrow();
        if was_leader != is_leader {
            info!(
                identity = %self.settings.identity,
                lease = %self.settings.lease_name,
                leader = is_leader,
                holder = self.observed_holder().unwrap_or(""),
                "leadership changed"
            );
        }
    }

    /// Stop writing first, then release the Lease if we may hold it, so the standby can take
    /// over without waiting for the expiry.
    async fn stop(self, manager: Arc<LeaseManager>, step: StepFuture) {
        self.shared.set_fence(Fence::Closed);
        drop(step);
        let may_hold =
            self.library_holds || self.observed_holder() == Some(self.settings.identity.as_str());
        if may_hold {
            match tokio::time::timeout(RELEASE_TIMEOUT, manager.release()).await {
                Ok(Ok(())) => {
                    info!(identity = %self.settings.identity, "released the leader Lease")
                }
                Ok(Err(err)) => {
                    warn!(error = %err, "releasing the leader Lease failed; it expires on its own")
                }
                Err(_) => warn!("releasing the leader Lease timed out; it expires on its own"),
            }
        }
        self.shared.stopped.send_replace(true);
    }
}

/// Delay before retrying a failed step: doubling from [`RETRY_MIN`] up to [`RETRY_MAX`].
#[derive(Debug, Default)]
pub(super) struct Retry {
    failures: u32,
}

const BACKOFF: Backoff = Backoff::new(RETRY_MIN, RETRY_MAX);

impl Retry {
    /// The delay before the next try, before jitter.
    pub(super) fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        BACKOFF.delay(self.failures)
    }

    pub(super) fn succeeded(&mut self) {
        self.failures = 0;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

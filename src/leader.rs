//! Leader election on a `coordination.k8s.io/v1` Lease, so that with several replicas only one
//! writes (`docs/design.md`, "Execution rules"); every replica keeps its caches warm and checks
//! [`Leadership::is_leader`] before each write.
//!
//! [`kube_lease_manager`] does the locking (server-side apply on the Lease, so two replicas
//! cannot both acquire it). On top of it this module adds what the crate leaves out:
//! - **Fencing.** The crate keeps reporting "leader" while its renewals fail (it only logs
//!   the error and retries), even past the Lease's expiry. Here leadership is also bounded by
//!   the *renew deadline*: a replica counts as leader only until `renewTime + 2/3 of the
//!   lease duration`, where `renewTime` is the last renewal of ours seen on the Lease. Another
//!   replica may take the Lease only at `renewTime + lease duration`, so a replica that cannot
//!   renew stops writing a third of the lease duration (5 s of 15 s) before anyone else may
//!   start; that third is the room left for clock skew and a write already in flight.
//! - **Prompt handover.** A standby in the crate sleeps until the Lease it last read expires.
//!   Here every replica watches the Lease; when the holder releases it (on shutdown), the
//!   standbys start over at once and one of them takes it within a few round trips.
//!
//! The crate renews when `grace` seconds are left; grace is set so that renewals happen every
//! third of the lease duration, which leaves another third for retries (with backoff) before
//! the renew deadline. The fence trusts the replicas' clocks to agree within a third of the
//! lease duration, as every Lease-based election does; it cannot recall a write that was
//! already sent when the fence closed.
//!
//! RBAC: `leases` in the lease namespace: get, list, watch, create, patch.

mod election;
mod relay;

pub use relay::{LeaderRelay, SYNC_REQUESTED_ANNOTATION};
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::Stream;
use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerError, LeaseParams};
use tokio::sync::watch;

use crate::config::Config;
use election::Election;

/// The lease duration used when none is configured (as in client-go's leader election).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);

/// Shortest lease duration accepted: the crate counts whole seconds and renews at least one
/// second before the renew deadline.
pub(crate) const MIN_LEASE_DURATION: Duration = Duration::from_secs(3);

/// How long shutdown waits for the release of the Lease before giving up (the Lease then
/// expires on its own).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Retry delays after a failed election step: doubling, capped well under the renew period
/// of the default lease so a holder retries its renewal more than once before the deadline.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(4);

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("leader election: {0} must not be empty")]
    EmptySetting(&'static str),
    #[error("leader election: lease duration {0:?} is shorter than the minimum of 3s")]
    LeaseTooShort(Duration),
    #[error("leader election: reading or creating Lease {namespace}/{name}: {source}")]
    Lease {
        namespace: String,
        name: String,
        #[source]
        source: LeaseManagerError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderSettings {
    /// Off: this replica is always the leader (a single replica).
    pub enabled: bool,
    pub lease_name: String,
    pub lease_namespace: String,
    /// Unique per replica: `ReconcileConfig::instance_name`, the same name events carry.
    pub identity: String,
    /// How long a Lease stays valid after its last renewal. Whole seconds (rounded up).
    pub lease_duration: Duration,
}

impl LeaderSettings {
    pub(crate) fn from_config(config: &Config) -> Self {
        let election = &config.leader_election;
        Self {
            enabled: election.enabled,
            lease_name: election.lease_name.clone(),
            lease_namespace: election.lease_namespace.clone(),
            identity: config.reconcile.instance_name(),
            lease_duration: election.lease_duration.0,
        }
    }
}

/// The timings derived from the lease duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timing {
    lease_seconds: u64,
    /// Seconds before expiry at which the crate renews (its `grace`).
    grace_seconds: u64,
    /// How long after a renewal of ours we keep writing without seeing the next one.
    renew_deadline: Duration,
}

impl Timing {
    fn for_lease(lease_duration: Duration) -> Result<Self, LeaderError> {
        if lease_duration < MIN_LEASE_DURATION {
            return Err(LeaderError::LeaseTooShort(lease_duration));
        }
        let lease_seconds = lease_duration.as_secs() + u64::from(lease_duration.subsec_nanos() > 0);
        let renew_every = lease_seconds / 3;
        Ok(Timing {
            lease_seconds,
            grace_seconds: lease_seconds - renew_every,
            renew_deadline: Duration::from_secs(lease_seconds) * 2 / 3,
        })
    }
}

/// Until when this replica may write, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fence {
    Always,
    Until(Instant),
    Closed,
}

#[derive(Debug)]
struct Shared {
    fence: Mutex<Fence>,
    /// The published view of `is_leader`, for watchers.
    leader: watch::Sender<bool>,
    /// Becomes true once the election task has ended (and released the Lease if it held it).
    stopped: watch::Sender<bool>,
}

impl Shared {
    fn new(fence: Fence, stopped: bool) -> Self {
        Shared {
            fence: Mutex::new(fence),
            leader: watch::Sender::new(fence == Fence::Always),
            stopped: watch::Sender::new(stopped),
        }
    }

    fn fence(&self) -> Fence {
        *self.fence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the fence and publishes the resulting leadership if it changed.
    fn set_fence(&self, fence: Fence) {
        *self.fence.lock().unwrap_or_else(PoisonError::into_inner) = fence;
        let leader = fence_is_open(fence, Instant::now());
        self.leader.send_if_modified(|published| {
            let changed = *published != leader;
            *published = leader;
            changed
        });
    }
}

fn fence_is_open(fence: Fence, now: Instant) -> bool {
    match fence {
        Fence::Always => true,
        Fence::Until(deadline) => now < deadline,
        Fence::Closed => false,
    }
}

/// This replica's view of the leadership. Cheap to clone; all clones share one state.
#[derive(Debug, Clone)]
pub struct Leadership {
    shared: Arc<Shared>,
}

impl Leadership {
    /// Leader election disabled: always the leader.
    pub(crate) fn always() -> Self {
        Leadership {
            shared: Arc::new(Shared::new(Fence::Always, true)),
        }
    }

    /// Whether this replica may write now. Checked before every write; it compares the clock
    /// with the renew deadline itself, so it turns false on time even if the election task
    /// is starved of CPU.
    pub fn is_leader(&self) -> bool {
        fence_is_open(self.shared.fence(), Instant::now())
    }

    /// The leadership as a watch channel (true while leader).
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.shared.leader.subscribe()
    }

    /// Ticks each time leadership is gained after this call (not for leadership already held:
    /// whoever calls this then runs with the leadership it sees). Feeds
    /// `Controller::reconcile_all_on`, so a new leader re-runs every object at once.
    pub fn gained(&self) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold(self.watch(), |mut leader| async move {
            loop {
                leader.changed().await.ok()?;
                if *leader.borrow_and_update() {
                    return Some(((), leader));
                }
            }
        })
    }

    /// Resolves once the election has stopped after shutdown, with the Lease released if this
    /// replica held it (at once for `Leadership::always`). Await it before exiting so the
    /// standby does not wait for the Lease to expire.
    pub async fn stopped(&self) {
        let mut stopped = self.shared.stopped.subscribe();
        // An error means the sender is gone, which also means the task has ended.
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }
}

/// Starts leader election (or returns `Leadership::always` when disabled). Fails if the Lease
/// cannot be read or created (missing namespace, RBAC). The election runs in a spawned task
/// until `shutdown` resolves; then this replica stops writing and releases the Lease, so a
/// standby takes over at once.
pub async fn start(
    client: Client,
    settings: LeaderSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Leadership, LeaderError> {
    if !settings.enabled {
        return Ok(Leadership::always());
    }
    for (value, name) in [
        (&settings.lease_name, "lease_name"),
        (&settings.lease_namespace, "lease_namespace"),
        (&settings.identity, "identity"),
    ] {
        if value.trim().is_empty() {
            return Err(LeaderError::EmptySetting(name));
        }
    }
    let timing = Timing::for_lease(settings.lease_duration)?;
    let manager = new_lease_manager(&client, &settings, timing).await?;
    let shared = Arc::new(Shared::new(Fence::Closed, false));
    let election = Election {
        client,
        settings,
        timing,
        shared: shared.clone(),
        library_holds: false,
        observed: None,
    };
    tokio::spawn(election.run(manager, shutdown));
    Ok(Leadership { shared })
}

async fn new_lease_manager(
    client: &Client,
    settings: &LeaderSettings,
    timing: Timing,
) -> Result<Arc<LeaseManager>, LeaderError> {
    let params = LeaseParams::new(
        settings.identity.clone(),
        timing.lease_seconds,
        timing.grace_seconds,
    )
    .with_field_manager(format!("pg-gitops-leader-{}", settings.identity));
    LeaseManager::new(
        client.clone(),
        &settings.lease_name,
        &settings.lease_namespace,
        params,
        LeaseCreateMode::AutoCreate,
    )
    .await
    .map(Arc::new)
    .map_err(|source| LeaderError::Lease {
        namespace: settings.lease_namespace.clone(),
        name: settings.lease_name.clone(),
        source,
    })
}

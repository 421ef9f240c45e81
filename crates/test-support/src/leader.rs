//! Helpers for the leader election tests: replicas with a shutdown switch, a sampler thread
//! that records every leadership change of several replicas with its time, and Lease reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use pg_gitops::leader::{LeaderSettings, Leadership, start};
use tokio::sync::oneshot;

const LEASE_NAME: &str = "pg-gitops-leader";

/// Generous bound for anything that should take well under a second (a loaded 2-core
/// machine runs the whole test suite in parallel).
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn settings(namespace: &str, identity: &str, lease_duration: Duration) -> LeaderSettings {
    LeaderSettings {
        enabled: true,
        lease_name: LEASE_NAME.to_owned(),
        lease_namespace: namespace.to_owned(),
        identity: identity.to_owned(),
        lease_duration,
    }
}

/// One replica's election, with a switch for its clean shutdown.
pub struct Replica {
    pub identity: String,
    pub leadership: Leadership,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Replica {
    pub async fn start(client: Client, settings: LeaderSettings) -> Replica {
        let (shutdown, stop) = oneshot::channel::<()>();
        let identity = settings.identity.clone();
        let leadership = start(client, settings, async {
            let _ = stop.await;
        })
        .await
        .expect("starting leader election");
        Replica {
            identity,
            leadership,
            shutdown: Some(shutdown),
        }
    }

    /// Clean shutdown: stop writing and release the Lease. Returns once released.
    pub async fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        tokio::time::timeout(PATIENCE, self.leadership.stopped())
            .await
            .expect("election stops after shutdown");
    }
}

/// Polls `condition` every 10 ms until it holds; panics after [`PATIENCE`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One observed change of one replica's `is_leader()`.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub replica: usize,
    pub leader: bool,
    pub at: Instant,
    pub wall: SystemTime,
}

#[derive(Debug, Default)]
pub struct Timeline {
    pub changes: Vec<Change>,
    /// Samples at which more than one replica was leader.
    pub overlaps: usize,
    pub samples: usize,
}

impl Timeline {
    /// The first change of `replica` to `leader` at or after `since`.
    pub fn first(&self, replica: usize, leader: bool, since: Instant) -> Option<Change> {
        self.changes.iter().copied().find(|change| {
            change.replica == replica && change.leader == leader && change.at >= since
        })
    }
}

/// Samples `is_leader()` of each replica every millisecond on its own OS thread, so the
/// record does not depend on the tokio runtime being scheduled.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Timeline>,
}

impl Sampler {
    pub fn start(replicas: Vec<Leadership>) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut timeline = Timeline::default();
            let mut last = vec![false; replicas.len()];
            loop {
                // Read before sampling, so the last sample is taken after `finish` was called:
                // a change the test waited for is then always on the timeline, however late
                // this thread was scheduled (a busy machine once lost "B took over" here).
                let stopping = stop_flag.load(Ordering::Relaxed);
                let now: Vec<bool> = replicas.iter().map(Leadership::is_leader).collect();
                let (at, wall) = (Instant::now(), SystemTime::now());
                for (replica, (&leader, was)) in now.iter().zip(last.iter_mut()).enumerate() {
                    if leader != *was {
                        timeline.changes.push(Change {
                            replica,
                            leader,
                            at,
                            wall,
                        });
                        *was = leader;
                    }
                }
                timeline.overlaps += usize::from(now.iter().filter(|&&leader| leader).count() > 1);
                timeline.samples += 1;
                if stopping {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            timeline
        });
        Sampler { stop, thread }
    }

    pub fn finish(self) -> Timeline {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler thread")
    }
}

/// The Lease's holder and its last renewal.
pub async fn lease_state(client: Client, namespace: &str) -> (Option<String>, Option<SystemTime>) {
    let lease = Api::<Lease>::namespaced(client, namespace)
        .get(LEASE_NAME)
        .await
        .expect("reading the leader Lease");
    let spec = lease.spec.unwrap_or_default();
    (
        spec.holder_identity,
        spec.renew_time.map(|renewed| SystemTime::from(renewed.0)),
    )
}

/// `later - earlier` in seconds, negative if `later` is before `earlier`.
pub fn seconds_between(earlier: SystemTime, later: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// The Role the election needs on Leases (the Helm chart must grant at least this).
const LEASE_VERBS: [&str; 5] = ["get", "list", "watch", "create", "patch"];

/// Lets service account `namespace/name` run the election in `namespace`: a Role with
/// [`LEASE_VERBS`] on Leases and a RoleBinding named after the account.
pub async fn grant_lease_role(client: Client, namespace: &str, service_account: &str) {
    use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
    use kube::api::{ObjectMeta, PostParams};

    let role = Role {
        metadata: ObjectMeta {
            name: Some("leader-election".to_owned()),
            ..ObjectMeta::default()
        },
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["coordination.k8s.io".to_owned()]),
            resources: Some(vec!["leases".to_owned()]),
            verbs: LEASE_VERBS.iter().map(|verb| (*verb).to_owned()).collect(),
            ..PolicyRule::default()
        }]),
    };
    match Api::<Role>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &role)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(err) => panic!("creating the leader-election Role: {err}"),
    }
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some(service_account.to_owned()),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: "leader-election".to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: service_account.to_owned(),
            namespace: Some(namespace.to_owned()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client, namespace)
        .create(&PostParams::default(), &binding)
        .await
        .expect("creating the RoleBinding");
}

/// Takes the Role away from `service_account` again (its RoleBinding is deleted).
pub async fn revoke_lease_role(client: Client, namespace: &str, service_account: &str) {
    use k8s_openapi::api::rbac::v1::RoleBinding;
    Api::<RoleBinding>::namespaced(client, namespace)
        .delete(service_account, &kube::api::DeleteParams::default())
        .await
        .expect("deleting the RoleBinding");
}

//! Gauges that follow a state published elsewhere (leadership, the snapshot in use, the
//! Kubernetes API's reachability), each kept by one task until its publisher stops.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::info;

use super::Metrics;
use crate::api_health::Reachability;
use crate::source::Snapshot;

impl Metrics {
    /// Keeps the `leader` gauge (and the log) in step with this replica's leadership until
    /// the election ends.
    pub(crate) async fn follow_leadership(self, mut leading: watch::Receiver<bool>) {
        loop {
            let now = *leading.borrow_and_update();
            self.set_leader(now);
            info!(leader = now, "leadership");
            if leading.changed().await.is_err() {
                return;
            }
        }
    }

    /// Keeps `snapshot_revision` and `invalid_manifests` on the snapshot the source
    /// publishes, until it stops.
    pub(crate) async fn follow_snapshots(
        self,
        mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    ) {
        loop {
            let seen = snapshots
                .borrow_and_update()
                .as_ref()
                .map(|snapshot| (snapshot.revision.clone(), snapshot.manifests.errors.len()));
            if let Some((revision, invalid)) = seen {
                self.set_snapshot_revision(&revision);
                self.set_invalid_manifests(invalid);
            }
            if snapshots.changed().await.is_err() {
                return;
            }
        }
    }

    /// Keeps `kubernetes_api_reachable` on what the watches and the probe see.
    pub(crate) async fn follow_api(self, mut reachability: watch::Receiver<Reachability>) {
        loop {
            let reachable = reachability.borrow_and_update().is_reachable();
            self.families()
                .kubernetes_api_reachable
                .set(i64::from(reachable));
            if reachability.changed().await.is_err() {
                return;
            }
        }
    }
}

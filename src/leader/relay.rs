//! A push delivered to a standby reaches the leader through the Lease, as Flux's Receiver
//! reaches its controllers through the `reconcile.fluxcd.io/requestedAt` annotation.
//!
//! The chart's Service balances webhooks over every replica, but only the leader applies
//! snapshots: without this a push that lands on a standby would wait for the leader's next
//! poll (70 s by default). The standby, after verifying the delivery as any replica does,
//! stamps [`SYNC_REQUESTED_ANNOTATION`] on the Lease with the time; every replica already
//! may patch the Lease, and the leader watches it here, so it fetches within a round trip.
//! Why not the other ways: a Service that selects only the leader needs the pods to relabel
//! themselves (pod patch rights) and loses pushes while labels and endpoints catch up after a
//! handover; forwarding needs the leader's address and a path that bypasses the Service.
//!
//! Requests collapse: a burst of pushes to a standby is one patch in flight and at most one
//! more queued, as fetches are ([`crate::source::FetchTrigger`]).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use super::{LeaderSettings, Leadership};
use crate::api_health::watch_backoff;
use crate::execute::FIELD_MANAGER;
use crate::source::FetchTrigger;

/// On the Lease: when a standby last received a push for the leader.
pub const SYNC_REQUESTED_ANNOTATION: &str = "gitops.kubedb.com/sync-requested-at";

/// Patch attempts per request before it is given up (the leader's poll still comes).
const ATTEMPTS: u32 = 3;

/// Passes a verified push on to whichever replica leads. Cheap to clone.
#[derive(Clone)]
pub struct LeaderRelay {
    pending: Arc<Notify>,
    leadership: Leadership,
}

impl std::fmt::Debug for LeaderRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderRelay").finish_non_exhaustive()
    }
}

impl LeaderRelay {
    /// Starts the relay of this replica: a task that stamps the Lease when asked while this
    /// replica is a standby, and one that turns stamps into fetches while it leads. `None`
    /// without leader election (the one replica always leads).
    pub fn start(
        client: Client,
        settings: &LeaderSettings,
        leadership: Leadership,
        trigger: FetchTrigger,
    ) -> Option<Self> {
        if !settings.enabled {
            return None;
        }
        let api: Api<Lease> = Api::namespaced(client, &settings.lease_namespace);
        let relay = Self {
            pending: Arc::new(Notify::new()),
            leadership: leadership.clone(),
        };
        tokio::spawn(stamp_when_asked(
            api.clone(),
            settings.lease_name.clone(),
            relay.clone(),
        ));
        tokio::spawn(fetch_when_stamped(
            api,
            settings.lease_name.clone(),
            leadership,
            trigger,
        ));
        Some(relay)
    }

    /// A verified push arrived here. Never blocks; a leader needs no relay.
    pub fn push_received(&self) {
        if !self.leadership.is_leader() {
            self.pending.notify_one();
        }
    }
}

async fn stamp_when_asked(api: Api<Lease>, lease: String, relay: LeaderRelay) {
    loop {
        relay.pending.notified().await;
        for attempt in 1..=ATTEMPTS {
            // Nanoseconds: two pushes within a second are two stamps, each a change to see.
            let now = Timestamp::now().to_string();
            let patch = json!({"metadata": {"annotations": {SYNC_REQUESTED_ANNOTATION: now}}});
            // A merge patch of one annotation: it never touches the holder's fields, and it
            // needs no resourceVersion, so it cannot conflict with a renewal.
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            };
            match api.patch(&lease, &params, &Patch::Merge(&patch)).await {
                Ok(_) => {
                    info!(lease = %lease, "push received by a standby; asked the leader to sync");
                    break;
                }
                Err(error) if attempt < ATTEMPTS => {
                    debug!(%error, attempt, "stamping the Lease failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                }
                Err(error) => warn!(
                    %error,
                    "could not pass a push on to the leader; it syncs at its next poll"
                ),
            }
        }
    }
}

async fn fetch_when_stamped(
    api: Api<Lease>,
    lease: String,
    leadership: Leadership,
    trigger: FetchTrigger,
) {
    let by_name = format!("metadata.name={lease}");
    let mut events = std::pin::pin!(
        watcher(api, watcher::Config::default().fields(&by_name))
            .backoff(watch_backoff())
            .applied_objects()
    );
    // The stamp already there when this replica starts (or re-lists) asks for nothing: a
    // leader syncs on start anyway.
    let mut seen: Option<Option<String>> = None;
    while let Some(event) = events.next().await {
        let lease = match event {
            Ok(lease) => lease,
            Err(error) => {
                debug!(%error, "watching the Lease for relayed pushes");
                continue;
            }
        };
        let stamp = lease.annotations().get(SYNC_REQUESTED_ANNOTATION).cloned();
        let changed = seen.as_ref().is_some_and(|seen| *seen != stamp);
        seen = Some(stamp);
        if changed && leadership.is_leader() {
            info!("a standby received a push; syncing now");
            trigger.request();
        }
    }
}

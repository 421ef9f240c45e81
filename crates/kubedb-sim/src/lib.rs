//! `kubedb-sim`: a stand-in for KubeDB's provisioner and ops-manager, run against a real
//! kube-apiserver that has KubeDB's CRDs installed but no KubeDB operators (tests, the demo,
//! and CI flows without a KubeDB licence).
//!
//! It is the oracle pg-gitops is tested against, so it is its own crate and does not depend on
//! pg-gitops: the compiler keeps it from borrowing the code it checks. What both must read the
//! same way (quantities, the Masterminds constraints of `updateConstraints`) comes from
//! `kubedb_semantics`.
//!
//! What it does, following `docs/kubedb-api.md` §1.2, §1.4, §2.4–2.5, §3:
//! - a new `kubedb.com/v1` Postgres gets KubeDB's webhook defaults written into its spec
//!   ([`defaults`]; only absent fields are filled), then status `Provisioning`
//!   (`ProvisioningStarted`), then after one provisioning step `Ready` (`Provisioned`,
//!   `ReplicaReady`, `AcceptingConnection`, `Ready`), with `status.observedGeneration` kept
//!   current;
//! - each `ops.kubedb.com/v1alpha1` PostgresOpsRequest goes `Pending` → `Progressing` →
//!   `Successful`, one at a time per database in creation order (`creationTimestamp`, then
//!   name), only while the database is `Ready` unless `spec.apply: Always`; while it runs the
//!   database carries the `Paused` condition; on success the new value is written into the
//!   database spec as the ops-manager does ([`effects`]), then `Paused` is removed, then the
//!   request turns `Successful`;
//! - requests KubeDB's validating webhook would refuse ([`validate`], [`versions`]) end
//!   `Failed` with a `Failed` condition (reason `Failed`) whose message says why; a Pending
//!   request superseded by a newer one of the same type for the same database ends `Skipped`.
//!
//! Deviations, on purpose: a database whose PostgresVersion does not exist is still
//! provisioned (defaults then assume uid 70 and take the major version from the name);
//! RotateAuth only checks the username when both secrets exist (KubeDB also insists that the
//! new secret exists); a Restart keeps the database `Ready`; a request whose `spec.timeout`
//! is shorter than the step duration fails as timed out after one step.
//!
//! Failure injection, per database and type: annotate the `kubedb.com` Postgres with
//! [`FAIL_ANNOTATION`] (`sim.kubedb.com/fail: "VolumeExpansion,Restart"`, or `"*"` for every
//! type); a request of a listed type goes `Progressing` (database `Paused`) and then `Failed`,
//! leaving the spec alone. [`FAIL_MESSAGE_ANNOTATION`] (`sim.kubedb.com/fail-message`)
//! overrides the failure message.
//!
//! All writes are JSON merge patches with field manager [`FIELD_MANAGER`] (`kubedb-sim`):
//! spec on the main resource, everything else on the status subresource, and only fields the
//! CRDs declare (the API server would prune the rest).
//!
//! # Running it in-process
//!
//! [`spawn`] starts [`run`] on the caller's tokio runtime and returns a [`SimHandle`]
//! (dropping it stops the simulator; `stop().await` also waits):
//!
//! ```no_run
//! use std::time::Duration;
//! use kubedb_sim::{SimConfig, spawn};
//!
//! # async fn example(client: kube::Client) {
//! let sim = spawn(client, SimConfig::new(Duration::from_millis(200)).in_namespace("test-ns"));
//! // ... create databases and OpsRequests, watch them progress ...
//! sim.stop().await.expect("the simulator ran until stopped");
//! # }
//! ```
//!
//! Or call `run(client, config, shutdown_future)` directly, as the binary does.
//!
//! Scope the simulator to the test's namespace (`in_namespace`) so parallel tests on one
//! cluster do not serve each other's objects. The pure parts ([`decide::decide`] and the
//! modules it uses) are unit-tested without a cluster.

pub mod api;
pub mod decide;
pub mod defaults;
pub mod effects;
mod handle;
mod json;
mod queue;
mod runtime;
mod snapshot;
pub mod status;
pub mod validate;
pub mod versions;
mod watch;

use std::time::Duration;

pub use handle::{SimHandle, spawn};
pub use queue::injected_failure;
pub use runtime::{RunError, run};

/// Annotation on a `kubedb.com` Postgres listing OpsRequest types to fail (comma-separated,
/// `*` for all).
pub const FAIL_ANNOTATION: &str = "sim.kubedb.com/fail";
/// Annotation on a `kubedb.com` Postgres with the message of injected failures.
pub const FAIL_MESSAGE_ANNOTATION: &str = "sim.kubedb.com/fail-message";
/// Field manager of every write the simulator makes.
pub const FIELD_MANAGER: &str = "kubedb-sim";

/// How the simulator runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Serve only this namespace; `None` serves all namespaces.
    pub namespace: Option<String>,
    /// How long an OpsRequest stays `Progressing`.
    pub step_duration: Duration,
    /// How long a new database stays `Provisioning`.
    pub provisioning_duration: Duration,
}

impl SimConfig {
    /// All namespaces; both durations set to `step`.
    pub fn new(step: Duration) -> Self {
        Self {
            namespace: None,
            step_duration: step,
            provisioning_duration: step,
        }
    }

    /// Serve only `namespace`.
    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::new(Duration::from_secs(2))
    }
}

/// A duration flag that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration: {reason} (use forms like 200ms, 2s, 1m 30s)")]
pub struct DurationError {
    text: String,
    reason: String,
}

/// Parses a duration flag with humantime (`200ms`, `2s`, `5m`, `1m 30s`, `1h`); a bare
/// number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|error| DurationError {
        text: text.to_string(),
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests;

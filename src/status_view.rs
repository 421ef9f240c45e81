//! `GET /status`: what the service knows about its source and every database, as JSON, for
//! `pg-gitops status` and for people with curl.
//!
//! Everything comes from memory the service already keeps: the source's snapshot and
//! counters, and the controller's reflector caches (the gitops objects with the status the
//! leader wrote, and the OpsRequests). A request makes no API call, so a standby replica
//! answers the same as the leader and the cost of a request never reaches the API server.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::warn;

use crate::api_health::Reachability;
use crate::config::{SourceConfig, SourceKind};
use crate::controller::Caches;
use crate::models::{CachedGitops, GitopsStatus, PostgresOpsRequest};
use crate::source::{Reference, Snapshot, SourceHandle, SourceStats};

/// The whole answer of `/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub source: SourceStatus,
    /// Absent in the answers of versions before 0.4: read as reachable.
    #[serde(default)]
    pub kubernetes: KubernetesStatus,
    /// Sorted by namespace, then name.
    pub databases: Vec<DatabaseStatus>,
}

/// Whether this replica reaches the Kubernetes API. During an outage every other part of the
/// report shows the cluster as it was when the outage began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesStatus {
    pub reachable: bool,
    /// When the outage began (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<String>,
    /// The latest failure of the outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Default for KubernetesStatus {
    fn default() -> Self {
        Self::from(&Reachability::Reachable)
    }
}

impl From<&Reachability> for KubernetesStatus {
    fn from(reachability: &Reachability) -> Self {
        match reachability {
            Reachability::Reachable => Self {
                reachable: true,
                unreachable_since: None,
                error: None,
            },
            Reachability::Unreachable { since, error } => Self {
                reachable: false,
                unreachable_since: Some(since.to_string()),
                error: Some(error.clone()),
            },
        }
    }
}

/// The header: where the desired state comes from and how the last sync went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// `git`, `dir` or `cluster` (Argo CD or Flux write the objects; nothing is fetched).
    pub kind: String,
    /// The remote without userinfo (never a credential), or the watched directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What is followed: `branch main`, `tag v1`, `commit <sha>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The revision of the snapshot in use (commit SHA, or `sha256:` of a directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// When the last sync ended, with or without an error (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fetch_time: Option<String>,
    /// When the last sync ended without an error (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_time: Option<String>,
    /// The error of the last sync; absent once a sync succeeds again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fetch_error: Option<String>,
    /// Manifests of the snapshot in use that could not be read (not applied).
    #[serde(default)]
    pub invalid_manifests: Vec<InvalidManifest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvalidManifest {
    /// As in the repository (or the watched directory): `source.path` included.
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// One database, from its gitops object and its OpsRequests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    pub namespace: String,
    pub name: String,
    /// `status.phase`, mirrored from the kubedb.com Postgres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Of the current generation: Pending, InProgress, Current or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_request_status: Option<String>,
    /// The reason of the `Ready` condition (Current, Progressing, InvalidSpec, Suspended...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The open OpsRequest the database waits for, else the most recent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_request: Option<OpsRequestStatus>,
    /// The open OpsRequest that holds back every further step; else what change control
    /// holds the next step for: `approval`, `maintenance window` or `fleet budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// Why change control holds the next step, and how it goes on (the approval command with
    /// its token, when the next window opens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// The message of the `Stalled` condition while it is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpsRequestStatus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// Empty until KubeDB picks the request up.
    #[serde(default)]
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
}

/// What `/status` reads. Cheap to clone (the router's state).
#[derive(Clone)]
pub struct StatusSources {
    kind: SourceKind,
    url: Option<String>,
    reference: Option<Reference>,
    snapshots: Option<watch::Receiver<Option<Arc<Snapshot>>>>,
    stats: Option<Arc<SourceStats>>,
    /// `source.path`: manifest files are named relative to it, people know them from the root.
    path: PathBuf,
    caches: Caches,
}

impl StatusSources {
    pub(crate) fn new(
        config: &SourceConfig,
        source: Option<&SourceHandle>,
        caches: Caches,
    ) -> Self {
        let url = match config.kind {
            SourceKind::Git => config.url.as_deref().map(crate::source::display_url),
            SourceKind::Dir => config.dir.as_ref().map(|dir| dir.display().to_string()),
            SourceKind::Cluster => None,
        };
        Self {
            kind: config.kind,
            url,
            reference: source.map(|handle| handle.reference.clone()),
            snapshots: source.map(|handle| handle.snapshots.clone()),
            stats: source.map(|handle| handle.stats.clone()),
            // `.` (the default) adds nothing: `broken.yaml`, not `./broken.yaml`.
            path: std::path::Path::new(&config.path)
                .components()
                .filter(|part| !matches!(part, std::path::Component::CurDir))
                .collect(),
            caches,
        }
    }

    /// The report as of `now`.
    pub(crate) fn report(&self, now: Timestamp) -> StatusReport {
        let snapshot = self
            .snapshots
            .as_ref()
            .and_then(|snapshots| snapshots.borrow().clone());
        StatusReport {
            source: self.source(snapshot.as_deref()),
            kubernetes: KubernetesStatus::from(&self.caches.api.now()),
            databases: databases(
                &self.caches.gitops.state(),
                &self.caches.ops_requests.state(),
                now,
            ),
        }
    }

    fn source(&self, snapshot: Option<&Snapshot>) -> SourceStatus {
        let time = |unix: u64| {
            (unix > 0)
                .then(|| Timestamp::from_second(i64::try_from(unix).unwrap_or(i64::MAX)).ok())
                .flatten()
                .map(|t| t.to_string())
        };
        let stats = self.stats.as_deref();
        SourceStatus {
            kind: match self.kind {
                SourceKind::Git => "git",
                SourceKind::Dir => "dir",
                SourceKind::Cluster => "cluster",
            }
            .to_string(),
            url: self.url.clone(),
            reference: self
                .reference
                .as_ref()
                .and_then(|reference| match reference {
                    Reference::Branch(name) => Some(format!("branch {name}")),
                    Reference::Tag(name) => Some(format!("tag {name}")),
                    Reference::Commit(sha) => Some(format!("commit {sha}")),
                    Reference::Directory => None,
                }),
            revision: snapshot.map(|s| s.revision.clone()),
            last_fetch_time: stats.and_then(|s| time(SourceStats::get(&s.last_sync_unix))),
            last_success_time: stats.and_then(|s| time(SourceStats::get(&s.last_success_unix))),
            // The source's errors name URLs without userinfo and scrub libgit2's messages.
            last_fetch_error: stats.and_then(SourceStats::last_error),
            invalid_manifests: snapshot
                .map(|s| {
                    s.manifests
                        .errors
                        .iter()
                        .map(|error| InvalidManifest {
                            file: self.path.join(&error.file).display().to_string(),
                            line: error.line,
                            message: error.message.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// One row per gitops object. The OpsRequests are grouped once, so the work grows with the
/// objects in the caches and not with their product.
pub(crate) fn databases(
    objects: &[Arc<CachedGitops>],
    ops_requests: &[Arc<PostgresOpsRequest>],
    now: Timestamp,
) -> Vec<DatabaseStatus> {
    let mut by_database: HashMap<(String, &str), Vec<&PostgresOpsRequest>> = HashMap::new();
    for ops in ops_requests {
        if let Some(database) = ops.database_name() {
            by_database
                .entry((ops.namespace().unwrap_or_default(), database))
                .or_default()
                .push(ops);
        }
    }
    let mut rows: Vec<DatabaseStatus> = objects
        .iter()
        .map(|object| {
            let namespace = object.namespace().unwrap_or_default();
            let name = object.name_any();
            let ops = by_database
                .get(&(namespace.clone(), name.as_str()))
                .map_or(&[][..], Vec::as_slice);
            // The cache keeps each object compact; only its status is read here. Text that
            // does not read back (never seen: it was written from the same types) shows as a
            // database with no status yet.
            let status = object.status().unwrap_or_else(|error| {
                warn!(%namespace, %name, %error, "the cached status does not read back");
                None
            });
            database(status.as_deref(), namespace.clone(), name.clone(), ops, now)
        })
        .collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    rows
}

fn database(
    status: Option<&GitopsStatus>,
    namespace: String,
    name: String,
    ops: &[&PostgresOpsRequest],
    now: Timestamp,
) -> DatabaseStatus {
    let condition = |kind: &str| {
        status
            .into_iter()
            .flat_map(|s| s.conditions.iter())
            .find(|c| c.type_ == kind)
    };
    let open = crate::plan::oldest_open(ops);
    // Held by change control: what it waits for, and the condition's sentence (the approval
    // token, when the window opens).
    let reconciling = condition("Reconciling").filter(|c| c.status == "True");
    let hold = reconciling
        .and_then(|c| crate::gate::waiting_for_reason(c.reason.as_deref()?))
        .filter(|_| open.is_none());
    let created = |o: &PostgresOpsRequest| o.metadata.creation_timestamp.as_ref().map(|t| t.0);
    // What runs now; with nothing open, the last one and how it ended.
    let current = match &open {
        Some(open) => ops.iter().find(|o| o.metadata.name.as_ref() == Some(open)),
        None => ops
            .iter()
            .max_by_key(|o| (created(o), o.metadata.name.clone())),
    };
    DatabaseStatus {
        namespace,
        name,
        phase: status.and_then(|s| s.phase.clone()),
        change_request_status: status
            .and_then(|s| s.gitops.as_ref())
            .and_then(|g| g.git_ops_info.first())
            .and_then(|info| info.change_request_status.clone()),
        reason: condition("Ready").and_then(|c| c.reason.clone()),
        ops_request: current.map(|o| OpsRequestStatus {
            name: o.name_any(),
            r#type: o.type_name().map(str::to_string),
            phase: o.phase().to_string(),
            creation_time: created(o).map(|t| t.to_string()),
            age_seconds: created(o).map(|t| now.as_second() - t.as_second()),
        }),
        waiting_for: open.or_else(|| hold.map(str::to_string)),
        held: hold.and(reconciling).and_then(|c| c.message.clone()),
        last_error: condition("Stalled")
            .filter(|c| c.status == "True")
            .and_then(|c| c.message.clone()),
    }
}

/// `GET /status`.
pub async fn status_handler(State(sources): State<StatusSources>) -> Json<StatusReport> {
    Json(sources.report(Timestamp::now()))
}

#[cfg(test)]
mod tests;

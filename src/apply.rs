//! The apply stage (client required): each gitops Postgres of a snapshot whose manifest changed
//! is server-side applied with field manager `pg-gitops` and an annotation naming the Git
//! revision at which it changed; unchanged ones are not written (see [`unchanged`]), so a
//! commit costs a write per changed manifest, not per database. Manifests that failed
//! validation are not applied and are reported. Pruning is opt-in, removes only gitops
//! objects this service applied, and never touches a `kubedb.com` Postgres: a database whose
//! manifest left Git is orphaned, not deleted.
//!
//! Every object applied carries this instance's owner label ([`crate::ownership`]): an object
//! another instance owns is neither applied over nor pruned, and an object nobody owns yet
//! (applied before 0.4.0) is taken over only if it did not change since it was read.
//!
//! With `source.kind = "cluster"` this stage is off: Argo CD, Flux or kubectl apply instead.

mod announce;
mod prune;
mod unchanged;
mod verified;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use serde_json::{Value, json};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, SourceConfig, SourceKind};
use crate::events;

use crate::execute::FIELD_MANAGER;
use crate::manifest::{Manifest, ManifestError};
use crate::models::{
    APPLIED_HASH_ANNOTATION, CachedGitops, GitopsPostgres, MANAGED_BY_LABEL, MANAGED_BY_VALUE,
    OWNER_LABEL, REVISION_ANNOTATION, SOURCE_LABEL,
};
use crate::notify::Notifier;
use crate::ownership::{self, Claim};
use crate::source::{Snapshot, display_url};
use prune::Unseen;
pub(crate) use verified::Verified;

/// Settings of the apply stage.
#[derive(Debug, Clone, Default)]
pub struct ApplySettings {
    /// Delete gitops objects this service applied whose manifest left Git.
    pub prune: bool,
    /// This replica's name, the reporting instance of its Events.
    pub instance: String,
    /// The value of [`SOURCE_LABEL`] on every object applied from this source.
    pub source_id: String,
    /// Where the watched objects live (`reconcile.namespace`); none for the whole cluster.
    pub namespace: Option<String>,
    /// The value of [`OWNER_LABEL`] on every object this instance applies.
    pub owner: String,
    /// Told each pass, for commit statuses (config `[notify]`; set by the service).
    pub notify: Notifier,
}

impl ApplySettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            prune: config.reconcile.prune,
            instance: config.reconcile.instance_name(),
            source_id: source_id(&config.source),
            namespace: config.reconcile.namespace.clone(),
            owner: config.owner(),
            notify: Notifier::default(),
        }
    }
}

/// A stable name of the source for a label value: the first 16 hex digits of SHA-256 over its
/// kind, its location (the URL without credentials, or the directory) and its path. The
/// followed branch or tag is left out, so switching it keeps the objects prunable.
pub fn source_id(source: &SourceConfig) -> String {
    let location = match source.kind {
        SourceKind::Git => display_url(source.url.as_deref().unwrap_or_default()),
        SourceKind::Dir | SourceKind::Cluster => source
            .dir
            .as_ref()
            .map(|dir| dir.display().to_string())
            .unwrap_or_default(),
    };
    unchanged::short_hash(&format!("{:?}\0{location}\0{}", source.kind, source.path))
}

/// Errors of one object; the others carry on.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("applying {namespace}/{name}: {source}")]
    Apply {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error("pruning {namespace}/{name}: {source}")]
    Prune {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    /// Not pruned: the object changed since it was seen (the next pass looks again).
    #[error("not pruning {namespace}/{name}: it changed since it was seen")]
    Changed { namespace: String, name: String },
}

/// What one apply of a snapshot did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    pub revision: String,
    pub applied: Vec<(String, String)>,
    /// Valid manifests whose object already holds what they declare: not written.
    pub unchanged: usize,
    pub pruned: Vec<(String, String)>,
    /// Valid manifests not applied because another instance owns their object: (namespace,
    /// name, its owner).
    pub foreign: Vec<(String, String, String)>,
    /// Manifests that were not applied because they are invalid.
    pub invalid: Vec<ManifestError>,
    pub failed: Vec<ApplyError>,
}

/// How many objects are written at once. Enough to apply a fleet-wide change in seconds,
/// few enough to stay well inside the API server's default client-side rate limits.
const CONCURRENT_WRITES: usize = 16;

/// The apply configuration of one manifest: exactly what Git declares, plus our labels, the
/// hash of all that, and `revision`. Fields removed from Git leave the object because we own
/// them.
fn apply_object(manifest: &Manifest, revision: &str, settings: &ApplySettings) -> Value {
    let mut config = declared_config(manifest, settings);
    let hash = unchanged::applied_hash(&config);
    let annotations = &mut config["metadata"]["annotations"];
    annotations[APPLIED_HASH_ANNOTATION] = json!(hash);
    annotations[REVISION_ANNOTATION] = json!(revision);
    config
}

/// What a manifest applies, before the hash and the revision are added.
fn declared_config(manifest: &Manifest, settings: &ApplySettings) -> Value {
    let declared = &manifest.declared;
    let mut labels = declared["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY_VALUE));
    labels.insert(SOURCE_LABEL.into(), json!(settings.source_id));
    labels.insert(OWNER_LABEL.into(), json!(settings.owner));
    let annotations = declared["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    json!({
        "apiVersion": "gitops.kubedb.com/v1alpha1",
        "kind": "Postgres",
        "metadata": {
            "name": declared["metadata"]["name"],
            "namespace": declared["metadata"]["namespace"],
            "labels": labels,
            "annotations": annotations,
        },
        "spec": declared["spec"],
    })
}

/// What to do with one valid manifest.
#[derive(Debug, PartialEq)]
enum Write {
    /// The object already holds it.
    None,
    /// Server-side apply this configuration.
    Apply(Value),
    /// Another instance owns the object: leave it.
    Foreign(String),
}

/// What to do with `manifest`, given its object as the cluster holds it (`live`, from the
/// reflector cache).
fn write_for(
    manifest: &Manifest,
    live: Option<&CachedGitops>,
    settings: &ApplySettings,
    revision: &str,
) -> Write {
    let claim = live.map(|live| ownership::claim(live.metadata.labels.as_ref(), &settings.owner));
    if let Some(Claim::Theirs(owner)) = claim {
        return Write::Foreign(owner);
    }
    let config = declared_config(manifest, settings);
    let hash = unchanged::applied_hash(&config);
    if live.is_some_and(|live| unchanged::holds(live, &config, &hash)) {
        return Write::None;
    }
    let mut config = apply_object(manifest, revision, settings);
    if let (Some(Claim::Unclaimed), Some(live)) = (claim, live) {
        // Taking over an object nobody owns yet: only as it was read, so that of two
        // instances adopting it at once one gets a conflict (and sees the winner's label
        // at its next look) instead of both labelling it in turn.
        config["metadata"]["resourceVersion"] = json!(live.metadata.resource_version);
    }
    Write::Apply(config)
}

/// What one pass of the apply stage leaves for the next.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    /// Which objects were found holding their manifest, so only what changed on either side
    /// is compared again.
    verified: Verified,
    /// What was written that the cache may not show yet, for pruning.
    unseen: Unseen,
}

/// Applies every valid manifest of `snapshot` that `cache` (the gitops objects as the
/// cluster holds them) says changed, then prunes if asked.
pub async fn apply(
    client: &Client,
    snapshot: &Snapshot,
    cache: &Store<CachedGitops>,
    settings: &ApplySettings,
    carried: &mut Carried,
) -> ApplyReport {
    let Carried { verified, unseen } = carried;
    let mut report = ApplyReport {
        revision: snapshot.revision.clone(),
        invalid: snapshot.manifests.errors.clone(),
        ..ApplyReport::default()
    };
    for error in &report.invalid {
        warn!(file = %error.file.display(), line = error.line, message = %error.message, "manifest not applied");
    }
    let started = std::time::Instant::now();
    let mut writes: Vec<((String, String), Value)> = Vec::new();
    let mut now_verified = Verified::default();
    for manifest in &snapshot.manifests.manifests {
        if let Some(held) = verified.take(manifest)
            && held.still_holds(cache.get(held.object()).as_deref())
        {
            now_verified.keep(held);
            report.unchanged += 1;
            continue;
        }
        let key = manifest.key();
        let object = ObjectRef::new(&key.1).within(&key.0);
        let live = cache.get(&object);
        let live = live.as_deref();
        match write_for(manifest, live, settings, &snapshot.revision) {
            Write::None => {
                now_verified.record(manifest, object, live);
                report.unchanged += 1;
            }
            Write::Apply(config) => writes.push((key, config)),
            Write::Foreign(owner) => {
                let (namespace, name) = key;
                warn!(%namespace, %name, %owner, "not applied: another pg-gitops instance owns the object");
                report.foreign.push((namespace, name, owner));
            }
        }
    }
    let compared = started.elapsed();
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut results = futures::stream::iter(writes)
        .map(|((namespace, name), config)| {
            let api: Api<GitopsPostgres> = Api::namespaced(client.clone(), &namespace);
            let params = params.clone();
            async move {
                let result = api.patch(&name, &params, &Patch::Apply(config)).await;
                (namespace, name, result)
            }
        })
        .buffer_unordered(CONCURRENT_WRITES);
    while let Some((namespace, name, result)) = results.next().await {
        match result {
            Ok(object) => {
                if settings.prune {
                    unseen.wrote(&object);
                }
                report.applied.push((namespace, name));
            }
            Err(source) => {
                warn!(%namespace, %name, error = %source, "could not apply");
                report.failed.push(ApplyError::Apply {
                    namespace,
                    name,
                    source,
                });
            }
        }
    }
    drop(results);
    *verified = now_verified;
    report.applied.sort();
    if settings.prune {
        prune::prune(client, snapshot, cache, unseen, settings, &mut report).await;
    }
    info!(revision = %report.revision, applied = report.applied.len(), unchanged = report.unchanged,
          invalid = report.invalid.len(), foreign = report.foreign.len(), failed = report.failed.len(),
          pruned = report.pruned.len(), compare_ms = compared.as_millis() as u64,
          elapsed_ms = started.elapsed().as_millis() as u64, "applied");
    report
}

/// Applies every new snapshot (only while this replica is the writer). A replica that
/// becomes the writer later applies the latest snapshot on the next tick of the source.
/// `on_first_snapshot` runs once, when the first snapshot arrives (a readiness gate).
pub async fn run(
    client: Client,
    mut snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    (cache, mut listed): (Store<CachedGitops>, watch::Receiver<bool>),
    settings: ApplySettings,
    is_leader: Arc<dyn Fn() -> bool + Send + Sync>,
    on_first_snapshot: impl FnOnce() + Send + 'static,
) {
    let mut on_first_snapshot = Some(on_first_snapshot);
    let mut applied_revision: Option<String> = None;
    let mut announced_revision: Option<String> = None;
    let recorder = events::recorder(client.clone(), &settings.instance);
    let mut carried = Carried::default();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        if let Some(snapshot) = snapshot {
            if let Some(first) = on_first_snapshot.take() {
                first();
            }
            if is_leader() && applied_revision.as_deref() != Some(snapshot.revision.as_str()) {
                // Until the cache is filled every object would look new and be written.
                if listed.wait_for(|listed| *listed).await.is_err() {
                    return;
                }
                let report = apply(&client, &snapshot, &cache, &settings, &mut carried).await;
                settings.notify.applied_report(&report);
                // Once per revision, not per retry of a failed apply.
                if announced_revision.as_deref() != Some(snapshot.revision.as_str()) {
                    announce::invalid(&recorder, &report.invalid).await;
                    announce::foreign(&recorder, &report.foreign, &settings.owner).await;
                    announced_revision = Some(snapshot.revision.clone());
                }
                if report.failed.is_empty() {
                    applied_revision = Some(snapshot.revision.clone());
                }
            }
        }
        // Wake on a new snapshot, or every few seconds to retry failures and to catch up after
        // gaining leadership.
        let changed = tokio::time::timeout(Duration::from_secs(5), snapshots.changed()).await;
        if matches!(changed, Ok(Err(_))) {
            return;
        }
    }
}

#[cfg(test)]
mod tests;

//! Which labels and annotations of a gitops object go onto its `kubedb.com` Postgres.
//!
//! Only what the manifest itself declares, and never a key that a GitOps tool writes on the
//! objects it applies: Argo CD tracks (and, with auto-prune, deletes) whatever carries its
//! tracking label or annotation, and Flux garbage-collects what carries its kustomization
//! labels. Copied onto the database, those keys would hand the database to the tool that
//! applied the gitops object. In `source.kind = "cluster"` mode the gitops object is read
//! from the API server, where those tools (and kubectl) have added such keys to what Git
//! holds; there is no telling them apart by source, so the rule is by key, whatever the
//! source. The same keys are never removed from the database either: a tool that put one
//! there owns it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::models::ObjectMeta;

/// Key prefixes GitOps tools write: Argo CD (tracking id, sync options, hooks), Flux's
/// kustomize- and helm-controllers and Flux v1, and kubectl (`last-applied-configuration`,
/// `restartedAt`).
const TOOL_PREFIXES: [&str; 5] = [
    "argocd.argoproj.io/",
    "kustomize.toolkit.fluxcd.io/",
    "helm.toolkit.fluxcd.io/",
    "fluxcd.io/",
    "kubectl.kubernetes.io/",
];

/// Exact keys GitOps tools write: Argo CD's default tracking label.
const TOOL_KEYS: [&str; 1] = ["app.kubernetes.io/instance"];

/// pg-gitops' own keys: its control annotations on the gitops object (retry, suspend,
/// rotation, ...) and its bookkeeping on the database are written only by pg-gitops itself.
const OWN_PREFIX: &str = "gitops.kubedb.com/";

/// Whether `key` belongs to a GitOps tool or to pg-gitops, and so is never copied from the
/// gitops object to the database nor removed from it as a user's key.
pub fn is_reserved(key: &str) -> bool {
    TOOL_KEYS.contains(&key)
        || key.starts_with(OWN_PREFIX)
        || TOOL_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

fn user_keys(map: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    map.into_iter()
        .flatten()
        .filter(|(k, _)| !is_reserved(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The labels of the gitops object that go onto the database.
pub fn user_labels(metadata: &ObjectMeta) -> BTreeMap<String, String> {
    user_keys(metadata.labels.as_ref())
}

/// The annotations of the gitops object that go onto the database.
pub fn user_annotations(metadata: &ObjectMeta) -> BTreeMap<String, String> {
    user_keys(metadata.annotations.as_ref())
}

/// Changed keys set, removed keys (declared before, still live) nulled; a reserved key is
/// never removed, even when an older record lists it.
pub fn map_patch(
    wanted: &BTreeMap<String, String>,
    live: Option<&BTreeMap<String, String>>,
    recorded: Option<&BTreeMap<String, String>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in wanted {
        if live.and_then(|l| l.get(key)) != Some(value) {
            out.insert(key.clone(), json!(value));
        }
    }
    for key in recorded.into_iter().flat_map(BTreeMap::keys) {
        if !wanted.contains_key(key)
            && !is_reserved(key)
            && live.is_some_and(|l| l.contains_key(key))
        {
            out.insert(key.clone(), Value::Null);
        }
    }
    out
}

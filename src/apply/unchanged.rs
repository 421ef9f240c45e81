//! Whether a manifest must be written: the apply stage compares what a manifest applies with
//! the object the cluster already holds (the controller's reflector cache), so a commit that
//! changes one manifest writes one object, not the whole fleet.
//!
//! An object is left alone when it carries the hash of this very apply configuration (so a
//! field removed from Git, which server-side apply would remove, counts as a change) and
//! still holds every declared value (so a hand edit of a declared field is put back at the
//! next commit, as before). Fields others added are not ours to judge: server-side apply
//! leaves them too.

use kube::ResourceExt;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::models::{APPLIED_HASH_ANNOTATION, CachedGitops};

/// The hash of an apply configuration, canonical (serde_json orders object keys), as 16 hex
/// digits.
pub(crate) fn applied_hash(config: &Value) -> String {
    short_hash(&config.to_string())
}

/// The first 16 hex digits of SHA-256 over `text`: short enough for a label value, and the
/// one hash the apply stage puts on objects (this one and the source label).
pub(super) fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Whether `live` already holds `config`, whose hash is `hash`.
pub(crate) fn holds(live: &CachedGitops, config: &Value, hash: &str) -> bool {
    if live
        .annotations()
        .get(APPLIED_HASH_ANNOTATION)
        .map(String::as_str)
        != Some(hash)
    {
        return false;
    }
    let (Ok(metadata), Ok(spec)) = (serde_json::to_value(&live.metadata), live.spec_value()) else {
        return false;
    };
    ["labels", "annotations"]
        .iter()
        .all(|key| contains(&metadata[key], &config["metadata"][key]))
        && contains(&spec, &config["spec"])
}

/// Whether every value of `wanted` is in `live`: objects key by key, anything else (lists
/// included) whole.
fn contains(live: &Value, wanted: &Value) -> bool {
    match (live, wanted) {
        (_, Value::Null) => true,
        (Value::Object(live), Value::Object(wanted)) => wanted
            .iter()
            .all(|(key, value)| contains(live.get(key).unwrap_or(&Value::Null), value)),
        _ => live == wanted,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(spec: Value, annotations: Value) -> CachedGitops {
        serde_json::from_value(json!({
            "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
            "metadata": {"name": "pg1", "namespace": "db", "labels": {"team": "a"},
                         "annotations": annotations},
            "spec": spec,
        }))
        .unwrap()
    }

    fn config(spec: Value) -> Value {
        json!({"metadata": {"labels": {"team": "a"}, "annotations": {}}, "spec": spec})
    }

    #[test]
    fn an_object_with_this_hash_and_these_values_is_left_alone() {
        let wanted = config(json!({"version": "16.4", "replicas": 3}));
        let hash = applied_hash(&wanted);
        // The API server adds defaults and others' fields; those are no change.
        let live = object(
            json!({"version": "16.4", "replicas": 3, "storageType": "Durable"}),
            json!({APPLIED_HASH_ANNOTATION: hash}),
        );
        assert!(holds(&live, &wanted, &hash));
    }

    #[test]
    fn a_change_a_removal_a_hand_edit_or_no_hash_is_written() {
        let before = config(json!({"version": "16.4", "replicas": 3}));
        let live = object(
            json!({"version": "16.4", "replicas": 3}),
            json!({APPLIED_HASH_ANNOTATION: applied_hash(&before)}),
        );
        let changed = config(json!({"version": "16.4", "replicas": 5}));
        assert!(!holds(&live, &changed, &applied_hash(&changed)));
        let removed = config(json!({"version": "16.4"}));
        assert!(!holds(&live, &removed, &applied_hash(&removed)));
        let edited = object(
            json!({"version": "16.4", "replicas": 1}),
            json!({APPLIED_HASH_ANNOTATION: applied_hash(&before)}),
        );
        assert!(!holds(&edited, &before, &applied_hash(&before)));
        let unhashed = object(json!({"version": "16.4", "replicas": 3}), json!({}));
        assert!(!holds(&unhashed, &before, &applied_hash(&before)));
    }
}

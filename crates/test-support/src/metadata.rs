//! The keys a GitOps tool writes on an object, stated independently of the product's own
//! denylist (`src/plan/metadata.rs`), so the tests are an oracle for it and not a copy.

use serde_json::Value;

/// A label or annotation key that Argo CD, Flux or kubectl owns.
pub fn is_tool_key(key: &str) -> bool {
    key == "app.kubernetes.io/instance"
        || [
            "argocd.argoproj.io/",
            "kustomize.toolkit.fluxcd.io/",
            "helm.toolkit.fluxcd.io/",
            "fluxcd.io/",
            "kubectl.kubernetes.io/",
        ]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// Every key of a metadata map (labels or annotations, of an object or a record) that a
/// GitOps tool owns.
pub fn tool_keys(map: &Value) -> Vec<String> {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .filter(|k| is_tool_key(k))
        .collect()
}

/// The annotation holding pg-gitops' last-applied record (spelled here, not imported, so the
/// tests do not share the product's constant).
pub const RECORD_ANNOTATION: &str = "gitops.kubedb.com/last-applied";

/// The last-applied record in a metadata map, parsed, if there is one.
pub fn record(metadata: &Value) -> Option<Value> {
    metadata["annotations"][RECORD_ANNOTATION]
        .as_str()
        .map(|text| serde_json::from_str(text).expect("the record is JSON"))
}

/// Asserts that a metadata map (of a database, a Provision object or a patch), and the record
/// in it if any, carry no label or annotation a GitOps tool owns.
pub fn assert_no_tool_keys(metadata: &Value) {
    let maps = std::iter::once(metadata.clone()).chain(record(metadata));
    for map in maps {
        for field in ["labels", "annotations"] {
            assert_eq!(
                tool_keys(&map[field]),
                Vec::<String>::new(),
                "{field} of {map:#}"
            );
        }
    }
}

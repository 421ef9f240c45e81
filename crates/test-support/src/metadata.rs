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

//! Telling which content a snapshot was read from: one database's manifest with a number of
//! replicas, and the replicas a snapshot declares.

use pg_gitops::source::Snapshot;

/// A manifest of one database (`shop/db`) with `replicas`.
pub fn database(replicas: i32) -> String {
    format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: db\n  \
         namespace: shop\nspec:\n  version: \"16.4\"\n  replicas: {replicas}\n"
    )
}

/// The replicas each database of the snapshot declares.
pub fn replicas(snapshot: &Snapshot) -> Vec<Option<i32>> {
    let manifests = snapshot.manifests.manifests.iter();
    manifests
        .map(|m| m.object().unwrap().spec.replicas)
        .collect()
}

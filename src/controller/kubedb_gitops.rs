//! Seeing KubeDB's own gitops operator at work on our databases.
//!
//! KubeDB ships a gitops operator of its own (image `ghcr.io/kubedb/kubedb-gitops`, installed
//! by the `kubedb` chart when `kubedb-crd-manager.installGitOpsCRDs=true`, acting on the kinds
//! its `--feature-gates` enable, Postgres among them by default). It reads the same
//! `gitops.kubedb.com` objects and makes OpsRequests and patches of its own: beside pg-gitops
//! the two would fight over every database. Its source is closed, so it is recognised by what
//! it leaves in `metadata.managedFields`:
//! - a field manager named `kubedb-gitops...` (client-go names a writer after its executable
//!   unless told otherwise, and the operator's image is `kubedb-gitops`), on a gitops object
//!   or a `kubedb.com` Postgres;
//! - whatever its name, a writer other than pg-gitops of `status.gitops` of a gitops object:
//!   the status that operator maintains.
//!
//! The reflector caches drop managedFields (they are often as large as the object), so each
//! object is looked at in the watch stream, before that. A sighting is announced once per
//! database per process, by the writer (see the controller), never per reconcile.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::Resource;
use kube::runtime::events::EventType;
use tracing::warn;

use super::Context;
use super::caches::strip_unread;
use super::report::publish;
use crate::execute::FIELD_MANAGER;
use crate::models::GitopsPostgres;

/// The beginning of the field manager of KubeDB's gitops operator.
const MANAGER_PREFIX: &str = "kubedb-gitops";

/// Which object was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Gitops,
    Database,
}

/// One database that KubeDB's gitops operator writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sighting {
    pub manager: String,
    pub on: Written,
}

impl Sighting {
    /// The Event's note: what was seen, why it matters, how to turn the other one off.
    pub(super) fn note(&self) -> String {
        let on = match self.on {
            Written::Gitops => "this gitops.kubedb.com Postgres (its status.gitops)",
            Written::Database => "its kubedb.com Postgres",
        };
        format!(
            "KubeDB's own gitops operator seems to reconcile this database too: field manager \
             {:?} writes {on}. Two reconcilers fight over it (OpsRequests of both, a flapping \
             status). Turn KubeDB's off: helm upgrade kubedb ... --reuse-values --set \
             kubedb-crd-manager.installGitOpsCRDs=false (or --set kubedb-gitops.replicaCount=0); \
             see pg-gitops' README, \"KubeDB's own gitops operator\"",
            self.manager
        )
    }
}

/// The writer in `entries` that looks like KubeDB's gitops operator, if any.
pub(super) fn rival(entries: &[ManagedFieldsEntry], on: Written) -> Option<String> {
    entries.iter().find_map(|entry| {
        let manager = entry.manager.as_deref()?;
        if manager == FIELD_MANAGER {
            return None;
        }
        let writes_gitops_status = on == Written::Gitops
            && entry
                .fields_v1
                .as_ref()
                .and_then(|fields| fields.0.get("f:status")?.get("f:gitops"))
                .is_some();
        (manager.starts_with(MANAGER_PREFIX) || writes_gitops_status).then(|| manager.to_owned())
    })
}

/// A Warning Event `KubeDBGitopsOperator` on `object` the first time its database is seen
/// written by KubeDB's gitops operator.
pub(super) async fn announce(ctx: &Context, object: &GitopsPostgres) {
    let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
    let name = object.metadata.name.as_deref().unwrap_or_default();
    if let Some(sighting) = ctx.sightings.take(namespace, name) {
        let note = sighting.note();
        publish(
            ctx,
            object,
            EventType::Warning,
            "KubeDBGitopsOperator",
            "Reconcile",
            note,
            None,
        )
        .await;
    }
}

type Key = (String, String);

#[derive(Default)]
struct Seen {
    pending: HashMap<Key, Sighting>,
    announced: HashSet<Key>,
}

/// Sightings by database (namespace, name), each handed out once.
#[derive(Clone, Default)]
pub(crate) struct Sightings(Arc<Mutex<Seen>>);

impl Sightings {
    /// Looks at `object` as it arrives from the watch, before its managedFields are dropped.
    pub(super) fn inspect<K: Resource>(&self, object: &K, on: Written) {
        let meta = object.meta();
        let Some(manager) = meta
            .managed_fields
            .as_deref()
            .and_then(|entries| rival(entries, on))
        else {
            return;
        };
        let key = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let mut seen = self.0.lock().expect("sightings");
        if seen.announced.contains(&key) || seen.pending.contains_key(&key) {
            return;
        }
        warn!(namespace = %key.0, name = %key.1, %manager, "KubeDB's own gitops operator writes this database");
        seen.pending.insert(key, Sighting { manager, on });
    }

    /// What the watch of `on` objects does to each: look, then drop what the cache never
    /// reads ([`strip_unread`]).
    pub(super) fn inspect_then_strip<K: Resource>(
        &self,
        on: Written,
    ) -> impl FnMut(&mut K) + use<K> {
        let sightings = self.clone();
        move |object| {
            sightings.inspect(object, on);
            strip_unread(object);
        }
    }

    /// The sighting of a database not handed out yet; it is not handed out again.
    pub(super) fn take(&self, namespace: &str, name: &str) -> Option<Sighting> {
        let key = (namespace.to_owned(), name.to_owned());
        let mut seen = self.0.lock().expect("sightings");
        let sighting = seen.pending.remove(&key)?;
        seen.announced.insert(key);
        Some(sighting)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
    use serde_json::json;

    use super::*;

    fn entry(manager: &str, fields: serde_json::Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Update".into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    #[test]
    fn kubedb_gitops_is_seen_by_its_name_or_by_the_status_it_keeps() {
        let spec = json!({"f:spec": {"f:replicas": {}}});
        let gitops_status = json!({"f:status": {"f:gitops": {"f:gitOpsInfo": {}}}});
        let ours = entry(FIELD_MANAGER, gitops_status.clone());
        let argo = entry("argocd-controller", spec.clone());
        let kubectl_status = entry("kubectl", json!({"f:status": {"f:phase": {}}}));
        // Argo CD, Flux, kubectl and pg-gitops itself are not KubeDB's operator.
        let fine = [ours.clone(), argo.clone(), kubectl_status.clone()];
        assert_eq!(rival(&fine, Written::Gitops), None);
        assert_eq!(rival(&fine, Written::Database), None);
        // Its name, on either object.
        let named = [ours.clone(), entry("kubedb-gitops", spec.clone())];
        assert_eq!(
            rival(&named, Written::Database).as_deref(),
            Some("kubedb-gitops")
        );
        assert_eq!(
            rival(&named, Written::Gitops).as_deref(),
            Some("kubedb-gitops")
        );
        // Any other writer of status.gitops of a gitops object, whatever its name.
        let status = [ours, argo, entry("manager", gitops_status.clone())];
        assert_eq!(rival(&status, Written::Gitops).as_deref(), Some("manager"));
        // status.gitops means nothing on a kubedb.com Postgres (KubeDB's provisioner writes
        // its status there).
        let database = [entry("kubedb-provisioner", gitops_status)];
        assert_eq!(rival(&database, Written::Database), None);
    }

    #[test]
    fn a_sighting_is_handed_out_once() {
        let object: GitopsPostgres = serde_json::from_value(json!({
            "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
            "metadata": {"name": "pg1", "namespace": "db", "managedFields": [{
                "manager": "kubedb-gitops", "operation": "Update", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {}},
            }]},
        }))
        .unwrap();
        let sightings = Sightings::default();
        assert_eq!(sightings.take("db", "pg1"), None);
        sightings.inspect(&object, Written::Gitops);
        sightings.inspect(&object, Written::Gitops);
        let sighting = sightings.take("db", "pg1").expect("seen");
        assert_eq!(sighting.manager, "kubedb-gitops");
        assert!(sighting.note().contains("installGitOpsCRDs=false"));
        // Seen again on every later watch event: not handed out again.
        sightings.inspect(&object, Written::Gitops);
        assert_eq!(sightings.take("db", "pg1"), None);
        assert_eq!(sightings.take("db", "other"), None);
    }
}

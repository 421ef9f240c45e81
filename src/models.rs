//! Typed KubeDB API objects: the fields the plan reads are typed; every other field is kept
//! in an `other` map so that nothing a user wrote is dropped on a round trip.

mod cached;
mod catalog;
mod gitops;
mod kubedb;
mod ops;
mod spec;

pub use cached::{Cached, CachedDatabase, CachedGitops, Compact};
pub use catalog::{PostgresVersion, PostgresVersionSpec, UpdateConstraints};
pub use gitops::{GitOpsInfo, GitOpsInfoList, GitOpsOperation, GitopsPostgres, GitopsStatus};
pub use kubedb::{Condition, DatabaseStatus, KubedbPostgres, LastApplied, LastAppliedError};
pub use ops::{OpsPhase, OpsRequestStatus, OpsRequestType, PostgresOpsRequest};
pub use spec::{
    AuthSecret, Configuration, Container, LocalObjectReference, PodTemplate, PodTemplateSpec,
    PostgresSpec, ResourceRequirements, StorageSpec,
};

use serde_json::Value;

/// `metadata` of every object, from k8s-openapi so kube's `Api<T>` works with our types.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Implements the k8s-openapi resource traits, which give kube's `Resource` for free.
macro_rules! kube_resource {
    ($ty:ty, $group:literal, $version:literal, $kind:literal, $plural:literal, $scope:ty) => {
        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = concat!($group, "/", $version);
            const GROUP: &'static str = $group;
            const KIND: &'static str = $kind;
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = $scope;
        }
        impl k8s_openapi::ListableResource for $ty {
            const LIST_KIND: &'static str = concat!($kind, "List");
        }
        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(crate) use kube_resource;

/// Removes every `null` member of an object, at any depth: the API server stores none (a
/// `null` it is sent means "not set"), so a value read this way says what the server will.
pub(crate) fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Annotation on the live `kubedb.com` Postgres holding the declared spec it was last
/// reconciled to; removals are seen through it.
pub(crate) const LAST_APPLIED_ANNOTATION: &str = "gitops.kubedb.com/last-applied";
/// Annotation on the live `kubedb.com` Postgres saying a Restart is owed for restart fields
/// that were already patched in; its value is the token the Restart is named after.
pub(crate) const RESTART_PENDING_ANNOTATION: &str = "gitops.kubedb.com/restart-pending";
/// Annotation on a gitops object asking for a certificate rotation: a new value asks again.
/// The same key on the live database remembers the last rotation done.
pub(crate) const ROTATE_CERTIFICATES_ANNOTATION: &str = "gitops.kubedb.com/rotate-certificates";
/// Annotation on a gitops object whose value feeds OpsRequest names: bump it to retry.
pub(crate) const RETRY_ANNOTATION: &str = "gitops.kubedb.com/retry";
/// Annotation on a gitops object: `"true"` stops reconciling it.
pub(crate) const SUSPEND_ANNOTATION: &str = "gitops.kubedb.com/suspend";
/// Annotation carrying the Git revision on everything pg-gitops writes.
pub(crate) const REVISION_ANNOTATION: &str = "gitops.kubedb.com/revision";
/// Annotation on a gitops object the apply stage wrote: a hash of what it applied (without
/// the revision), so the next snapshot writes the object only when its manifest changed.
pub(crate) const APPLIED_HASH_ANNOTATION: &str = "gitops.kubedb.com/applied-hash";
/// On a gitops object the apply stage wrote: which source it came from (a hash of the source's
/// kind, location and path), so pruning removes only objects of this source, never those of
/// another pg-gitops installation in the same cluster.
pub(crate) const SOURCE_LABEL: &str = "gitops.kubedb.com/source";
/// Which pg-gitops instance owns an object (`reconcile.owner`): on the gitops objects the
/// apply stage writes, the `kubedb.com` Postgres it provisions or adopts, and its
/// OpsRequests. An instance never prunes, applies over or drives what another one owns.
pub(crate) const OWNER_LABEL: &str = "gitops.kubedb.com/owner";
/// Annotation on each OpsRequest: the generation of the gitops object it was made for.
pub(crate) const GENERATION_ANNOTATION: &str = "gitops.kubedb.com/generation";
/// Per-database override of the VolumeExpansion mode (`Online` or `Offline`).
pub(crate) const VOLUME_EXPANSION_MODE_ANNOTATION: &str = "gitops.kubedb.com/volume-expansion-mode";
/// Label naming the database an OpsRequest belongs to.
pub(crate) const DATABASE_LABEL: &str = "gitops.kubedb.com/database";
/// Standard managed-by label and our value for it.
pub(crate) const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub(crate) const MANAGED_BY_VALUE: &str = "pg-gitops";

#[cfg(test)]
mod tests;

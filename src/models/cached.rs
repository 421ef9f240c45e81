//! The Postgres objects the controller's caches keep, `kubedb.com` and `gitops.kubedb.com`
//! alike: their metadata typed (the reflector, the event mappers and the keys read it), and
//! their spec and status as the JSON text they are, expanded to the typed object only when its
//! database is reconciled.
//!
//! Why: typed, with every map an ordered map, one object took about 10 KB of heap (KubeDB
//! fills a database's spec with its defaults: pod template, containers, security contexts,
//! affinity, ...; a gitops object carries the same spec and its status). Kept for every
//! database of the fleet, the two caches were the largest part of the service's memory. As
//! text an object is about a fifth of that, and expanding one on a reconcile costs tens of
//! microseconds.

use std::marker::PhantomData;

use k8s_openapi::NamespaceResourceScope;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    DatabaseStatus, GitopsPostgres, GitopsStatus, KubedbPostgres, ObjectMeta, PostgresSpec,
    kube_resource,
};

/// A Postgres object with its spec and status kept as text. Read from the API as `K`, then
/// made compact.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "K", bound(deserialize = "K: Compact + DeserializeOwned"))]
pub struct Cached<K> {
    pub metadata: ObjectMeta,
    /// `{"spec": ..., "status": ...}`, as serde_json writes them.
    body: Box<str>,
    kind: PhantomData<fn() -> K>,
}

/// A `kubedb.com` Postgres as the controller's cache keeps it.
pub type CachedDatabase = Cached<KubedbPostgres>;
/// A gitops Postgres as the controller's cache keeps it.
pub type CachedGitops = Cached<GitopsPostgres>;

kube_resource!(
    CachedDatabase,
    "kubedb.com",
    "v1",
    "Postgres",
    "postgreses",
    NamespaceResourceScope
);

kube_resource!(
    CachedGitops,
    "gitops.kubedb.com",
    "v1alpha1",
    "Postgres",
    "postgreses",
    NamespaceResourceScope
);

/// An object a [`Cached`] can hold: metadata, a Postgres spec and a status of its own type.
pub trait Compact: k8s_openapi::Resource + Sized {
    type Status: Serialize + DeserializeOwned;
    fn into_parts(self) -> (ObjectMeta, PostgresSpec, Option<Self::Status>);
    fn from_parts(metadata: ObjectMeta, spec: PostgresSpec, status: Option<Self::Status>) -> Self;
}

/// `Compact` for a Postgres type whose fields are `api_version`, `kind`, `metadata`, `spec`
/// and `status: Option<$status>`.
macro_rules! compact {
    ($ty:ty, $status:ty) => {
        impl Compact for $ty {
            type Status = $status;
            fn into_parts(self) -> (ObjectMeta, PostgresSpec, Option<$status>) {
                (self.metadata, self.spec, self.status)
            }
            fn from_parts(
                metadata: ObjectMeta,
                spec: PostgresSpec,
                status: Option<$status>,
            ) -> Self {
                Self {
                    api_version: <Self as k8s_openapi::Resource>::API_VERSION.into(),
                    kind: <Self as k8s_openapi::Resource>::KIND.into(),
                    metadata,
                    spec,
                    status,
                }
            }
        }
    };
}

compact!(KubedbPostgres, DatabaseStatus);
compact!(GitopsPostgres, Box<GitopsStatus>);

/// What the text holds; borrowed to write it, owned to read it.
#[derive(Serialize)]
struct BodyRef<'a, S> {
    spec: &'a PostgresSpec,
    status: &'a Option<S>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "S: DeserializeOwned"))]
struct Body<S> {
    #[serde(default)]
    spec: PostgresSpec,
    #[serde(default)]
    status: Option<S>,
}

impl<K: Compact> From<K> for Cached<K> {
    fn from(object: K) -> Self {
        let (metadata, spec, status) = object.into_parts();
        let body = BodyRef {
            spec: &spec,
            status: &status,
        };
        // Serialising typed values with string keys cannot fail.
        let body = serde_json::to_string(&body).unwrap_or_default();
        Self {
            metadata,
            body: body.into_boxed_str(),
            kind: PhantomData,
        }
    }
}

impl<K: Compact> Cached<K> {
    /// An object whose text does not read back, for the callers' tests.
    #[cfg(test)]
    pub(crate) fn unreadable(metadata: ObjectMeta) -> Self {
        Self {
            metadata,
            body: r#"{"spec": {"replicas": "three"}}"#.into(),
            kind: PhantomData,
        }
    }

    /// The object as the API server sent it (less what the cache strips before keeping it).
    /// The text was written from these very types, so this fails only if they stopped reading
    /// back what they write; the caller then reports the database, never plans it against an
    /// empty spec.
    pub fn expand(&self) -> Result<K, serde_json::Error> {
        let body: Body<K::Status> = serde_json::from_str(&self.body)?;
        Ok(K::from_parts(self.metadata.clone(), body.spec, body.status))
    }

    /// The status alone (what the status endpoint shows).
    pub fn status(&self) -> Result<Option<K::Status>, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(bound(deserialize = "S: DeserializeOwned"))]
        struct StatusOnly<S> {
            #[serde(default)]
            status: Option<S>,
        }
        serde_json::from_str::<StatusOnly<K::Status>>(&self.body).map(|body| body.status)
    }

    /// The spec alone, as JSON (what the sync stage compares with a manifest).
    pub fn spec_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        #[derive(Deserialize)]
        struct SpecOnly {
            #[serde(default)]
            spec: serde_json::Value,
        }
        serde_json::from_str::<SpecOnly>(&self.body).map(|body| body.spec)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cached_database_expands_to_what_was_cached() {
        let database: KubedbPostgres = serde_json::from_value(json!({
            "apiVersion": "kubedb.com/v1", "kind": "Postgres",
            "metadata": {"name": "pg1", "namespace": "db", "resourceVersion": "7",
                         "annotations": {"gitops.kubedb.com/last-applied": "{\"replicas\":3}"}},
            "spec": {"version": "16.4", "replicas": 3, "monitor": {"agent": "prometheus.io/builtin"},
                     "podTemplate": {"spec": {"containers": [{"name": "postgres",
                         "resources": {"requests": {"cpu": "500m"}}}]}}},
            "status": {"phase": "Ready", "observedGeneration": 2}
        }))
        .unwrap();
        let cached = CachedDatabase::from(database.clone());
        assert_eq!(cached.expand().unwrap(), database);
        let none = KubedbPostgres {
            status: None,
            ..database
        };
        assert_eq!(CachedDatabase::from(none.clone()).expand().unwrap(), none);
    }

    /// A gitops object as the API sends it (its status as the controller writes it) reads into
    /// the cache and expands to the object typed directly; its spec reads alone too.
    #[test]
    fn a_cached_gitops_object_expands_to_what_was_sent() {
        let sent = json!({
            "apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
            "metadata": {"name": "pg1", "namespace": "db", "resourceVersion": "9", "generation": 2,
                         "labels": {"gitops.kubedb.com/owner": "default.pg-gitops"},
                         "annotations": {"gitops.kubedb.com/applied-hash": "97ae510aff389052"}},
            "spec": {"version": "16.4", "replicas": 3, "storageType": "Durable"},
            "status": {"phase": "Ready", "observedGeneration": 2,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "Current",
                                       "lastTransitionTime": "2026-12-03T22:27:04Z",
                                       "message": "the database matches Git and is Ready"}],
                       "gitops": {"gitOpsInfo": [{"observedGeneration": 2,
                                                  "changeRequestStatus": "Current"}]},
                       "pending": [{"type": "Restart"}]}
        });
        let typed: GitopsPostgres = serde_json::from_value(sent.clone()).unwrap();
        let cached: CachedGitops = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(cached.metadata, typed.metadata);
        assert_eq!(cached.expand().unwrap(), typed);
        assert_eq!(cached.spec_value().unwrap(), sent["spec"]);
        let bare = GitopsPostgres {
            status: None,
            ..typed
        };
        assert_eq!(CachedGitops::from(bare.clone()).expand().unwrap(), bare);
    }

    #[test]
    fn text_that_does_not_read_back_is_an_error_not_an_empty_spec() {
        assert!(
            CachedDatabase::unreadable(ObjectMeta::default())
                .expand()
                .is_err()
        );
        assert!(
            CachedGitops::unreadable(ObjectMeta::default())
                .expand()
                .is_err()
        );
    }
}

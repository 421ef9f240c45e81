//! A `kubedb.com` Postgres as the controller's cache keeps it: its metadata typed (the
//! reflector and the event mappers read it), and its spec and status as the JSON text they
//! are, expanded to a [`KubedbPostgres`] only when its database is reconciled.
//!
//! Why: KubeDB fills a database's spec with its defaults (pod template, containers, security
//! contexts, affinity, leader election, ...). Typed, with every map an ordered map, one such
//! spec took about 10 KB of heap; kept for every database of the fleet, the cache of
//! `kubedb.com` objects was the largest part of the service's memory. As text it is about a
//! third of that, and expanding one on a reconcile costs tens of microseconds.

use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Serialize};

use super::{DatabaseStatus, KubedbPostgres, ObjectMeta, PostgresSpec, kube_resource};

/// A `kubedb.com` Postgres with its spec and status kept as text. Read from the API as a
/// [`KubedbPostgres`], then made compact.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(from = "KubedbPostgres")]
pub struct CachedDatabase {
    pub metadata: ObjectMeta,
    /// `{"spec": ..., "status": ...}`, as serde_json writes [`Body`].
    body: Box<str>,
}

kube_resource!(
    CachedDatabase,
    "kubedb.com",
    "v1",
    "Postgres",
    "postgreses",
    NamespaceResourceScope
);

/// What the text holds; borrowed to write it, owned to read it.
#[derive(Serialize)]
struct BodyRef<'a> {
    spec: &'a PostgresSpec,
    status: &'a Option<DatabaseStatus>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    spec: PostgresSpec,
    #[serde(default)]
    status: Option<DatabaseStatus>,
}

impl From<KubedbPostgres> for CachedDatabase {
    fn from(database: KubedbPostgres) -> Self {
        let body = BodyRef {
            spec: &database.spec,
            status: &database.status,
        };
        // Serialising typed values with string keys cannot fail.
        let body = serde_json::to_string(&body).unwrap_or_default();
        Self {
            metadata: database.metadata,
            body: body.into_boxed_str(),
        }
    }
}

impl CachedDatabase {
    /// A cached database whose text does not read back, for the callers' tests.
    #[cfg(test)]
    pub(crate) fn unreadable(metadata: ObjectMeta) -> Self {
        Self {
            metadata,
            body: r#"{"spec": {"replicas": "three"}}"#.into(),
        }
    }

    /// The database as the API server sent it (less what the cache strips before keeping it).
    /// The text was written from these very types, so this fails only if they stopped reading
    /// back what they write; the caller then reports the database, never plans it against an
    /// empty spec.
    pub fn expand(&self) -> Result<KubedbPostgres, serde_json::Error> {
        let body: Body = serde_json::from_str(&self.body)?;
        Ok(KubedbPostgres {
            api_version: <KubedbPostgres as k8s_openapi::Resource>::API_VERSION.into(),
            kind: <KubedbPostgres as k8s_openapi::Resource>::KIND.into(),
            metadata: self.metadata.clone(),
            spec: body.spec,
            status: body.status,
        })
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

    #[test]
    fn text_that_does_not_read_back_is_an_error_not_an_empty_spec() {
        assert!(
            CachedDatabase::unreadable(ObjectMeta::default())
                .expand()
                .is_err()
        );
    }
}

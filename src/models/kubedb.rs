//! `kubedb.com/v1` Postgres: the live database, full of KubeDB's defaults.

use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    LAST_APPLIED_ANNOTATION, ObjectMeta, PostgresSpec, RESTART_PENDING_ANNOTATION, kube_resource,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubedbPostgres {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PostgresSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DatabaseStatus>,
}

fn api_version() -> String {
    "kubedb.com/v1".into()
}
fn kind() -> String {
    "Postgres".into()
}

kube_resource!(
    KubedbPostgres,
    "kubedb.com",
    "v1",
    "Postgres",
    "postgreses",
    NamespaceResourceScope
);

impl KubedbPostgres {
    fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    /// The declared spec this database was last reconciled to, if pg-gitops recorded one.
    /// An unreadable record counts as none: removals are then not inferred, never invented.
    pub fn last_applied(&self) -> Option<LastApplied> {
        serde_json::from_str(self.annotation(LAST_APPLIED_ANNOTATION)?).ok()
    }

    /// The token of a Restart owed for restart fields already patched in.
    pub fn restart_pending(&self) -> Option<&str> {
        self.annotation(RESTART_PENDING_ANNOTATION)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    /// Provisioning, DataRestoring, Ready, Critical, NotReady, Halted or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A kmodules/kstatus condition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// What pg-gitops last reconciled a database to: the declared spec, labels and annotations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastApplied {
    #[serde(default)]
    pub spec: Map<String, Value>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

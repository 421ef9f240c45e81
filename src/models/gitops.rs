//! `gitops.kubedb.com/v1alpha1` Postgres: desired state as written in Git.

use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Condition, ObjectMeta, PostgresSpec, kube_resource};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsPostgres {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PostgresSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<GitopsStatus>>,
}

fn api_version() -> String {
    "gitops.kubedb.com/v1alpha1".into()
}
fn kind() -> String {
    "Postgres".into()
}

kube_resource!(
    GitopsPostgres,
    "gitops.kubedb.com",
    "v1alpha1",
    "Postgres",
    "postgreses",
    NamespaceResourceScope
);

/// The status KubeDB's gitops CRD declares: the database status inlined plus `gitops`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitopsStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitOpsInfoList>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitOpsInfoList {
    #[serde(default, rename = "gitOpsInfo")]
    pub git_ops_info: Vec<GitOpsInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitOpsInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pending, InProgress, Current or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_request_status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<GitOpsOperation>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitOpsOperation {
    pub name: String,
    /// The request's phase; left out while it has none yet (KubeDB leaves a new request
    /// without a phase for a moment, and a 1.20 API server reads `""` as null and refuses
    /// the whole status write with 422).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
}

//! `catalog.kubedb.com/v1alpha1` PostgresVersion (cluster-scoped): what `spec.version` names.

use k8s_openapi::ClusterResourceScope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ObjectMeta, kube_resource};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgresVersion {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PostgresVersionSpec,
}

kube_resource!(
    PostgresVersion,
    "catalog.kubedb.com",
    "v1alpha1",
    "PostgresVersion",
    "postgresversions",
    ClusterResourceScope
);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgresVersionSpec {
    /// The engine's semver (the object name is what databases refer to).
    #[serde(default)]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_constraints: Option<UpdateConstraints>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl PostgresVersionSpec {
    /// `spec.db.baseOS`, which must match between an upgrade's source and target.
    pub fn base_os(&self) -> Option<&str> {
        self.other.get("db")?.get("baseOS")?.as_str()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateConstraints {
    #[serde(default)]
    pub allowlist: Vec<String>,
    #[serde(default)]
    pub denylist: Vec<String>,
}

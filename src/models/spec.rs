//! `kubedb.com/v1` `PostgresSpec`, which the gitops Postgres uses verbatim as its spec.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The Postgres spec. Typed where the plan needs meaning; the rest rides in `other`. The
/// struct fields are boxed: most objects hold few of them, and a fleet keeps tens of
/// thousands of specs in its caches (inline, an empty spec took 1.1 KB).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Box<StorageSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<Box<PodTemplate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Box<Configuration>>,
    /// Legacy form of `configuration.secretName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_secret: Option<LocalObjectReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<Box<AuthSecret>>,
    /// Compared and sent as a whole: ReconfigureTLS takes the same shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming_mode: Option<String>,
    /// Every other field (monitor, archiver, deletionPolicy, serviceTemplates, init, ...).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl StorageSpec {
    /// `resources.requests.storage`, as written (string or number).
    pub fn requested_size(&self) -> Option<&Value> {
        self.resources.as_ref()?.requests.as_ref()?.get("storage")
    }
}

/// `core/v1` ResourceRequirements; quantities stay as written and are compared by value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// offshoot-api v2 PodTemplateSpec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodTemplateSpec>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<Container>>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl PostgresSpec {
    /// The container of that name in `podTemplate.spec.containers`.
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.pod_template
            .as_ref()?
            .spec
            .as_ref()?
            .containers
            .as_ref()?
            .iter()
            .find(|c| c.name == name)
    }

    /// The custom-config secret, from `configuration.secretName` or the legacy `configSecret`.
    pub fn config_secret_name(&self) -> Option<&str> {
        self.configuration
            .as_ref()
            .and_then(|c| c.secret_name.as_deref())
            .or_else(|| self.config_secret.as_ref().map(|r| r.name.as_str()))
            .filter(|name| !name.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<Value>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalObjectReference {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthSecret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

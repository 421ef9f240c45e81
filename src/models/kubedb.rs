//! `kubedb.com/v1` Postgres: the live database, full of KubeDB's defaults.

use k8s_openapi::NamespaceResourceScope;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    LAST_APPLIED_ANNOTATION, ObjectMeta, PostgresSpec, RESTART_PENDING_ANNOTATION,
    ROTATE_CERTIFICATES_ANNOTATION, kube_resource,
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

    /// The declared spec this database was last reconciled to, if a record is there.
    pub fn last_applied(&self) -> Result<Option<LastApplied>, LastAppliedError> {
        self.annotation(LAST_APPLIED_ANNOTATION)
            .map(LastApplied::parse)
            .transpose()
    }

    /// The token of a Restart owed for restart fields already patched in.
    pub fn restart_pending(&self) -> Option<&str> {
        self.annotation(RESTART_PENDING_ANNOTATION)
    }

    /// The certificate-rotation token last carried out on this database.
    pub fn rotation_token(&self) -> Option<&str> {
        self.annotation(ROTATE_CERTIFICATES_ANNOTATION)
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
/// Written as `{spec, labels, annotations}`; see [`LastApplied::parse`] for what is read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastApplied {
    pub spec: Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Why the last-applied record of a database cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LastAppliedError {
    #[error("the annotation gitops.kubedb.com/last-applied is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error(
        "the annotation gitops.kubedb.com/last-applied is neither the declared spec nor \
         {{spec, labels, annotations}}: {0}"
    )]
    Shape(String),
}

impl LastApplied {
    /// Reads a record in either shape: the `{spec, labels, annotations}` pg-gitops writes, or
    /// the bare declared spec (a record written by hand, or by another tool in that shape; it
    /// says nothing about labels and annotations). Anything else is an error, never "nothing
    /// declared": that would lose every removal, and the next write would make it permanent.
    /// A `null` in a record is a field not declared, as the API server reads it.
    pub fn parse(text: &str) -> Result<Self, LastAppliedError> {
        let mut value: Value = serde_json::from_str(text).map_err(LastAppliedError::NotJson)?;
        super::drop_nulls(&mut value);
        let Value::Object(map) = value else {
            return Err(LastAppliedError::Shape("not a JSON object".into()));
        };
        if map.contains_key("spec") {
            serde_json::from_value(Value::Object(map))
                .map_err(|error| LastAppliedError::Shape(error.to_string()))
        } else if map.contains_key("labels") || map.contains_key("annotations") {
            Err(LastAppliedError::Shape(
                "labels or annotations without a spec".into(),
            ))
        } else {
            Ok(Self {
                spec: map,
                ..Self::default()
            })
        }
    }
}

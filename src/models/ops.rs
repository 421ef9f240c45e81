//! `ops.kubedb.com/v1alpha1` PostgresOpsRequest. The spec is built by the plan as JSON (its
//! blocks differ per type and are immutable once created); status is typed for tracking.

use std::fmt;

use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Condition, ObjectMeta, kube_resource};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgresOpsRequest {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OpsRequestStatus>,
}

fn api_version() -> String {
    "ops.kubedb.com/v1alpha1".into()
}
fn kind() -> String {
    "PostgresOpsRequest".into()
}

kube_resource!(
    PostgresOpsRequest,
    "ops.kubedb.com",
    "v1alpha1",
    "PostgresOpsRequest",
    "postgresopsrequests",
    NamespaceResourceScope
);

impl PostgresOpsRequest {
    /// `spec.databaseRef.name`.
    pub fn database_name(&self) -> Option<&str> {
        self.spec.get("databaseRef")?.get("name")?.as_str()
    }

    /// `spec.type`, as written.
    pub fn type_name(&self) -> Option<&str> {
        self.spec.get("type")?.as_str()
    }

    /// The phase; an object nobody has picked up yet has none.
    pub fn phase(&self) -> OpsPhase {
        OpsPhase::parse(
            self.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or(""),
        )
    }

    /// The failure message KubeDB's CLI would show: the condition whose reason is `Failed`,
    /// else the last condition with a message.
    pub fn failure_message(&self) -> Option<&str> {
        let conditions = &self.status.as_ref()?.conditions;
        conditions
            .iter()
            .rev()
            .find(|c| c.reason.as_deref() == Some("Failed") && c.message.is_some())
            .or_else(|| conditions.iter().rev().find(|c| c.message.is_some()))
            .and_then(|c| c.message.as_deref())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpsRequestStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// OpsRequest phases. Open ones block the database; the rest are final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsPhase {
    /// Created, not yet seen by the ops-manager.
    Unset,
    Pending,
    Progressing,
    WaitingForApproval,
    Approved,
    Successful,
    Failed,
    Skipped,
    Denied,
    /// A phase this version does not know; treated as open so we never run two at once.
    Unknown(String),
}

impl OpsPhase {
    pub fn parse(text: &str) -> Self {
        match text {
            "" => Self::Unset,
            "Pending" => Self::Pending,
            "Progressing" => Self::Progressing,
            "WaitingForApproval" => Self::WaitingForApproval,
            "Approved" => Self::Approved,
            "Successful" => Self::Successful,
            "Failed" => Self::Failed,
            "Skipped" => Self::Skipped,
            "Denied" => Self::Denied,
            other => Self::Unknown(other.to_string()),
        }
    }

    /// True while the request may still run: the database must wait for it.
    pub fn is_open(&self) -> bool {
        !matches!(
            self,
            Self::Successful | Self::Failed | Self::Skipped | Self::Denied
        )
    }
}

impl fmt::Display for OpsPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Unset => "",
            Self::Pending => "Pending",
            Self::Progressing => "Progressing",
            Self::WaitingForApproval => "WaitingForApproval",
            Self::Approved => "Approved",
            Self::Successful => "Successful",
            Self::Failed => "Failed",
            Self::Skipped => "Skipped",
            Self::Denied => "Denied",
            Self::Unknown(other) => other,
        };
        f.write_str(text)
    }
}

/// The OpsRequest types pg-gitops creates, in KubeDB's exact spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OpsRequestType {
    HorizontalScaling,
    VolumeExpansion,
    VerticalScaling,
    UpdateVersion,
    Reconfigure,
    ReconfigureTLS,
    RotateAuth,
    Restart,
}

impl OpsRequestType {
    pub const ALL: [Self; 8] = [
        Self::HorizontalScaling,
        Self::VolumeExpansion,
        Self::VerticalScaling,
        Self::UpdateVersion,
        Self::Reconfigure,
        Self::ReconfigureTLS,
        Self::RotateAuth,
        Self::Restart,
    ];

    /// `spec.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HorizontalScaling => "HorizontalScaling",
            Self::VolumeExpansion => "VolumeExpansion",
            Self::VerticalScaling => "VerticalScaling",
            Self::UpdateVersion => "UpdateVersion",
            Self::Reconfigure => "Reconfigure",
            Self::ReconfigureTLS => "ReconfigureTLS",
            Self::RotateAuth => "RotateAuth",
            Self::Restart => "Restart",
        }
    }

    /// The name suffix KubeDB's gitops operator uses (note `rotate-auth`, `versionupdate`).
    pub fn name_suffix(self) -> &'static str {
        match self {
            Self::HorizontalScaling => "horizontalscaling",
            Self::VolumeExpansion => "volumeexpansion",
            Self::VerticalScaling => "verticalscaling",
            Self::UpdateVersion => "versionupdate",
            Self::Reconfigure => "reconfigure",
            Self::ReconfigureTLS => "reconfiguretls",
            Self::RotateAuth => "rotate-auth",
            Self::Restart => "restart",
        }
    }
}

impl fmt::Display for OpsRequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The KubeDB resources the simulator reads and writes, and the OpsRequest types it knows.
//!
//! Everything is handled as `DynamicObject`/`serde_json::Value`: the simulator must write exactly
//! what KubeDB's CRDs declare, and a typed model would hide fields the API server keeps.

use kube::api::{ApiResource, GroupVersionKind};

/// `kubedb.com/v1` Postgres (namespaced, plural `postgreses`).
pub fn postgres_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubedb.com", "v1", "Postgres"),
        "postgreses",
    )
}

/// `ops.kubedb.com/v1alpha1` PostgresOpsRequest (namespaced, plural `postgresopsrequests`).
pub fn ops_request_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("ops.kubedb.com", "v1alpha1", "PostgresOpsRequest"),
        "postgresopsrequests",
    )
}

/// `catalog.kubedb.com/v1alpha1` PostgresVersion (cluster-scoped, plural `postgresversions`).
pub fn postgres_version_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("catalog.kubedb.com", "v1alpha1", "PostgresVersion"),
        "postgresversions",
    )
}

/// `spec.type` of a PostgresOpsRequest, spelled as the CRD enum spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpsType {
    UpdateVersion,
    HorizontalScaling,
    VerticalScaling,
    VolumeExpansion,
    Restart,
    Reconfigure,
    ReconfigureTLS,
    RotateAuth,
    ReconnectStandby,
    ForceFailOver,
    SetRaftKeyPair,
    StorageMigration,
}

impl OpsType {
    pub const ALL: [OpsType; 12] = [
        OpsType::UpdateVersion,
        OpsType::HorizontalScaling,
        OpsType::VerticalScaling,
        OpsType::VolumeExpansion,
        OpsType::Restart,
        OpsType::Reconfigure,
        OpsType::ReconfigureTLS,
        OpsType::RotateAuth,
        OpsType::ReconnectStandby,
        OpsType::ForceFailOver,
        OpsType::SetRaftKeyPair,
        OpsType::StorageMigration,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OpsType::UpdateVersion => "UpdateVersion",
            OpsType::HorizontalScaling => "HorizontalScaling",
            OpsType::VerticalScaling => "VerticalScaling",
            OpsType::VolumeExpansion => "VolumeExpansion",
            OpsType::Restart => "Restart",
            OpsType::Reconfigure => "Reconfigure",
            OpsType::ReconfigureTLS => "ReconfigureTLS",
            OpsType::RotateAuth => "RotateAuth",
            OpsType::ReconnectStandby => "ReconnectStandby",
            OpsType::ForceFailOver => "ForceFailOver",
            OpsType::SetRaftKeyPair => "SetRaftKeyPair",
            OpsType::StorageMigration => "StorageMigration",
        }
    }

    /// The spec block this type reads, and whether KubeDB's webhook insists on it.
    /// RotateAuth without `authentication` means "generate a new password"; Restart's block
    /// has no fields; ReconnectStandby only carries an optional timeout.
    pub fn block(self) -> (&'static str, BlockRule) {
        match self {
            OpsType::UpdateVersion => ("updateVersion", BlockRule::Required),
            OpsType::HorizontalScaling => ("horizontalScaling", BlockRule::Required),
            OpsType::VerticalScaling => ("verticalScaling", BlockRule::Required),
            OpsType::VolumeExpansion => ("volumeExpansion", BlockRule::Required),
            OpsType::Restart => ("restart", BlockRule::Optional),
            OpsType::Reconfigure => ("configuration", BlockRule::Required),
            OpsType::ReconfigureTLS => ("tls", BlockRule::Required),
            OpsType::RotateAuth => ("authentication", BlockRule::Optional),
            OpsType::ReconnectStandby => ("reconnectStandby", BlockRule::Optional),
            OpsType::ForceFailOver => ("forceFailOver", BlockRule::Optional),
            OpsType::SetRaftKeyPair => ("setRaftKeyPair", BlockRule::Required),
            OpsType::StorageMigration => ("migration", BlockRule::Required),
        }
    }
}

impl std::fmt::Display for OpsType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an OpsRequest type must carry its spec block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockRule {
    Required,
    Optional,
}

/// Names of the two containers whose resources VerticalScaling changes.
pub const POSTGRES_CONTAINER: &str = "postgres";
pub const COORDINATOR_CONTAINER: &str = "pg-coordinator";
pub const INIT_CONTAINER: &str = "postgres-init-container";
/// The only custom-configuration file KubeDB reads for Postgres (`applyConfig`, `inline`).
pub const USER_CONF: &str = "user.conf";

#[cfg(test)]
mod tests;

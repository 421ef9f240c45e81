//! What the planner produces: steps, errors and the plan of each database. Serialized as
//! they are for `pg-gitops plan --output json`.

use serde::Serialize;
use serde_json::Value;

use crate::models::{OpsRequestType, PostgresOpsRequest};

/// The kind of a step: creating the database, patching it, or one OpsRequest type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StepType {
    Provision,
    Patch,
    HorizontalScaling,
    VolumeExpansion,
    VerticalScaling,
    UpdateVersion,
    Reconfigure,
    ReconfigureTLS,
    RotateAuth,
    Restart,
}

impl From<OpsRequestType> for StepType {
    fn from(kind: OpsRequestType) -> Self {
        match kind {
            OpsRequestType::HorizontalScaling => Self::HorizontalScaling,
            OpsRequestType::VolumeExpansion => Self::VolumeExpansion,
            OpsRequestType::VerticalScaling => Self::VerticalScaling,
            OpsRequestType::UpdateVersion => Self::UpdateVersion,
            OpsRequestType::Reconfigure => Self::Reconfigure,
            OpsRequestType::ReconfigureTLS => Self::ReconfigureTLS,
            OpsRequestType::RotateAuth => Self::RotateAuth,
            OpsRequestType::Restart => Self::Restart,
        }
    }
}

/// One step. Provision carries the object to create in `patch`; Patch carries a JSON merge
/// patch for the live object; the rest carry the OpsRequest to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    #[serde(rename = "type")]
    pub step_type: StepType,
    #[serde(rename = "opsRequest")]
    pub ops_request: Option<PostgresOpsRequest>,
    pub patch: Option<Value>,
}

/// An error at a place in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// The plan of one database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabasePlan {
    pub namespace: String,
    pub name: String,
    pub steps: Vec<Step>,
    pub errors: Vec<PlanError>,
    /// An open OpsRequest the database waits for; no step is proposed meanwhile.
    #[serde(rename = "waitingFor")]
    pub waiting_for: Option<String>,
    /// Why steps are withheld although no OpsRequest is open: the database is not Ready, is
    /// halted or is being deleted (KubeDB runs OpsRequests only on a Ready database).
    #[serde(rename = "waitingReason")]
    pub waiting_reason: Option<String>,
    /// Things worth knowing that are not errors (a skipped version check, say).
    pub notes: Vec<String>,
    /// A JSON merge patch of pg-gitops' own annotations on the live database (the
    /// last-applied record, the owed-Restart marker, the last certificate rotation), when they
    /// lag behind and no step is left. Not a step: nothing of the database changes, so it
    /// counts for no exit code and is not in the JSON output; the service writes it.
    #[serde(skip)]
    pub bookkeeping: Option<Value>,
    /// Declared fields as they are live (`null` when the database does not exist yet).
    #[serde(skip)]
    pub before: Value,
    /// Declared fields as Git wants them.
    #[serde(skip)]
    pub after: Value,
}

impl DatabasePlan {
    /// Waiting for an open OpsRequest, or for the database to be ready for one.
    pub fn is_waiting(&self) -> bool {
        self.waiting_for.is_some() || self.waiting_reason.is_some()
    }

    pub(super) fn new(namespace: String, name: String) -> Self {
        Self {
            namespace,
            name,
            steps: Vec::new(),
            errors: Vec::new(),
            waiting_for: None,
            waiting_reason: None,
            notes: Vec::new(),
            bookkeeping: None,
            before: Value::Null,
            after: Value::Null,
        }
    }
}

/// The plan of every database in a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanReport {
    pub databases: Vec<DatabasePlan>,
    /// Problems that belong to no database (a file that is not YAML, say).
    pub errors: Vec<PlanError>,
}

impl PlanReport {
    /// 0: nothing to do; 1: changes planned or in flight; 2: any error.
    pub(crate) fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() || self.databases.iter().any(|d| !d.errors.is_empty()) {
            2
        } else if self
            .databases
            .iter()
            .any(|d| !d.steps.is_empty() || d.is_waiting())
        {
            1
        } else {
            0
        }
    }
}

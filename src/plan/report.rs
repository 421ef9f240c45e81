//! What the planner produces: steps, errors and the plan of each database. Serialized as
//! they are for `pg-gitops plan --output json`.

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::Value;

use crate::models::{KubedbPostgres, OpsRequestType, PostgresOpsRequest};

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

/// One step: what it does, with what it needs to do it.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create the `kubedb.com` Postgres.
    Provision(Box<KubedbPostgres>),
    /// A JSON merge patch of the live `kubedb.com` Postgres (fields that need no OpsRequest,
    /// and the record of what is applied).
    Patch(Value),
    /// Create this OpsRequest.
    OpsRequest {
        kind: OpsRequestType,
        request: Box<PostgresOpsRequest>,
    },
}

impl Step {
    /// The kind of the step, as counted in metrics and shown in the JSON output.
    pub fn step_type(&self) -> StepType {
        match self {
            Self::Provision(_) => StepType::Provision,
            Self::Patch(_) => StepType::Patch,
            Self::OpsRequest { kind, .. } => (*kind).into(),
        }
    }

    /// The OpsRequest this step creates, if it is one.
    pub fn ops_request(&self) -> Option<&PostgresOpsRequest> {
        match self {
            Self::OpsRequest { request, .. } => Some(request),
            Self::Provision(_) | Self::Patch(_) => None,
        }
    }

    /// The merge patch this step applies, if it is a Patch.
    pub fn patch(&self) -> Option<&Value> {
        match self {
            Self::Patch(patch) => Some(patch),
            Self::Provision(_) | Self::OpsRequest { .. } => None,
        }
    }

    /// The object this step creates, if it is a Provision.
    pub fn provision(&self) -> Option<&KubedbPostgres> {
        match self {
            Self::Provision(object) => Some(object),
            Self::Patch(_) | Self::OpsRequest { .. } => None,
        }
    }

    /// Whether the step only changes the object (Patch or Provision), so it may run while the
    /// database cannot take an OpsRequest.
    pub fn is_object_write(&self) -> bool {
        matches!(self, Self::Provision(_) | Self::Patch(_))
    }
}

/// The `--output json` contract: `{"type", "opsRequest", "patch"}`, one of the last two set.
/// Provision carries the object to create in `patch`; Patch carries the merge patch; the rest
/// carry the OpsRequest to create.
impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Step", 3)?;
        out.serialize_field("type", &self.step_type())?;
        match self {
            Self::Provision(object) => {
                out.serialize_field("opsRequest", &None::<()>)?;
                out.serialize_field("patch", object)?;
            }
            Self::Patch(patch) => {
                out.serialize_field("opsRequest", &None::<()>)?;
                out.serialize_field("patch", patch)?;
            }
            Self::OpsRequest { request, .. } => {
                out.serialize_field("opsRequest", request)?;
                out.serialize_field("patch", &None::<()>)?;
            }
        }
        out.end()
    }
}

/// What kind of problem stops a database; the status condition's reason follows from it.
/// Ordered by what a person should see first when a database has several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The database belongs to another pg-gitops instance (`gitops.kubedb.com/owner`): the
    /// service drives nothing of it. Never from `plan`, which has no owner.
    OwnedByAnother,
    /// An OpsRequest of this plan ended Failed, Skipped or Denied.
    OpsRequestFailed,
    /// An OpsRequest succeeded, yet the database still differs from Git.
    OpsRequestNoEffect,
    /// The last-applied record on the database cannot be read.
    UnreadableRecord,
    /// What Git (or a `--live` file) holds cannot be applied: a broken manifest, or a value
    /// KubeDB or Kubernetes would refuse.
    InvalidSpec,
}

impl ErrorKind {
    /// The reason of the `Ready` and `Stalled` conditions.
    pub fn reason(self) -> &'static str {
        match self {
            Self::OwnedByAnother => "OwnedByAnother",
            Self::OpsRequestFailed => "OpsRequestFailed",
            Self::OpsRequestNoEffect => "OpsRequestNoEffect",
            Self::UnreadableRecord => "UnreadableRecord",
            Self::InvalidSpec => "InvalidSpec",
        }
    }
}

/// An error at a place in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanError {
    pub file: String,
    pub line: usize,
    pub message: String,
    /// Not in the JSON output (its contract is file, line, message).
    #[serde(skip)]
    pub kind: ErrorKind,
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
    /// Change control holds the first step (approval, maintenance window, fleet budget). Set
    /// by the service, which knows the policies, the time and the fleet; never by `plan`.
    #[serde(skip)]
    pub hold: Option<crate::gate::Hold>,
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
    /// What stops this database, the most pressing kind first; `None` when nothing does.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.errors.iter().map(|e| e.kind).min()
    }

    /// Waiting for an open OpsRequest, or for the database to be ready for one.
    pub fn is_waiting(&self) -> bool {
        self.waiting_for.is_some() || self.waiting_reason.is_some() || self.hold.is_some()
    }

    /// A plan with nothing in it yet: no step, no error, no wait.
    pub fn new(namespace: String, name: String) -> Self {
        Self {
            namespace,
            name,
            steps: Vec::new(),
            errors: Vec::new(),
            waiting_for: None,
            waiting_reason: None,
            hold: None,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The `--output json` contract: every step has `type`, `opsRequest` and `patch`, exactly
    /// one of the last two set, whatever the action.
    #[test]
    fn each_action_serialises_to_the_documented_step_shape() {
        let request = PostgresOpsRequest::default();
        let cases = [
            (
                Step::Provision(Box::default()),
                "Provision",
                Value::Null,
                json!(KubedbPostgres::default()),
            ),
            (
                Step::Patch(json!({"spec": {"deletionPolicy": "Halt"}})),
                "Patch",
                Value::Null,
                json!({"spec": {"deletionPolicy": "Halt"}}),
            ),
            (
                Step::OpsRequest {
                    kind: OpsRequestType::Restart,
                    request: Box::new(request.clone()),
                },
                "Restart",
                json!(request),
                Value::Null,
            ),
        ];
        for (step, kind, ops_request, patch) in cases {
            assert_eq!(
                serde_json::to_value(&step).unwrap(),
                json!({"type": kind, "opsRequest": ops_request, "patch": patch}),
            );
        }
    }
}

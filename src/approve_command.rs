//! `pg-gitops approve NAMESPACE/NAME [--step TOKEN]`: approves the step change control holds
//! for a person, by adding its token to the gitops object's approvals annotation
//! ([`gate::APPROVED_ANNOTATION`]).
//!
//! What awaits is read from the object's status as the service wrote it: the `AwaitingApproval`
//! condition and the held OpsRequest in `status.gitops.gitOpsInfo[0].operations`. With
//! `--step`, only that token is approved, and only while it is the one awaiting: a reviewer
//! who looked at one intent never approves another that replaced it since. The write is a
//! merge patch carrying the `resourceVersion` that was read, so a concurrent change is a
//! conflict (read, check and write again) rather than a lost update.
//!
//! The pure part ([`decide`], [`with_token`]) is separate from the I/O ([`ApproveCommand::run`]).

use std::fmt;
use std::path::PathBuf;

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::gate::{self, APPROVED_ANNOTATION};
use crate::live::{self, LiveError};
use crate::models::{GitopsPostgres, OpsRequestType};

/// The field manager of the annotation write.
pub const FIELD_MANAGER: &str = "pg-gitops-approve";
/// Tokens kept in the annotation: the most recent ones (older steps have run or are gone).
pub const KEPT_TOKENS: usize = 10;
/// Read-check-write attempts when the object changes in between (HTTP 409).
const ATTEMPTS: usize = 3;
/// The condition and operation status of a step held for approval.
const AWAITING_APPROVAL: &str = "AwaitingApproval";

/// The flags of `pg-gitops approve`.
#[derive(Debug, Clone)]
pub struct ApproveCommand {
    pub namespace: String,
    pub name: String,
    /// The token the person reviewed; without it, whatever awaits now is approved.
    pub step: Option<String>,
    /// Kubeconfig to use (default: KUBECONFIG or in-cluster).
    pub kubeconfig: Option<PathBuf>,
}

/// Why the approval could not be read or written (exit code 2). A refusal is not one of
/// these: it is an [`Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(transparent)]
    Client(#[from] LiveError),
    #[error("gitops.kubedb.com Postgres {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("cannot read gitops.kubedb.com Postgres {namespace}/{name}")]
    Read {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot write the approval on gitops.kubedb.com Postgres {namespace}/{name}")]
    Write {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "{namespace}/{name} changed during each of {ATTEMPTS} attempts to write the approval; \
         run the command again"
    )]
    Conflict { namespace: String, name: String },
}

/// The step awaiting approval, as the status lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Awaiting {
    /// The OpsRequest type (`UpdateVersion`), or `step` when it cannot be told.
    pub step: String,
    pub ops_request: String,
    pub token: String,
}

impl fmt::Display for Awaiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.step, self.ops_request)
    }
}

/// What to do about an object, decided from it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write this token.
    Approve(Awaiting),
    /// The step awaits, but its token is already in the annotation (the service has not
    /// reconciled since).
    AlreadyApproved(Awaiting),
    /// `--step` names a token already approved and nothing awaits any more (it has started).
    AlreadyApprovedToken(String),
    Refuse(Refusal),
}

/// Why nothing is approved (exit code 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NothingAwaits,
    /// `--step` names another token than the one awaiting.
    Changed {
        awaiting: Awaiting,
        requested: String,
    },
    /// The object changed since the service wrote its status: what the status says awaits is
    /// not what will.
    Stale {
        generation: i64,
        observed: i64,
    },
    /// The condition says a step awaits, but the status lists no OpsRequest awaiting.
    Unlisted,
}

/// What the command did; its line and exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub namespace: String,
    pub name: String,
    pub kind: OutcomeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeKind {
    Approved(Awaiting),
    AlreadyApproved(Awaiting),
    AlreadyApprovedToken(String),
    Refused(Refusal),
}

impl Outcome {
    /// 0 approved (now or before), 1 refused.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            OutcomeKind::Refused(_) => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let object = format!("{}/{}", self.namespace, self.name);
        match &self.kind {
            OutcomeKind::Approved(awaiting) => write!(
                f,
                "approved {awaiting} of {object} (token {})",
                awaiting.token
            ),
            OutcomeKind::AlreadyApproved(awaiting) => write!(
                f,
                "{awaiting} of {object} is already approved (token {}); the service has not \
                 started it yet",
                awaiting.token
            ),
            OutcomeKind::AlreadyApprovedToken(token) => write!(
                f,
                "token {token} is already approved on {object}; nothing awaits approval now"
            ),
            OutcomeKind::Refused(Refusal::NothingAwaits) => {
                write!(f, "{object} has no step awaiting approval")
            }
            OutcomeKind::Refused(Refusal::Changed {
                awaiting,
                requested,
            }) => write!(
                f,
                "{object} awaits approval of {awaiting} (token {}), not {requested}: the plan \
                 changed since you looked; review it again",
                awaiting.token
            ),
            OutcomeKind::Refused(Refusal::Stale {
                generation,
                observed,
            }) => write!(
                f,
                "{object} changed (generation {generation}) since the service last planned it \
                 (generation {observed}): what awaits approval is not known yet; wait for its \
                 status and review the plan again"
            ),
            OutcomeKind::Refused(Refusal::Unlisted) => write!(
                f,
                "{object} has the condition {AWAITING_APPROVAL} but its status lists no \
                 OpsRequest awaiting approval (status.gitops.gitOpsInfo[0].operations)"
            ),
        }
    }
}

/// Accepts `NAMESPACE/NAME` (for clap's `value_parser`).
pub fn parse_target(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok((namespace.to_string(), name.to_string()))
        }
        _ => Err(format!("`{text}` is not NAMESPACE/NAME")),
    }
}

/// The step of `object` awaiting approval now, read from its status: the `AwaitingApproval`
/// condition (True) and the operation of the current generation listed as awaiting.
pub fn awaiting(object: &GitopsPostgres) -> Result<Option<Awaiting>, Refusal> {
    let Some(status) = object.status.as_deref() else {
        return Ok(None);
    };
    let Some(condition) = status
        .conditions
        .iter()
        .find(|c| c.type_ == AWAITING_APPROVAL && c.status == "True")
    else {
        return Ok(None);
    };
    if let (Some(generation), Some(observed)) = (
        object.metadata.generation,
        condition.observed_generation.or(status.observed_generation),
    ) && generation != observed
    {
        return Err(Refusal::Stale {
            generation,
            observed,
        });
    }
    let operation = status
        .gitops
        .as_ref()
        .and_then(|g| g.git_ops_info.first())
        .and_then(|info| {
            info.operations
                .iter()
                .find(|o| o.status == AWAITING_APPROVAL)
        })
        .ok_or(Refusal::Unlisted)?;
    let token = gate::token(&operation.name).to_string();
    Ok(Some(Awaiting {
        step: step_type(&operation.name, &token, condition.message.as_deref()),
        ops_request: operation.name.clone(),
        token,
    }))
}

/// The OpsRequest type of a name `<db>-<suffix>-<token>`, else the first word of the
/// condition's message (`UpdateVersion awaits approval: ...`).
fn step_type(ops_request: &str, token: &str, message: Option<&str>) -> String {
    OpsRequestType::ALL
        .iter()
        .find(|kind| ops_request.ends_with(&format!("-{}-{token}", kind.name_suffix())))
        .map(|kind| kind.as_str().to_string())
        .or_else(|| {
            message
                .and_then(|m| m.split_once(" awaits approval"))
                .map(|(step, _)| step.to_string())
                .filter(|step| !step.is_empty() && !step.contains(char::is_whitespace))
        })
        .unwrap_or_else(|| "step".to_string())
}

/// What to do about `object` when the person asked for `step` (or for whatever awaits).
pub fn decide(object: &GitopsPostgres, step: Option<&str>) -> Decision {
    let approvals = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(APPROVED_ANNOTATION))
        .map(String::as_str);
    let awaiting = match awaiting(object) {
        Ok(awaiting) => awaiting,
        Err(refusal) => return Decision::Refuse(refusal),
    };
    match (awaiting, step) {
        (Some(awaiting), Some(requested)) if awaiting.token != requested => {
            Decision::Refuse(Refusal::Changed {
                awaiting,
                requested: requested.to_string(),
            })
        }
        (Some(awaiting), _) if gate::is_approved(approvals, &awaiting.token) => {
            Decision::AlreadyApproved(awaiting)
        }
        (Some(awaiting), _) => Decision::Approve(awaiting),
        (None, Some(requested)) if gate::is_approved(approvals, requested) => {
            Decision::AlreadyApprovedToken(requested.to_string())
        }
        (None, _) => Decision::Refuse(Refusal::NothingAwaits),
    }
}

/// The annotation's new value: the tokens already there (separated by commas or spaces, as
/// [`gate::is_approved`] reads them) with `token` last and no duplicate, the [`KEPT_TOKENS`]
/// most recent kept, joined by commas.
pub fn with_token(current: Option<&str>, token: &str) -> String {
    let mut tokens: Vec<&str> = current
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|given| !given.is_empty() && *given != token)
        .collect();
    let mut seen = std::collections::HashSet::new();
    tokens.retain(|given| seen.insert(*given));
    tokens.push(token);
    let skip = tokens.len().saturating_sub(KEPT_TOKENS);
    tokens[skip..].join(",")
}

impl ApproveCommand {
    /// Reads the object, decides, writes the annotation when there is something to approve.
    /// A conflicting write (the object changed since it was read) starts over from the read.
    pub async fn run(&self) -> Result<Outcome, ApproveError> {
        let client = live::client(self.kubeconfig.as_deref()).await?;
        let api: Api<GitopsPostgres> = Api::namespaced(client, &self.namespace);
        for _ in 0..ATTEMPTS {
            let object = self.read(&api).await?;
            let awaiting = match decide(&object, self.step.as_deref()) {
                Decision::Approve(awaiting) => awaiting,
                Decision::AlreadyApproved(awaiting) => {
                    return Ok(self.outcome(OutcomeKind::AlreadyApproved(awaiting)));
                }
                Decision::AlreadyApprovedToken(token) => {
                    return Ok(self.outcome(OutcomeKind::AlreadyApprovedToken(token)));
                }
                Decision::Refuse(refusal) => {
                    return Ok(self.outcome(OutcomeKind::Refused(refusal)));
                }
            };
            let current = object
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(APPROVED_ANNOTATION))
                .map(String::as_str);
            let patch = json!({"metadata": {
                "resourceVersion": object.metadata.resource_version,
                "annotations": {APPROVED_ANNOTATION: with_token(current, &awaiting.token)},
            }});
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            };
            match api.patch(&self.name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => return Ok(self.outcome(OutcomeKind::Approved(awaiting))),
                Err(kube::Error::Api(status)) if status.code == 409 => continue,
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    return Err(self.not_found());
                }
                Err(source) => {
                    return Err(ApproveError::Write {
                        namespace: self.namespace.clone(),
                        name: self.name.clone(),
                        source,
                    });
                }
            }
        }
        Err(ApproveError::Conflict {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        })
    }

    async fn read(&self, api: &Api<GitopsPostgres>) -> Result<GitopsPostgres, ApproveError> {
        match api.get(&self.name).await {
            Ok(object) => Ok(object),
            Err(kube::Error::Api(status)) if status.code == 404 => Err(self.not_found()),
            Err(source) => Err(ApproveError::Read {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source,
            }),
        }
    }

    fn not_found(&self) -> ApproveError {
        ApproveError::NotFound {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    fn outcome(&self, kind: OutcomeKind) -> Outcome {
        Outcome {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            kind,
        }
    }
}

#[cfg(test)]
mod tests;

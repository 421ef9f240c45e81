//! Change control: whether the first step of a plan may start now. Pure: the policy, the
//! gitops object's annotations and labels, the step and the time come in; a hold or nothing
//! comes out. The controller adds the one stateful gate, the fleet budget.
//!
//! Order: approval, then the maintenance window, then the fleet budget. A person approves
//! whenever they like, the step then starts in the next window, when the fleet has room.
//! Only a step about to start is held: one already running is never interrupted.

pub mod approval;
pub mod window;

use std::collections::BTreeMap;

use jiff::Timestamp;
use kube::core::{Selector, SelectorExt};

pub use approval::{ApprovalPolicy, is_approved, token};
pub use window::{Opening, Schedule, WindowError};

use crate::plan::{Step, StepType};

/// Which OpsRequest types need approval on this database (overrides `[approval] required`).
pub const APPROVAL_REQUIRED_ANNOTATION: &str = "gitops.kubedb.com/approval-required";
/// Tokens a person approved (`pg-gitops approve` writes it).
pub const APPROVED_ANNOTATION: &str = "gitops.kubedb.com/approved";
/// This database's maintenance windows (overrides `[[maintenance.windows]]`).
pub const MAINTENANCE_WINDOW_ANNOTATION: &str = "gitops.kubedb.com/maintenance-window";

/// The policies of `config.toml`.
#[derive(Debug, Clone, Default)]
pub struct ChangeControl {
    pub approval: ApprovalPolicy,
    /// Windows for the databases whose labels match the selector.
    pub windows: Vec<(Selector, Schedule)>,
}

/// Why a step that could start does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The step needs a person's approval of `token`.
    AwaitingApproval {
        step: StepType,
        ops_request: String,
        token: String,
    },
    /// The step disturbs clients and no maintenance window is open.
    OutsideWindow {
        step: StepType,
        schedule: String,
        opens: Timestamp,
    },
    /// As many OpsRequests as `reconcile.max_parallel_ops` allows are in flight (in this
    /// database's group when the cap is per label).
    FleetBudget {
        cap: u32,
        group: Option<(String, String)>,
    },
}

/// The kinds of hold, for the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldKind {
    Approval,
    MaintenanceWindow,
    FleetBudget,
}

impl HoldKind {
    pub const ALL: [HoldKind; 3] = [
        HoldKind::Approval,
        HoldKind::MaintenanceWindow,
        HoldKind::FleetBudget,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Approval => "approval",
            Self::MaintenanceWindow => "maintenance_window",
            Self::FleetBudget => "fleet_budget",
        }
    }
}

impl Hold {
    pub fn kind(&self) -> HoldKind {
        match self {
            Self::AwaitingApproval { .. } => HoldKind::Approval,
            Self::OutsideWindow { .. } => HoldKind::MaintenanceWindow,
            Self::FleetBudget { .. } => HoldKind::FleetBudget,
        }
    }

    /// The reason of the `Ready` and `Reconciling` conditions while held.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::AwaitingApproval { .. } => "AwaitingApproval",
            Self::OutsideWindow { .. } => "OutsideMaintenanceWindow",
            Self::FleetBudget { .. } => "FleetBudget",
        }
    }

    /// What `/status` and `pg-gitops status` show as `waitingFor`.
    pub fn waiting_for(&self) -> &'static str {
        waiting_for_reason(self.reason()).expect("every hold reason has a waitingFor")
    }

    /// One sentence for conditions and Events. Stable while the hold lasts (no counts, no
    /// clock), so a held database's status is written once, not on every reconcile.
    pub fn message(&self, namespace: &str, name: &str) -> String {
        match self {
            Self::AwaitingApproval {
                step,
                ops_request,
                token,
            } => format!(
                "{step:?} awaits approval: pg-gitops approve {namespace}/{name} --step {token} \
                 (OpsRequest {ops_request}; or annotate {APPROVED_ANNOTATION}={token})"
            ),
            Self::OutsideWindow {
                step,
                schedule,
                opens,
            } => format!(
                "{step:?} restarts pods and waits for the maintenance window ({schedule}); \
                 the next opens at {opens}"
            ),
            Self::FleetBudget { cap, group } => {
                let scope = match group {
                    Some((label, value)) => format!(" with {label}={value}"),
                    None => " in the fleet".to_string(),
                };
                format!(
                    "waiting for the fleet budget: {cap} OpsRequest(s) at most in flight{scope} \
                     (reconcile.max_parallel_ops)"
                )
            }
        }
    }
}

/// `waitingFor` of a condition reason that is a hold (as [`Hold::waiting_for`]).
pub fn waiting_for_reason(reason: &str) -> Option<&'static str> {
    match reason {
        "AwaitingApproval" => Some("approval"),
        "OutsideMaintenanceWindow" => Some("maintenance window"),
        "FleetBudget" => Some("fleet budget"),
        _ => None,
    }
}

/// The annotations and labels of the gitops object.
pub struct Subject<'a> {
    pub annotations: &'a BTreeMap<String, String>,
    pub labels: &'a BTreeMap<String, String>,
}

/// Whether `step` waits for approval or a window at `now`. Annotations that cannot be read
/// are errors of the plan (see [`check_annotations`]); here they hold the step, the safe side.
pub fn hold(
    control: &ChangeControl,
    subject: &Subject<'_>,
    step: &Step,
    now: Timestamp,
) -> Option<Hold> {
    let request = step.ops_request()?;
    let ops_request = request.metadata.name.clone().unwrap_or_default();
    let needs_approval = match subject.annotations.get(APPROVAL_REQUIRED_ANNOTATION) {
        Some(text) => ApprovalPolicy::parse([text.as_str()]).map_or(true, |p| p.requires(step)),
        None => control.approval.requires(step),
    };
    let token = token(&ops_request).to_string();
    if needs_approval
        && !is_approved(
            subject
                .annotations
                .get(APPROVED_ANNOTATION)
                .map(String::as_str),
            &token,
        )
    {
        return Some(Hold::AwaitingApproval {
            step: step.step_type(),
            ops_request,
            token,
        });
    }
    if !step.is_disruptive() {
        return None;
    }
    let schedule = match subject.annotations.get(MAINTENANCE_WINDOW_ANNOTATION) {
        Some(text) => Schedule::parse(text).ok(),
        None => Schedule::union(
            control
                .windows
                .iter()
                .filter(|(selector, _)| selector.matches(subject.labels))
                .map(|(_, schedule)| schedule),
        ),
    };
    let Some(schedule) = schedule else {
        // No window applies: a bad annotation is an error of the plan, which starts nothing.
        return None;
    };
    match schedule.opening(now) {
        Opening::Open => None,
        Opening::Opens(opens) => Some(Hold::OutsideWindow {
            step: step.step_type(),
            schedule: schedule.to_string(),
            opens,
        }),
    }
}

/// The annotations of change control that cannot be read: (annotation, problem).
pub fn check_annotations(annotations: &BTreeMap<String, String>) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if let Some(text) = annotations.get(APPROVAL_REQUIRED_ANNOTATION)
        && let Err(problem) = ApprovalPolicy::parse([text.as_str()])
    {
        problems.push((APPROVAL_REQUIRED_ANNOTATION, problem));
    }
    if let Some(text) = annotations.get(MAINTENANCE_WINDOW_ANNOTATION)
        && let Err(error) = Schedule::parse(text)
    {
        problems.push((MAINTENANCE_WINDOW_ANNOTATION, error.to_string()));
    }
    problems
}

/// An equality-based label selector as `kubectl -l` takes it: `team=payments,env!=dev,tier`.
pub fn parse_selector(text: &str) -> Result<Selector, String> {
    use kube::core::Expression;
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let expression = if let Some((key, value)) = part.split_once("!=") {
                Expression::NotEqual(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = part.split_once('=') {
                let value = value.strip_prefix('=').unwrap_or(value);
                Expression::Equal(key.trim().into(), value.trim().into())
            } else if let Some(key) = part.strip_prefix('!') {
                Expression::DoesNotExist(key.trim().into())
            } else {
                Expression::Exists(part.into())
            };
            match &expression {
                Expression::Equal(key, _)
                | Expression::NotEqual(key, _)
                | Expression::Exists(key)
                | Expression::DoesNotExist(key)
                    if key.is_empty() || key.contains(char::is_whitespace) =>
                {
                    Err(format!(
                        "`{part}` is not a label requirement like `team=payments`"
                    ))
                }
                _ => Ok(expression),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;

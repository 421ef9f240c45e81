//! The label sets of the metric families and the spelling of each label value: every value
//! comes from an exhaustive match on our own enums, so a new variant does not compile until
//! it has a label, and the set of series stays bounded.

use prometheus_client::encoding::EncodeLabelSet;

use crate::plan::StepType;
use crate::server::DeliveryResult;
use crate::status::Standing;

/// The `databases{state}` label of a standing. `in_sync` rather than `current`: the metric's
/// spelling predates the status enum and dashboards use it.
pub(super) fn standing_label(standing: Standing) -> &'static str {
    match standing {
        Standing::Current => "in_sync",
        Standing::Progressing => "progressing",
        Standing::Stalled => "stalled",
        Standing::Suspended => "suspended",
    }
}

/// The step types in the spelling the planner and KubeDB use. An exhaustive match, so a new
/// step type does not compile until it has a label.
pub(super) fn step_label(step: StepType) -> &'static str {
    match step {
        StepType::Provision => "Provision",
        StepType::Patch => "Patch",
        StepType::HorizontalScaling => "HorizontalScaling",
        StepType::VolumeExpansion => "VolumeExpansion",
        StepType::VerticalScaling => "VerticalScaling",
        StepType::UpdateVersion => "UpdateVersion",
        StepType::Reconfigure => "Reconfigure",
        StepType::ReconfigureTLS => "ReconfigureTLS",
        StepType::RotateAuth => "RotateAuth",
        StepType::Restart => "Restart",
    }
}

pub(super) const ALL_STEP_TYPES: [StepType; 10] = [
    StepType::Provision,
    StepType::Patch,
    StepType::HorizontalScaling,
    StepType::VolumeExpansion,
    StepType::VerticalScaling,
    StepType::UpdateVersion,
    StepType::Reconfigure,
    StepType::ReconfigureTLS,
    StepType::RotateAuth,
    StepType::Restart,
];

/// Same spelling as the status API (`serde(rename_all = "snake_case")` on [`DeliveryResult`]).
pub(super) fn delivery_label(result: DeliveryResult) -> &'static str {
    match result {
        DeliveryResult::Triggered => "triggered",
        DeliveryResult::IgnoredRef => "ignored_ref",
        DeliveryResult::IgnoredEvent => "ignored_event",
        DeliveryResult::Ping => "ping",
        DeliveryResult::Unauthorized => "unauthorized",
        DeliveryResult::BadRequest => "bad_request",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ResultLabels {
    pub(super) result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct TypeLabels {
    pub(super) r#type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct StateLabels {
    pub(super) state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ReasonLabels {
    pub(super) reason: &'static str,
}

/// One series per database: which one, and its standing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DatabaseLabels {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DeliveryLabels {
    pub(super) provider: &'static str,
    pub(super) result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RevisionLabels {
    pub(super) revision: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct BuildInfoLabels {
    pub(super) version: &'static str,
    pub(super) commit: &'static str,
}

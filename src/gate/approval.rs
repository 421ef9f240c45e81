//! Approval of disruptive steps: which OpsRequest types wait for a person, and whether a
//! person has approved this exact step.
//!
//! The token of a step is the hash part of its OpsRequest's deterministic name. That name
//! hashes the gitops object's generation, the type and the step's spec: any commit that
//! changes the database gets new names, so an approval given for one intent never approves
//! another, while a commit that leaves the database alone keeps its approval valid.

use std::fmt;

use crate::models::OpsRequestType;
use crate::plan::{Disruption, Step};

/// One entry of a policy: a type, or only the `Offline` kind of VolumeExpansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalRule {
    Type(OpsRequestType),
    OfflineVolumeExpansion,
}

/// The step types that wait for approval. Empty (the default) approves everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalPolicy {
    rules: Vec<ApprovalRule>,
}

impl ApprovalPolicy {
    /// A comma- or list-separated set of names: OpsRequest types (`UpdateVersion`, `Restart`,
    /// ...), `VolumeExpansion:Offline`, or `none`.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut rules = Vec::new();
        for name in names.into_iter().flat_map(|n| n.split(',')).map(str::trim) {
            match name {
                "" | "none" => {}
                "VolumeExpansion:Offline" => rules.push(ApprovalRule::OfflineVolumeExpansion),
                other => match OpsRequestType::ALL.iter().find(|t| t.as_str() == other) {
                    Some(kind) => rules.push(ApprovalRule::Type(*kind)),
                    None => {
                        return Err(format!(
                            "`{other}` is not a step that can need approval: write OpsRequest \
                             types ({}), VolumeExpansion:Offline, or none",
                            OpsRequestType::ALL.map(OpsRequestType::as_str).join(", ")
                        ));
                    }
                },
            }
        }
        Ok(Self { rules })
    }

    /// Whether `step` waits for a person.
    pub fn requires(&self, step: &Step) -> bool {
        let Step::OpsRequest { kind, .. } = step else {
            return false;
        };
        self.rules.iter().any(|rule| match rule {
            ApprovalRule::Type(required) => required == kind,
            ApprovalRule::OfflineVolumeExpansion => step.disruption() == Disruption::Downtime,
        })
    }
}

impl fmt::Display for ApprovalPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .rules
            .iter()
            .map(|rule| match rule {
                ApprovalRule::Type(kind) => kind.as_str(),
                ApprovalRule::OfflineVolumeExpansion => "VolumeExpansion:Offline",
            })
            .collect();
        f.write_str(&names.join(", "))
    }
}

/// The approval token of an OpsRequest name: its hash part (`pg1-update-version-k3x9qa` →
/// `k3x9qa`).
pub fn token(ops_request_name: &str) -> &str {
    ops_request_name
        .rsplit_once('-')
        .map_or(ops_request_name, |(_, hash)| hash)
}

/// Whether the approvals annotation (tokens separated by commas or spaces) holds `token`.
pub fn is_approved(approvals: Option<&str>, token: &str) -> bool {
    approvals.is_some_and(|text| {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .any(|given| given == token)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ops(kind: OpsRequestType, mode: &str) -> Step {
        crate::plan::test_step(
            kind,
            "pg1-x-aaaaaa",
            json!({"volumeExpansion": {"mode": mode}}),
        )
    }

    #[test]
    fn a_policy_names_types_and_the_offline_volume_expansion() {
        let policy =
            ApprovalPolicy::parse(["UpdateVersion, Restart", "VolumeExpansion:Offline"]).unwrap();
        assert!(policy.requires(&ops(OpsRequestType::UpdateVersion, "")));
        assert!(policy.requires(&ops(OpsRequestType::Restart, "")));
        assert!(policy.requires(&ops(OpsRequestType::VolumeExpansion, "Offline")));
        assert!(!policy.requires(&ops(OpsRequestType::VolumeExpansion, "Online")));
        assert!(!policy.requires(&ops(OpsRequestType::VerticalScaling, "")));
        assert!(!policy.requires(&Step::Patch(json!({}))));
        assert_eq!(
            policy.to_string(),
            "UpdateVersion, Restart, VolumeExpansion:Offline"
        );
        let none = ApprovalPolicy::parse(["none"]).unwrap();
        assert!(!none.requires(&ops(OpsRequestType::UpdateVersion, "")));
        assert_eq!(none, ApprovalPolicy::default());
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_names_that_exist() {
        let error = ApprovalPolicy::parse(["Upgrade"]).unwrap_err();
        assert!(
            error.contains("`Upgrade`") && error.contains("UpdateVersion"),
            "{error}"
        );
        assert!(ApprovalPolicy::parse(["Provision"]).is_err());
    }

    #[test]
    fn the_token_is_the_hash_part_and_approves_only_itself() {
        assert_eq!(token("pg1-update-version-k3x9qa"), "k3x9qa");
        assert!(is_approved(Some("abc123, k3x9qa"), "k3x9qa"));
        assert!(is_approved(Some("k3x9qa"), "k3x9qa"));
        assert!(!is_approved(Some("k3x9qb"), "k3x9qa"));
        assert!(!is_approved(Some("xk3x9qa"), "k3x9qa"));
        assert!(!is_approved(None, "k3x9qa"));
    }
}

//! What a step does to a running database: for reviewers (`plan --output markdown`), for
//! approvals and for maintenance windows. One classification, so the plan a reviewer reads
//! and the gate the service applies never disagree.

use serde::Serialize;

use super::report::Step;
use crate::models::OpsRequestType;

/// How a step disturbs the database's clients while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Disruption {
    /// Clients keep their connections (a patch, a new replica, an online volume expansion).
    None,
    /// KubeDB restarts the pods one by one (primary last, with a failover): connections drop.
    RollingRestart,
    /// KubeDB stops the database while it works (an `Offline` volume expansion).
    Downtime,
}

impl Step {
    /// How the step disturbs clients. RotateAuth counts as a restart: KubeDB restarts the pods
    /// to load the new credentials, and over-warning is the safe side for a database.
    pub fn disruption(&self) -> Disruption {
        let Self::OpsRequest { kind, request } = self else {
            return Disruption::None;
        };
        match kind {
            OpsRequestType::HorizontalScaling => Disruption::None,
            OpsRequestType::VolumeExpansion => {
                let mode = request
                    .spec
                    .get("volumeExpansion")
                    .and_then(|block| block.get("mode"))
                    .and_then(|mode| mode.as_str());
                if mode == Some("Offline") {
                    Disruption::Downtime
                } else {
                    Disruption::None
                }
            }
            OpsRequestType::VerticalScaling
            | OpsRequestType::UpdateVersion
            | OpsRequestType::Reconfigure
            | OpsRequestType::ReconfigureTLS
            | OpsRequestType::RotateAuth
            | OpsRequestType::Restart => Disruption::RollingRestart,
        }
    }

    /// Whether the step cannot be undone by reverting the commit: KubeDB never shrinks a
    /// volume and never downgrades a version.
    pub fn is_irreversible(&self) -> bool {
        matches!(
            self,
            Self::OpsRequest {
                kind: OpsRequestType::VolumeExpansion | OpsRequestType::UpdateVersion,
                ..
            }
        )
    }

    /// Whether the step disturbs clients at all.
    pub fn is_disruptive(&self) -> bool {
        self.disruption() != Disruption::None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::models::PostgresOpsRequest;

    fn ops(kind: OpsRequestType, spec: serde_json::Value) -> Step {
        let request = PostgresOpsRequest {
            spec: spec.as_object().cloned().unwrap_or_default(),
            ..PostgresOpsRequest::default()
        };
        Step::OpsRequest {
            kind,
            request: Box::new(request),
        }
    }

    #[test]
    fn volume_expansion_disrupts_only_offline_and_is_always_irreversible() {
        let online = ops(
            OpsRequestType::VolumeExpansion,
            json!({"volumeExpansion": {"mode": "Online", "postgres": "2Gi"}}),
        );
        let offline = ops(
            OpsRequestType::VolumeExpansion,
            json!({"volumeExpansion": {"mode": "Offline", "postgres": "2Gi"}}),
        );
        assert_eq!(online.disruption(), Disruption::None);
        assert_eq!(offline.disruption(), Disruption::Downtime);
        assert!(online.is_irreversible() && offline.is_irreversible());
    }

    #[test]
    fn restarts_and_irreversibility_per_type() {
        for kind in OpsRequestType::ALL {
            let step = ops(kind, json!({}));
            let restarts = !matches!(
                kind,
                OpsRequestType::HorizontalScaling | OpsRequestType::VolumeExpansion
            );
            assert_eq!(step.is_disruptive(), restarts, "{kind:?}");
            assert_eq!(
                step.is_irreversible(),
                matches!(
                    kind,
                    OpsRequestType::UpdateVersion | OpsRequestType::VolumeExpansion
                ),
                "{kind:?}"
            );
        }
        assert_eq!(Step::Patch(json!({})).disruption(), Disruption::None);
        assert!(!Step::Provision(Box::default()).is_disruptive());
    }
}

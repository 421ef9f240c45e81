//! `[approval]`, `[[maintenance.windows]]` and the fleet budget keys of `[reconcile]`: the
//! change-control policies. Each value is parsed while the TOML is read, so a bad window or
//! type name fails at start-up with the line and column of the key.

use std::num::NonZeroU32;

use kube::core::Selector;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gate::{ApprovalPolicy, ChangeControl, Schedule, parse_selector};

/// `[approval]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// OpsRequest types (or `VolumeExpansion:Offline`) that wait for a person's approval.
    #[serde(with = "policy")]
    pub required: ApprovalPolicy,
}

/// `[maintenance]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    pub windows: Vec<WindowRule>,
}

/// `[[maintenance.windows]]`: databases whose gitops object's labels match `selector` start
/// disruptive steps only inside `schedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowRule {
    #[serde(default, with = "selector")]
    pub selector: LabelSelector,
    #[serde(with = "schedule")]
    pub schedule: Schedule,
}

/// A label selector with the text it was written as.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    pub text: String,
    pub selector: Selector,
}

/// The fleet budget: `reconcile.max_parallel_ops`, optionally per value of a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetBudgetConfig {
    pub max_parallel_ops: NonZeroU32,
    pub per_label: Option<String>,
}

impl super::Config {
    /// The approval policy and windows, as the gate reads them.
    pub fn change_control(&self) -> ChangeControl {
        ChangeControl {
            approval: self.approval.required.clone(),
            windows: self
                .maintenance
                .windows
                .iter()
                .map(|rule| (rule.selector.selector.clone(), rule.schedule.clone()))
                .collect(),
        }
    }

    /// The fleet budget, when one is set.
    pub fn fleet_budget(&self) -> Option<FleetBudgetConfig> {
        Some(FleetBudgetConfig {
            max_parallel_ops: self.reconcile.max_parallel_ops?,
            per_label: self.reconcile.max_parallel_ops_per_label.clone(),
        })
    }
}

mod policy {
    use super::*;

    pub fn serialize<S: Serializer>(policy: &ApprovalPolicy, s: S) -> Result<S::Ok, S::Error> {
        let text = policy.to_string();
        let names: Vec<&str> = text.split(", ").filter(|n| !n.is_empty()).collect();
        names.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ApprovalPolicy, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        ApprovalPolicy::parse(names.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

mod selector {
    use super::*;

    pub fn serialize<S: Serializer>(selector: &LabelSelector, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&selector.text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LabelSelector, D::Error> {
        let text = String::deserialize(d)?;
        let selector = parse_selector(&text).map_err(serde::de::Error::custom)?;
        Ok(LabelSelector { text, selector })
    }
}

mod schedule {
    use super::*;

    pub fn serialize<S: Serializer>(schedule: &Schedule, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&schedule.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Schedule, D::Error> {
        let text = String::deserialize(d)?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError};

    #[test]
    fn policies_are_read_and_a_bad_value_names_its_line() {
        let config = Config::from_toml_str(
            "[source]\nkind = \"cluster\"\n\n[approval]\nrequired = [\"UpdateVersion\", \
             \"VolumeExpansion:Offline\"]\n\n[[maintenance.windows]]\nselector = \"env=production\"\n\
             schedule = \"Sat 01:00-05:00 Europe/Berlin\"\n\n[reconcile]\nmax_parallel_ops = 5\n\
             max_parallel_ops_per_label = \"team\"\n",
        )
        .unwrap();
        let control = config.change_control();
        assert_eq!(
            control.approval.to_string(),
            "UpdateVersion, VolumeExpansion:Offline"
        );
        assert_eq!(control.windows.len(), 1);
        let budget = config.fleet_budget().unwrap();
        assert_eq!(
            (budget.max_parallel_ops.get(), budget.per_label.as_deref()),
            (5, Some("team"))
        );
        // Round trip through the chart's path: serialised and read again.
        let text = toml::to_string(&config).unwrap();
        assert_eq!(Config::from_toml_str(&text).unwrap(), config);
        assert!(Config::default().fleet_budget().is_none());

        let error = Config::from_toml_str(
            "[source]\nkind = \"cluster\"\n\n[[maintenance.windows]]\nselector = \"env=production\"\n\
             schedule = \"Sat 01:00-05:00 Mars/Olympus\"\n",
        )
        .unwrap_err();
        let ConfigError::Parse(error) = &error else {
            panic!("{error}")
        };
        let text = error.to_string();
        assert!(text.contains("line 6"), "{text}");
        assert!(
            text.contains("`Mars/Olympus` is not an IANA time zone"),
            "{text}"
        );
        let error = Config::from_toml_str("[approval]\nrequired = [\"Upgrade\"]\n").unwrap_err();
        assert!(error.to_string().contains("`Upgrade`"), "{error}");
    }
}

//! PostgresVersion upgrade rules (`docs/kubedb-api.md` §4, webhook `IsUpgradable`): the current
//! version's `updateConstraints` allowlist/denylist, same distribution, same base OS, no
//! downgrade.
//!
//! Versions and constraints are read by `kubedb_semantics::versions`, the one copy of the
//! Masterminds semver rules KubeDB's Go code uses, shared with the planner so that the oracle
//! and the product read `updateConstraints` the same way.

use std::cmp::Ordering;

use kubedb_semantics::versions::{constraint_matches, parse_version};
use serde_json::Value;

use super::json::str_at;

/// Why a version update is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionRefusal {
    #[error(
        "PostgresVersion {target:?} ({target_version}) is not allowed by the updateConstraints of the current PostgresVersion {current:?}: allowlist {allowlist:?}, denylist {denylist:?}"
    )]
    NotAllowed {
        current: String,
        target: String,
        target_version: String,
        allowlist: Vec<String>,
        denylist: Vec<String>,
    },
    #[error(
        "downgrade from PostgresVersion {current:?} ({current_version}) to {target:?} ({target_version}) is not supported"
    )]
    Downgrade {
        current: String,
        current_version: String,
        target: String,
        target_version: String,
    },
    #[error(
        "PostgresVersion {target:?} has distribution {target_value:?} but the current {current:?} has {current_value:?}; the distribution cannot change"
    )]
    DifferentDistribution {
        current: String,
        target: String,
        current_value: String,
        target_value: String,
    },
    #[error(
        "PostgresVersion {target:?} has base OS {target_value:?} but the current {current:?} has {current_value:?}; the base OS cannot change"
    )]
    DifferentBaseOs {
        current: String,
        target: String,
        current_value: String,
        target_value: String,
    },
    #[error("PostgresVersion {name:?} has an unparsable spec.version {version:?}")]
    BadVersion { name: String, version: String },
    #[error(
        "updateConstraints of PostgresVersion {name:?} has an unparsable constraint {constraint:?}"
    )]
    BadConstraint { name: String, constraint: String },
}

/// Checks that a database on PostgresVersion `current` may move to `target` (both are the
/// catalog objects). Mirrors KubeDB's `IsUpgradable` plus the documented "no downgrade".
pub fn check_update(current: &Value, target: &Value) -> Result<(), VersionRefusal> {
    let current_name = str_at(current, "/metadata/name")
        .unwrap_or_default()
        .to_string();
    let target_name = str_at(target, "/metadata/name")
        .unwrap_or_default()
        .to_string();
    let engine = |object: &Value, name: &str| {
        let text = str_at(object, "/spec/version").unwrap_or_default();
        parse_version(text)
            .map(|parsed| (text.to_string(), parsed))
            .map_err(|_| VersionRefusal::BadVersion {
                name: name.to_string(),
                version: text.to_string(),
            })
    };
    let (current_text, current_version) = engine(current, &current_name)?;
    let (target_text, target_version) = engine(target, &target_name)?;

    for (pointer, is_distribution) in [("/spec/distribution", true), ("/spec/db/baseOS", false)] {
        if let (Some(current_value), Some(target_value)) =
            (str_at(current, pointer), str_at(target, pointer))
            && !current_value.is_empty()
            && !target_value.is_empty()
            && current_value != target_value
        {
            let (current, target) = (current_name.clone(), target_name.clone());
            let (current_value, target_value) = (current_value.into(), target_value.into());
            return Err(if is_distribution {
                VersionRefusal::DifferentDistribution {
                    current,
                    target,
                    current_value,
                    target_value,
                }
            } else {
                VersionRefusal::DifferentBaseOs {
                    current,
                    target,
                    current_value,
                    target_value,
                }
            });
        }
    }

    // Precedence, as Masterminds compares: build metadata does not make a version newer.
    if target_version.cmp_precedence(&current_version) == Ordering::Less {
        return Err(VersionRefusal::Downgrade {
            current: current_name,
            current_version: current_text,
            target: target_name,
            target_version: target_text,
        });
    }

    let list = |key: &str| -> Vec<String> {
        current
            .pointer(&format!("/spec/updateConstraints/{key}"))
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (allowlist, denylist) = (list("allowlist"), list("denylist"));
    let matches_any = |constraints: &[String]| -> Result<bool, VersionRefusal> {
        for constraint in constraints {
            let matched = constraint_matches(constraint, &target_version).map_err(|_| {
                VersionRefusal::BadConstraint {
                    name: current_name.clone(),
                    constraint: constraint.clone(),
                }
            })?;
            if matched {
                return Ok(true);
            }
        }
        Ok(false)
    };
    let allowed = allowlist.is_empty() || matches_any(&allowlist)?;
    if !allowed || matches_any(&denylist)? {
        return Err(VersionRefusal::NotAllowed {
            current: current_name,
            target: target_name,
            target_version: target_text,
            allowlist,
            denylist,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

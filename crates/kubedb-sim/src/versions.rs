//! PostgresVersion upgrade rules (`kubedb-api.md` §4, webhook `IsUpgradable`): the current
//! version's `updateConstraints` allowlist/denylist, same distribution, same base OS, no
//! downgrade.
//!
//! KubeDB evaluates constraints with Go's Masterminds semver, whose syntax is looser than the
//! `semver` crate's: comparators may be separated by spaces as well as commas, an operator may
//! be followed by a space (`>= 11.1`), `A - B` is a range, `||` separates alternatives, a bare
//! version means "equal" (not "compatible"), and `!=` exists. [`constraint_matches`] accepts
//! that syntax and evaluates each comparator with the `semver` crate.

use semver::{Version, VersionReq};
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

/// Parses an engine version leniently, as Masterminds does: `16` → 16.0.0, `v16.8` → 16.8.0.
pub fn parse_engine_version(text: &str) -> Option<Version> {
    let text = text.trim().trim_start_matches('v');
    if let Ok(version) = Version::parse(text) {
        return Some(version);
    }
    let (core, rest) = match text.find(['-', '+']) {
        Some(index) => text.split_at(index),
        None => (text, ""),
    };
    let mut parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    while parts.len() < 3 {
        parts.push("0");
    }
    Version::parse(&format!("{}{rest}", parts.join("."))).ok()
}

/// Whether `version` satisfies a Masterminds-style constraint. `Err` holds the part that does
/// not parse.
pub fn constraint_matches(constraint: &str, version: &Version) -> Result<bool, String> {
    for alternative in constraint.split("||") {
        let mut all = true;
        for comparator in comparators(alternative)? {
            if !comparator_matches(&comparator, version)? {
                all = false;
            }
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Splits one `||` alternative into comparators such as `>=11.1`, expanding `A - B` ranges.
fn comparators(alternative: &str) -> Result<Vec<String>, String> {
    let tokens: Vec<&str> = alternative
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|token| !token.is_empty())
        .collect();
    let mut result = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let token = tokens[index];
        if tokens.get(index + 1) == Some(&"-") {
            let upper = tokens
                .get(index + 2)
                .ok_or_else(|| alternative.to_string())?;
            result.push(format!(">={token}"));
            result.push(format!("<={upper}"));
            index += 3;
        } else if token.chars().all(|c| "<>=!~^".contains(c)) {
            // An operator followed by a space: glue it to the version after it.
            let operand = tokens
                .get(index + 1)
                .ok_or_else(|| alternative.to_string())?;
            result.push(format!("{token}{operand}"));
            index += 2;
        } else {
            result.push(token.to_string());
            index += 1;
        }
    }
    Ok(result)
}

fn comparator_matches(comparator: &str, version: &Version) -> Result<bool, String> {
    let trimmed = comparator.trim_start_matches('v');
    if let Some(operand) = comparator.strip_prefix("!=") {
        return comparator_matches(&format!("={operand}"), version).map(|equal| !equal);
    }
    // A bare version is an equality in Masterminds; in the `semver` crate it would be a caret.
    let normalized = if trimmed.starts_with(|c: char| c.is_ascii_digit() || "xX*".contains(c)) {
        format!("={trimmed}")
    } else {
        comparator
            .replace("=v", "=")
            .replace(">v", ">")
            .replace("<v", "<")
    };
    let normalized = normalized.replace("==", "=");
    let requirement = VersionReq::parse(&normalized).map_err(|_| comparator.to_string())?;
    Ok(requirement.matches(version))
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
        parse_engine_version(text)
            .map(|parsed| (text.to_string(), parsed))
            .ok_or_else(|| VersionRefusal::BadVersion {
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

    if target_version < current_version {
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
#[path = "versions_tests.rs"]
mod tests;

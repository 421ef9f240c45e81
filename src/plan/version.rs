//! The upgrade path, checked the way KubeDB's ops webhook does (`IsUpgradable`): the current
//! version's `updateConstraints` allow/deny lists over the target's semver, the same
//! distribution and base OS, no downgrade, and a target that exists and is not deprecated.
//!
//! Constraints use the Masterminds/semver syntax KubeDB's Go code parses: comparators
//! `= != > < >= <= ~ ^`, AND by comma or space, OR by `||`, wildcards `16.x`, and partial
//! versions where the missing parts are wildcards (`= 16.4` matches `16.4.2`).

use std::cmp::Ordering;

use semver::Version;

use super::checks::Catalog;

/// The outcome of a version check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionCheck {
    Allowed,
    Unchanged,
    /// No catalog was given: nothing could be checked.
    Skipped,
    Refused(String),
}

/// A version for a new database: it must exist and not be deprecated.
pub fn check_target(target: &str, catalog: Option<&Catalog>) -> VersionCheck {
    let Some(catalog) = catalog else {
        return VersionCheck::Skipped;
    };
    match catalog.get(target) {
        None => VersionCheck::Refused(format!(
            "unknown version {target:?}: no PostgresVersion of that name exists"
        )),
        Some(v) if v.spec.deprecated == Some(true) => VersionCheck::Refused(format!(
            "version {target:?} is deprecated; KubeDB refuses deprecated versions"
        )),
        Some(_) => VersionCheck::Allowed,
    }
}

/// An update from `current` to `target`.
pub fn check_upgrade(
    current: Option<&str>,
    target: &str,
    catalog: Option<&Catalog>,
) -> VersionCheck {
    let Some(catalog) = catalog else {
        return VersionCheck::Skipped;
    };
    let refused = VersionCheck::Refused;
    let target_check = check_target(target, catalog.into());
    if target_check != VersionCheck::Allowed {
        return target_check;
    }
    let to = catalog.get(target).expect("checked above");
    let Some(current_name) = current else {
        return VersionCheck::Allowed;
    };
    let Some(from) = catalog.get(current_name) else {
        return refused(format!(
            "the current version {current_name:?} is not in the catalog, so the upgrade path to {target:?} cannot be checked"
        ));
    };
    let (Some(from_semver), Some(to_semver)) = (
        lenient_version(&from.spec.version),
        lenient_version(&to.spec.version),
    ) else {
        return refused(format!(
            "cannot read the semver of {current_name:?} ({:?}) or {target:?} ({:?})",
            from.spec.version, to.spec.version
        ));
    };
    if to_semver.cmp_precedence(&from_semver) == Ordering::Less {
        return refused(format!(
            "{current_name} → {target} is a downgrade ({} → {}); KubeDB does not support downgrades",
            from.spec.version, to.spec.version
        ));
    }
    if let (Some(a), Some(b)) = (
        from.spec.distribution.as_deref(),
        to.spec.distribution.as_deref(),
    ) && a != b
    {
        return refused(format!(
            "{current_name} ({a}) → {target} ({b}) changes the distribution"
        ));
    }
    if let (Some(a), Some(b)) = (from.spec.base_os(), to.spec.base_os())
        && a != b
    {
        return refused(format!(
            "{current_name} ({a}) → {target} ({b}) changes the base OS"
        ));
    }
    let constraints = from.spec.update_constraints.clone().unwrap_or_default();
    let allowed = constraints.allowlist.is_empty()
        || constraints
            .allowlist
            .iter()
            .any(|c| constraint_matches(c, &to_semver) == Some(true));
    let denied = constraints
        .denylist
        .iter()
        .find(|c| constraint_matches(c, &to_semver) == Some(true));
    match (allowed, denied) {
        (false, _) => refused(format!(
            "{current_name} cannot be updated to {target}: its updateConstraints allow only {}",
            constraints.allowlist.join(" | ")
        )),
        (true, Some(rule)) => refused(format!(
            "{current_name} cannot be updated to {target}: denied by updateConstraints {rule:?}"
        )),
        (true, None) => VersionCheck::Allowed,
    }
}

/// Reads `16.4`, `16`, `17.2.1`, `v15.3-bookworm` as semver, padding missing parts with 0.
pub fn lenient_version(text: &str) -> Option<Version> {
    let parts = version_parts(text)?;
    let get = |i: usize| parts.get(i).copied().flatten().unwrap_or(0);
    Some(Version::new(get(0), get(1), get(2)))
}

/// The numeric parts of a version; `None` marks a wildcard (`x`, `*`) part.
fn version_parts(text: &str) -> Option<Vec<Option<u64>>> {
    let core = text.trim().trim_start_matches(['v', 'V']);
    let core = core.split(['-', '+']).next()?;
    let mut parts = Vec::new();
    for part in core.split('.').take(3) {
        parts.push(match part {
            "x" | "X" | "*" => None,
            digits => Some(digits.parse().ok()?),
        });
    }
    (!parts.is_empty()).then_some(parts)
}

/// Whether `version` satisfies a Masterminds-style constraint; `None` when unreadable.
pub fn constraint_matches(constraint: &str, version: &Version) -> Option<bool> {
    let mut any = false;
    for alternative in constraint.split("||") {
        let mut all = true;
        for comparator in comparators(alternative) {
            all &= comparator_matches(&comparator, version)?;
        }
        any |= all;
    }
    Some(any)
}

/// Splits `>= 13.0, < 17` into `[">=13.0", "<17"]`.
fn comparators(alternative: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending_operator = String::new();
    for token in alternative.split([',', ' ']).filter(|t| !t.is_empty()) {
        if token.chars().all(|c| "<>=!~^".contains(c)) {
            pending_operator.push_str(token);
        } else {
            out.push(format!("{pending_operator}{token}"));
            pending_operator.clear();
        }
    }
    out
}

fn comparator_matches(comparator: &str, version: &Version) -> Option<bool> {
    let split = comparator.find(|c: char| c.is_ascii_alphanumeric() || c == '*')?;
    let (operator, operand) = comparator.split_at(split);
    let parts = version_parts(operand)?;
    let bound = |i: usize| parts.get(i).copied().flatten();
    let floor = Version::new(
        bound(0).unwrap_or(0),
        bound(1).unwrap_or(0),
        bound(2).unwrap_or(0),
    );
    let cmp = version.cmp_precedence(&floor);
    // Missing or wildcard parts make `=` a range: 16.4 matches every 16.4.x.
    let wildcard_eq = || {
        parts.iter().enumerate().all(|(i, p)| match p {
            None => true,
            Some(n) => [version.major, version.minor, version.patch][i] == *n,
        })
    };
    Some(match operator {
        "" | "=" | "==" => wildcard_eq(),
        "!=" => !wildcard_eq(),
        ">" => cmp == Ordering::Greater && !wildcard_eq(),
        ">=" => cmp != Ordering::Less,
        "<" => cmp == Ordering::Less,
        "<=" => cmp != Ordering::Greater || wildcard_eq(),
        "~" => {
            cmp != Ordering::Less
                && version.major == floor.major
                && (bound(1).is_none() || version.minor == floor.minor)
        }
        "^" => cmp != Ordering::Less && version.major == floor.major,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        lenient_version(text).unwrap()
    }

    #[test]
    fn lenient_versions() {
        assert_eq!(v("16.4"), Version::new(16, 4, 0));
        assert_eq!(v("16"), Version::new(16, 0, 0));
        assert_eq!(v("v15.3-bookworm"), Version::new(15, 3, 0));
        assert!(lenient_version("latest").is_none());
    }

    #[test]
    fn constraints_in_masterminds_syntax() {
        let table = [
            (">= 13.0, < 17", "16.4", true),
            (">= 13.0, < 17", "17.2", false),
            (">=13 <17", "13.0", true),
            ("< 14 || >= 16", "15.1", false),
            ("< 14 || >= 16", "16.1", true),
            ("16.4", "16.4.2", true),
            ("= 16.4", "16.5", false),
            ("16.x", "16.9", true),
            ("!= 16.2", "16.2.0", false),
            ("~16.2", "16.2.9", true),
            ("~16.2", "16.3", false),
            ("^16.2", "16.9", true),
            ("^16.2", "17.0", false),
            ("> 16.4", "16.4.1", false),
            ("> 16.4", "16.5", true),
            ("<= 16.4", "16.4.3", true),
        ];
        for (constraint, version, expected) in table {
            assert_eq!(
                constraint_matches(constraint, &v(version)),
                Some(expected),
                "{constraint} vs {version}"
            );
        }
        assert_eq!(constraint_matches("?? 16", &v("16")), None);
    }
}

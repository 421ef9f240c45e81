//! The upgrade path, checked the way KubeDB's ops webhook does (`IsUpgradable`): the current
//! version's `updateConstraints` allow/deny lists over the target's semver, the same
//! distribution and base OS, no downgrade, and a target that exists and is not deprecated.
//!
//! Versions and constraints are read by `kubedb_semantics::versions`, the Masterminds/semver
//! rules KubeDB's Go code uses (`A - B` ranges, `v` prefixes, wildcards, prerelease rules), the
//! same copy kubedb-sim uses, so the plan predicts what the oracle and KubeDB will do.

use std::cmp::Ordering;

use kubedb_semantics::versions::{constraint_matches, parse_version};

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
        parse_version(&from.spec.version).ok(),
        parse_version(&to.spec.version).ok(),
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
            .any(|c| constraint_matches(c, &to_semver) == Ok(true));
    let denied = constraints
        .denylist
        .iter()
        .find(|c| constraint_matches(c, &to_semver) == Ok(true));
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

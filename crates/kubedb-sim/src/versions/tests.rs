use super::*;
use serde_json::json;

fn catalog(name: &str, version: &str, allow: &[&str], deny: &[&str]) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "version": version,
            "distribution": "Official",
            "db": {"image": "postgres", "baseOS": "bookworm"},
            "updateConstraints": {"allowlist": allow, "denylist": deny},
        },
    })
}

#[test]
fn allowlist_permits_and_denylist_forbids() {
    let current = catalog("15.4", "15.4", &[">= 15.4, <= 16.8"], &["16.2"]);
    let allowed = catalog("16.8", "16.8", &[], &[]);
    assert_eq!(check_update(&current, &allowed), Ok(()));

    let too_far = catalog("17.4", "17.4", &[], &[]);
    let refusal = check_update(&current, &too_far).unwrap_err();
    assert!(matches!(refusal, VersionRefusal::NotAllowed { .. }));
    assert!(
        refusal
            .to_string()
            .contains("not allowed by the updateConstraints")
    );

    let denied = catalog("16.2", "16.2", &[], &[]);
    assert!(matches!(
        check_update(&current, &denied),
        Err(VersionRefusal::NotAllowed { .. })
    ));
}

#[test]
fn empty_allowlist_allows_everything_not_denied() {
    let current = catalog("15.4", "15.4", &[], &[]);
    assert_eq!(
        check_update(&current, &catalog("17.4", "17.4", &[], &[])),
        Ok(())
    );
}

#[test]
fn downgrades_distribution_and_base_os_changes_are_refused() {
    let current = catalog("16.8", "16.8", &[], &[]);
    let older = catalog("15.4", "15.4", &[], &[]);
    let refusal = check_update(&current, &older).unwrap_err();
    assert!(refusal.to_string().contains("downgrade"), "{refusal}");

    let mut timescale = catalog("timescale-16.9", "16.9", &[], &[]);
    timescale["spec"]["distribution"] = json!("TimescaleDB");
    assert!(matches!(
        check_update(&current, &timescale),
        Err(VersionRefusal::DifferentDistribution { .. })
    ));

    let mut alpine = catalog("16.9-alpine", "16.9", &[], &[]);
    alpine["spec"]["db"]["baseOS"] = json!("alpine");
    assert!(matches!(
        check_update(&current, &alpine),
        Err(VersionRefusal::DifferentBaseOs { .. })
    ));
}

#[test]
fn a_broken_constraint_is_reported_not_ignored() {
    let current = catalog("15.4", "15.4", &["> = oops"], &[]);
    let refusal = check_update(&current, &catalog("16.1", "16.1", &[], &[])).unwrap_err();
    assert!(matches!(refusal, VersionRefusal::BadConstraint { .. }));
}

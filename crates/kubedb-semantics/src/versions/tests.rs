use super::*;

mod masterminds;

fn v(text: &str) -> Version {
    parse_version(text).unwrap_or_else(|e| panic!("{e}"))
}

fn matches(constraint: &str, version: &str) -> bool {
    constraint_matches(constraint, &v(version)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn versions_parse_as_masterminds_new_version() {
    assert_eq!(v("16"), Version::new(16, 0, 0));
    assert_eq!(v("16.4"), Version::new(16, 4, 0));
    assert_eq!(v("v17.4.1"), Version::new(17, 4, 1));
    assert_eq!(
        v("016.04"),
        Version::new(16, 4, 0),
        "leading zeros are coerced"
    );
    let bookworm = v("v15.3-bookworm");
    assert_eq!((bookworm.major, bookworm.minor, bookworm.patch), (15, 3, 0));
    assert_eq!(bookworm.pre.as_str(), "bookworm");
    assert_eq!(v("1.2.3+build.7").build.as_str(), "build.7");
    for bad in [
        "", "latest", "sixteen", "V16", " 16", "1.2.3.4", "1.2.", "1.2-", "1.2+", "1.2-01",
    ] {
        assert!(parse_version(bad).is_err(), "{bad:?}");
    }
}

/// The constraints KubeDB's catalog writes, and the cases the planner and the simulator each
/// tested before they shared this implementation.
#[test]
fn kubedb_style_constraints() {
    let table = [
        (">= 13.0, < 17", "16.4", true),
        (">= 13.0, < 17", "17.2", false),
        (">=13 <17", "13.0", true),
        (">= 11.1, <= 16.8", "16.8", true),
        (">= 11.1, <= 16.8", "17.0", false),
        (">= 11.1 <= 16.8", "13.2", true),
        (">=15.0 <17.0", "16.4", true),
        ("< 14 || >= 16", "15.1", false),
        ("< 14 || >= 16", "16.1", true),
        ("13.2 - 16.8", "16.8", true),
        ("13.2 - 16.8", "16.9", false),
        ("v13.2 - v16.8", "16.8.4", true),
        ("16.4", "16.4.2", true),
        ("16.8", "16.8", true),
        ("16.8.0", "16.9", false),
        ("= 16.4", "16.5", false),
        ("16.x", "16.9", true),
        ("16.x", "17.0", false),
        ("!= 16.2", "16.2.0", false),
        ("!= 16.4", "16.4", false),
        ("!= 16.4", "16.5", true),
        ("~16.2", "16.2.5", true),
        ("~16.2", "16.2.9", true),
        ("~16.2", "16.3", false),
        ("~> 16.2", "16.2.1", true),
        ("^16.2", "16.9", true),
        ("^16.2", "17.0", false),
        ("> 16.4", "16.4.1", false),
        ("> 16.4", "16.5", true),
        ("<= 16.4", "16.4.3", true),
        // A release candidate only matches a constraint that names a prerelease.
        (">= 16", "17.0.0-rc.1", false),
        (">= 16-0", "17.0.0-rc.1", true),
    ];
    for (constraint, version, expected) in table {
        assert_eq!(
            matches(constraint, version),
            expected,
            "{constraint} vs {version}"
        );
    }
}

#[test]
fn unreadable_constraints_are_errors_that_name_them() {
    for bad in [
        "?? 16",
        ">= banana",
        "> = 16",
        "16,",
        ", 16",
        "16~ 1",
        "1 - >=2",
        "16 ||",
    ] {
        let error = Constraints::parse(bad).expect_err(bad);
        assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
    }
}

//! Hostile or mistaken repositories (issue 13): each gives a clear error naming the file (and
//! the line where there is one), within bounded memory and time, and the other manifests are
//! still loaded, or, when the tree as a whole is over what a snapshot may cost, nothing is
//! loaded (a part would look like removals) and the error says why.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use pg_gitops::manifest::{LoadOptions, ManifestSet, SnapshotLimits, load_dir};

fn manifest(name: &str) -> String {
    format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: {name}\n  \
         namespace: db\nspec:\n  version: \"16.4\"\n"
    )
}

/// Loads `dir` with `limits`, within a generous time alarm; returns the set.
fn load(dir: &Path, limits: SnapshotLimits) -> ManifestSet {
    let started = Instant::now();
    let set = load_dir(
        dir,
        &LoadOptions {
            limits,
            ..LoadOptions::default()
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    set
}

fn names(set: &ManifestSet) -> Vec<String> {
    set.manifests.iter().map(|m| m.key().1).collect()
}

fn error_for<'a>(set: &'a ManifestSet, file: &str) -> &'a pg_gitops::manifest::ManifestError {
    let found = set.errors.iter().find(|e| e.file == Path::new(file));
    found.unwrap_or_else(|| panic!("no error for {file}: {:#?}", set.errors))
}

#[test]
fn a_file_over_the_size_limit_is_not_read_and_the_others_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), manifest("good")).unwrap();
    let padding = format!("# {}\n", "x".repeat(2 << 20));
    std::fs::write(dir.path().join("huge.yaml"), manifest("huge") + &padding).unwrap();
    let set = load(dir.path(), SnapshotLimits::default());
    assert_eq!(names(&set), ["good"]);
    let error = error_for(&set, "huge.yaml");
    assert!(
        error
            .message
            .contains("more than source.max_file_bytes (1048576); it is not read"),
        "{}",
        error.message
    );
}

#[test]
fn a_tree_over_the_file_or_byte_limit_loads_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..11 {
        std::fs::write(
            dir.path().join(format!("db{i}.yaml")),
            manifest(&format!("db{i}")),
        )
        .unwrap();
    }
    let few_files = SnapshotLimits {
        max_files: 10,
        ..SnapshotLimits::default()
    };
    let set = load(dir.path(), few_files);
    assert!(set.manifests.is_empty());
    assert_eq!(set.errors.len(), 1, "{:#?}", set.errors);
    assert!(
        set.errors[0]
            .message
            .contains("11 YAML files, more than source.max_files (10)")
    );
    assert!(
        set.errors[0]
            .message
            .contains("the last good snapshot stays in force")
    );

    let few_bytes = SnapshotLimits {
        max_total_bytes: 500,
        ..SnapshotLimits::default()
    };
    let set = load(dir.path(), few_bytes);
    assert!(set.manifests.is_empty());
    assert!(
        set.errors[0]
            .message
            .contains("more than source.max_total_bytes (500)")
    );
    // Within the defaults, all eleven load.
    assert_eq!(
        load(dir.path(), SnapshotLimits::default()).manifests.len(),
        11
    );
}

#[test]
fn yaml_bombs_and_deep_nesting_are_errors_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), manifest("good")).unwrap();
    // Billion laughs: nine levels of nine aliases each.
    let mut bomb = String::from("a0: &a0 [\"lol\"]\n");
    for level in 1..10 {
        let refs = vec![format!("*a{}", level - 1); 9].join(", ");
        bomb.push_str(&format!("a{level}: &a{level} [{refs}]\n"));
    }
    std::fs::write(dir.path().join("bomb.yaml"), bomb).unwrap();
    let deep = format!("{}{}\n", "[".repeat(20_000), "]".repeat(20_000));
    std::fs::write(dir.path().join("deep.yaml"), deep).unwrap();
    let set = load(dir.path(), SnapshotLimits::default());
    assert_eq!(names(&set), ["good"]);
    for file in ["bomb.yaml", "deep.yaml"] {
        let error = error_for(&set, file);
        assert!(error.line >= 1, "{file}: {error:?}");
        assert!(
            error.message.contains("invalid YAML"),
            "{file}: {}",
            error.message
        );
    }
}

#[test]
fn non_utf8_names_and_content_are_handled_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yaml"), manifest("good")).unwrap();
    std::fs::write(dir.path().join("latin1.yaml"), b"name: caf\xe9\n").unwrap();
    let odd_name = std::ffi::OsStr::from_bytes(b"odd-\xff.yaml");
    std::fs::write(dir.path().join(odd_name), manifest("odd")).unwrap();
    let set = load(dir.path(), SnapshotLimits::default());
    let mut loaded = names(&set);
    loaded.sort();
    assert_eq!(loaded, ["good", "odd"]);
    let error = error_for(&set, "latin1.yaml");
    assert!(
        error.message.contains("cannot read the file"),
        "{}",
        error.message
    );
}

//! The `dir` source: a local directory watched with notify, debounced, reloaded only when
//! the content changed.

use std::time::Duration;

use pg_gitops::config::{Seconds, SourceConfig, SourceKind};
use pg_gitops::manifest::LoadOptions;
use pg_gitops::source::{self, SourceStats};
use test_support::git::wait_until;
use test_support::logs;

use crate::snapshots::{database, replicas};

fn dir_config(dir: &std::path::Path) -> SourceConfig {
    SourceConfig {
        kind: SourceKind::Dir,
        dir: Some(dir.to_path_buf()),
        path: "fleet".into(),
        // Long enough that only file events can explain a reload within the test.
        poll_interval: Seconds(Duration::from_secs(3600)),
        poll_jitter: Seconds(Duration::ZERO),
        dir_debounce: Seconds(Duration::from_millis(500)),
        ..SourceConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_changes_produce_one_debounced_snapshot() {
    logs::capture();
    let temp = tempfile::tempdir().unwrap();
    let fleet = temp.path().join("fleet");
    std::fs::create_dir_all(&fleet).unwrap();
    std::fs::write(fleet.join("db.yaml"), database(1)).unwrap();
    let mut handle = source::start(&dir_config(temp.path()), LoadOptions::default()).unwrap();
    let first = handle.wait_for(|_| true).await;
    assert!(first.revision.starts_with("sha256:"));
    assert_eq!(replicas(&first), [Some(1)]);

    // A burst of writes, as an editor or `git checkout` makes, settles into one reload.
    for n in 2..=6 {
        std::fs::write(fleet.join("db.yaml"), database(n)).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = handle.stats.clone();
    let changed = tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|snapshot| snapshot.revision != first.revision),
    )
    .await
    .expect("the change is picked up");
    assert_eq!(replicas(&changed), [Some(6)], "the last write of the burst");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        SourceStats::get(&stats.syncs),
        2,
        "the first load plus one debounced reload"
    );

    // Touching a file without changing its content does not publish a new snapshot.
    std::fs::write(fleet.join("db.yaml"), database(6)).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || SourceStats::get(&stats.syncs)
            == 3)
        .await
    );
    assert_eq!(
        handle.snapshots.borrow().as_ref().unwrap().revision,
        changed.revision
    );
}

#[tokio::test]
async fn a_missing_directory_is_a_configuration_error() {
    logs::capture();
    let temp = tempfile::tempdir().unwrap();
    let error = source::start(
        &dir_config(&temp.path().join("nope")),
        LoadOptions::default(),
    )
    .err()
    .expect("refused");
    assert!(error.to_string().contains("is not a directory"), "{error}");
}

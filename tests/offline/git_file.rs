//! The Git source against a `file://` bare repository and against servers that are down or
//! silent: branch/tag/commit tracking, subpath, polling, skipped fetches and error classes.

use std::time::Duration;

use pg_gitops::config::{Seconds, SourceConfig};
use pg_gitops::manifest::LoadOptions;
use pg_gitops::source::{self, SourceError, SourceStats};
use test_support::git::repo::{TestRepo, git};
use test_support::git::wait_until;
use test_support::logs;

use crate::snapshots::{database, replicas};

fn git_config(url: String, work_dir: std::path::PathBuf) -> SourceConfig {
    test_support::git::source_config(url, work_dir, Duration::from_secs(10))
}

/// The files the snapshot read that hold no Postgres (the test repository's first commit
/// holds `revision: 1`).
fn skipped(snapshot: &source::Snapshot) -> Vec<String> {
    let notices = snapshot.manifests.notices.iter();
    notices.map(|n| n.file.display().to_string()).collect()
}

#[tokio::test]
async fn file_clone_follows_the_branch_and_reads_only_the_subpath() {
    logs::capture();
    let repo = TestRepo::new();
    repo.commit("elsewhere/other.yaml", "x: 1\n", "outside the path");
    let config = git_config(repo.file_url(), repo.work_dir("clone"));
    let snapshot = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot.revision, repo.head());
    assert_eq!(skipped(&snapshot), ["db.yaml"], "other.yaml is not read");
    assert_eq!(snapshot.manifests.errors, []);
}

#[tokio::test]
async fn polling_alone_picks_up_a_new_commit() {
    logs::capture();
    let repo = TestRepo::new();
    let mut config = git_config(repo.file_url(), repo.work_dir("clone"));
    config.poll_interval = Seconds(Duration::from_millis(200));
    let mut handle = source::start(&config, LoadOptions::default()).unwrap();
    let first = repo.head();
    handle.wait_for(|snapshot| snapshot.revision == first).await;
    let second = repo.commit("fleet/db.yaml", &database(2), "second");
    let found = tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|snapshot| snapshot.revision == second),
    )
    .await
    .expect("a poll picks up the new commit within 10 s");
    assert_eq!(replicas(&found), [Some(2)]);
    assert_eq!(
        handle.trigger.requests(),
        0,
        "nothing but the poll tick triggered it"
    );
    assert_eq!(SourceStats::get(&handle.stats.fetches), 2);
}

#[tokio::test]
async fn fetch_is_skipped_while_the_remote_ref_has_not_moved() {
    logs::capture();
    let repo = TestRepo::new();
    let config = git_config(repo.file_url(), repo.work_dir("clone"));
    let mut handle = source::start(&config, LoadOptions::default()).unwrap();
    let first = repo.head();
    handle.wait_for(|snapshot| snapshot.revision == first).await;
    let stats = handle.stats.clone();
    assert_eq!(SourceStats::get(&stats.fetches), 1);

    handle.trigger.request();
    assert!(
        wait_until(Duration::from_secs(10), || SourceStats::get(
            &stats.skipped_fetches
        ) == 1)
        .await
    );
    assert_eq!(
        SourceStats::get(&stats.ref_checks),
        2,
        "the remote was asked again"
    );
    assert_eq!(
        SourceStats::get(&stats.fetches),
        1,
        "but nothing was downloaded"
    );

    let second = repo.commit("fleet/db.yaml", &database(2), "second");
    handle.trigger.request();
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|s| s.revision == second),
    )
    .await
    .expect("the moved ref is fetched");
    assert_eq!(SourceStats::get(&stats.fetches), 2);
    assert_eq!(SourceStats::get(&stats.skipped_fetches), 1);
}

#[tokio::test]
async fn a_restarted_source_reuses_its_clone_without_fetching() {
    logs::capture();
    let repo = TestRepo::new();
    let config = git_config(repo.file_url(), repo.work_dir("clone"));
    let first = repo.head();
    let mut handle = source::start(&config, LoadOptions::default()).unwrap();
    handle.wait_for(|snapshot| snapshot.revision == first).await;
    drop(handle);
    let mut restarted = source::start(&config, LoadOptions::default()).unwrap();
    restarted
        .wait_for(|snapshot| snapshot.revision == first)
        .await;
    assert_eq!(SourceStats::get(&restarted.stats.fetches), 0);
    assert_eq!(SourceStats::get(&restarted.stats.skipped_fetches), 1);
}

#[tokio::test]
async fn tags_and_fixed_commits_are_followed() {
    logs::capture();
    let repo = TestRepo::new();
    let tagged = repo.head();
    git(&repo.work, &["tag", "-a", "v1", "-m", "release 1"]);
    git(&repo.work, &["push", "-q", "origin", "v1"]);
    let later = repo.commit("fleet/db.yaml", &database(2), "after the tag");

    let mut by_tag = git_config(repo.file_url(), repo.work_dir("by-tag"));
    by_tag.tag = Some("v1".into());
    let snapshot = source::sync_once(&by_tag, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        snapshot.revision, tagged,
        "an annotated tag resolves to its commit"
    );

    let mut by_commit = git_config(repo.file_url(), repo.work_dir("by-commit"));
    by_commit.commit = Some(tagged.clone());
    let snapshot = source::sync_once(&by_commit, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot.revision, tagged);
    assert_eq!(
        (replicas(&snapshot), skipped(&snapshot)),
        (vec![], vec!["db.yaml".to_string()]),
        "read at the fixed commit, not at the branch's tip"
    );

    let by_branch = git_config(repo.file_url(), repo.work_dir("by-branch"));
    let snapshot = source::sync_once(&by_branch, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot.revision, later);
    assert_eq!(replicas(&snapshot), [Some(2)]);
}

#[tokio::test]
async fn missing_refs_and_paths_are_reported_as_such() {
    logs::capture();
    let repo = TestRepo::new();
    let mut config = git_config(repo.file_url(), repo.work_dir("clone"));
    config.branch = "no-such-branch".into();
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::RefNotFound { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("ref not found: refs/heads/no-such-branch"),
        "{error}"
    );

    let mut config = git_config(repo.file_url(), repo.work_dir("clone2"));
    config.commit = Some("0123456789012345678901234567890123456789".into());
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::RefNotFound { .. }),
        "{error:?}"
    );

    // An empty snapshot could make a pruning reconciler delete everything: refuse instead.
    let mut config = git_config(repo.file_url(), repo.work_dir("clone3"));
    config.path = "not/there".into();
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("source.path `not/there` does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn closed_port_is_network_unreachable() {
    logs::capture();
    let port = test_support::free_port().port();
    let temp = tempfile::tempdir().unwrap();
    let config = git_config(
        format!("http://127.0.0.1:{port}/repo.git"),
        temp.path().join("c"),
    );
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::NetworkUnreachable { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("network unreachable"),
        "{error}"
    );
}

#[tokio::test]
async fn silent_server_times_out() {
    logs::capture();
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let temp = tempfile::tempdir().unwrap();
    let mut config = git_config(format!("http://{addr}/repo.git"), temp.path().join("c"));
    config.timeout = Seconds(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, SourceError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().starts_with("timeout:"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "gave up after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_failed_sync_is_retried_long_before_the_next_poll() {
    logs::capture();
    let repo = TestRepo::new();
    // The remote is missing when the source starts (a blip at start-up)...
    let hidden = repo.temp.path().join("hidden.git");
    std::fs::rename(&repo.bare, &hidden).unwrap();
    let config = git_config(repo.file_url(), repo.work_dir("clone"));
    let mut handle = source::start(&config, LoadOptions::default()).unwrap();
    let stats = handle.stats.clone();
    assert!(
        wait_until(Duration::from_secs(10), || SourceStats::get(&stats.errors)
            >= 1)
        .await
    );
    assert!(stats.last_error().is_some());
    // ...and back a moment later. The poll interval is an hour; the retry must not wait for it.
    std::fs::rename(&hidden, &repo.bare).unwrap();
    let head = repo.head();
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|s| s.revision == head),
    )
    .await
    .expect("retried within seconds");
    assert_eq!(stats.last_error(), None, "a success clears the error");
}

/// A manifest any pusher could plant outside the checkout: applied, it would prove the service
/// reads host files through repository symlinks.
const PLANTED: &str = "apiVersion: gitops.kubedb.com/v1alpha1
kind: Postgres
metadata:
  name: planted
  namespace: shop
spec:
  version: \"16.4\"
  replicas: 1
  storage:
    resources:
      requests:
        storage: 1Gi
";

#[tokio::test]
async fn symlinks_out_of_the_checkout_are_refused_by_name_and_never_read() {
    logs::capture();
    let repo = TestRepo::new();
    let host = repo.temp.path().join("host-secrets");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("planted.yaml"), PLANTED).unwrap();
    let fleet = repo.work.join("fleet");
    std::os::unix::fs::symlink(host.join("planted.yaml"), fleet.join("planted.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", fleet.join("passwd.yaml")).unwrap();
    std::os::unix::fs::symlink(&host, fleet.join("host")).unwrap();
    std::fs::write(
        repo.work.join("shared.yaml"),
        PLANTED.replace("planted", "shared"),
    )
    .unwrap();
    std::os::unix::fs::symlink("../shared.yaml", fleet.join("inside.yaml")).unwrap();
    repo.commit("fleet/db.yaml", "revision: 2\n", "plant symlinks");

    let config = git_config(repo.file_url(), repo.work_dir("clone"));
    let snapshot = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap();

    let names: Vec<_> = snapshot
        .manifests
        .manifests
        .iter()
        .map(|manifest| manifest.key().1)
        .collect();
    assert_eq!(
        names,
        ["shared"],
        "only the link inside the checkout is followed"
    );
    let refused: Vec<_> = snapshot
        .manifests
        .errors
        .iter()
        .filter(|error| error.message.contains("symlink points outside"))
        .map(|error| error.file.display().to_string())
        .collect();
    assert_eq!(refused, ["host", "passwd.yaml", "planted.yaml"]);
    for error in &snapshot.manifests.errors {
        assert!(
            !error.message.contains("root:") && !error.message.contains("host-secrets"),
            "an error echoes what lies outside the checkout: {error}"
        );
    }
}

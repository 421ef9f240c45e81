//! The Git source over smart HTTP (`git http-backend` behind basic auth): token and password
//! credentials from files, env and the URL, a refused password, shallow fetches, and proof
//! that no credential reaches a log line, an error or a URL.

use std::time::Duration;

use pg_gitops::config::SourceConfig;
use pg_gitops::manifest::LoadOptions;
use pg_gitops::source::{self, SourceError};
use test_support::git::http::HttpGitServer;
use test_support::git::repo::{TestRepo, git};
use test_support::logs;

const TOKEN: &str = "tok-4f1d9a7e-never-log-me";
const PASSWORD: &str = "pw-83b2c6d0-never-log-me";
const WRONG_PASSWORD: &str = "wrong-pw-5e7a-never-log-me";

fn http_config(url: String, work_dir: std::path::PathBuf) -> SourceConfig {
    test_support::git::source_config(url, work_dir, Duration::from_secs(10))
}

fn assert_clean(text: &str) {
    for secret in [TOKEN, PASSWORD, WRONG_PASSWORD] {
        assert!(!text.contains(secret), "credential leaked into: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_from_a_file_authenticates() {
    logs::capture();
    let repo = TestRepo::new();
    let server = HttpGitServer::start(repo.temp.path().into(), "git", TOKEN, Duration::ZERO).await;
    let token_file = repo.temp.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut config = http_config(server.url(), repo.work_dir("clone"));
    config.auth.token_file = Some(token_file);
    let snapshot = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot.revision, repo.head());
    assert!(
        server
            .state
            .ref_advertisements
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    logs::assert_no_secret_logged(&[TOKEN, PASSWORD, WRONG_PASSWORD]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn username_and_password_from_file_and_env_authenticate() {
    logs::capture();
    let repo = TestRepo::new();
    let server =
        HttpGitServer::start(repo.temp.path().into(), "alice", PASSWORD, Duration::ZERO).await;
    let user_file = repo.temp.path().join("username");
    std::fs::write(&user_file, "alice\n").unwrap();
    // SAFETY: the variable name is unique to this test; nothing else reads or writes it.
    unsafe { std::env::set_var("PG_GITOPS_TEST_HTTP_PASSWORD", PASSWORD) };
    let mut config = http_config(server.url(), repo.work_dir("clone"));
    config.auth.username_file = Some(user_file);
    config.auth.password_env = Some("PG_GITOPS_TEST_HTTP_PASSWORD".into());
    let snapshot = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot.revision, repo.head());
    logs::assert_no_secret_logged(&[TOKEN, PASSWORD, WRONG_PASSWORD]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_password_is_an_authentication_error_without_the_password() {
    logs::capture();
    let repo = TestRepo::new();
    let server =
        HttpGitServer::start(repo.temp.path().into(), "alice", PASSWORD, Duration::ZERO).await;
    let password_file = repo.temp.path().join("password");
    std::fs::write(&password_file, WRONG_PASSWORD).unwrap();
    let mut config = http_config(server.url(), repo.work_dir("clone"));
    config.auth.username = Some("alice".into());
    config.auth.password_file = Some(password_file);
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::AuthRefused { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("authentication refused by http://127.0.0.1:"),
        "{error}"
    );
    assert_clean(&error.to_string());
    assert_clean(&format!("{error:?}"));
    assert!(
        server
            .state
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );

    // No credentials at all: also refused, and said so.
    let config = http_config(server.url(), repo.work_dir("clone-anonymous"));
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::AuthRefused { .. }),
        "{error:?}"
    );
    logs::assert_no_secret_logged(&[TOKEN, PASSWORD, WRONG_PASSWORD]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_work_and_never_show() {
    logs::capture();
    let repo = TestRepo::new();
    let server =
        HttpGitServer::start(repo.temp.path().into(), "alice", PASSWORD, Duration::ZERO).await;
    let with_userinfo =
        |password: &str| format!("http://alice:{password}@{}/repo.git", server.addr);

    // A running source logs its URL on every new snapshot: that line must carry no userinfo.
    let config = http_config(with_userinfo(PASSWORD), repo.work_dir("clone"));
    let mut handle = source::start(&config, LoadOptions::default()).unwrap();
    let head = repo.head();
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|s| s.revision == head),
    )
    .await
    .expect("the URL's credentials are used");
    let logged = logs::captured();
    assert!(
        logged.contains(&format!("url=http://{}/repo.git", server.addr)),
        "{logged}"
    );

    let config = http_config(with_userinfo(WRONG_PASSWORD), repo.work_dir("clone-wrong"));
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::AuthRefused { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("alice:"), "{error}");
    assert_clean(&error.to_string());
    logs::assert_no_secret_logged(&[TOKEN, PASSWORD, WRONG_PASSWORD]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shallow_depth_fetches_only_the_tip() {
    logs::capture();
    let repo = TestRepo::new();
    repo.commit("fleet/db.yaml", "revision: 2\n", "second");
    repo.commit("fleet/db.yaml", "revision: 3\n", "third");
    let server = HttpGitServer::start(repo.temp.path().into(), "git", TOKEN, Duration::ZERO).await;
    let token_file = repo.temp.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut config = http_config(server.url(), repo.work_dir("shallow"));
    config.auth.token_file = Some(token_file);
    config.depth = 1;
    let snapshot = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot.revision, repo.head());
    let clone = repo.work_dir("shallow");
    // A bare clone: nothing is checked out.
    assert!(clone.join("shallow").exists(), "the clone is shallow");
    assert_eq!(
        git(&clone, &["rev-list", "--count", "refs/remotes/origin/main"]),
        "1"
    );
    logs::assert_no_secret_logged(&[TOKEN, PASSWORD, WRONG_PASSWORD]);
}

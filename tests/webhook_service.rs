//! `pg-gitops run --config FILE` end to end: the binary clones a file:// repo, turns ready,
//! takes a signed GitHub push on its HTTP port, loads the new commit, and stops on SIGTERM.
//! A config with an unknown key does not start.

mod git_support;
mod webhook_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git_support::repo::TestRepo;
use pg_gitops::server::Provider;
use webhook_support::{auth_header, event_headers, http_request, push_body};

const WEBHOOK_SECRET: &str = "whsec-service-5d0c-never-log-me";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_status(addr: std::net::SocketAddr, path: &str, want: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok((status, _)) = http_request(addr, "GET", path, &[], "").await
            && status == want
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_webhooks_follows_pushes_and_stops_on_sigterm() {
    let repo = TestRepo::new();
    let secret_file = repo.temp.path().join("github-secret");
    std::fs::write(&secret_file, WEBHOOK_SECRET).unwrap();
    let port = free_port();
    let config = format!(
        "[source]\nurl = \"{url}\"\npath = \"fleet\"\nwork_dir = \"{work}\"\npoll_interval = \"1h\"\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\n[server.webhooks]\ngithub_secret_file = \"{secret}\"\n",
        url = repo.file_url(),
        work = repo.work_dir("clone").display(),
        secret = secret_file.display(),
    );
    let config_file = repo.temp.path().join("config.toml");
    std::fs::write(&config_file, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .args(["run", "--config"])
        .arg(&config_file)
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        wait_for_status(addr, "/readyz", 200).await,
        "ready after the first snapshot"
    );

    let pushed = repo.commit("fleet/db.yaml", "revision: 2\n", "second");
    let body = push_body(Provider::GitHub, "main", &pushed);
    let mut headers = event_headers(Provider::GitHub, false);
    headers.push(auth_header(
        Provider::GitHub,
        WEBHOOK_SECRET,
        body.as_bytes(),
    ));
    let (status, _) = http_request(addr, "POST", "/hooks/github", &headers, &body)
        .await
        .unwrap();
    assert_eq!(status, 202);
    let (status, _) = http_request(addr, "POST", "/hooks/github", &[], &body)
        .await
        .unwrap();
    assert_eq!(
        status, 401,
        "unsigned deliveries are refused by the running service too"
    );
    let (_, json) = http_request(addr, "GET", "/status/webhooks", &[], "")
        .await
        .unwrap();
    assert!(json.contains("\"result\":\"unauthorized\""), "{json}");

    // The service logs each new snapshot; give it a moment, then stop it like Kubernetes does.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "clean exit on SIGTERM: {log}");
    assert!(
        log.contains(&format!("revision={pushed}")),
        "the pushed commit was loaded: {log}"
    );
    assert!(
        !log.contains(WEBHOOK_SECRET),
        "the webhook secret was logged: {log}"
    );
}

#[test]
fn unknown_config_keys_stop_the_service_at_start() {
    let temp = tempfile::tempdir().unwrap();
    let config_file = temp.path().join("config.toml");
    std::fs::write(
        &config_file,
        "[source]\nkind = \"cluster\"\npoll_intervall = \"5m\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .args(["run", "--config"])
        .arg(&config_file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown field `poll_intervall`"),
        "{stderr}"
    );
}

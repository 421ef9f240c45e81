//! `pg-gitops run --config FILE`: a config with an unknown key does not start. (The running
//! service needs a cluster since the reconciler joined it, so its end-to-end run belongs to the
//! cluster tests; the webhook → source → snapshot path over real sockets is covered without
//! one by `webhook_latency`.)

use std::process::Command;

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
    assert_eq!(
        stderr.matches("unknown field `poll_intervall`").count(),
        1,
        "the cause is said once: {stderr}"
    );
}

#[test]
fn a_missing_config_file_is_named_and_its_cause_said_once() {
    let temp = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .args(["run", "--config"])
        .arg(temp.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.toml"), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "the cause is said once: {stderr}"
    );
}

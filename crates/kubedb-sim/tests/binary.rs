//! The `kubedb-sim` binary without a cluster: its flags parse and bad ones are refused. Having
//! an integration test also makes `cargo test --workspace` build the binary itself, which the
//! cluster test in the root's `tests/sim_queue.rs` runs.

use std::process::Command;

fn kubedb_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubedb-sim"))
        .args(args)
        .output()
        .expect("running kubedb-sim")
}

#[test]
fn help_names_the_failure_annotation() {
    let output = kubedb_sim(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("sim.kubedb.com/fail"), "{help}");
    assert!(help.contains("--step-duration"), "{help}");
}

#[test]
fn a_bad_duration_is_refused_before_connecting() {
    let output = kubedb_sim(&["--step-duration", "fast"]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("is not a duration"), "{error}");
}

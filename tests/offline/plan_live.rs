//! `pg-gitops plan --live` as a user runs it: the binary, its JSON output and exit code. A
//! broken live file is an error entry of the JSON contract, and the other databases are
//! still planned; live objects without a namespace are in `--default-namespace`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn manifest(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: {name}\nspec:\n  version: \"16.4\"\n  replicas: {replicas}\n"
    )
}

fn live(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata:\n  name: {name}\nspec:\n  version: \"16.4\"\n  replicas: {replicas}\n  standbyMode: Hot\n"
    )
}

/// Runs `plan --output json` and returns (exit code, parsed stdout).
fn plan_json(manifests: &Path, live: &Path, namespace: &str) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .args(["plan", "--output", "json", "--default-namespace", namespace])
        .arg("--manifests")
        .arg(manifests)
        .arg("--live")
        .arg(live)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON on stdout ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap(), json)
}

fn database<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report}"))
}

#[test]
fn live_objects_without_a_namespace_take_the_default_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let (manifests, live_dir) = (dir.path().join("m"), dir.path().join("l"));
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::create_dir_all(&live_dir).unwrap();
    write(&manifests, "a.yaml", &manifest("a", 3));
    write(&live_dir, "a.yaml", &live("a", 3));
    let (code, report) = plan_json(&manifests, &live_dir, "shop");
    let a = database(&report, "a");
    assert_eq!(a["namespace"], "shop");
    assert_eq!(
        a["steps"],
        serde_json::json!([]),
        "in sync, not provisioned: {a}"
    );
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_broken_live_file_is_an_error_entry_and_the_rest_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let (manifests, live_dir) = (dir.path().join("m"), dir.path().join("l"));
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::create_dir_all(&live_dir).unwrap();
    write(&manifests, "a.yaml", &manifest("a", 5));
    write(&manifests, "b.yaml", &manifest("b", 3));
    write(&manifests, "c.yaml", &manifest("c", 3));
    write(&live_dir, "a.yaml", &live("a", 3));
    write(
        &live_dir,
        "broken.yaml",
        "apiVersion: kubedb.com/v1\nkind: [\n",
    );
    // A document that is YAML but no readable Postgres names its database: that one gets
    // the error (never a Provision planned over a database that may well exist).
    write(
        &live_dir,
        "c.yaml",
        "apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata:\n  name: c\nspec:\n  replicas: many\n",
    );
    let (code, report) = plan_json(&manifests, &live_dir, "default");
    assert_eq!(code, 2, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert!(
        errors[0]["file"].as_str().unwrap().ends_with("broken.yaml")
            && errors[0]["line"] == 3
            && errors[0]["message"]
                .as_str()
                .unwrap()
                .contains("invalid YAML"),
        "{report}"
    );
    let a = database(&report, "a");
    assert_eq!(a["steps"][0]["type"], "HorizontalScaling", "{a}");
    let b = database(&report, "b");
    assert_eq!(b["steps"][0]["type"], "Provision", "{b}");
    let c = database(&report, "c");
    assert_eq!(c["steps"], serde_json::json!([]), "{c}");
    assert!(
        c["errors"][0]["file"].as_str().unwrap().ends_with("c.yaml")
            && c["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("kubedb.com/v1 Postgres"),
        "{c}"
    );
}

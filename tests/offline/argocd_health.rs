//! The Argo CD health check (`charts/pg-gitops/files/argocd-health.lua`) in lua5.1, as Argo CD
//! runs it (`test_support::argocd`): Argo CD's own test layout (`argocd_health/health_test.yaml`
//! over statuses recorded on the real API server), its agreement with kstatus, the sandbox's
//! faithfulness, and that every shipped copy of the script is the chart's file. The live run,
//! status by status, is `tests/cluster/health.rs`.

use std::path::PathBuf;

use serde_json::{Value, json};
use test_support::argocd::{HEALTH_LUA, Health, health, health_of};
use test_support::chart::render;
use test_support::kstatus::{KStatus, compute};
use test_support::repo_root;

const KEY: &str = "resource.customizations.health.gitops.kubedb.com_Postgres";

fn dir() -> PathBuf {
    repo_root().join("tests/offline/argocd_health")
}

fn yaml(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pg_gitops::yaml::parse_value(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (input file, expected health) of health_test.yaml.
fn cases() -> Vec<(String, Health)> {
    let tests = yaml(&dir().join("health_test.yaml"));
    tests["tests"]
        .as_array()
        .expect("health_test.yaml lists tests")
        .iter()
        .map(|t| {
            let text = |key: &str| t["healthStatus"][key].as_str().unwrap().to_string();
            let input = t["inputPath"].as_str().unwrap().to_string();
            (
                input,
                Health {
                    status: text("status"),
                    message: text("message"),
                },
            )
        })
        .collect()
}

#[test]
fn the_health_check_passes_its_argo_cd_style_tests() {
    let cases = cases();
    // Every recorded file is a case, and every status the script can return is covered.
    let files = std::fs::read_dir(dir().join("testdata")).unwrap().count();
    assert_eq!(cases.len(), files, "a testdata file without a case");
    for status in ["Progressing", "Degraded", "Suspended", "Healthy"] {
        assert!(cases.iter().any(|(_, h)| h.status == status), "{status}");
    }
    for (input, expected) in cases {
        let object = yaml(&dir().join(&input));
        assert_eq!(health(&object), expected, "{input}");
    }
}

#[test]
fn argo_cd_and_kstatus_agree_on_every_recorded_status() {
    for (input, expected) in cases() {
        let object = yaml(&dir().join(&input));
        let kstatus = compute(&object).unwrap().status;
        let agreed = match (expected.status.as_str(), kstatus) {
            ("Healthy", KStatus::Current)
            | ("Degraded", KStatus::Failed)
            | ("Progressing", KStatus::InProgress)
            // A suspended database is not reconciled: kstatus reads its False Ready as InProgress.
            | ("Suspended", KStatus::InProgress) => true,
            // kstatus' corner: no status and no conditions is Current. Argo CD waits.
            ("Progressing", KStatus::Current) => object["status"].is_null(),
            _ => false,
        };
        assert!(agreed, "{input}: Argo CD {expected:?}, kstatus {kstatus:?}");
    }
}

#[test]
fn the_sandbox_offers_only_what_argo_cd_offers() {
    let temp = tempfile::tempdir().unwrap();
    let script = |body: &str| {
        let path = temp.path().join(format!("{}.lua", body.len()));
        std::fs::write(&path, body).unwrap();
        path
    };
    let object = json!({"metadata": {"name": "a"}, "status": {"n": 3, "list": ["x", null]}});
    // Base and table are there; `..` joins numbers as gopher-lua does ("3", not "3.0").
    let fine = script(
        "local t = {} table.insert(t, obj.metadata.name) \
         return {status = 'Healthy', message = t[1] .. obj.status.n .. #obj.status.list}",
    );
    assert_eq!(
        health_of(&fine, &object),
        Health {
            status: "Healthy".into(),
            message: "a31".into()
        }
    );
    // Argo CD opens no string, math or io library for scripts from argocd-cm.
    for body in [
        "return {status = string.upper('healthy')}",
        "return {status = ('Healthy'):sub(1)}",
        "return {status = 'Healthy', message = math.floor(1.5)}",
        "io.write('x') return {status = 'Healthy'}",
    ] {
        let path = script(body);
        let outcome = std::panic::catch_unwind(|| health_of(&path, &object));
        assert!(outcome.is_err(), "ran in the sandbox: {body}");
    }
    // A status Argo CD does not know is Unknown, as in ExecuteHealthLua.
    let odd = script("return {status = 'Fine'}");
    assert_eq!(health_of(&odd, &object).status, "Unknown");
}

#[test]
fn every_shipped_copy_is_the_charts_file() {
    let lua = std::fs::read_to_string(repo_root().join(HEALTH_LUA)).unwrap();
    let example = yaml(&repo_root().join("examples/argocd/argocd-cm-patch.yaml"));
    assert_eq!(example["metadata"]["name"], "argocd-cm");
    assert_eq!(
        example["data"][KEY].as_str(),
        Some(lua.as_str()),
        "examples/argocd/argocd-cm-patch.yaml differs from {HEALTH_LUA}"
    );

    let off = render(&json!({}), "pg-gitops", "ops");
    assert!(!off.notes().contains("argocd-cm"));
    assert!(
        !off.objects()
            .iter()
            .any(|o| o["metadata"]["name"] == "pg-gitops-argocd-health"),
        "off by default"
    );
    let values = json!({"argocd": {"healthCheck": {"enabled": true, "namespace": "gitops"}}});
    let on = render(&values, "pg-gitops", "ops");
    let config_map = on
        .objects()
        .into_iter()
        .find(|o| o["metadata"]["name"] == "pg-gitops-argocd-health")
        .expect("the ConfigMap with the argocd-cm patch");
    assert_eq!(config_map["metadata"]["namespace"], "ops");
    let patch = pg_gitops::yaml::parse_value(config_map["data"]["patch.yaml"].as_str().unwrap())
        .expect("patch.yaml is YAML");
    assert_eq!(patch["data"][KEY].as_str(), Some(lua.as_str()));
    assert_eq!(patch["data"].as_object().unwrap().len(), 1, "{patch:#}");
    let notes = on.notes();
    assert!(
        notes.contains(
            "kubectl -n ops get configmap pg-gitops-argocd-health -o jsonpath='{.data.patch\\.yaml}'"
        ) && notes.contains("kubectl -n gitops patch configmap argocd-cm --type merge"),
        "{notes}"
    );
}

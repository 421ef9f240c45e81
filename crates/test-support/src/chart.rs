//! Rendering the Helm chart `charts/pg-gitops` through `scripts/render-chart.py` (the Helm v4
//! SDK from PyPI `helm-python-sdk`, installed by `scripts/python-deps`): for the offline
//! rendering checks and for installing the chart on the test cluster.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{Value, json};

use crate::repo_root;

/// The chart, relative to the checkout.
pub const CHART: &str = "charts/pg-gitops";

/// What `render-chart.py render` prints.
pub struct Rendered {
    /// Template path (e.g. `pg-gitops/templates/rbac.yaml`) -> rendered text.
    pub templates: BTreeMap<String, String>,
    /// The chart's CRD files: (file name, text).
    pub crds: Vec<(String, String)>,
}

impl Rendered {
    /// Every object the templates render (NOTES.txt and empty documents left out).
    pub fn objects(&self) -> Vec<Value> {
        let mut objects = Vec::new();
        for (path, text) in &self.templates {
            if path.ends_with("NOTES.txt") {
                continue;
            }
            // Empty documents (a template switched off) are dropped by the parser.
            let documents = pg_gitops::yaml::parse_documents(text)
                .unwrap_or_else(|e| panic!("{path} renders invalid YAML: {e}\n{text}"));
            objects.extend(documents.into_iter().map(|document| document.value));
        }
        objects
    }

    /// The one rendered object of `kind` (panics if there is not exactly one).
    pub fn one(&self, kind: &str) -> Value {
        let mut found: Vec<Value> = self
            .objects()
            .into_iter()
            .filter(|o| o["kind"] == kind)
            .collect();
        assert_eq!(found.len(), 1, "expected one {kind}, rendered {found:#?}");
        found.remove(0)
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .objects()
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or("?").to_owned())
            .collect();
        kinds.sort();
        kinds
    }

    /// The config.toml of the ConfigMap.
    pub fn config_toml(&self) -> String {
        self.one("ConfigMap")["data"]["config.toml"]
            .as_str()
            .expect("the ConfigMap has data.config.toml")
            .to_owned()
    }

    pub fn notes(&self) -> &str {
        self.templates
            .iter()
            .find(|(path, _)| path.ends_with("NOTES.txt"))
            .map(|(_, text)| text.as_str())
            .expect("the chart renders NOTES.txt")
    }
}

/// Runs `python3 scripts/render-chart.py ARGS`; Err(stderr) when it exits 1 (the chart refused
/// the values); panics with instructions when Python or the SDK is missing.
pub fn render_script(args: &[&str]) -> Result<String, String> {
    let output = Command::new("python3")
        .arg(repo_root().join("scripts/render-chart.py"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| {
            panic!("running python3 scripts/render-chart.py: {e} (is python3 installed?)")
        });
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => Ok(String::from_utf8(output.stdout).expect("render-chart.py prints UTF-8")),
        Some(1) => Err(stderr),
        _ => panic!(
            "scripts/render-chart.py {args:?} failed ({}); run scripts/python-deps to install \
             helm-python-sdk:\n{stderr}",
            output.status
        ),
    }
}

pub fn try_render(
    values: &Value,
    name: &str,
    namespace: &str,
    kube_version: Option<&str>,
) -> Result<Rendered, String> {
    let values = values.to_string();
    let mut args = vec![
        "render",
        CHART,
        "--values",
        &values,
        "--name",
        name,
        "--namespace",
        namespace,
    ];
    if let Some(version) = kube_version {
        args.extend(["--kube-version", version]);
    }
    let out = render_script(&args)?;
    let parsed: Value = serde_json::from_str(&out).expect("render-chart.py prints JSON");
    let templates =
        serde_json::from_value(parsed["templates"].clone()).expect("templates is a map of strings");
    let crds = parsed["crds"]
        .as_array()
        .expect("crds is a list")
        .iter()
        .map(|c| {
            (
                c["filename"].as_str().unwrap().to_owned(),
                c["data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Ok(Rendered { templates, crds })
}

pub fn render(values: &Value, name: &str, namespace: &str) -> Rendered {
    try_render(values, name, namespace, None)
        .unwrap_or_else(|e| panic!("the chart refused values {values}:\n{e}"))
}

/// The error message of a render that must fail.
pub fn render_error(values: &Value) -> String {
    match try_render(values, "pg-gitops", "ops", None) {
        Ok(r) => panic!(
            "the chart rendered values it must refuse: {values}\n{:?}",
            r.kinds()
        ),
        Err(message) => message,
    }
}

/// Leader election with two replicas and a PodDisruptionBudget.
pub fn ha_values() -> Value {
    json!({
        "replicaCount": 2,
        "leaderElection": { "enabled": true },
        "podDisruptionBudget": { "enabled": true, "minAvailable": 1 }
    })
}

/// Every optional part switched on (the ServiceMonitor aside: its CRD is not on the test
/// cluster).
pub fn full_values() -> Value {
    json!({
        "replicaCount": 2,
        "leaderElection": { "enabled": true, "leaseName": "pg-gitops-leader", "leaseDuration": "20s" },
        "podDisruptionBudget": { "enabled": true, "maxUnavailable": 1 },
        "prune": true,
        "git": {
            "url": "ssh://git@git.example.com/fleet.git",
            "branch": "production",
            "path": "clusters/eu",
            "auth": { "method": "ssh", "existingSecret": "fleet-git", "sshPassphrase": true }
        },
        "webhook": {
            "existingSecret": "fleet-webhooks",
            "providers": { "github": "github-secret", "gitlab": "gitlab-token" },
            "ingress": { "enabled": true, "host": "hooks.example.com", "className": "nginx" }
        },
        "config": {
            "source": { "poll_interval": "30s", "depth": 1 },
            "plan": { "default_namespace": "databases", "volume_expansion_mode": "Offline" }
        },
        "extraEnv": [{ "name": "EXTRA", "value": "1" }]
    })
}

//! The Helm chart `charts/pg-gitops`: lints clean, renders with default and HA values, refuses
//! unsafe values with a clear message, keeps its CRD identical to the vendored one, renders a
//! config.toml the service accepts, and installs on the real API server, where its RBAC is
//! proved SUFFICIENT (every call the service makes succeeds as the chart's ServiceAccount) and
//! MINIMAL (deleting databases or OpsRequests and reading Secrets are forbidden).
//!
//! Rendering uses `scripts/render-chart.py` (the Helm v4 SDK from PyPI `helm-python-sdk`,
//! installed by `scripts/python-deps`, which `scripts/test` runs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use test_support::kinds;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch,
    PatchParams, PostParams, WatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

const CHART: &str = "charts/pg-gitops";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Rendering through scripts/render-chart.py

/// What `render-chart.py render` prints.
struct Rendered {
    /// Template path (e.g. `pg-gitops/templates/rbac.yaml`) -> rendered text.
    templates: BTreeMap<String, String>,
    /// The chart's CRD files: (file name, text).
    crds: Vec<(String, String)>,
}

impl Rendered {
    /// Every object the templates render (NOTES.txt and empty documents left out).
    fn objects(&self) -> Vec<Value> {
        let mut objects = Vec::new();
        for (path, text) in &self.templates {
            if path.ends_with("NOTES.txt") {
                continue;
            }
            for doc in serde_yaml::Deserializer::from_str(text) {
                let value: Value = serde::Deserialize::deserialize(doc)
                    .unwrap_or_else(|e| panic!("{path} renders invalid YAML: {e}\n{text}"));
                if !value.is_null() {
                    objects.push(value);
                }
            }
        }
        objects
    }

    /// The one rendered object of `kind` (panics if there is not exactly one).
    fn one(&self, kind: &str) -> Value {
        let mut found: Vec<Value> = self
            .objects()
            .into_iter()
            .filter(|o| o["kind"] == kind)
            .collect();
        assert_eq!(found.len(), 1, "expected one {kind}, rendered {found:#?}");
        found.remove(0)
    }

    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .objects()
            .iter()
            .map(|o| o["kind"].as_str().unwrap_or("?").to_owned())
            .collect();
        kinds.sort();
        kinds
    }

    /// The config.toml of the ConfigMap.
    fn config_toml(&self) -> String {
        self.one("ConfigMap")["data"]["config.toml"]
            .as_str()
            .expect("the ConfigMap has data.config.toml")
            .to_owned()
    }

    fn notes(&self) -> &str {
        self.templates
            .iter()
            .find(|(path, _)| path.ends_with("NOTES.txt"))
            .map(|(_, text)| text.as_str())
            .expect("the chart renders NOTES.txt")
    }
}

/// Runs `python3 scripts/render-chart.py ARGS`; Err(stderr) when it exits 1 (the chart refused
/// the values); panics with instructions when Python or the SDK is missing.
fn render_script(args: &[&str]) -> Result<String, String> {
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

fn try_render(
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

fn render(values: &Value, name: &str, namespace: &str) -> Rendered {
    try_render(values, name, namespace, None)
        .unwrap_or_else(|e| panic!("the chart refused values {values}:\n{e}"))
}

/// The error message of a render that must fail.
fn render_error(values: &Value) -> String {
    match try_render(values, "pg-gitops", "ops", None) {
        Ok(r) => panic!(
            "the chart rendered values it must refuse: {values}\n{:?}",
            r.kinds()
        ),
        Err(message) => message,
    }
}

/// Leader election with two replicas and a PodDisruptionBudget.
fn ha_values() -> Value {
    json!({
        "replicaCount": 2,
        "leaderElection": { "enabled": true },
        "podDisruptionBudget": { "enabled": true, "minAvailable": 1 }
    })
}

/// Every optional part switched on (the ServiceMonitor aside: its CRD is not on the test
/// cluster).
fn full_values() -> Value {
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

// ---------------------------------------------------------------------------------------------
// Offline checks

#[test]
fn chart_yaml_app_version_is_the_crate_version() {
    let text = std::fs::read_to_string(repo_root().join(CHART).join("Chart.yaml")).unwrap();
    let chart: Value = serde_yaml::from_str(&text).expect("Chart.yaml is YAML");
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "pg-gitops");
    assert_eq!(chart["appVersion"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn crd_is_a_byte_identical_copy_of_the_vendored_file() {
    for file in ["gitops.kubedb.com_postgreses.yaml", "LICENSE"] {
        let chart_copy = repo_root().join(CHART).join("crds").join(file);
        let vendored = repo_root().join("vendor/kubedb-crds").join(file);
        let meta = std::fs::symlink_metadata(&chart_copy)
            .unwrap_or_else(|e| panic!("{}: {e}", chart_copy.display()));
        assert!(
            meta.file_type().is_file(),
            "{} must be a regular file (symlinks do not survive helm package)",
            chart_copy.display()
        );
        let (a, b) = (
            std::fs::read(&chart_copy).unwrap(),
            std::fs::read(&vendored).unwrap(),
        );
        assert!(
            a == b,
            "{} differs from {}: copy the vendored file into the chart (cp {} {})",
            chart_copy.display(),
            vendored.display(),
            vendored.display(),
            chart_copy.display()
        );
    }
    // And it is the only CRD the chart ships (KubeDB brings the others).
    let rendered = render(&json!({}), "pg-gitops", "ops");
    let names: Vec<&str> = rendered.crds.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        names,
        ["pg-gitops/crds/gitops.kubedb.com_postgreses.yaml"],
        "CRDs in the chart"
    );
    let vendored = std::fs::read_to_string(
        repo_root().join("vendor/kubedb-crds/gitops.kubedb.com_postgreses.yaml"),
    )
    .unwrap();
    assert_eq!(rendered.crds[0].1, vendored, "Helm loads the CRD unchanged");
}

#[test]
fn packaged_chart_carries_the_crd_unchanged() {
    let out =
        render_script(&["package", CHART]).unwrap_or_else(|e| panic!("packaging failed: {e}"));
    let packaged: Value = serde_json::from_str(&out).expect("render-chart.py prints JSON");
    assert_eq!(packaged["archive"], "pg-gitops-0.1.0.tgz");
    let vendored = std::fs::read_to_string(
        repo_root().join("vendor/kubedb-crds/gitops.kubedb.com_postgreses.yaml"),
    )
    .unwrap();
    let crds = packaged["crds"].as_array().unwrap();
    assert_eq!(
        crds.len(),
        1,
        "{:?}",
        crds.iter().map(|c| &c["filename"]).collect::<Vec<_>>()
    );
    assert!(
        crds[0]["data"].as_str() == Some(vendored.as_str()),
        "the packaged chart's CRD differs from the vendored file"
    );
    let templates = packaged["templates"].as_array().unwrap();
    for name in [
        "templates/deployment.yaml",
        "templates/rbac.yaml",
        "templates/NOTES.txt",
    ] {
        assert!(
            templates.iter().any(|t| t == name),
            "{name} missing from the package: {templates:?}"
        );
    }
}

#[test]
fn lint_is_clean_for_default_ha_and_full_values() {
    for values in [json!({}), ha_values(), full_values()] {
        let out = render_script(&["lint", CHART, "--values", &values.to_string()])
            .unwrap_or_else(|e| panic!("lint failed to run: {e}"));
        let report: Value = serde_json::from_str(&out).expect("lint prints JSON");
        assert_eq!(report["total_charts_linted"], 1, "{report:#}");
        assert_eq!(
            report["errors"],
            json!([]),
            "lint errors with {values}: {report:#}"
        );
        // Severity 1 is info (e.g. "icon is recommended"); warnings and errors fail.
        let serious: Vec<&Value> = report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["severity"].as_i64().unwrap_or(3) >= 2)
            .collect();
        assert!(
            serious.is_empty(),
            "lint findings with {values}: {serious:#?}"
        );
    }
}

#[test]
fn default_values_render_a_secure_single_writer() {
    let r = render(&json!({}), "pg-gitops", "ops");
    assert_eq!(
        r.kinds(),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    let deployment = r.one("Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "pg-gitops");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(c["image"], "ghcr.io/pg-gitops/pg-gitops:0.1.0");
    assert_eq!(c["command"], json!(["pg-gitops"]));
    assert_eq!(
        c["args"],
        json!(["run", "--config", "/etc/pg-gitops/config.toml"])
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(env(c, "HOME"), Some("/tmp".to_owned()));
    assert_eq!(env(c, "RUST_LOG"), Some("info".to_owned()));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    // /tmp (HOME and the checkout) is an emptyDir; the config file comes from the ConfigMap.
    assert_eq!(
        volume_for_mount(pod, c, "/tmp")["emptyDir"]["sizeLimit"],
        "1Gi"
    );
    assert_eq!(
        volume_for_mount(pod, c, "/etc/pg-gitops/config.toml")["configMap"]["name"],
        "pg-gitops"
    );
    assert_no_secret_in_env(c);

    // The Service exposes the one HTTP port the container listens on.
    let service = r.one("Service");
    assert_eq!(service["spec"]["ports"][0]["port"], 8080);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    // The rendered config.toml is accepted by the service's own parser.
    let config = pg_gitops::config::Config::from_toml_str(&r.config_toml())
        .unwrap_or_else(|e| panic!("config.toml rejected: {e}\n{}", r.config_toml()));
    assert_eq!(config.source.kind, pg_gitops::config::SourceKind::Cluster);
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
    assert!(!config.reconcile.prune);
    assert!(config.leader_election.enabled);
    assert_eq!(config.leader_election.lease_name, "pg-gitops");
    assert_eq!(config.leader_election.lease_namespace, "ops");
    assert_eq!(config.source.work_dir, Path::new("/tmp/pg-gitops/source"));
    assert!(r.notes().contains("Source: cluster"), "{}", r.notes());
}

#[test]
fn without_leader_election_a_single_pod_is_replaced_not_overlapped() {
    let r = render(
        &json!({ "leaderElection": { "enabled": false } }),
        "pg-gitops",
        "ops",
    );
    let deployment = r.one("Deployment");
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert!(
        !r.kinds().contains(&"Role".to_owned()),
        "no lease Role: {:?}",
        r.kinds()
    );
    let config = pg_gitops::config::Config::from_toml_str(&r.config_toml()).unwrap();
    assert!(!config.leader_election.enabled);
    // With leader election the default rolling update is kept.
    let r = render(&ha_values(), "pg-gitops", "ops");
    assert_eq!(r.one("Deployment")["spec"]["strategy"], Value::Null);
    assert_eq!(r.one("Deployment")["spec"]["replicas"], 2);
}

#[test]
fn refuses_unsafe_or_contradictory_values_with_a_clear_message() {
    let cases = [
        (
            json!({ "replicaCount": 2, "leaderElection": { "enabled": false } }),
            "replicaCount is 2 but leaderElection.enabled is false",
        ),
        // values.schema.json: a misspelt value is an error, not silently ignored.
        (
            json!({ "replicas": 2 }),
            "additional properties 'replicas' not allowed",
        ),
        (
            json!({ "config": { "sorce": { "kind": "dir" } } }),
            "invalid propertyName 'sorce'",
        ),
        (
            json!({ "git": { "url": "https://x/y.git", "auth": { "method": "token" } } }),
            "git.auth.existingSecret is empty",
        ),
        (
            json!({ "git": { "auth": { "method": "password" } } }),
            "at '/git/auth/method': value must be one of 'none', 'token', 'basic', 'ssh'",
        ),
        (
            json!({ "webhook": { "existingSecret": "s", "providers": { "gogs": "k" } } }),
            "invalid propertyName 'gogs'",
        ),
        (
            json!({ "webhook": { "providers": { "github": "k" } } }),
            "webhook.existingSecret is empty",
        ),
        (
            json!({ "config": { "source": { "url": "https://x/y.git" } } }),
            "config.source.url is set by the chart; use git.url",
        ),
        (
            json!({ "config": { "reconcile": { "prune": true } } }),
            "config.reconcile.prune is set by the chart; use the top-level value prune",
        ),
        (
            json!({ "config": { "leader_election": { "enabled": false } } }),
            "config.leader_election is set by the chart",
        ),
        (
            json!({ "podDisruptionBudget": { "enabled": true } }),
            "podDisruptionBudget.minAvailable (1) is not below replicaCount (1)",
        ),
    ];
    for (values, expected) in cases {
        let message = render_error(&values);
        assert!(
            message.contains(expected),
            "values {values}: expected a message containing {expected:?}, got:\n{message}"
        );
    }
}

#[test]
fn full_values_mount_every_configured_secret_file() {
    let r = render(&full_values(), "fleet", "ops");
    let config = pg_gitops::config::Config::from_toml_str(&r.config_toml())
        .unwrap_or_else(|e| panic!("config.toml rejected: {e}\n{}", r.config_toml()));
    assert_eq!(config.source.kind, pg_gitops::config::SourceKind::Git);
    assert_eq!(
        config.source.url.as_deref(),
        Some("ssh://git@git.example.com/fleet.git")
    );
    assert_eq!(config.source.branch, "production");
    assert_eq!(config.source.path, "clusters/eu");
    assert_eq!(config.source.depth, 1);
    assert_eq!(config.source.poll_interval.0, Duration::from_secs(30));
    assert_eq!(config.plan.default_namespace, "databases");
    assert_eq!(config.plan.volume_expansion_mode, "Offline");
    assert!(config.reconcile.prune);
    assert_eq!(config.leader_election.lease_name, "pg-gitops-leader");
    assert_eq!(
        config.leader_election.lease_duration.0,
        Duration::from_secs(20)
    );

    let deployment = r.one("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_no_secret_in_env(c);
    assert_eq!(env(c, "EXTRA"), Some("1".to_owned()));

    // Every file the config points at is a key of the right Secret, mounted read-only.
    let auth = &config.source.auth;
    let webhooks = &config.server.webhooks;
    let files = [
        (auth.ssh_key_file.clone(), "fleet-git", "identity"),
        (auth.known_hosts_file.clone(), "fleet-git", "known_hosts"),
        (auth.ssh_passphrase_file.clone(), "fleet-git", "passphrase"),
        (
            webhooks.github_secret_file.clone(),
            "fleet-webhooks",
            "github-secret",
        ),
        (
            webhooks.gitlab_token_file.clone(),
            "fleet-webhooks",
            "gitlab-token",
        ),
    ];
    for (file, secret, key) in files {
        let file = file.unwrap_or_else(|| panic!("config.toml names no file for {secret}/{key}"));
        let dir = file.parent().unwrap().to_str().unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        let volume = volume_for_mount(pod, c, dir);
        assert_eq!(volume["secret"]["secretName"], secret, "{}", file.display());
        let items = volume["secret"]["items"].as_array().unwrap();
        assert!(
            items.iter().any(|i| i["key"] == key && i["path"] == name),
            "{} is not Secret {secret} key {key}: {items:?}",
            file.display()
        );
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == dir)
            .unwrap();
        assert_eq!(mount["readOnly"], true, "{mount}");
    }
    assert!(auth.password_file.is_none() && auth.token_file.is_none());
    assert!(webhooks.gitea_secret_file.is_none());

    // The Ingress exposes the webhook receivers only.
    let ingress = r.one("Ingress");
    let paths = &ingress["spec"]["rules"][0]["http"]["paths"];
    assert_eq!(paths.as_array().unwrap().len(), 1);
    assert_eq!(paths[0]["path"], "/hooks/");
    assert_eq!(ingress["spec"]["rules"][0]["host"], "hooks.example.com");
    assert_eq!(paths[0]["backend"]["service"]["name"], "fleet-pg-gitops");

    assert_eq!(r.one("PodDisruptionBudget")["spec"]["maxUnavailable"], 1);
    assert!(r.notes().contains("/hooks/github"), "{}", r.notes());
}

#[test]
fn service_monitor_scrapes_the_http_port() {
    let r = render(
        &json!({ "serviceMonitor": { "enabled": true, "interval": "15s", "labels": { "release": "prom" } } }),
        "pg-gitops",
        "ops",
    );
    let monitor = r.one("ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        r.one("Service")["metadata"]["labels"]
            .as_object()
            .map(|labels| {
                json!({
                    "app.kubernetes.io/name": labels["app.kubernetes.io/name"],
                    "app.kubernetes.io/instance": labels["app.kubernetes.io/instance"],
                })
            })
            .unwrap()
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(
        endpoint["port"],
        r.one("Service")["spec"]["ports"][0]["name"]
    );
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["interval"], "15s");
}

#[test]
fn pod_disruption_budget_api_version_follows_the_cluster_version() {
    for (kube_version, api_version) in [("v1.20.2", "policy/v1beta1"), ("v1.30.0", "policy/v1")] {
        let r = try_render(&ha_values(), "pg-gitops", "ops", Some(kube_version)).unwrap();
        assert_eq!(
            r.one("PodDisruptionBudget")["apiVersion"],
            api_version,
            "Kubernetes {kube_version}"
        );
    }
}

fn env(container: &Value, name: &str) -> Option<String> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(str::to_owned))
}

/// Secrets reach the process as files only: no env var comes from a Secret.
fn assert_no_secret_in_env(container: &Value) {
    assert!(
        container["envFrom"].is_null(),
        "envFrom: {}",
        container["envFrom"]
    );
    for var in container["env"].as_array().into_iter().flatten() {
        assert!(
            var["valueFrom"]["secretKeyRef"].is_null(),
            "env var from a Secret: {var}"
        );
    }
}

/// The pod volume mounted at `path` in `container`.
fn volume_for_mount<'a>(pod: &'a Value, container: &Value, path: &str) -> &'a Value {
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == path)
        .unwrap_or_else(|| {
            panic!(
                "nothing is mounted at {path}: {}",
                container["volumeMounts"]
            )
        });
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap_or_else(|| panic!("no volume {} in the pod", mount["name"]))
}

// ---------------------------------------------------------------------------------------------
// On the real API server

/// Renders the chart for `namespace` against the cluster's Kubernetes version (as `helm
/// install` does) and creates every object there; the CRD is validated by a server-side
/// dry-run apply (it is already installed). Returns the rendering.
async fn install(client: &Client, values: &Value, release: &str, namespace: &str) -> Rendered {
    let version = client.apiserver_version().await.expect("/version answers");
    let rendered = try_render(values, release, namespace, Some(&version.git_version))
        .unwrap_or_else(|e| panic!("the chart refused values {values}:\n{e}"));
    let minor: u32 = version
        .minor
        .trim_end_matches('+')
        .parse()
        .expect("a numeric minor version");

    for (file, text) in &rendered.crds {
        // API servers before 1.21 reject `default: ""` (vendor/kubedb-crds/SOURCE.md).
        let text = if minor < 21 {
            test_support::cluster::drop_empty_string_defaults(text)
        } else {
            text.clone()
        };
        let crd: DynamicObject = serde_yaml::from_str(&text).unwrap();
        let (ar, _) = kube::discovery::pinned_kind(
            client,
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        )
        .await
        .unwrap();
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let params = PatchParams::apply("helm").force().dry_run();
        api.patch(&crd.name_any(), &params, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("the API server refuses the chart's CRD {file}: {e}"));
    }

    for object in rendered.objects() {
        let obj: DynamicObject = serde_json::from_value(object.clone()).unwrap();
        let types = obj
            .types
            .clone()
            .expect("a rendered object has apiVersion and kind");
        let gvk = GroupVersionKind::try_from(&types).unwrap();
        let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
            .await
            .unwrap_or_else(|e| panic!("the API server does not serve {gvk:?}: {e}"));
        let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
            // Namespaced objects name their namespace (as `helm template | kubectl apply`
            // needs): the release namespace, or the Lease's for the leader-election Role.
            let object_ns = obj
                .metadata
                .namespace
                .as_deref()
                .unwrap_or_else(|| panic!("{} {} names no namespace", ar.kind, obj.name_any()));
            let leader_election_rbac = obj.name_any().ends_with("-leader-election")
                && ar.group == "rbac.authorization.k8s.io";
            assert!(
                object_ns == namespace || leader_election_rbac,
                "{} {} is in namespace {object_ns}, not the release namespace {namespace}",
                ar.kind,
                obj.name_any()
            );
            Api::namespaced_with(client.clone(), object_ns, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        api.create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the API server refuses {} {}: {e}\n{object:#}",
                    ar.kind,
                    obj.name_any()
                )
            });
    }
    rendered
}

fn object(ar: &ApiResource, body: Value) -> DynamicObject {
    let mut body = body;
    body["apiVersion"] = json!(ar.api_version);
    body["kind"] = json!(ar.kind);
    serde_json::from_value(body).expect("a valid object manifest")
}

fn gitops_postgres(name: &str) -> DynamicObject {
    object(
        &kinds::gitops_postgres(),
        json!({
            "metadata": { "name": name },
            "spec": { "version": "16.4", "replicas": 3, "storageType": "Durable" }
        }),
    )
}

fn kubedb_postgres(name: &str) -> DynamicObject {
    object(
        &kinds::kubedb_postgres(),
        json!({
            "metadata": { "name": name },
            "spec": { "version": "16.4", "replicas": 3, "storageType": "Durable" }
        }),
    )
}

fn ops_request(name: &str, db: &str) -> DynamicObject {
    object(
        &kinds::ops_request(),
        json!({
            "metadata": { "name": name },
            "spec": { "type": "Restart", "databaseRef": { "name": db } }
        }),
    )
}

/// Panics unless `result` is a 403 Forbidden.
fn assert_forbidden<T: std::fmt::Debug>(what: &str, result: kube::Result<T>) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        Ok(v) => panic!("RBAC is not minimal: the service account may {what}: {v:?}"),
        Err(e) => panic!("{what}: expected 403 Forbidden, got {e}"),
    }
}

fn allowed<T>(what: &str, result: kube::Result<T>) -> T {
    result.unwrap_or_else(|e| {
        panic!("RBAC is not sufficient: the service account cannot {what}: {e}")
    })
}

/// Starts a watch (the API server answers the request before any event streams, so a
/// refusal surfaces here) and drops it.
async fn watch_allowed(what: &str, api: &Api<DynamicObject>) {
    let stream = allowed(
        what,
        api.watch(&WatchParams::default().timeout(1), "0").await,
    );
    drop(stream);
}

/// Waits until the RBAC objects just created take effect for `sa` (the authorizer reads them
/// from a watch cache).
async fn wait_for_rbac(sa: &Client, lease_ns: &str, lease: &str) {
    let api: Api<DynamicObject> = Api::all_with(sa.clone(), &kinds::gitops_postgres());
    let leases: Api<Lease> = Api::namespaced(sa.clone(), lease_ns);
    let mut last = String::new();
    for _ in 0..100 {
        // The ClusterRoleBinding, then the lease RoleBinding (a missing Lease is a 404, a
        // missing grant a 403).
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => match leases.get_opt(lease).await {
                Ok(_) => return,
                Err(e) => last = format!("lease RoleBinding: {e}"),
            },
            Err(e) => last = format!("ClusterRoleBinding: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the chart's RBAC did not take effect within 10 s: {last}");
}

/// Every API call pg-gitops makes, as the chart's ServiceAccount `sa`; `admin` sets up what
/// the service only reads.
async fn service_calls_succeed(sa: &Client, admin: &Client, ns: &str, lease_ns: &str, lease: &str) {
    let fm = PatchParams::apply("pg-gitops").force();

    // gitops.kubedb.com Postgres: the sync stage server-side applies (create + patch), the
    // controller lists, watches and gets, and writes status.
    let gitops_ar = kinds::gitops_postgres();
    let gitops: Api<DynamicObject> = Api::namespaced_with(sa.clone(), ns, &gitops_ar);
    let gitops_all: Api<DynamicObject> = Api::all_with(sa.clone(), &gitops_ar);
    allowed(
        "server-side apply (create) a gitops Postgres",
        gitops
            .patch("orders", &fm, &Patch::Apply(&gitops_postgres("orders")))
            .await,
    );
    let mut changed = gitops_postgres("orders");
    changed.data["spec"]["replicas"] = json!(5);
    allowed(
        "server-side apply (update) a gitops Postgres",
        gitops.patch("orders", &fm, &Patch::Apply(&changed)).await,
    );
    allowed(
        "patch a gitops Postgres",
        gitops
            .patch(
                "orders",
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "annotations": { "gitops.kubedb.com/revision": "abc" } } })),
            )
            .await,
    );
    let got = allowed("get a gitops Postgres", gitops.get("orders").await);
    assert_eq!(got.data["spec"]["replicas"], 5);
    let listed = allowed(
        "list gitops Postgres in all namespaces",
        gitops_all.list(&ListParams::default()).await,
    );
    assert!(listed.items.iter().any(|o| o.name_any() == "orders"));
    watch_allowed("watch gitops Postgres in all namespaces", &gitops_all).await;
    allowed(
        "patch the status of a gitops Postgres",
        gitops
            .patch_status(
                "orders",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "phase": "Provisioning" } })),
            )
            .await,
    );

    // kubedb.com Postgres: provisioned, read and patched.
    let kubedb_ar = kinds::kubedb_postgres();
    let kubedb: Api<DynamicObject> = Api::namespaced_with(sa.clone(), ns, &kubedb_ar);
    allowed(
        "create a kubedb Postgres",
        kubedb
            .create(&PostParams::default(), &kubedb_postgres("orders"))
            .await,
    );
    allowed("get a kubedb Postgres", kubedb.get("orders").await);
    allowed(
        "list kubedb Postgres in all namespaces",
        Api::<DynamicObject>::all_with(sa.clone(), &kubedb_ar)
            .list(&ListParams::default())
            .await,
    );
    watch_allowed(
        "watch kubedb Postgres in all namespaces",
        &Api::<DynamicObject>::all_with(sa.clone(), &kubedb_ar),
    )
    .await;
    allowed(
        "patch a kubedb Postgres",
        kubedb
            .patch(
                "orders",
                &PatchParams::default(),
                &Patch::Merge(json!({ "metadata": { "annotations": { "gitops.kubedb.com/last-applied": "{}" } } })),
            )
            .await,
    );
    allowed(
        "server-side apply a kubedb Postgres",
        kubedb
            .patch(
                "orders",
                &fm,
                &Patch::Apply(object(
                    &kubedb_ar,
                    json!({ "metadata": { "name": "orders", "labels": { "team": "a" } } }),
                )),
            )
            .await,
    );

    // OpsRequests: created one per step, read and watched.
    let ops_ar = kinds::ops_request();
    let ops: Api<DynamicObject> = Api::namespaced_with(sa.clone(), ns, &ops_ar);
    allowed(
        "create an OpsRequest",
        ops.create(
            &PostParams::default(),
            &ops_request("orders-restart-abc123", "orders"),
        )
        .await,
    );
    allowed("get an OpsRequest", ops.get("orders-restart-abc123").await);
    allowed(
        "list OpsRequests in all namespaces",
        Api::<DynamicObject>::all_with(sa.clone(), &ops_ar)
            .list(&ListParams::default())
            .await,
    );
    watch_allowed(
        "watch OpsRequests in all namespaces",
        &Api::<DynamicObject>::all_with(sa.clone(), &ops_ar),
    )
    .await;

    // The version catalog (cluster-scoped): read only.
    let versions_ar = kinds::postgres_version();
    let admin_versions: Api<DynamicObject> = Api::all_with(admin.clone(), &versions_ar);
    let version_name = format!("chart-{ns}");
    admin_versions
        .create(
            &PostParams::default(),
            &object(
                &versions_ar,
                json!({
                    "metadata": { "name": version_name },
                    "spec": {
                        "version": "16.4",
                        "db": { "image": "postgres:16.4" },
                        "exporter": { "image": "exporter:1" },
                        "coordinator": { "image": "coordinator:1" },
                        "podSecurityPolicies": { "databasePolicyName": "postgres-db" }
                    }
                }),
            ),
        )
        .await
        .expect("admin creates a PostgresVersion");
    let versions: Api<DynamicObject> = Api::all_with(sa.clone(), &versions_ar);
    let listed = allowed(
        "list PostgresVersions",
        versions.list(&ListParams::default()).await,
    );
    assert!(listed.items.iter().any(|v| v.name_any() == version_name));
    allowed("get a PostgresVersion", versions.get(&version_name).await);
    watch_allowed("watch PostgresVersions", &versions).await;

    // Events (events.k8s.io/v1, as kube-runtime's recorder writes them): create, then patch
    // the repeat count.
    let events: Api<Event> = Api::namespaced(sa.clone(), ns);
    let event = Event {
        metadata: ObjectMeta {
            name: Some("orders.step".into()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
        action: Some("CreateOpsRequest".into()),
        reason: Some("Restart".into()),
        note: Some("created orders-restart-abc123".into()),
        reporting_controller: Some("pg-gitops".into()),
        reporting_instance: Some("pg-gitops-0".into()),
        type_: Some("Normal".into()),
        regarding: Some(k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("gitops.kubedb.com/v1alpha1".into()),
            kind: Some("Postgres".into()),
            name: Some("orders".into()),
            namespace: Some(ns.into()),
            ..Default::default()
        }),
        ..Event::default()
    };
    allowed(
        "create an Event",
        events.create(&PostParams::default(), &event).await,
    );
    allowed(
        "patch an Event",
        events
            .patch(
                "orders.step",
                &PatchParams::default(),
                &Patch::Merge(json!({ "series": { "count": 2, "lastObservedTime": MicroTime(k8s_openapi::jiff::Timestamp::now()) } })),
            )
            .await,
    );

    // The Lease: the service's own leader election (src/leader), run as the service account,
    // wins, holds and releases it.
    lease_election_works(sa, admin, lease_ns, lease).await;
    // And each call it makes, explicitly (a refused watch would only be retried in there).
    let leases: Api<Lease> = Api::namespaced(sa.clone(), lease_ns);
    let by_name = format!("metadata.name={lease}");
    allowed("get the Lease", leases.get(lease).await);
    allowed(
        "list the Lease by name",
        leases.list(&ListParams::default().fields(&by_name)).await,
    );
    let stream = allowed(
        "watch the Lease by name",
        leases
            .watch(&WatchParams::default().fields(&by_name).timeout(1), "0")
            .await,
    );
    drop(stream);
    allowed(
        "patch the Lease (strategic merge, as kube-lease-manager renews)",
        leases
            .patch(
                lease,
                &PatchParams::default(),
                &Patch::Strategic(json!({ "spec": { "leaseTransitions": 7 } })),
            )
            .await,
    );
    allowed(
        "server-side apply the Lease",
        leases
            .patch(
                lease,
                &PatchParams::apply("pg-gitops").force(),
                &Patch::Apply(json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": { "name": lease },
                    "spec": { "holderIdentity": "chart-test-1" }
                })),
            )
            .await,
    );
}

/// Runs `pg_gitops::leader::start` as the service account: it must create the Lease, become
/// the leader, and release the Lease on shutdown.
async fn lease_election_works(sa: &Client, admin: &Client, lease_ns: &str, lease: &str) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = pg_gitops::leader::LeaderSettings {
        enabled: true,
        lease_name: lease.to_owned(),
        lease_namespace: lease_ns.to_owned(),
        identity: "chart-test-0".to_owned(),
        lease_duration: pg_gitops::leader::DEFAULT_LEASE_DURATION,
    };
    let leadership = pg_gitops::leader::start(sa.clone(), settings, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap_or_else(|e| panic!("RBAC is not sufficient for leader election: {e}"));
    let mut became_leader = false;
    for _ in 0..100 {
        if leadership.is_leader() {
            became_leader = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        became_leader,
        "the service's leader election did not win a fresh Lease within 10 s as the service account"
    );
    let admin_leases: Api<Lease> = Api::namespaced(admin.clone(), lease_ns);
    let held = admin_leases
        .get(lease)
        .await
        .expect("the election created the Lease");
    assert_eq!(
        held.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("chart-test-0")
    );
    stop.send(()).expect("the election task is running");
    tokio::time::timeout(Duration::from_secs(15), leadership.stopped())
        .await
        .expect("the election stops within 15 s of shutdown");
    assert!(!leadership.is_leader());
    let released = admin_leases.get(lease).await.unwrap();
    let holder = released.spec.and_then(|s| s.holder_identity);
    assert!(
        holder.as_deref().unwrap_or("").is_empty(),
        "the Lease was not released on shutdown (holder {holder:?}): RBAC may lack patch"
    );
}

/// What the service must never be able to do.
async fn dangerous_calls_are_forbidden(
    sa: &Client,
    admin: &Client,
    ns: &str,
    lease_ns: &str,
    lease: &str,
) {
    let kubedb: Api<DynamicObject> =
        Api::namespaced_with(sa.clone(), ns, &kinds::kubedb_postgres());
    assert_forbidden(
        "delete a kubedb.com Postgres",
        kubedb.delete("orders", &DeleteParams::default()).await,
    );
    assert_forbidden(
        "delete all kubedb.com Postgres",
        kubedb
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await,
    );
    let ops: Api<DynamicObject> = Api::namespaced_with(sa.clone(), ns, &kinds::ops_request());
    assert_forbidden(
        "delete an OpsRequest",
        ops.delete("orders-restart-abc123", &DeleteParams::default())
            .await,
    );
    assert_forbidden(
        "patch an OpsRequest (they are immutable intents)",
        ops.patch(
            "orders-restart-abc123",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "labels": { "x": "y" } } })),
        )
        .await,
    );
    assert_forbidden(
        "update the status of a kubedb.com Postgres",
        kubedb
            .patch_status(
                "orders",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": { "phase": "Ready" } })),
            )
            .await,
    );
    let versions: Api<DynamicObject> = Api::all_with(sa.clone(), &kinds::postgres_version());
    assert_forbidden(
        "create a PostgresVersion",
        versions
            .create(
                &PostParams::default(),
                &object(
                    &kinds::postgres_version(),
                    json!({ "metadata": { "name": "evil" }, "spec": { "version": "1", "db": { "image": "x" } } }),
                ),
            )
            .await,
    );

    // Secrets: none, anywhere (credentials arrive as mounted files).
    let admin_secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    admin_secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("orders-auth".into()),
                    ..ObjectMeta::default()
                },
                string_data: Some([("password".to_owned(), "hunter2".to_owned())].into()),
                ..Secret::default()
            },
        )
        .await
        .expect("admin creates a Secret");
    let secrets: Api<Secret> = Api::namespaced(sa.clone(), ns);
    assert_forbidden("get a Secret", secrets.get("orders-auth").await);
    assert_forbidden("list Secrets", secrets.list(&ListParams::default()).await);
    assert_forbidden(
        "list Secrets in all namespaces",
        Api::<Secret>::all(sa.clone())
            .list(&ListParams::default())
            .await,
    );

    // Leases: only in the lease namespace, and only the one named lease may be changed.
    let other_ns = Api::<Lease>::namespaced(sa.clone(), ns);
    if ns != lease_ns {
        assert_forbidden(
            "create a Lease outside the lease namespace",
            other_ns
                .create(&PostParams::default(), &bare_lease("elsewhere"))
                .await,
        );
    }
    Api::<Lease>::namespaced(admin.clone(), lease_ns)
        .create(&PostParams::default(), &bare_lease("someone-else"))
        .await
        .expect("admin creates another Lease");
    let leases: Api<Lease> = Api::namespaced(sa.clone(), lease_ns);
    assert_forbidden(
        "take over another component's Lease",
        leases
            .patch(
                "someone-else",
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": { "holderIdentity": "pg-gitops" } })),
            )
            .await,
    );
    assert_forbidden(
        "list every Lease of the namespace",
        leases.list(&ListParams::default()).await,
    );
    let own = leases
        .get(lease)
        .await
        .expect("the service account may get its Lease");
    assert_forbidden(
        "update (replace) its Lease: the service only patches",
        leases.replace(lease, &PostParams::default(), &own).await,
    );
    assert_forbidden(
        "delete the Lease",
        leases
            .delete("someone-else", &DeleteParams::default())
            .await,
    );

    // Nothing else in the namespace either.
    assert_forbidden(
        "create a ConfigMap",
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(sa.clone(), ns)
            .create(&PostParams::default(), &Default::default())
            .await,
    );
}

fn bare_lease(name: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec::default()),
    }
}

#[tokio::test]
async fn default_install_on_the_api_server_has_sufficient_and_minimal_rbac() {
    let cluster = test_support::cluster().await;
    let admin = cluster.client();
    let ns = cluster.namespace("chart-default").await;
    // The release is named after its namespace, so the ClusterRoles of parallel tests differ.
    let rendered = install(&admin, &json!({}), &ns, &ns).await;
    let sa_name = format!("{ns}-pg-gitops");
    assert_eq!(
        rendered.one("ServiceAccount")["metadata"]["name"],
        sa_name.as_str()
    );

    // The objects are stored as rendered (nothing the security settings need was dropped).
    let deployment: k8s_openapi::api::apps::v1::Deployment = Api::namespaced(admin.clone(), &ns)
        .get(&sa_name)
        .await
        .expect("the Deployment was created");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    let pod_security = pod.security_context.unwrap();
    assert_eq!(pod_security.run_as_non_root, Some(true));
    assert_eq!(
        pod_security.seccomp_profile.map(|p| p.type_),
        Some("RuntimeDefault".to_owned())
    );
    let container_security = pod.containers[0].security_context.clone().unwrap();
    assert_eq!(container_security.read_only_root_filesystem, Some(true));

    let sa = cluster.service_account(&ns, &sa_name);
    wait_for_rbac(&sa, &ns, &sa_name).await;
    service_calls_succeed(&sa, &admin, &ns, &ns, &sa_name).await;
    dangerous_calls_are_forbidden(&sa, &admin, &ns, &ns, &sa_name).await;

    // Without prune, gitops objects cannot be deleted either.
    let gitops: Api<DynamicObject> =
        Api::namespaced_with(sa.clone(), &ns, &kinds::gitops_postgres());
    assert_forbidden(
        "delete a gitops Postgres (prune is off)",
        gitops.delete("orders", &DeleteParams::default()).await,
    );

    // A ServiceAccount of another release gets nothing from this one's bindings.
    let stranger = cluster.service_account(&ns, "someone-else");
    assert_forbidden(
        "watch gitops Postgres as an unrelated service account",
        Api::<DynamicObject>::all_with(stranger.clone(), &kinds::gitops_postgres())
            .watch(&WatchParams::default().timeout(1), "0")
            .await
            .map(drop),
    );
    assert_forbidden(
        "list gitops Postgres as an unrelated service account",
        Api::<DynamicObject>::all_with(stranger, &kinds::gitops_postgres())
            .list(&ListParams::default())
            .await,
    );
}

#[tokio::test]
async fn ha_install_with_prune_and_a_separate_lease_namespace() {
    let cluster = test_support::cluster().await;
    let admin = cluster.client();
    let ns = cluster.namespace("chart-ha").await;
    let lease_ns = cluster.namespace("chart-lease").await;
    let mut values = full_values();
    values["leaderElection"]["namespace"] = json!(lease_ns);
    let rendered = install(&admin, &values, &ns, &ns).await;
    assert_eq!(rendered.one("Deployment")["spec"]["replicas"], 2);
    let role = rendered.one("Role");
    assert_eq!(role["metadata"]["namespace"], lease_ns.as_str());
    let config = pg_gitops::config::Config::from_toml_str(&rendered.config_toml()).unwrap();
    assert_eq!(config.leader_election.lease_namespace, lease_ns);

    let sa_name = format!("{ns}-pg-gitops");
    let sa = cluster.service_account(&ns, &sa_name);
    wait_for_rbac(&sa, &lease_ns, "pg-gitops-leader").await;
    service_calls_succeed(&sa, &admin, &ns, &lease_ns, "pg-gitops-leader").await;
    dangerous_calls_are_forbidden(&sa, &admin, &ns, &lease_ns, "pg-gitops-leader").await;

    // prune: gitops objects may be deleted; the databases themselves still may not.
    let gitops: Api<DynamicObject> =
        Api::namespaced_with(sa.clone(), &ns, &kinds::gitops_postgres());
    allowed(
        "delete a gitops Postgres (prune is on)",
        gitops.delete("orders", &DeleteParams::default()).await,
    );
    let kubedb: Api<DynamicObject> =
        Api::namespaced_with(sa.clone(), &ns, &kinds::kubedb_postgres());
    assert_forbidden(
        "delete a kubedb.com Postgres (even with prune)",
        kubedb.delete("orders", &DeleteParams::default()).await,
    );
}

/// The whole service (`pg_gitops::run::run_until`) with the chart's rendered config.toml,
/// authenticated as the chart's ServiceAccount: the sync stage applies a manifest from a
/// directory, the controller provisions the database and writes status and Events, and the
/// leader election holds the Lease, all with exactly the chart's RBAC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_with_the_charts_rbac_and_config() {
    let cluster = test_support::cluster().await;
    let admin = cluster.client();
    let ns = cluster.namespace("chart-run").await;
    let manifests = tempfile::tempdir().unwrap();
    std::fs::write(
        manifests.path().join("orders.yaml"),
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: orders\n\
         spec:\n  version: \"17.2\"\n  replicas: 1\n  storage:\n    resources:\n      \
         requests:\n        storage: 1Gi\n  deletionPolicy: Halt\n",
    )
    .unwrap();
    // The version catalog entry the plan checks (cluster-scoped; another test may have it).
    let versions_ar = kinds::postgres_version();
    let versions: Api<DynamicObject> = Api::all_with(admin.clone(), &versions_ar);
    let text = std::fs::read_to_string(repo_root().join("examples/live/versions.yaml")).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let version: DynamicObject = serde::Deserialize::deserialize(doc).unwrap();
        match versions.create(&PostParams::default(), &version).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => panic!("creating PostgresVersion {}: {e}", version.name_any()),
        }
    }

    let values = json!({
        "config": {
            "source": { "kind": "dir", "dir": manifests.path(), "dir_debounce": "100ms" },
            "plan": { "default_namespace": ns },
            "reconcile": { "namespace": ns, "instance": "chart-run-0" }
        }
    });
    let rendered = install(&admin, &values, &ns, &ns).await;
    let mut config = pg_gitops::config::Config::from_toml_str(&rendered.config_toml())
        .unwrap_or_else(|e| panic!("config.toml rejected: {e}\n{}", rendered.config_toml()));
    assert!(config.leader_election.enabled);
    // The one change: the container's 0.0.0.0:8080 becomes a free loopback port.
    config.server.listen = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };

    let sa_name = format!("{ns}-pg-gitops");
    let sa = cluster.service_account(&ns, &sa_name);
    wait_for_rbac(&sa, &ns, &sa_name).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(pg_gitops::run::run_until(config, sa, async move {
        let _ = stopped.await;
    }));

    let gitops: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), &ns, &kinds::gitops_postgres());
    let kubedb: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), &ns, &kinds::kubedb_postgres());
    let events: Api<Event> = Api::namespaced(admin.clone(), &ns);
    let leases: Api<Lease> = Api::namespaced(admin.clone(), &ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut seen;
    loop {
        assert!(
            !service.is_finished(),
            "the service stopped early: {:?}",
            service.await
        );
        let applied = gitops.get_opt("orders").await.unwrap();
        let provisioned = kubedb.get_opt("orders").await.unwrap().is_some();
        let status = applied.as_ref().map(|o| o.data["status"].clone());
        let our_events = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.reporting_controller.as_deref() == Some("pg-gitops"))
            .count();
        let holder = leases
            .get_opt(&sa_name)
            .await
            .unwrap()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity);
        seen = format!(
            "gitops object applied: {}, kubedb Postgres provisioned: {provisioned}, status: \
             {status:?}, events: {our_events}, lease holder: {holder:?}",
            applied.is_some()
        );
        let has_status = status.is_some_and(|s| s.is_object());
        if applied.is_some()
            && provisioned
            && has_status
            && our_events > 0
            && holder.as_deref() == Some("chart-run-0")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service did not apply, provision, report and lead within 60 s as the chart's \
             service account; {seen}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = stop.send(());
    let result = tokio::time::timeout(Duration::from_secs(30), service)
        .await
        .expect("the service stops within 30 s")
        .expect("the service task does not panic");
    assert!(result.is_ok(), "the service failed: {result:?} ({seen})");
}

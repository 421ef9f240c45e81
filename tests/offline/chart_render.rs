//! The Helm chart `charts/pg-gitops` rendered without a cluster: lints clean, renders with
//! default and HA values, refuses unsafe values with a clear message, keeps its CRD identical
//! to the vendored one, renders a config.toml the service accepts. Installing it on the API
//! server is `tests/cluster/chart.rs`.
//!
//! Rendering uses `scripts/render-chart.py` (the Helm v4 SDK from PyPI `helm-python-sdk`,
//! installed by `scripts/python-deps`, which `scripts/test` runs).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use test_support::chart::{
    CHART, full_values, ha_values, render, render_error, render_script, try_render,
};
use test_support::repo_root;

#[test]
fn chart_yaml_app_version_is_the_crate_version() {
    let text = std::fs::read_to_string(repo_root().join(CHART).join("Chart.yaml")).unwrap();
    let chart: Value = pg_gitops::yaml::parse_value(&text).expect("Chart.yaml is YAML");
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
    assert_eq!(
        packaged["archive"],
        format!("pg-gitops-{}.tgz", env!("CARGO_PKG_VERSION"))
    );
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
    let mut opt_ins = full_values();
    for key in [
        "prometheusRule",
        "grafanaDashboard",
        "networkPolicy",
        "serviceMonitor",
    ] {
        opt_ins[key] = json!({ "enabled": true });
    }
    opt_ins["argocd"] = json!({ "healthCheck": { "enabled": true } });
    for values in [json!({}), ha_values(), full_values(), opt_ins] {
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
    assert_eq!(
        c["image"],
        format!("ghcr.io/pg-gitops/pg-gitops:{}", env!("CARGO_PKG_VERSION"))
    );
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
            "additional properties 'sorce' not allowed",
        ),
        // Keys inside a section too: the service would refuse them at start (crash loop).
        (
            json!({ "config": { "source": { "poll_intervall": "5m" } } }),
            "at '/config/source': additional properties 'poll_intervall' not allowed",
        ),
        (
            json!({ "config": { "reconcile": { "resync": "5m" } } }),
            "at '/config/reconcile': additional properties 'resync' not allowed",
        ),
        (
            json!({ "config": { "log": { "format": "yaml" } } }),
            "at '/config/log/format': value must be one of 'text', 'json'",
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

#[test]
fn schema_knows_exactly_the_config_keys_of_the_service() {
    let text = std::fs::read_to_string(repo_root().join(CHART).join("values.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let config = &schema["properties"]["config"];
    assert_eq!(config["additionalProperties"], false);
    // Every field of the service's Config, as it (de)serializes them.
    let real = serde_json::to_value(pg_gitops::config::Config::default()).unwrap();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&config["properties"]), keys(&real), "config sections");
    for (section, fields) in real.as_object().unwrap() {
        let declared = &config["properties"][section];
        assert_eq!(declared["additionalProperties"], false, "config.{section}");
        assert_eq!(
            keys(&declared["properties"]),
            keys(fields),
            "keys of config.{section} in values.schema.json"
        );
    }
    // Every key the schema allows renders a config.toml the service accepts.
    let values = json!({ "config": {
        "source": { "poll_interval": 30, "poll_jitter": "5s", "depth": 1, "timeout": "2m",
                    "dir_debounce": "1s" },
        "server": { "header_read_timeout": "10s", "request_timeout": "30s", "max_connections": 64 },
        "plan": { "default_namespace": "dbs", "volume_expansion_mode": "Online" },
        "reconcile": { "suspend": false, "namespace": "dbs", "resync_interval": "10m",
                       "instance": "a", "owner": "a" },
        "log": { "format": "json" }
    } });
    let r = render(&values, "pg-gitops", "ops");
    let parsed = pg_gitops::config::Config::from_toml_str(&r.config_toml())
        .unwrap_or_else(|e| panic!("config.toml rejected: {e}\n{}", r.config_toml()));
    assert_eq!(parsed.log.format, pg_gitops::config::LogFormat::Json);
    assert_eq!(parsed.server.max_connections, 64);
}

#[test]
fn replicas_are_spread_over_nodes_and_zones_only_when_there_are_several() {
    let pod = |values: Value| {
        render(&values, "pg-gitops", "ops").one("Deployment")["spec"]["template"]["spec"].clone()
    };
    assert_eq!(pod(json!({}))["topologySpreadConstraints"], Value::Null);
    let spread = pod(ha_values())["topologySpreadConstraints"].clone();
    let keys: Vec<&str> = spread
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["topologyKey"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    );
    let deployment = render(&ha_values(), "pg-gitops", "ops").one("Deployment");
    for constraint in spread.as_array().unwrap() {
        assert_eq!(constraint["maxSkew"], 1);
        assert_eq!(constraint["whenUnsatisfiable"], "ScheduleAnyway");
        assert_eq!(
            constraint["labelSelector"]["matchLabels"],
            deployment["spec"]["selector"]["matchLabels"]
        );
    }
    // Given constraints replace the default.
    let own = json!([{ "maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule",
                       "labelSelector": { "matchLabels": { "app": "x" } } }]);
    let mut values = ha_values();
    values["topologySpreadConstraints"] = own.clone();
    assert_eq!(pod(values)["topologySpreadConstraints"], own);
}

#[test]
fn network_policy_allows_the_http_port_in_and_api_server_dns_and_git_out() {
    let r = render(&json!({}), "pg-gitops", "ops");
    assert!(!r.kinds().contains(&"NetworkPolicy".to_owned()));
    let values = json!({
        "networkPolicy": {
            "enabled": true,
            "apiServer": { "cidrs": ["10.96.0.1/32", "172.18.0.2/32"] },
            "ingressFrom": [{ "namespaceSelector": { "matchLabels": { "name": "monitoring" } } }]
        },
        "git": { "url": "https://git.example.com/fleet.git" }
    });
    let r = render(&values, "pg-gitops", "ops");
    let policy = r.one("NetworkPolicy");
    let deployment = r.one("Deployment");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    let ingress = policy["spec"]["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1);
    // The named port is the container's one port (webhooks, /metrics, probes).
    assert_eq!(
        ingress[0]["ports"],
        json!([{ "protocol": "TCP", "port": "http" }])
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"],
        "http"
    );
    assert_eq!(
        ingress[0]["from"],
        json!([{ "namespaceSelector": { "matchLabels": { "name": "monitoring" } } }])
    );
    let egress = policy["spec"]["egress"].as_array().unwrap();
    let ports = |rule: &Value| -> Vec<(String, i64)> {
        rule["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["protocol"].as_str().unwrap().to_owned(),
                    p["port"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let tcp = |ports: &[i64]| -> Vec<(String, i64)> {
        ports.iter().map(|p| ("TCP".to_owned(), *p)).collect()
    };
    assert_eq!(ports(&egress[0]), tcp(&[443, 6443]), "API server");
    assert_eq!(
        egress[0]["to"],
        json!([{ "ipBlock": { "cidr": "10.96.0.1/32" } }, { "ipBlock": { "cidr": "172.18.0.2/32" } }])
    );
    assert_eq!(
        ports(&egress[1]),
        [("UDP".to_owned(), 53), ("TCP".to_owned(), 53)],
        "DNS"
    );
    assert_eq!(ports(&egress[2]), tcp(&[443, 22]), "Git");
    assert_eq!(egress.len(), 3);
    // Without a Git URL (source.kind = cluster) there is no Git egress.
    let mut cluster = values.clone();
    cluster["git"] = json!({});
    assert_eq!(
        render(&cluster, "pg-gitops", "ops").one("NetworkPolicy")["spec"]["egress"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_changed_webhook_or_git_secret_changes_the_pod_template() {
    let annotations = |values: &Value| {
        render(values, "pg-gitops", "ops").one("Deployment")["spec"]["template"]["metadata"]
            ["annotations"]
            .clone()
    };
    // Nothing to watch by default.
    assert_eq!(annotations(&json!({}))["checksum/secrets"], Value::Null);
    let full = annotations(&full_values());
    let checksum = full["checksum/secrets"].as_str().expect("checksum/secrets");
    assert_eq!(checksum.len(), 64, "{checksum}");
    let mut other = full_values();
    other["webhook"]["existingSecret"] = json!("fleet-webhooks-v2");
    assert_ne!(
        annotations(&other)["checksum/secrets"],
        full["checksum/secrets"]
    );
    // The config checksum still rolls the pods on a config change.
    let mut changed = full_values();
    changed["config"]["source"]["poll_interval"] = json!("45s");
    assert_ne!(
        annotations(&changed)["checksum/config"],
        full["checksum/config"]
    );
}

#[test]
fn grafana_dashboard_ships_in_a_configmap_when_enabled() {
    let r = render(&json!({}), "pg-gitops", "ops");
    assert_eq!(r.kinds().iter().filter(|k| *k == "ConfigMap").count(), 1);
    let r = render(
        &json!({ "grafanaDashboard": { "enabled": true, "annotations": { "grafana_folder": "Databases" } } }),
        "pg-gitops",
        "ops",
    );
    let dashboard = r
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "pg-gitops-dashboard")
        .expect("the dashboard ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        dashboard["metadata"]["annotations"]["grafana_folder"],
        "Databases"
    );
    let shipped: Value =
        serde_json::from_str(dashboard["data"]["pg-gitops.json"].as_str().unwrap()).unwrap();
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join(CHART).join("dashboards/pg-gitops.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(shipped, file);
    assert_eq!(shipped["uid"], "pg-gitops");
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

#[test]
fn notification_targets_render_as_arrays_of_tables_the_service_accepts() {
    let values = json!({
        "git": { "url": "https://github.com/acme/fleet.git" },
        "config": { "notify": {
            "max_attempts": 3,
            "retry_delay": "1s",
            "commit_status": [{ "provider": "gitlab", "token_file": "/etc/notify/gitlab-token",
                                "repository": "acme/platform/fleet" }],
            "webhook": [
                { "format": "slack", "url_file": "/etc/notify/slack-url", "on": ["stalled"] },
                { "format": "generic", "url_file": "/etc/notify/url",
                  "hmac_key_file": "/etc/notify/key" }
            ]
        } }
    });
    let r = render(&values, "pg-gitops", "ops");
    let config = pg_gitops::config::Config::from_toml_str(&r.config_toml())
        .unwrap_or_else(|e| panic!("config.toml rejected: {e}\n{}", r.config_toml()));
    let notify = &config.notify;
    assert_eq!(notify.max_attempts, 3);
    assert_eq!(notify.commit_status.len(), 1);
    assert_eq!(
        notify.commit_status[0].repository.as_deref(),
        Some("acme/platform/fleet")
    );
    assert_eq!(notify.webhook.len(), 2);
    assert_eq!(
        notify.webhook[1].hmac_key_file.as_deref(),
        Some(std::path::Path::new("/etc/notify/key"))
    );
    // A key the service does not know is refused by the schema, not at start.
    let typo =
        json!({ "config": { "notify": { "webhook": [{ "format": "slack", "url": "x" }] } } });
    assert!(try_render(&typo, "pg-gitops", "ops", None).is_err());
}

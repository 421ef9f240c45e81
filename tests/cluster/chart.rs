//! The Helm chart `charts/pg-gitops` installed on the real API server, where its RBAC is
//! proved SUFFICIENT (every call the service makes succeeds as the chart's ServiceAccount) and
//! MINIMAL (deleting databases or OpsRequests and reading Secrets are forbidden), and the
//! whole service runs with the chart's config and RBAC. The checks themselves are in
//! `chart_rbac.rs` and `chart_rbac_minimal.rs`; rendering without a cluster is `tests/offline/chart_render.rs`.
//!
//! Each test installs a release named after its own namespace, so the cluster-scoped objects
//! (ClusterRole, ClusterRoleBinding) of parallel tests differ.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use test_support::chart::{Rendered, full_values, try_render};
use test_support::{kinds, repo_root};

use crate::chart_rbac::*;
use crate::chart_rbac_minimal::*;

/// Renders the chart for `namespace` against the cluster's Kubernetes version (as `helm
/// install` does) and creates every object there; the CRD is validated by a server-side
/// dry-run apply (it is already installed). Returns the rendering.
pub(crate) async fn install(
    client: &Client,
    values: &Value,
    release: &str,
    namespace: &str,
) -> Rendered {
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
        let crd: DynamicObject =
            serde_json::from_value(pg_gitops::yaml::parse_value(&text).unwrap()).unwrap();
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
            let rbac = ar.group == "rbac.authorization.k8s.io";
            let leader_election_rbac = obj.name_any().ends_with("-leader-election") && rbac;
            // Namespaced mode: the service's Role is in the namespace it watches.
            let watched = values.pointer("/config/reconcile/namespace");
            let watched_rbac = rbac && watched.is_some_and(|w| w == object_ns);
            assert!(
                object_ns == namespace || leader_election_rbac || watched_rbac,
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

/// Waits until the RBAC objects just created take effect for `sa` (the authorizer reads them
/// from a watch cache); `watched` is the namespace of namespaced mode.
pub(crate) async fn wait_for_rbac(sa: &Client, watched: Option<&str>, lease_ns: &str, lease: &str) {
    let api: Api<DynamicObject> = match watched {
        Some(ns) => Api::namespaced_with(sa.clone(), ns, &kinds::gitops_postgres()),
        None => Api::all_with(sa.clone(), &kinds::gitops_postgres()),
    };
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
    wait_for_rbac(&sa, None, &ns, &sa_name).await;
    service_calls_succeed(&sa, &admin, (&ns, Scope::Cluster), &ns, &sa_name).await;
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
    // The opt-in NetworkPolicy and the default topology spread of two replicas are accepted
    // by the API server as rendered.
    values["networkPolicy"] =
        json!({ "enabled": true, "apiServer": { "cidrs": ["127.0.0.1/32"] } });
    let rendered = install(&admin, &values, &ns, &ns).await;
    assert_eq!(rendered.one("Deployment")["spec"]["replicas"], 2);
    assert_eq!(
        rendered.one("Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        rendered.one("NetworkPolicy")["spec"]["egress"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    let role = rendered.one("Role");
    assert_eq!(role["metadata"]["namespace"], lease_ns.as_str());
    let config = pg_gitops::config::Config::from_toml_str(&rendered.config_toml()).unwrap();
    assert_eq!(config.leader_election.lease_namespace, lease_ns);

    let sa_name = format!("{ns}-pg-gitops");
    let sa = cluster.service_account(&ns, &sa_name);
    wait_for_rbac(&sa, None, &lease_ns, "pg-gitops-leader").await;
    service_calls_succeed(
        &sa,
        &admin,
        (&ns, Scope::Cluster),
        &lease_ns,
        "pg-gitops-leader",
    )
    .await;
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
/// leader election holds the Lease, all with exactly the chart's RBAC. The service watches the
/// test's namespace (`reconcile.namespace`), so the chart renders its namespaced mode (a Role,
/// and the read-only catalog ClusterRole); `chart_namespaced.rs` runs it without the catalog.
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
    for document in pg_gitops::yaml::parse_documents(&text).unwrap() {
        let version: DynamicObject = serde_json::from_value(document.value).unwrap();
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
    config.server.listen = test_support::free_port();

    let sa_name = format!("{ns}-pg-gitops");
    let sa = cluster.service_account(&ns, &sa_name);
    wait_for_rbac(&sa, Some(&ns), &ns, &sa_name).await;
    runs_as(&admin, sa, config, &ns, &sa_name).await;
}

/// Runs the whole service as the ServiceAccount `sa` until it has applied `orders` in `ns`,
/// provisioned it, written its status and an Event, and holds the Lease `lease` (in `ns`);
/// then stops it cleanly.
pub(crate) async fn runs_as(
    admin: &Client,
    sa: Client,
    config: pg_gitops::config::Config,
    ns: &str,
    lease: &str,
) {
    let instance = config.reconcile.instance.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(pg_gitops::run::run_until(config, sa, async move {
        let _ = stopped.await;
    }));

    let gitops: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ns, &kinds::gitops_postgres());
    let kubedb: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ns, &kinds::kubedb_postgres());
    let events: Api<Event> = Api::namespaced(admin.clone(), ns);
    let leases: Api<Lease> = Api::namespaced(admin.clone(), ns);
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
            .get_opt(lease)
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
        if applied.is_some() && provisioned && has_status && our_events > 0 && holder == instance {
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

//! The chart's namespaced mode (`config.reconcile.namespace`) installed on the API server and
//! proved as its ServiceAccount, as `chart.rs` proves the cluster-wide install: every call the
//! service makes succeeds in the watched namespace, the same calls anywhere else are refused,
//! and the whole service runs with it, also without the catalog ClusterRole
//! (`rbac.catalog=false`: nothing cluster-scoped at all).

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchParams};
use serde_json::json;
use test_support::kinds;

use crate::chart::{install, runs_as, wait_for_rbac};
use crate::chart_rbac::*;
use crate::chart_rbac_minimal::*;

/// What the service may not do outside the namespace it watches.
async fn nothing_outside(sa: &Client, other: &str) {
    let fm = PatchParams::apply("pg-gitops").force();
    for (what, ar) in [
        ("gitops Postgres", kinds::gitops_postgres()),
        ("kubedb Postgres", kinds::kubedb_postgres()),
        ("OpsRequests", kinds::ops_request()),
    ] {
        let all: Api<DynamicObject> = Api::all_with(sa.clone(), &ar);
        assert_forbidden(
            &format!("list {what} in all namespaces"),
            all.list(&ListParams::default()).await,
        );
        assert_forbidden(
            &format!("watch {what} in all namespaces"),
            all.watch(&WatchParams::default().timeout(1), "0")
                .await
                .map(drop),
        );
        let elsewhere: Api<DynamicObject> = Api::namespaced_with(sa.clone(), other, &ar);
        assert_forbidden(
            &format!("list {what} in another namespace"),
            elsewhere.list(&ListParams::default()).await,
        );
    }
    let gitops: Api<DynamicObject> =
        Api::namespaced_with(sa.clone(), other, &kinds::gitops_postgres());
    assert_forbidden(
        "server-side apply a gitops Postgres in another namespace",
        gitops
            .patch("orders", &fm, &Patch::Apply(&gitops_postgres("orders")))
            .await,
    );
    let kubedb: Api<DynamicObject> =
        Api::namespaced_with(sa.clone(), other, &kinds::kubedb_postgres());
    assert_forbidden(
        "create a kubedb Postgres in another namespace",
        kubedb
            .create(&PostParams::default(), &kubedb_postgres("orders"))
            .await,
    );
    let ops: Api<DynamicObject> = Api::namespaced_with(sa.clone(), other, &kinds::ops_request());
    assert_forbidden(
        "create an OpsRequest in another namespace",
        ops.create(
            &PostParams::default(),
            &ops_request("orders-restart-abc123", "orders"),
        )
        .await,
    );
}

#[tokio::test]
async fn a_namespaced_install_may_do_its_work_in_its_namespace_and_nothing_elsewhere() {
    let cluster = test_support::cluster().await;
    let admin = cluster.client();
    let ns = cluster.namespace("chart-nsd").await;
    let watched = cluster.namespace("chart-nsd-dbs").await;
    let other = cluster.namespace("chart-nsd-other").await;
    let values = json!({ "config": { "reconcile": { "namespace": watched } } });
    let rendered = install(&admin, &values, &ns, &ns).await;
    let kinds: Vec<String> = rendered.kinds();
    assert!(
        kinds.contains(&"ClusterRole".to_owned()),
        "the catalog's: {kinds:?}"
    );
    assert_eq!(
        rendered.one("ClusterRole")["metadata"]["name"],
        format!("{ns}-pg-gitops-catalog")
    );
    let sa_name = format!("{ns}-pg-gitops");
    let sa = cluster.service_account(&ns, &sa_name);
    wait_for_rbac(&sa, Some(&watched), &ns, &sa_name).await;
    service_calls_succeed(&sa, &admin, (&watched, Scope::Namespace), &ns, &sa_name).await;
    dangerous_calls_are_forbidden(&sa, &admin, &watched, &ns, &sa_name).await;
    nothing_outside(&sa, &other).await;
    // The release's own namespace is "elsewhere" too, but for Events about the pod
    // (SourceFailed): its Role there has nothing else.
    nothing_outside(&sa, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_in_a_namespace_with_nothing_cluster_scoped() {
    let cluster = test_support::cluster().await;
    let admin = cluster.client();
    let ns = cluster.namespace("chart-tenant").await;
    let manifests = tempfile::tempdir().unwrap();
    std::fs::write(
        manifests.path().join("orders.yaml"),
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: orders\n\
         spec:\n  version: \"17.2\"\n  replicas: 1\n  storage:\n    resources:\n      \
         requests:\n        storage: 1Gi\n  deletionPolicy: Halt\n",
    )
    .unwrap();
    let values = json!({
        "rbac": { "catalog": false },
        "config": {
            "source": { "kind": "dir", "dir": manifests.path(), "dir_debounce": "100ms" },
            "plan": { "default_namespace": ns },
            "reconcile": { "namespace": ns, "instance": "chart-tenant-0" }
        }
    });
    let rendered = install(&admin, &values, &ns, &ns).await;
    for object in rendered.objects() {
        assert!(
            object["metadata"]["namespace"] == ns.as_str(),
            "{} {} is not in the tenant's namespace",
            object["kind"],
            object["metadata"]["name"]
        );
    }
    let mut config = pg_gitops::config::Config::from_toml_str(&rendered.config_toml())
        .unwrap_or_else(|e| panic!("config.toml rejected: {e}\n{}", rendered.config_toml()));
    config.server.listen = test_support::free_port();
    let sa_name = format!("{ns}-pg-gitops");
    let sa = cluster.service_account(&ns, &sa_name);
    wait_for_rbac(&sa, Some(&ns), &ns, &sa_name).await;
    assert_forbidden(
        "list PostgresVersions without the catalog ClusterRole",
        Api::<DynamicObject>::all_with(sa.clone(), &kinds::postgres_version())
            .list(&ListParams::default())
            .await,
    );
    // Without the catalog the version check is skipped; everything else works.
    runs_as(&admin, sa, config, &ns, &sa_name).await;
}

//! The RBAC checks of the chart tests (`chart.rs`), SUFFICIENT half: every API call pg-gitops
//! makes succeeds as the chart's ServiceAccount. The MINIMAL half is `chart_rbac_minimal.rs`.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchParams,
};
use kube::{Client, ResourceExt};
use serde_json::json;
use test_support::kinds::{self, object};

pub(crate) fn gitops_postgres(name: &str) -> DynamicObject {
    object(
        &kinds::gitops_postgres(),
        json!({
            "metadata": { "name": name },
            "spec": { "version": "16.4", "replicas": 3, "storageType": "Durable" }
        }),
    )
}

pub(crate) fn kubedb_postgres(name: &str) -> DynamicObject {
    object(
        &kinds::kubedb_postgres(),
        json!({
            "metadata": { "name": name },
            "spec": { "version": "16.4", "replicas": 3, "storageType": "Durable" }
        }),
    )
}

pub(crate) fn ops_request(name: &str, db: &str) -> DynamicObject {
    object(
        &kinds::ops_request(),
        json!({
            "metadata": { "name": name },
            "spec": { "type": "Restart", "databaseRef": { "name": db } }
        }),
    )
}

/// Panics unless `result` is a 403 Forbidden.
pub(crate) fn assert_forbidden<T: std::fmt::Debug>(what: &str, result: kube::Result<T>) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        Ok(v) => panic!("RBAC is not minimal: the service account may {what}: {v:?}"),
        Err(e) => panic!("{what}: expected 403 Forbidden, got {e}"),
    }
}

pub(crate) fn allowed<T>(what: &str, result: kube::Result<T>) -> T {
    result.unwrap_or_else(|e| {
        panic!("RBAC is not sufficient: the service account cannot {what}: {e}")
    })
}

/// Starts a watch (the API server answers the request before any event streams, so a
/// refusal surfaces here) and drops it.
pub(crate) async fn watch_allowed(what: &str, api: &Api<DynamicObject>) {
    let stream = allowed(
        what,
        api.watch(&WatchParams::default().timeout(1), "0").await,
    );
    drop(stream);
}

/// Where the service lists and watches: every namespace, or (namespaced mode) `ns` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Cluster,
    Namespace,
}

/// Every API call pg-gitops makes, as the chart's ServiceAccount `sa`; `admin` sets up what
/// the service only reads. It writes in `ns`, and lists and watches across `scope`.
pub(crate) async fn service_calls_succeed(
    sa: &Client,
    admin: &Client,
    (ns, scope): (&str, Scope),
    lease_ns: &str,
    lease: &str,
) {
    let fm = PatchParams::apply("pg-gitops").force();
    let across = |ar: &kube::api::ApiResource| -> Api<DynamicObject> {
        match scope {
            Scope::Cluster => Api::all_with(sa.clone(), ar),
            Scope::Namespace => Api::namespaced_with(sa.clone(), ns, ar),
        }
    };
    let where_ = match scope {
        Scope::Cluster => "in all namespaces".to_owned(),
        Scope::Namespace => format!("in namespace {ns}"),
    };

    // gitops.kubedb.com Postgres: the sync stage server-side applies (create + patch), the
    // controller lists, watches and gets, and writes status.
    let gitops_ar = kinds::gitops_postgres();
    let gitops: Api<DynamicObject> = Api::namespaced_with(sa.clone(), ns, &gitops_ar);
    let gitops_all = across(&gitops_ar);
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
        &format!("list gitops Postgres {where_}"),
        gitops_all.list(&ListParams::default()).await,
    );
    assert!(listed.items.iter().any(|o| o.name_any() == "orders"));
    watch_allowed(&format!("watch gitops Postgres {where_}"), &gitops_all).await;
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
        &format!("list kubedb Postgres {where_}"),
        across(&kubedb_ar).list(&ListParams::default()).await,
    );
    watch_allowed(
        &format!("watch kubedb Postgres {where_}"),
        &across(&kubedb_ar),
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
        &format!("list OpsRequests {where_}"),
        across(&ops_ar).list(&ListParams::default()).await,
    );
    watch_allowed(&format!("watch OpsRequests {where_}"), &across(&ops_ar)).await;

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
pub(crate) async fn lease_election_works(sa: &Client, admin: &Client, lease_ns: &str, lease: &str) {
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

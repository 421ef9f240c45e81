//! Proves that the cluster the tests run against is a real Kubernetes API server serving
//! KubeDB's real CRDs: it validates enums and required fields, prunes undeclared fields,
//! keeps status behind the status subresource, and enforces optimistic concurrency.
//! Authentication and RBAC: `harness_auth.rs`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use test_support::kinds::{self, object};

/// The `kube::Error::Api` status of a failed call; panics if the call succeeded.
pub(crate) fn api_error<T: std::fmt::Debug>(result: kube::Result<T>) -> Box<kube::core::Status> {
    match result {
        Ok(v) => panic!("the API server accepted what it must refuse: {v:?}"),
        Err(kube::Error::Api(status)) => status,
        Err(e) => panic!("expected an API error status, got {e}"),
    }
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

#[tokio::test]
async fn kubedb_crds_are_established() {
    let cluster = test_support::cluster().await;
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    for (name, served) in [
        ("postgreses.kubedb.com", "v1"),
        ("postgresopsrequests.ops.kubedb.com", "v1alpha1"),
        ("postgreses.gitops.kubedb.com", "v1alpha1"),
        ("postgresversions.catalog.kubedb.com", "v1alpha1"),
    ] {
        let crd = crds.get(name).await.expect("the CRD is installed");
        assert!(
            test_support::cluster::is_established(&crd),
            "{name} is not Established: {:?}",
            crd.status
        );
        assert!(
            crd.spec
                .versions
                .iter()
                .any(|v| v.name == served && v.served && v.storage),
            "{name} does not serve and store {served}"
        );
    }
    let scope = crds
        .get("postgresversions.catalog.kubedb.com")
        .await
        .unwrap()
        .spec
        .scope;
    assert_eq!(scope, "Cluster");
}

#[tokio::test]
async fn local_control_plane_is_kube_apiserver_1_20_2() {
    let cluster = test_support::cluster().await;
    let info = cluster
        .client()
        .apiserver_version()
        .await
        .expect("/version answers");
    assert_eq!(info.major, "1");
    if cluster.is_local() {
        assert_eq!(info.git_version, "v1.20.2");
    }
}

#[tokio::test]
async fn ops_request_with_unknown_type_is_refused() {
    let cluster = test_support::cluster().await;
    let ns = cluster.namespace("unknown-type").await;
    let ar = kinds::ops_request();
    let api: Api<DynamicObject> = Api::namespaced_with(cluster.client(), &ns, &ar);
    let bad = object(
        &ar,
        json!({
            "metadata": { "name": "frobnicate" },
            "spec": { "type": "Frobnicate", "databaseRef": { "name": "pg" } }
        }),
    );
    let status = api_error(api.create(&PostParams::default(), &bad).await);
    assert_eq!(status.code, 422, "{status:?}");
    assert_eq!(status.reason, "Invalid", "{status:?}");
    assert!(
        status.message.contains("spec.type") && status.message.contains("Unsupported value"),
        "{}",
        status.message
    );
    // Nothing was stored.
    assert!(api.get_opt("frobnicate").await.unwrap().is_none());

    // A required field is enforced too.
    let no_ref = object(
        &ar,
        json!({ "metadata": { "name": "no-ref" }, "spec": { "type": "Restart" } }),
    );
    let status = api_error(api.create(&PostParams::default(), &no_ref).await);
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains("spec.databaseRef"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn valid_ops_request_and_postgres_are_created() {
    let cluster = test_support::cluster().await;
    let client = cluster.client();
    let ns = cluster.namespace("happy-path").await;

    let pg_ar = kinds::kubedb_postgres();
    let postgres: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &pg_ar);
    let created = postgres
        .create(
            &PostParams::default(),
            &object(
                &pg_ar,
                json!({
                    "metadata": { "name": "pg" },
                    "spec": {
                        "version": "16.4",
                        "replicas": 3,
                        "storageType": "Durable",
                        "undeclaredSpecField": "pruned"
                    }
                }),
            ),
        )
        .await
        .expect("a valid kubedb.com/v1 Postgres is accepted");
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.resource_version.is_some());
    let stored = postgres.get("pg").await.unwrap();
    assert_eq!(stored.data["spec"]["version"], "16.4");
    assert_eq!(stored.data["spec"]["replicas"], 3);
    // Structural pruning also applies to spec.
    assert!(
        stored.data["spec"].get("undeclaredSpecField").is_none(),
        "{}",
        stored.data
    );

    let ops_ar = kinds::ops_request();
    let ops: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ops_ar);
    ops.create(
        &PostParams::default(),
        &object(
            &ops_ar,
            json!({
                "metadata": { "name": "pg-scale" },
                "spec": {
                    "type": "HorizontalScaling",
                    "databaseRef": { "name": "pg" },
                    "horizontalScaling": { "replicas": 5 }
                }
            }),
        ),
    )
    .await
    .expect("a valid PostgresOpsRequest is accepted");
    let stored = ops.get("pg-scale").await.unwrap();
    assert_eq!(stored.data["spec"]["type"], "HorizontalScaling");
    assert_eq!(stored.data["spec"]["databaseRef"]["name"], "pg");
    assert_eq!(stored.data["spec"]["horizontalScaling"]["replicas"], 5);

    // The cluster-scoped catalog entry.
    let ver_ar = kinds::postgres_version();
    let versions: Api<DynamicObject> = Api::all_with(client, &ver_ar);
    let mut version = object(
        &ver_ar,
        json!({
            "spec": {
                "version": "16.4",
                "db": { "image": "ghcr.io/appscode-images/postgres:16.4-alpine" },
                "coordinator": { "image": "ghcr.io/kubedb/pg-coordinator:v0.33.0" },
                "exporter": { "image": "prometheuscommunity/postgres-exporter:v0.15.0" },
                "podSecurityPolicies": { "databasePolicyName": "postgres-db" }
            }
        }),
    );
    version.metadata.generate_name = Some(format!("{ns}-"));
    let created = versions
        .create(&PostParams::default(), &version)
        .await
        .expect("a valid PostgresVersion is accepted");
    assert!(created.metadata.namespace.is_none());
}

#[tokio::test]
async fn undeclared_status_field_is_pruned_on_status_write() {
    let cluster = test_support::cluster().await;
    let ns = cluster.namespace("status-prune").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client(), &ns, &kinds::gitops_postgres());
    api.create(&PostParams::default(), &gitops_postgres("pg"))
        .await
        .expect("a valid gitops Postgres is accepted");

    let written = api
        .patch_status(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "status": {
                    "phase": "Ready",
                    "observedGeneration": 1,
                    "undeclaredStatusField": "pruned",
                    "gitops": {
                        "gitOpsInfo": [{
                            "observedGeneration": 1,
                            "changeRequestStatus": "Current",
                            "undeclaredNestedField": "pruned"
                        }]
                    }
                }
            })),
        )
        .await
        .expect("a status write with declared fields is accepted");
    for obj in [written, api.get("pg").await.unwrap()] {
        let status = &obj.data["status"];
        assert_eq!(status["phase"], "Ready", "{status}");
        assert_eq!(status["observedGeneration"], 1, "{status}");
        assert!(status.get("undeclaredStatusField").is_none(), "{status}");
        let info = &status["gitops"]["gitOpsInfo"][0];
        assert_eq!(info["changeRequestStatus"], "Current", "{status}");
        assert!(info.get("undeclaredNestedField").is_none(), "{status}");
    }

    // A status value outside the enum is refused.
    let status = api_error(
        api.patch_status(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": { "phase": "Exploded" } })),
        )
        .await,
    );
    assert_eq!(status.code, 422, "{status:?}");
}

#[tokio::test]
async fn status_is_ignored_on_a_main_resource_write() {
    let cluster = test_support::cluster().await;
    let ns = cluster.namespace("status-subresource").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client(), &ns, &kinds::gitops_postgres());
    let mut pg = gitops_postgres("pg");
    pg.data["status"] = json!({ "phase": "Ready" });
    let created = api.create(&PostParams::default(), &pg).await.unwrap();
    assert!(created.data.get("status").is_none(), "{}", created.data);

    let patched = api
        .patch(
            "pg",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "replicas": 5 }, "status": { "phase": "Ready" } })),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["replicas"], 5);
    assert!(patched.data.get("status").is_none(), "{}", patched.data);
    assert_eq!(patched.metadata.generation, Some(2));
}

#[tokio::test]
async fn write_with_stale_resource_version_conflicts() {
    let cluster = test_support::cluster().await;
    let ns = cluster.namespace("conflict").await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client(), &ns, &kinds::gitops_postgres());
    api.create(&PostParams::default(), &gitops_postgres("pg"))
        .await
        .unwrap();

    let stale = api.get("pg").await.unwrap();
    let mut fresh = stale.clone();
    fresh.data["spec"]["replicas"] = json!(4);
    let updated = api
        .replace("pg", &PostParams::default(), &fresh)
        .await
        .expect("a write with the current resourceVersion is accepted");
    assert_ne!(
        updated.metadata.resource_version,
        stale.metadata.resource_version
    );

    let mut late = stale;
    late.data["spec"]["replicas"] = json!(7);
    let status = api_error(api.replace("pg", &PostParams::default(), &late).await);
    assert_eq!(status.code, 409, "{status:?}");
    assert_eq!(status.reason, "Conflict", "{status:?}");
    assert_eq!(api.get("pg").await.unwrap().data["spec"]["replicas"], 4);

    // The status subresource checks resourceVersion as well.
    let mut late_status = api.get("pg").await.unwrap();
    late_status.data["status"] = json!({ "phase": "Ready" });
    api.patch_status(
        "pg",
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": { "phase": "Provisioning" } })),
    )
    .await
    .unwrap();
    let status = api_error(
        api.replace_status("pg", &PostParams::default(), &late_status)
            .await,
    );
    assert_eq!(status.code, 409, "{status:?}");
}

#[tokio::test]
async fn crd_schema_defaults_are_applied_on_create() {
    let cluster = test_support::cluster().await;
    let ns = cluster.namespace("defaults").await;
    let ar = kinds::ops_request();
    let api: Api<DynamicObject> = Api::namespaced_with(cluster.client(), &ns, &ar);
    let created = api
        .create(
            &PostParams::default(),
            &object(
                &ar,
                json!({
                    "metadata": { "name": "restart" },
                    "spec": { "type": "Restart", "databaseRef": { "name": "pg" } }
                }),
            ),
        )
        .await
        .unwrap();
    // KubeDB's schema defaults `apply` to IfReady and `maxRetries` to 1: what a reader of the
    // stored object sees is more than what was written.
    assert_eq!(created.data["spec"]["apply"], "IfReady", "{}", created.data);
    assert_eq!(created.data["spec"]["maxRetries"], 1, "{}", created.data);
    assert!(created.data["spec"].get("timeout").is_none());
}

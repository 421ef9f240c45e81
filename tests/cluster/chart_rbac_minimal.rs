//! The RBAC checks of the chart tests (`chart.rs`), MINIMAL half: what the service must never
//! be able to do is forbidden to the chart's ServiceAccount.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams,
};
use serde_json::json;
use test_support::kinds::{self, object};

use crate::chart_rbac::assert_forbidden;

/// What the service must never be able to do.
pub(crate) async fn dangerous_calls_are_forbidden(
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

pub(crate) fn bare_lease(name: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec::default()),
    }
}

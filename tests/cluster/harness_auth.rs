//! Proves that the test cluster authenticates and authorizes like a real one: RBAC Roles
//! bind service accounts (what the chart's RBAC tests rely on), and the local control plane
//! knows a service account token and refuses an unknown one.

use std::time::Duration;

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, DynamicObject, ListParams, ObjectMeta, PostParams};
use serde_json::json;
use test_support::kinds::{self, object};

use crate::harness::api_error;

#[tokio::test]
async fn rbac_binds_a_service_account() {
    let cluster = test_support::cluster().await;
    let admin = cluster.client();
    let ns = cluster.namespace("rbac").await;
    let ar = kinds::kubedb_postgres();
    let as_sa: Api<DynamicObject> =
        Api::namespaced_with(cluster.service_account(&ns, "reader"), &ns, &ar);

    let status = api_error(as_sa.list(&ListParams::default()).await);
    assert_eq!(status.code, 403, "{status:?}");
    assert!(
        status
            .message
            .contains(&format!("system:serviceaccount:{ns}:reader")),
        "{}",
        status.message
    );

    let meta = ObjectMeta {
        name: Some("read-postgres".into()),
        namespace: Some(ns.clone()),
        ..ObjectMeta::default()
    };
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &Role {
                metadata: meta.clone(),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec!["kubedb.com".into()]),
                    resources: Some(vec!["postgreses".into()]),
                    verbs: vec!["get".into(), "list".into()],
                    ..PolicyRule::default()
                }]),
            },
        )
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin, &ns)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: meta,
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: "read-postgres".into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: "reader".into(),
                    namespace: Some(ns.clone()),
                    ..Subject::default()
                }]),
            },
        )
        .await
        .unwrap();

    // The authorizer sees the new binding once its informer caught up.
    let mut listed = as_sa.list(&ListParams::default()).await;
    for _ in 0..100 {
        if listed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        listed = as_sa.list(&ListParams::default()).await;
    }
    assert!(listed.expect("the Role grants list").items.is_empty());

    // The Role grants reading only.
    let pg = object(
        &ar,
        json!({ "metadata": { "name": "pg" }, "spec": { "version": "16.4" } }),
    );
    let status = api_error(as_sa.create(&PostParams::default(), &pg).await);
    assert_eq!(status.code, 403, "{status:?}");
}

#[tokio::test]
async fn service_account_token_authenticates_on_the_local_control_plane() {
    let cluster = test_support::cluster().await;
    // Only a control plane started here has a token file of ours; an existing cluster
    // (PG_GITOPS_TEST_KUBECONFIG) is covered by the impersonation test above.
    assert_eq!(
        cluster.service_account_client().is_some(),
        cluster.is_local()
    );
    let Some(sa) = cluster.service_account_client() else {
        return;
    };
    let ns = cluster.namespace("sa-token").await;
    let api: Api<DynamicObject> = Api::namespaced_with(sa, &ns, &kinds::kubedb_postgres());
    let status = api_error(api.list(&ListParams::default()).await);
    assert_eq!(status.code, 403, "{status:?}");
    assert!(
        status
            .message
            .contains("system:serviceaccount:pg-gitops:pg-gitops"),
        "{}",
        status.message
    );
    // A token the server does not know is refused as unauthenticated.
    let anon: Api<DynamicObject> = Api::namespaced_with(
        cluster.client_with_token("not-a-known-token"),
        &ns,
        &kinds::kubedb_postgres(),
    );
    assert_eq!(api_error(anon.list(&ListParams::default()).await).code, 401);
}

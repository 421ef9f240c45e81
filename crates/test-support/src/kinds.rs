//! The KubeDB kinds the tests read and write, as `ApiResource`s for
//! `Api::<DynamicObject>::{namespaced_with, all_with}`, and namespaced `Api`s of them.

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use serde_json::{Value, json};

/// `kubedb.com/v1` `Postgres` (namespaced, plural `postgreses`).
pub fn kubedb_postgres() -> ApiResource {
    resource("kubedb.com", "v1", "Postgres", "postgreses")
}

/// `gitops.kubedb.com/v1alpha1` `Postgres` (namespaced, plural `postgreses`).
pub fn gitops_postgres() -> ApiResource {
    resource("gitops.kubedb.com", "v1alpha1", "Postgres", "postgreses")
}

/// `ops.kubedb.com/v1alpha1` `PostgresOpsRequest` (namespaced, plural `postgresopsrequests`).
pub fn ops_request() -> ApiResource {
    resource(
        "ops.kubedb.com",
        "v1alpha1",
        "PostgresOpsRequest",
        "postgresopsrequests",
    )
}

/// `catalog.kubedb.com/v1alpha1` `PostgresVersion` (cluster-scoped, plural `postgresversions`).
pub fn postgres_version() -> ApiResource {
    resource(
        "catalog.kubedb.com",
        "v1alpha1",
        "PostgresVersion",
        "postgresversions",
    )
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The `gitops.kubedb.com` Postgres objects of namespace `ns`.
pub fn gitops_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &gitops_postgres())
}

/// The `kubedb.com` Postgres objects of namespace `ns`.
pub fn databases_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &kubedb_postgres())
}

/// The PostgresOpsRequests of namespace `ns`.
pub fn ops_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &ops_request())
}

/// The object `body` (metadata, spec, ...) as a `DynamicObject` of kind `resource`.
pub fn object(resource: &ApiResource, body: Value) -> DynamicObject {
    let mut body = body;
    body["apiVersion"] = json!(resource.api_version);
    body["kind"] = json!(resource.kind);
    serde_json::from_value(body).expect("a valid object manifest")
}

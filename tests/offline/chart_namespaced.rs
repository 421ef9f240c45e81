//! The chart's namespaced mode rendered without a cluster: with `config.reconcile.namespace`
//! the service's rules are a Role and RoleBinding in that namespace, not a ClusterRole; only
//! the read-only catalog ClusterRole stays cluster-scoped, and `rbac.catalog=false` drops it
//! too. Proved on the API server as the ServiceAccount in `tests/cluster/chart_namespaced.rs`.

use serde_json::{Value, json};
use test_support::chart::render;

fn rules_of(object: &Value) -> Vec<(String, String, Vec<String>)> {
    object["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            let verbs: Vec<String> = serde_json::from_value(rule["verbs"].clone()).unwrap();
            let group = rule["apiGroups"][0].as_str().unwrap().to_owned();
            rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |r| (group.clone(), r.as_str().unwrap().to_owned(), verbs.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {objects:#?}"))
}

#[test]
fn a_watched_namespace_gets_a_role_and_only_the_catalog_stays_cluster_wide() {
    let cluster_wide = render(&json!({}), "pg-gitops", "ops");
    let values = json!({ "config": { "reconcile": { "namespace": "dbs" } }, "prune": true });
    let r = render(&values, "pg-gitops", "ops");
    let objects = r.objects();
    let role = named(&objects, "Role", "pg-gitops");
    assert_eq!(role["metadata"]["namespace"], "dbs");
    let binding = named(&objects, "RoleBinding", "pg-gitops");
    assert_eq!(binding["metadata"]["namespace"], "dbs");
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["subjects"][0]["namespace"], "ops");
    // The same rules as cluster-wide, but the catalog's.
    let mut expected = rules_of(&cluster_wide.one("ClusterRole"));
    let catalog = (
        "catalog.kubedb.com".to_owned(),
        "postgresversions".to_owned(),
    );
    expected.retain(|(group, resource, _)| (group.clone(), resource.clone()) != catalog);
    let with_delete = expected.iter_mut().find(|r| r.1 == "postgreses").unwrap();
    with_delete.2.push("delete".into());
    assert_eq!(rules_of(role), expected);
    // Cluster-scoped: only the catalog, read only.
    let cluster_role = r.one("ClusterRole");
    assert_eq!(cluster_role["metadata"]["name"], "pg-gitops-catalog");
    assert_eq!(
        rules_of(&cluster_role),
        [(
            catalog.0,
            catalog.1,
            vec!["get".into(), "list".into(), "watch".into()]
        )]
    );
    assert_eq!(
        r.one("ClusterRoleBinding")["roleRef"]["name"],
        "pg-gitops-catalog"
    );
    // Events about the pod go to the release namespace.
    let events = named(&objects, "Role", "pg-gitops-events");
    assert_eq!(events["metadata"]["namespace"], "ops");
    assert_eq!(
        rules_of(events),
        [(
            "events.k8s.io".into(),
            "events".into(),
            vec!["create".into(), "patch".into()]
        )]
    );
    // The config says the same namespace.
    let config = pg_gitops::config::Config::from_toml_str(&r.config_toml()).unwrap();
    assert_eq!(config.reconcile.namespace.as_deref(), Some("dbs"));
}

#[test]
fn without_the_catalog_nothing_is_cluster_scoped() {
    let values = json!({
        "config": { "reconcile": { "namespace": "ops" } },
        "rbac": { "catalog": false }
    });
    let r = render(&values, "pg-gitops", "ops");
    for object in r.objects() {
        assert!(
            object["metadata"]["namespace"].is_string(),
            "cluster-scoped {} {} in namespaced mode",
            object["kind"],
            object["metadata"]["name"]
        );
    }
    // The watched namespace is the release's: no separate Role for the pod's Events.
    let roles: Vec<Value> = r
        .objects()
        .into_iter()
        .filter(|o| o["kind"] == "Role")
        .map(|o| o["metadata"]["name"].clone())
        .collect();
    assert_eq!(
        roles,
        [json!("pg-gitops"), json!("pg-gitops-leader-election")]
    );
}

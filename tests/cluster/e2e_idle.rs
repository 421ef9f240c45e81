//! End to end (issue 5): idle for a minute with nothing changing → no write to the API server.
//!
//! The service runs in-process with a kube client whose HTTP stack has a recording layer in
//! front of it: every request that is not a GET (create, patch, update, delete, events) is
//! logged, so any write the service makes, from any of its parts, is seen. On top of that the
//! resourceVersions of every gitops/kubedb/OpsRequest object and the Events of the namespace
//! must not move. The safety-net resync is set to 10 s, so the service really recomputes every
//! database several times during the idle minute (checked on /metrics) and must still write
//! nothing; the Git source polls every second meanwhile.
//!
//!     cargo test --test e2e_idle        (about 75 s: the idle minute is required)

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;
use kube::api::ListParams;
use pg_gitops::config::Seconds;
use test_support::e2e::*;
use test_support::kinds::{databases_api, gitops_api, ops_api};

const IDLE: Duration = Duration::from_secs(60);

/// name → resourceVersion of every gitops, kubedb and ops object, and every Event, of `ns`.
async fn versions(client: &Client, ns: &str) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for (kind, api) in [
        ("gitops", gitops_api(client, ns)),
        ("kubedb", databases_api(client, ns)),
        ("ops", ops_api(client, ns)),
    ] {
        for object in api.list(&ListParams::default()).await.unwrap() {
            all.insert(
                format!("{kind}/{}", object.metadata.name.unwrap()),
                object.metadata.resource_version.unwrap(),
            );
        }
    }
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(client.clone(), ns);
    for event in events.list(&ListParams::default()).await.unwrap() {
        all.insert(
            format!("event/{}", event.metadata.name.unwrap()),
            event.metadata.resource_version.unwrap(),
        );
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_minute_writes_nothing_to_the_api_server() {
    let sim = sim_namespace("e2e-idle", Duration::from_millis(300)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let one = Db::new("one");
    let two = Db::new("two");
    let fleet = Fleet::new(&ns, &[&one, &two]);
    let mut config = fleet.config("e2e-idle");
    config.reconcile.resync_interval = Seconds(Duration::from_secs(10));
    let (recorded, writes) = recording_client().await;
    let service = Service::start(config, recorded);
    service.ready().await;
    wait_current(&client, &ns, &one).await;
    wait_current(&client, &ns, &two).await;
    // A finished sequence too, so OpsRequests exist while idle.
    let changed = one.five_changes();
    fleet.push(&[&changed, &two], "one changes");
    wait_current(&client, &ns, &changed).await;
    assert_eq!(ops_of(&client, &ns, "one").await.len(), 5);
    assert!(
        writes
            .all()
            .iter()
            .any(|w| w.starts_with("POST") && w.contains("postgresopsrequests")),
        "the recording layer sees the service's writes: {:#?}",
        writes.all()
    );

    // Baseline once the last status write of the sequence is in (no write for 3 s); a
    // periodic write would still show up during the idle minute.
    let mut quiet_since = (writes.all().len(), tokio::time::Instant::now());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while quiet_since.1.elapsed() < Duration::from_secs(3) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service never stops writing: {:#?}",
            writes.all()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let count = writes.all().len();
        if count != quiet_since.0 {
            quiet_since = (count, tokio::time::Instant::now());
        }
    }
    let writes_before = writes.all();
    let versions_before = versions(&client, &ns).await;
    let reconciles_before = reconciles(service.listen).await;
    tokio::time::sleep(IDLE).await;
    let versions_after = versions(&client, &ns).await;
    let written: Vec<String> = writes.all().split_off(writes_before.len());

    assert!(
        written.is_empty(),
        "the service wrote while nothing changed: {written:#?}"
    );
    assert_eq!(
        versions_before, versions_after,
        "objects or Events changed while idle"
    );
    let reconciled = reconciles(service.listen).await - reconciles_before;
    assert!(
        reconciled >= 8.0,
        "the resync recomputed both databases every 10 s while idle ({reconciled} reconciles)"
    );
    assert!(
        http_get(service.listen, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    service.stop().await;
    sim.stop().await;
}

//! An invalid manifest that still names its database shows where operators look: a Warning
//! Event `InvalidManifest` on that gitops object, naming file (relative to `source.path`), line and field, once per
//! revision; the other databases of the commit are still applied and reconciled.

use std::time::Duration;

use test_support::e2e::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_manifest_gets_a_warning_event_on_its_object_and_the_others_still_apply() {
    let sim = sim_namespace("invalid-event", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let fine = Db::new("fine");
    let fleet = Fleet::new(&ns, &[&fine]);
    fleet.repo.commit(
        "fleet/broken.yaml",
        &format!(
            "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: broken\n  \
             namespace: {ns}\nspec:\n  version: \"16.4\"\n  replica: 3\n"
        ),
        "a manifest with a typo",
    );
    let service = Service::start(fleet.config("invalid-event"), client.clone());
    service.ready().await;
    wait_current(&client, &ns, &fine).await;

    let notes = eventually("an InvalidManifest event on 'broken'", || {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            let reasons = event_reasons(&client, &ns, "broken").await;
            if reasons.iter().any(|r| r == "InvalidManifest") {
                Ok(event_notes(&client, &ns, "broken").await)
            } else {
                Err(format!("{reasons:?}"))
            }
        }
    })
    .await;
    assert_eq!(notes.len(), 1, "one event per revision: {notes:?}");
    assert!(
        notes[0].starts_with("broken.yaml:8: spec.replica: unknown field"),
        "names file, line and field: {notes:?}"
    );
    // A few apply ticks later there is still one: no event per retry or per tick.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(event_notes(&client, &ns, "broken").await.len(), 1);
    service.stop().await;
}

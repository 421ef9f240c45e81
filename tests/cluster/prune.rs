//! Pruning reads its candidates from the controller's cache of gitops objects, not from a
//! LIST of every managed object on every commit: a manifest removed from Git deletes its
//! gitops object (never its database), and after its start the service sends no LIST of
//! gitops objects at all.

use std::time::Duration;

use test_support::e2e::*;
use test_support::kinds::gitops_api;

/// A GET of a collection of gitops objects that is not a watch: a LIST.
fn is_gitops_list(request: &str) -> bool {
    let Some(uri) = request.strip_prefix("GET ") else {
        return false;
    };
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    path.starts_with("/apis/gitops.kubedb.com/")
        && path.ends_with("/postgreses")
        && !query.split('&').any(|pair| pair == "watch=true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_manifest_is_pruned_without_listing_the_fleet() {
    let sim = sim_namespace("prune-cache", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let (kept, gone) = (Db::new("kept"), Db::new("gone"));
    let fleet = Fleet::new(&ns, &[&kept, &gone]);
    let mut config = fleet.config("prune-cache");
    config.reconcile.prune = true;
    let (reading, reads) = reading_client().await;
    let service = Service::start(config, reading);
    service.ready().await;
    wait_current(&client, &ns, &kept).await;
    wait_current(&client, &ns, &gone).await;
    let startup = reads.all();
    assert!(
        startup.iter().any(|r| is_gitops_list(r)),
        "the cache's first list is seen, so the filter below can see one: {startup:#?}"
    );

    std::fs::remove_file(fleet.repo.work.join("fleet/gone.yaml")).unwrap();
    fleet
        .repo
        .commit("fleet/notes.txt", "gone left Git\n", "gone leaves Git");
    eventually("gone's gitops object pruned", || {
        let api = gitops_api(&client, &ns);
        async move {
            match api.get_opt("gone").await {
                Ok(None) => Ok(()),
                other => Err(format!("{:?}", other.map(|o| o.is_some()))),
            }
        }
    })
    .await;
    assert!(
        gitops_api(&client, &ns)
            .get_opt("kept")
            .await
            .unwrap()
            .is_some(),
        "kept is still in Git"
    );
    assert!(
        sim.databases().get_opt("gone").await.unwrap().is_some(),
        "pruning never deletes a database"
    );
    let since: Vec<String> = reads.all().split_off(startup.len());
    let lists: Vec<&String> = since.iter().filter(|r| is_gitops_list(r)).collect();
    assert!(lists.is_empty(), "{lists:#?}");
    service.stop().await;
    sim.stop().await;
}

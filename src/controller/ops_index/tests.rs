use kube::runtime::reflector::{self, store::Writer};
use serde_json::json;

use super::*;

fn request(name: &str, database: &str) -> PostgresOpsRequest {
    serde_json::from_value(json!({
        "apiVersion": "ops.kubedb.com/v1alpha1", "kind": "PostgresOpsRequest",
        "metadata": {"name": name, "namespace": "db"},
        "spec": {"type": "Restart", "databaseRef": {"name": database}},
    }))
    .unwrap()
}

/// The cache and the index, told each event in the order the controller's stream tells them.
struct Watched {
    cache: Store<PostgresOpsRequest>,
    writer: Writer<PostgresOpsRequest>,
    index: OpsIndex,
}

impl Watched {
    fn new() -> Self {
        let (cache, writer) = reflector::store();
        Self {
            cache,
            writer,
            index: OpsIndex::default(),
        }
    }

    fn event(&mut self, event: watcher::Event<PostgresOpsRequest>) {
        self.writer.apply_watcher_event(&event);
        self.index.observe(&event);
    }

    fn names_of(&self, database: &str) -> Vec<String> {
        (self.index.of(&self.cache, "db", database).iter())
            .map(|request| request.name_any())
            .collect()
    }
}

#[test]
fn each_database_reads_only_its_own_requests_and_a_deleted_one_is_gone() {
    let mut watched = Watched::new();
    watched.event(watcher::Event::Apply(request("a-restart", "a")));
    watched.event(watcher::Event::Apply(request("a-scale", "a")));
    watched.event(watcher::Event::Apply(request("b-restart", "b")));
    // A status update is another Apply of the same request.
    watched.event(watcher::Event::Apply(request("a-scale", "a")));
    assert_eq!(watched.names_of("a"), ["a-restart", "a-scale"]);
    assert_eq!(watched.names_of("b"), ["b-restart"]);
    assert!(watched.names_of("c").is_empty());
    watched.event(watcher::Event::Delete(request("a-restart", "a")));
    assert_eq!(watched.names_of("a"), ["a-scale"]);
    watched.event(watcher::Event::Delete(request("b-restart", "b")));
    assert!(watched.names_of("b").is_empty());
    let state = watched.index.0.lock().unwrap();
    assert_eq!(state.current.by_database.len(), 1, "no empty entry kept");
}

#[test]
fn a_relist_replaces_what_the_index_held_once_it_is_done() {
    let mut watched = Watched::new();
    watched.event(watcher::Event::Apply(request("a-restart", "a")));
    watched.event(watcher::Event::Apply(request("b-restart", "b")));
    // Deleted while the watch was down: absent from the new list.
    watched.event(watcher::Event::Init);
    watched.event(watcher::Event::InitApply(request("a-restart", "a")));
    watched.event(watcher::Event::InitApply(request("a-new", "a")));
    assert_eq!(
        watched.names_of("b"),
        ["b-restart"],
        "until the list is done, the last one holds"
    );
    watched.event(watcher::Event::InitDone);
    assert_eq!(watched.names_of("a"), ["a-new", "a-restart"]);
    assert!(watched.names_of("b").is_empty());
}

#[test]
fn a_request_that_names_another_database_moves_to_it() {
    let mut watched = Watched::new();
    watched.event(watcher::Event::Apply(request("r", "a")));
    watched.event(watcher::Event::Apply(request("r", "b")));
    assert!(watched.names_of("a").is_empty());
    assert_eq!(watched.names_of("b"), ["r"]);
}

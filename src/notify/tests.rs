use std::collections::HashMap;

use serde_json::{Value, json};

use super::render::{self, Outgoing};
use super::tracker::{Alert, Applied, CommitState, Message, Tracker, is_commit_sha};
use super::{DbKey, DbState, Seen};
use crate::config::{AlertOn, CommitStatusConfig, Forge, ForgeRepository};

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const C: &str = "cccccccccccccccccccccccccccccccccccccccc";

fn key(name: &str) -> DbKey {
    ("shop".into(), name.into())
}

fn seen(revision: &str, state: DbState) -> Seen {
    Seen {
        revision: Some(revision.into()),
        state,
        reason: (state == DbState::Stalled).then(|| "OpsRequestFailed".into()),
        detail: (state == DbState::Stalled).then(|| "orders-verticalscaling-x failed".into()),
    }
}

/// The tracker with the notifier's map of latest standings, as the deciding task runs it.
#[derive(Default)]
struct World {
    tracker: Tracker,
    latest: HashMap<DbKey, Seen>,
}

impl World {
    fn apply(&mut self, revision: &str, changed: &[&str], complete: bool) -> Vec<Message> {
        let latest = self.latest.clone();
        self.tracker.applied(
            Applied {
                revision: revision.into(),
                changed: changed.iter().map(|n| key(n)).collect(),
                invalid: Vec::new(),
                complete,
            },
            &move |k: &DbKey| latest.get(k).cloned(),
        )
    }

    /// A reconcile's standing: recorded, then told to the tracker as a change.
    fn see(&mut self, name: &str, now: Seen) -> Vec<Message> {
        let previous = self.latest.insert(key(name), now.clone()).map(|s| s.state);
        let latest = self.latest.clone();
        self.tracker
            .changed(&key(name), &now, previous, &move |k: &DbKey| {
                latest.get(k).cloned()
            })
    }
}

fn status(sha: &str, state: CommitState, description: &str) -> Message {
    Message::Status {
        sha: sha.into(),
        state,
        description: description.into(),
    }
}

fn alerts(messages: &[Message]) -> Vec<(String, AlertOn)> {
    messages
        .iter()
        .filter_map(|m| match m {
            Message::Alert(a) => Some((a.key.1.clone(), a.on)),
            Message::Status { .. } => None,
        })
        .collect()
}

fn statuses(messages: &[Message]) -> Vec<Message> {
    messages
        .iter()
        .filter(|m| matches!(m, Message::Status { .. }))
        .cloned()
        .collect()
}

#[test]
fn a_revision_is_pending_then_success_once_every_database_it_changed_is_current() {
    let mut world = World::default();
    world.see("orders", seen(A, DbState::Current));
    world.see("billing", seen(A, DbState::Current));
    let out = world.apply(B, &["orders", "billing"], true);
    assert_eq!(
        out,
        [status(
            B,
            CommitState::Pending,
            "applying 2 databases: shop/billing, shop/orders"
        )]
    );
    assert!(statuses(&world.see("orders", seen(B, DbState::Progressing))).is_empty());
    assert!(statuses(&world.see("orders", seen(B, DbState::Current))).is_empty());
    assert!(statuses(&world.see("billing", seen(B, DbState::Progressing))).is_empty());
    let out = world.see("billing", seen(B, DbState::Current));
    assert_eq!(
        statuses(&out),
        [status(
            B,
            CommitState::Success,
            "2 databases Current: shop/billing, shop/orders"
        )]
    );
    // Settled once: later standings of the same revision say nothing more.
    let again = world.see("billing", seen(B, DbState::Progressing));
    let again = [again, world.see("billing", seen(B, DbState::Current))].concat();
    assert!(statuses(&again).is_empty(), "{again:?}");
    assert!(
        world.apply(B, &["orders"], true).is_empty(),
        "a retried apply"
    );
}

#[test]
fn one_stalled_database_fails_the_revision_at_once_naming_it() {
    let mut world = World::default();
    world.apply(B, &["flaky", "steady"], true);
    world.see("steady", seen(B, DbState::Progressing));
    let out = world.see("flaky", seen(B, DbState::Stalled));
    assert_eq!(
        statuses(&out),
        [status(
            B,
            CommitState::Failure,
            "shop/flaky Stalled (OpsRequestFailed); changed: shop/flaky, shop/steady"
        )]
    );
    assert_eq!(alerts(&out), [("flaky".to_string(), AlertOn::Stalled)]);
    assert!(statuses(&world.see("steady", seen(B, DbState::Current))).is_empty());
}

#[test]
fn a_standing_seen_before_the_apply_pass_is_reported_settles_it() {
    // The reconciler can see the new revision before the apply stage's report arrives.
    let mut world = World::default();
    world.see("orders", seen(B, DbState::Progressing));
    world.see("orders", seen(B, DbState::Current));
    let out = world.apply(B, &["orders"], true);
    assert_eq!(
        out,
        [
            status(B, CommitState::Pending, "applying 1 database: shop/orders"),
            status(B, CommitState::Success, "1 database Current: shop/orders"),
        ]
    );
}

#[test]
fn an_incomplete_apply_waits_and_a_recheck_settles_what_no_event_reported() {
    let mut world = World::default();
    world.apply(B, &["orders"], false);
    world.see("orders", seen(B, DbState::Current));
    let latest = world.latest.clone();
    assert!(
        world
            .tracker
            .recheck(&|k: &DbKey| latest.get(k).cloned())
            .is_empty()
    );
    // The apply stage retried the failed write of billing; billing was recorded without an
    // event (first seen already Current at B): only the recheck can see it.
    world.apply(B, &["billing"], true);
    world
        .latest
        .insert(key("billing"), seen(B, DbState::Current));
    let latest = world.latest.clone();
    assert_eq!(
        world.tracker.recheck(&|k: &DbKey| latest.get(k).cloned()),
        [status(
            B,
            CommitState::Success,
            "2 databases Current: shop/billing, shop/orders"
        )]
    );
}

#[test]
fn a_revision_whose_databases_a_later_commit_changed_first_is_canceled() {
    let mut world = World::default();
    world.see("orders", seen(A, DbState::Current));
    world.apply(B, &["orders"], true);
    world.apply(C, &["orders"], true);
    let out = world.see("orders", seen(C, DbState::Current));
    assert_eq!(
        statuses(&out),
        [
            status(
                B,
                CommitState::Canceled,
                "superseded: a later commit changed its databases first"
            ),
            status(C, CommitState::Success, "1 database Current: shop/orders"),
        ]
    );
}

#[test]
fn nothing_is_told_for_a_revision_that_changed_nothing_or_is_no_commit() {
    let mut world = World::default();
    assert!(world.apply(B, &[], true).is_empty());
    assert!(world.apply("sha256:abcdef", &["orders"], true).is_empty());
    assert!(is_commit_sha(A) && is_commit_sha(&"e".repeat(64)) && !is_commit_sha("main"));
}

#[test]
fn an_invalid_manifest_fails_its_revision() {
    let mut tracker = Tracker::default();
    let out = tracker.applied(
        Applied {
            revision: B.into(),
            changed: Vec::new(),
            invalid: vec!["fleet/orders.yaml:3: invalid YAML".into()],
            complete: true,
        },
        &|_: &DbKey| None,
    );
    assert_eq!(
        out,
        [
            status(B, CommitState::Pending, "checking the manifests"),
            status(
                B,
                CommitState::Failure,
                "invalid manifest: fleet/orders.yaml:3: invalid YAML"
            ),
        ]
    );
}

#[test]
fn alerts_fire_on_turning_stalled_or_current_after_a_change_once_per_revision() {
    let mut world = World::default();
    // First seen: no previous standing, nothing to compare with.
    assert!(alerts(&world.see("orders", seen(A, DbState::Current))).is_empty());
    assert!(alerts(&world.see("orders", seen(B, DbState::Progressing))).is_empty());
    assert_eq!(
        alerts(&world.see("orders", seen(B, DbState::Current))),
        [("orders".to_string(), AlertOn::Current)]
    );
    // A restart of a pod (not Ready, then Ready) at the same revision: no second alert.
    world.see("orders", seen(B, DbState::Progressing));
    assert!(alerts(&world.see("orders", seen(B, DbState::Current))).is_empty());
    let stalled = world.see("orders", seen(C, DbState::Stalled));
    let Some(Message::Alert(alert)) = stalled.first() else {
        panic!("{stalled:?}")
    };
    assert_eq!(
        alert,
        &Alert {
            key: key("orders"),
            on: AlertOn::Stalled,
            revision: Some(C.into()),
            reason: "OpsRequestFailed".into(),
            message: "orders-verticalscaling-x failed".into(),
        }
    );
    // Retried (the retry annotation) and failing the same way: told once.
    world.see("orders", seen(C, DbState::Progressing));
    assert!(alerts(&world.see("orders", seen(C, DbState::Stalled))).is_empty());
}

fn body(outgoing: &Outgoing) -> Value {
    serde_json::from_slice(&outgoing.body).unwrap()
}

fn header<'a>(outgoing: &'a Outgoing, name: &str) -> Option<&'a str> {
    outgoing
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn each_forge_gets_its_own_path_auth_header_and_state_names() {
    let repository = |api: &str, repo: &str| ForgeRepository {
        api_url: api.into(),
        repository: repo.into(),
    };
    let github = render::commit_status(
        Forge::GitHub,
        &repository("https://api.github.com", "acme/fleet"),
        "pg-gitops",
        "ghp_x",
        A,
        CommitState::Failure,
        "failed",
    );
    assert_eq!(
        github.url,
        format!("https://api.github.com/repos/acme/fleet/statuses/{A}")
    );
    assert_eq!(header(&github, "authorization"), Some("Bearer ghp_x"));
    assert_eq!(
        body(&github),
        json!({"state": "failure", "description": "failed", "context": "pg-gitops"})
    );
    let gitlab = render::commit_status(
        Forge::GitLab,
        &repository("https://gitlab.example.com/api/v4", "group/sub/fleet"),
        "pg-gitops",
        "glpat",
        A,
        CommitState::Failure,
        "failed",
    );
    assert_eq!(
        gitlab.url,
        format!("https://gitlab.example.com/api/v4/projects/group%2Fsub%2Ffleet/statuses/{A}")
    );
    assert_eq!(header(&gitlab, "private-token"), Some("glpat"));
    assert_eq!(body(&gitlab)["state"], "failed");
    assert_eq!(body(&gitlab)["name"], "pg-gitops");
    let gitea = render::commit_status(
        Forge::Gitea,
        &repository("https://codeberg.org/api/v1", "acme/fleet"),
        "pg-gitops",
        "tok",
        A,
        CommitState::Canceled,
        "superseded",
    );
    assert_eq!(
        gitea.url,
        format!("https://codeberg.org/api/v1/repos/acme/fleet/statuses/{A}")
    );
    assert_eq!(header(&gitea, "authorization"), Some("token tok"));
    assert_eq!(body(&gitea)["state"], "warning");
}

#[test]
fn descriptions_are_cut_to_what_github_accepts() {
    let long = "x".repeat(500);
    let out = render::commit_status(
        Forge::GitHub,
        &ForgeRepository {
            api_url: "https://api.github.com".into(),
            repository: "a/b".into(),
        },
        "c",
        "t",
        A,
        CommitState::Pending,
        &long,
    );
    let description = body(&out)["description"].as_str().unwrap().to_string();
    assert_eq!(description.chars().count(), render::MAX_DESCRIPTION);
    assert!(description.ends_with('…'));
}

#[test]
fn repository_and_api_come_from_the_source_url() {
    let entry = |provider| CommitStatusConfig {
        provider,
        token_file: "/t".into(),
        api_url: None,
        repository: None,
        context: "pg-gitops".into(),
    };
    let resolved = |provider, url: &str| {
        let r = entry(provider).resolve(url).unwrap();
        (r.api_url, r.repository)
    };
    assert_eq!(
        resolved(Forge::GitHub, "https://github.com/acme/fleet.git"),
        ("https://api.github.com".into(), "acme/fleet".into())
    );
    assert_eq!(
        resolved(Forge::GitHub, "git@github.example.com:acme/fleet.git"),
        (
            "https://github.example.com/api/v3".into(),
            "acme/fleet".into()
        )
    );
    assert_eq!(
        resolved(Forge::GitLab, "ssh://git@gitlab.com:2222/g/sub/fleet.git"),
        ("https://gitlab.com/api/v4".into(), "g/sub/fleet".into())
    );
    assert_eq!(
        resolved(Forge::Gitea, "http://user:pw@gitea.local:3000/acme/fleet"),
        ("http://gitea.local:3000/api/v1".into(), "acme/fleet".into())
    );
    let file = entry(Forge::GitHub).resolve("file:///srv/fleet.git");
    assert!(file.unwrap_err().starts_with("repository:"));
    let nested = entry(Forge::GitHub).resolve("https://github.com/a/b/c");
    assert!(nested.unwrap_err().contains("is not \"owner/repo\""));
}

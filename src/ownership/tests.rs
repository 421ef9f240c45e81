use serde_json::json;

use super::*;
use crate::models::{KubedbPostgres, PostgresOpsRequest};
use crate::plan::Step;

fn labels(owner: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
    if let Some(owner) = owner {
        labels.insert(OWNER_LABEL.to_owned(), owner.to_owned());
    }
    labels
}

#[test]
fn a_label_says_ours_theirs_or_nobodys() {
    assert_eq!(claim(Some(&labels(Some("a"))), "a"), Claim::Ours);
    assert_eq!(
        claim(Some(&labels(Some("b"))), "a"),
        Claim::Theirs("b".into())
    );
    assert_eq!(claim(Some(&labels(None)), "a"), Claim::Unclaimed);
    assert_eq!(claim(None, "a"), Claim::Unclaimed);
}

#[test]
fn another_owner_on_either_object_is_never_driven() {
    let theirs = Claim::Theirs("b".into());
    for database in [
        None,
        Some(&Claim::Ours),
        Some(&Claim::Unclaimed),
        Some(&theirs),
    ] {
        // A gitops object another instance applied (or Git assigns to it) is its business,
        // whoever the database belongs to.
        assert!(
            matches!(decide(&theirs, database), Verdict::Leave(Refusal { ref owner, on: Object::Gitops }) if owner == "b"),
            "{database:?}"
        );
    }
    // A database another instance owns: left to it, or reported when the gitops object is
    // ours (so that one status says why nothing happens).
    assert_eq!(
        decide(&Claim::Unclaimed, Some(&theirs)),
        Verdict::Leave(Refusal {
            owner: "b".into(),
            on: Object::Database
        })
    );
    assert_eq!(
        decide(&Claim::Ours, Some(&theirs)),
        Verdict::Stall(Refusal {
            owner: "b".into(),
            on: Object::Database
        })
    );
}

#[test]
fn what_nobody_owns_is_adopted_and_what_is_ours_or_missing_proceeds() {
    // A database from before ownership existed keeps working after the upgrade: adopted.
    assert_eq!(
        decide(&Claim::Unclaimed, Some(&Claim::Unclaimed)),
        Verdict::Adopt
    );
    assert_eq!(
        decide(&Claim::Ours, Some(&Claim::Unclaimed)),
        Verdict::Adopt
    );
    for gitops in [Claim::Ours, Claim::Unclaimed] {
        assert_eq!(decide(&gitops, Some(&Claim::Ours)), Verdict::Proceed);
        // Not provisioned yet: the Provision step carries our label.
        assert_eq!(decide(&gitops, None), Verdict::Proceed);
    }
}

#[test]
fn the_message_names_both_owners_and_the_way_out() {
    let refusal = Refusal {
        owner: "team-b".into(),
        on: Object::Database,
    };
    let message = refusal.message("team-a");
    assert!(message.contains("kubedb.com Postgres"), "{message}");
    assert!(message.contains("\"team-b\""), "{message}");
    assert!(message.contains("\"team-a\""), "{message}");
    assert!(message.contains(OWNER_LABEL), "{message}");
}

#[test]
fn what_a_step_creates_carries_the_owner_and_a_patch_is_left_alone() {
    let database: KubedbPostgres = serde_json::from_value(json!({
        "metadata": {"name": "pg1", "labels": {"team": "a"}}, "spec": {"version": "16.4"}
    }))
    .unwrap();
    let mut provision = Step::Provision(Box::new(database));
    stamp(&mut provision, "a");
    let Step::Provision(database) = &provision else {
        unreachable!()
    };
    assert_eq!(database.metadata.labels.as_ref(), Some(&labels(Some("a"))));

    let request: PostgresOpsRequest =
        serde_json::from_value(json!({"metadata": {"name": "pg1-restart-abcdef"}})).unwrap();
    let mut ops = Step::OpsRequest {
        kind: crate::models::OpsRequestType::Restart,
        request: Box::new(request),
    };
    stamp(&mut ops, "a");
    let Step::OpsRequest { request, .. } = &ops else {
        unreachable!()
    };
    assert_eq!(
        request
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL)),
        Some(&"a".to_owned())
    );

    let mut patch = Step::Patch(json!({"spec": {"deletionPolicy": "Halt"}}));
    stamp(&mut patch, "a");
    assert_eq!(
        patch,
        Step::Patch(json!({"spec": {"deletionPolicy": "Halt"}}))
    );
}

use super::*;

#[test]
fn transition_time_changes_only_on_a_flip() {
    let mut conditions = Vec::new();
    upsert_condition(
        &mut conditions,
        Condition::yes(READY, "Ok", "first"),
        Some(1),
        "2026-01-01T00:00:00Z",
    );
    upsert_condition(
        &mut conditions,
        Condition::yes(READY, "Ok", "again"),
        Some(2),
        "2026-01-01T00:00:05Z",
    );
    assert_eq!(conditions.len(), 1);
    assert_eq!(conditions[0]["lastTransitionTime"], "2026-01-01T00:00:00Z");
    assert_eq!(conditions[0]["message"], "again");
    assert_eq!(conditions[0]["observedGeneration"], 2);
    let flipped = Condition {
        status: false,
        ..Condition::yes(READY, "Down", "probe failed")
    };
    upsert_condition(&mut conditions, flipped, None, "2026-01-01T00:00:09Z");
    assert_eq!(conditions[0]["lastTransitionTime"], "2026-01-01T00:00:09Z");
    assert_eq!(conditions[0]["status"], "False");
    assert!(remove_condition(&mut conditions, READY));
    assert!(!remove_condition(&mut conditions, READY));
}

#[test]
fn phase_follows_the_kubedb_derivation() {
    let set = |pairs: &[(&str, &str)]| -> Vec<Value> {
        pairs
            .iter()
            .map(|(kind, status)| json!({"type": kind, "status": status}))
            .collect()
    };
    assert_eq!(database_phase(&[]), None);
    assert_eq!(
        database_phase(&set(&[(PROVISIONING_STARTED, "True")])),
        Some("Provisioning")
    );
    let ready = [
        (PROVISIONING_STARTED, "True"),
        (PROVISIONED, "True"),
        (REPLICA_READY, "True"),
        (ACCEPTING_CONNECTION, "True"),
        (READY, "True"),
    ];
    assert_eq!(database_phase(&set(&ready)), Some("Ready"));
    let mut paused = ready.to_vec();
    paused.push((PAUSED, "True"));
    assert_eq!(database_phase(&set(&paused)), Some("Ready"));
    let mut critical = ready.to_vec();
    critical[2] = (REPLICA_READY, "False");
    assert_eq!(database_phase(&set(&critical)), Some("Critical"));
    let mut not_ready = ready.to_vec();
    not_ready[3] = (ACCEPTING_CONNECTION, "False");
    assert_eq!(database_phase(&set(&not_ready)), Some("NotReady"));
    let mut halted = ready.to_vec();
    halted.push(("Halted", "True"));
    assert_eq!(database_phase(&set(&halted)), Some("Halted"));
}

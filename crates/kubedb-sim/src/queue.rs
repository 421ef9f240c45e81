//! The ops-manager's queue: PostgresOpsRequests run one at a time per database, in creation
//! order (`creationTimestamp`, then name), Pending → Progressing → Successful/Failed, with the
//! database `Paused` while one runs; a Pending request superseded by a newer one of the same
//! type ends Skipped (`docs/kubedb-api.md` §2.4, §3).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::api::OpsType;
use super::decide::{
    Clock, Part, Plan, Snapshot, Step, Target, TargetKind, TimerKind, Write, uid_of,
};
use super::defaults::{VersionFacts, default_postgres_spec};
use super::effects::apply_ops_to_spec;
use super::json::{merge_patch, str_at};
use super::status::{
    Condition, PAUSED, condition_is_true, conditions_of, database_phase, generation_of,
    remove_condition, upsert_condition,
};
use super::validate::{Facts, validate_ops_request};
use super::{FAIL_ANNOTATION, FAIL_MESSAGE_ANNOTATION, parse_duration};

const PENDING: &str = "Pending";
const PROGRESSING: &str = "Progressing";

pub(super) fn ops_steps(
    snapshot: &Snapshot,
    clock: Clock<'_>,
    busy_databases: &mut BTreeSet<Target>,
    plan: &mut Plan,
) {
    let databases: BTreeMap<Target, &Value> = snapshot
        .databases
        .iter()
        .map(|database| (Target::of(TargetKind::Database, database), database))
        .collect();
    let mut ordered: Vec<&Value> = snapshot.ops_requests.iter().collect();
    ordered.sort_by_key(|ops| {
        (
            str_at(ops, "/metadata/creationTimestamp").unwrap_or_default(),
            str_at(ops, "/metadata/name").unwrap_or_default(),
        )
    });
    let no_secrets = BTreeMap::new();
    let facts_for = |ops: &Value| -> (Target, Option<&Value>, &BTreeMap<String, Option<String>>) {
        let database = database_target(ops);
        let secrets = snapshot
            .secret_usernames
            .get(&database.namespace)
            .unwrap_or(&no_secrets);
        let found = databases.get(&database).copied();
        (database, found, secrets)
    };

    // New requests: what the admission webhook would have said, then into the queue.
    let mut queues: BTreeMap<Target, Vec<&Value>> = BTreeMap::new();
    for ops in &ordered {
        let phase = str_at(ops, "/status/phase").unwrap_or_default();
        let (database, found, secrets) = facts_for(ops);
        if phase.is_empty() {
            let facts = Facts {
                database: found,
                versions: &snapshot.versions,
                secret_usernames: secrets,
            };
            plan.steps.push(match validate_ops_request(ops, &facts) {
                Ok(_) => ops_status_step(ops, PENDING, None, clock.now, "queued"),
                Err(refusal) => fail_step(ops, &refusal.to_string(), None, clock.now),
            });
        } else if phase == PENDING || phase == PROGRESSING {
            queues.entry(database).or_default().push(ops);
        }
    }

    for (database_target, queue) in &queues {
        let database = databases.get(database_target).copied();
        let busy = busy_databases.contains(database_target);
        // A running request goes first even if an older one appeared later (two created in
        // the same second sort by name): one at a time matters more than strict order.
        if let Some(running) = queue.iter().find(|ops| is_running(ops)) {
            let head = *running;
            let uid = uid_of(head);
            plan.timers.push((uid.clone(), TimerKind::OpsStep));
            if !clock.elapsed.contains(&uid) || busy {
                continue;
            }
            busy_databases.insert(database_target.clone());
            plan.steps
                .push(finish_step(head, database, &snapshot.versions, clock));
            continue;
        }
        let head = queue[0];
        // Pending: superseded by a newer request of the same type?
        let head_type = str_at(head, "/spec/type");
        if let Some(newer) = queue[1..]
            .iter()
            .find(|ops| str_at(ops, "/spec/type") == head_type)
        {
            let message = format!(
                "Skipped: superseded by the newer {} request {}",
                head_type.unwrap_or_default(),
                str_at(newer, "/metadata/name").unwrap_or_default()
            );
            plan.steps.push(skip_step(head, &message, clock.now));
            continue;
        }
        let if_ready = str_at(head, "/spec/apply").unwrap_or("IfReady") == "IfReady";
        let database_ready =
            database.is_some_and(|db| database_phase(&conditions_of(db)) == Some("Ready"));
        if busy || (database.is_some() && if_ready && !database_ready) {
            continue;
        }
        let (_, found, secrets) = facts_for(head);
        let facts = Facts {
            database: found,
            versions: &snapshot.versions,
            secret_usernames: secrets,
        };
        match (validate_ops_request(head, &facts), database) {
            (Ok(op_type), Some(database)) => {
                busy_databases.insert(database_target.clone());
                plan.steps
                    .push(start_step(head, op_type, database, clock.now));
            }
            (Ok(_), None) => {} // cannot happen: validation needs the database
            (Err(refusal), _) => {
                plan.steps
                    .push(fail_step(head, &refusal.to_string(), None, clock.now))
            }
        }
    }

    // A database left paused by a request that vanished mid-run is resumed.
    for (target, database) in &databases {
        let running = queues
            .get(target)
            .is_some_and(|queue| queue.iter().any(|ops| is_running(ops)));
        if !running
            && !busy_databases.contains(target)
            && condition_is_true(&conditions_of(database), PAUSED)
        {
            plan.steps.push(Step {
                summary: format!("{target}: resume (no request is running)"),
                writes: vec![resume_write(database)],
            });
        }
    }
}

fn is_running(ops: &Value) -> bool {
    str_at(ops, "/status/phase") == Some(PROGRESSING)
}

fn database_target(ops: &Value) -> Target {
    Target {
        kind: TargetKind::Database,
        namespace: str_at(ops, "/metadata/namespace")
            .unwrap_or_default()
            .to_string(),
        name: str_at(ops, "/spec/databaseRef/name")
            .unwrap_or_default()
            .to_string(),
    }
}

/// The ops status write for `phase`, with `condition` added to its conditions.
fn ops_status_write(ops: &Value, phase: &str, conditions: Vec<Value>) -> Write {
    Write {
        target: Target::of(TargetKind::OpsRequest, ops),
        part: Part::Status,
        patch: json!({"phase": phase, "conditions": conditions}),
        observe_generation: true,
    }
}

fn ops_status_step(
    ops: &Value,
    phase: &str,
    condition: Option<Condition<'_>>,
    now: &str,
    why: &str,
) -> Step {
    let mut conditions = conditions_of(ops);
    if let Some(condition) = condition {
        upsert_condition(&mut conditions, condition, generation_of(ops), now);
    }
    let write = ops_status_write(ops, phase, conditions);
    Step {
        summary: format!("{}: {phase} ({why})", write.target),
        writes: vec![write],
    }
}

fn skip_step(ops: &Value, message: &str, now: &str) -> Step {
    ops_status_step(
        ops,
        "Skipped",
        Some(Condition::yes("Skipped", "Skipped", message)),
        now,
        message,
    )
}

/// Ends a request `Failed`; `paused_database` is resumed first when the request had started.
fn fail_step(ops: &Value, message: &str, paused_database: Option<&Value>, now: &str) -> Step {
    let mut step = ops_status_step(
        ops,
        "Failed",
        Some(Condition::yes("Failed", "Failed", message)),
        now,
        message,
    );
    if let Some(database) = paused_database {
        step.writes.insert(0, resume_write(database));
    }
    step
}

fn resume_write(database: &Value) -> Write {
    let mut conditions = conditions_of(database);
    remove_condition(&mut conditions, PAUSED);
    Write {
        target: Target::of(TargetKind::Database, database),
        part: Part::Status,
        patch: json!({"conditions": conditions}),
        observe_generation: true,
    }
}

fn start_step(ops: &Value, op_type: OpsType, database: &Value, now: &str) -> Step {
    let name = str_at(ops, "/metadata/name").unwrap_or_default();
    let mut db_conditions = conditions_of(database);
    let pause_message = format!("Paused by PostgresOpsRequest {name} ({op_type})");
    upsert_condition(
        &mut db_conditions,
        Condition::yes(PAUSED, "OpsRequestProgressing", &pause_message),
        generation_of(database),
        now,
    );
    let db_write = Write {
        target: Target::of(TargetKind::Database, database),
        part: Part::Status,
        patch: json!({"conditions": db_conditions}),
        observe_generation: false,
    };
    let mut ops_conditions = conditions_of(ops);
    let running = format!("Running {op_type} on the database");
    upsert_condition(
        &mut ops_conditions,
        Condition::yes("Running", "Running", &running),
        generation_of(ops),
        now,
    );
    let ops_write = ops_status_write(ops, PROGRESSING, ops_conditions);
    Step {
        summary: format!("{}: Progressing ({op_type})", ops_write.target),
        writes: vec![db_write, ops_write],
    }
}

/// The end of a running request: an injected failure, or the new value written into the
/// database spec, the database resumed, and the request `Successful` — in that order, so a
/// client that sees `Successful` also sees the new spec.
fn finish_step(
    ops: &Value,
    database: Option<&Value>,
    versions: &BTreeMap<String, Value>,
    clock: Clock<'_>,
) -> Step {
    let now = clock.now;
    let Some(database) = database else {
        return fail_step(
            ops,
            "the database was deleted while the request was running",
            None,
            now,
        );
    };
    let op_type = str_at(ops, "/spec/type").unwrap_or_default();
    if let Some(message) = injected_failure(database, op_type) {
        return fail_step(ops, &message, Some(database), now);
    }
    if let Some(timeout) = str_at(ops, "/spec/timeout")
        && let Ok(limit) = parse_duration(timeout)
        && limit < clock.step
    {
        let message = format!(
            "timed out: the step took {:?}, longer than spec.timeout {timeout}",
            clock.step
        );
        return fail_step(ops, &message, Some(database), now);
    }
    let spec = database.get("spec").cloned().unwrap_or_else(|| json!({}));
    let changed = match apply_ops_to_spec(&ops["spec"], &spec) {
        Ok(changed) => changed,
        Err(error) => return fail_step(ops, &error.to_string(), Some(database), now),
    };
    let db_name = str_at(database, "/metadata/name").unwrap_or_default();
    let version = str_at(&changed, "/version").unwrap_or_default().to_string();
    // The mutating webhook runs on the ops-manager's write too.
    let changed = default_postgres_spec(
        db_name,
        &changed,
        &VersionFacts::new(&version, versions.get(&version)),
    );
    let mut writes = Vec::new();
    if let Some(patch) = merge_patch(&spec, &changed) {
        writes.push(Write {
            target: Target::of(TargetKind::Database, database),
            part: Part::Main,
            patch: json!({"spec": patch}),
            observe_generation: false,
        });
    }
    let mut resume = resume_write(database);
    if op_type == OpsType::RotateAuth.as_str() {
        // KubeDB records when the credentials last changed.
        resume.patch["authSecret"] = json!({"lastUpdateTimestamp": now});
    }
    writes.push(resume);
    let mut conditions = conditions_of(ops);
    let generation = generation_of(ops);
    let done = format!("Successfully completed {op_type}");
    upsert_condition(
        &mut conditions,
        Condition::yes(op_type, op_type, &done),
        generation,
        now,
    );
    upsert_condition(
        &mut conditions,
        Condition::yes("Successful", "Successful", &done),
        generation,
        now,
    );
    let ops_write = ops_status_write(ops, "Successful", conditions);
    let summary = format!("{}: Successful", ops_write.target);
    writes.push(ops_write);
    Step { summary, writes }
}

/// The failure message when the database's `sim.kubedb.com/fail` annotation lists `op_type`
/// (or `*`).
pub fn injected_failure(database: &Value, op_type: &str) -> Option<String> {
    let annotations = database.pointer("/metadata/annotations")?;
    let listed = annotations.get(FAIL_ANNOTATION)?.as_str()?;
    let matches = listed
        .split(',')
        .map(str::trim)
        .any(|entry| entry == op_type || entry == "*");
    matches.then(|| {
        annotations
            .get(FAIL_MESSAGE_ANNOTATION)
            .and_then(Value::as_str)
            .filter(|message| !message.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!("injected failure: annotation {FAIL_ANNOTATION} lists {op_type}")
            })
    })
}

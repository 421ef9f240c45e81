//! The arbiter and the read replica groups: pods of their own, outside the pod template.
//!
//! KubeDB resizes them only through a VerticalScaling (`verticalScaling.arbiter`,
//! `verticalScaling.readReplicas[].postgres`, each `{resources}`): a patched `resources` would
//! be written into the spec and never reach a pod. Their other fields (node selectors,
//! tolerations, ...) are patched. A read replica group is added, removed or scaled only by a
//! HorizontalScaling with `readReplicas` (exactly one of `replicas`/`readReplicas` per
//! request, and a new group needs its storage); that is not planned automatically: a change
//! of `replicas` or a group that is not live is an error naming the request to create.

use serde_json::{Map, Value, json};

use super::checks::Finding;
use super::compare::find_by;
use super::resources::{check_one, resize};
use crate::models::{PostgresSpec, ResourceRequirements};
use crate::yaml::PathSegment;

/// The declared (or live) read replica groups.
fn groups(spec: &PostgresSpec) -> &[Value] {
    spec.other
        .get("readReplicas")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn resources(value: Option<&Value>) -> Option<ResourceRequirements> {
    serde_json::from_value(value?.get("resources")?.clone()).ok()
}

/// The VerticalScaling entries for the arbiter and the read replica groups that exist live.
pub fn vertical_scaling(
    desired: &PostgresSpec,
    live: &PostgresSpec,
    block: &mut Map<String, Value>,
) {
    let arbiter = |spec: &PostgresSpec| resources(spec.other.get("arbiter"));
    if let Some(merged) = resize(arbiter(desired).as_ref(), arbiter(live).as_ref()) {
        block.insert("arbiter".into(), json!({"resources": merged}));
    }
    let mut replicas = Vec::new();
    for group in groups(desired) {
        // KubeDB's webhook refuses a group the database does not have (the checks stop it).
        let Some(current) = find_by(groups(live), "name", &group["name"]) else {
            continue;
        };
        if let Some(merged) = resize(
            resources(Some(group)).as_ref(),
            resources(Some(current)).as_ref(),
        ) {
            replicas.push(json!({"name": group["name"], "postgres": {"resources": merged}}));
        }
    }
    if !replicas.is_empty() {
        block.insert("readReplicas".into(), Value::Array(replicas));
    }
}

/// Request ≤ limit for the arbiter and each group; the count rules against the live groups.
pub fn check(desired: &PostgresSpec, live: Option<&PostgresSpec>, findings: &mut Vec<Finding>) {
    if let Some(wanted) = resources(desired.other.get("arbiter")) {
        let current = live.and_then(|l| resources(l.other.get("arbiter")));
        let at = path(&["spec", "arbiter", "resources"], None);
        check_one("the arbiter", &at, &wanted, current.as_ref(), findings);
    }
    for (index, group) in groups(desired).iter().enumerate() {
        let name = group["name"].as_str().unwrap_or_default();
        let current = live.map(|l| find_by(groups(l), "name", &group["name"]));
        if let Some(wanted) = resources(Some(group)) {
            let at = path(&["spec", "readReplicas"], Some((index, "resources")));
            let current = current.flatten().and_then(|c| resources(Some(c)));
            let what = format!("read replica {name}");
            check_one(&what, &at, &wanted, current.as_ref(), findings);
        }
        // Without a live database the groups are provisioned as declared.
        let (message, field) = match current {
            None => continue,
            Some(None) => (
                format!(
                    "readReplicas {name} is not live: adding a read replica group is not \
                     planned automatically, as KubeDB adds one only with a PostgresOpsRequest \
                     of type HorizontalScaling (horizontalScaling.readReplicas, with its \
                     storage); create it by hand, or remove the group from Git"
                ),
                "name",
            ),
            Some(Some(current)) => {
                let count = |g: &Value| g.get("replicas").and_then(Value::as_i64).unwrap_or(1);
                let (had, wanted) = (count(current), count(group));
                if group.get("replicas").is_none() || had == wanted {
                    continue;
                }
                (
                    format!(
                        "readReplicas {name}: replicas {had} → {wanted} is not planned \
                         automatically, as KubeDB scales read replicas only with a \
                         PostgresOpsRequest of type HorizontalScaling \
                         (horizontalScaling.readReplicas: [{{name: {name}, replicas: \
                         {wanted}}}]); create it by hand, or declare replicas {had}"
                    ),
                    "replicas",
                )
            }
        };
        findings.push(Finding {
            path: path(&["spec", "readReplicas"], Some((index, field))),
            message,
        });
    }
}

fn path(keys: &[&str], item: Option<(usize, &str)>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = keys.iter().map(|k| PathSegment::Key((*k).into())).collect();
    if let Some((index, key)) = item {
        path.push(PathSegment::Index(index));
        path.push(PathSegment::Key(key.into()));
    }
    path
}

/// The patch value of `readReplicas`, a list a merge patch replaces whole: the live groups
/// with the declared fields (resources already taken out) laid over each, so the live
/// resources and KubeDB's defaults of each group stay.
pub fn lay_over_live(declared: &Value, live: Option<&Value>) -> Value {
    let mut list = live.and_then(Value::as_array).cloned().unwrap_or_default();
    for group in declared.as_array().into_iter().flatten() {
        let existing = list.iter_mut().find(|g| g.get("name") == group.get("name"));
        if let (Some(Value::Object(target)), Some(fields)) = (existing, group.as_object()) {
            target.extend(fields.clone());
        }
    }
    Value::Array(list)
}

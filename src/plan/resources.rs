//! Container resources: what a change sends (the declared requests and limits laid over the
//! live ones, so undeclared values stay) and the rule that it never puts a request above its
//! limit. Kubernetes refuses such a pod, so KubeDB's VerticalScaling (or a patched sidecar)
//! would fail half-way; refusing it here names the value to fix instead.

use std::cmp::Ordering;

use serde_json::Value;

use super::checks::{Finding, show};
use super::compare::{covers, find_by};
use super::steps::SCALED_CONTAINERS;
use crate::models::{PostgresSpec, ResourceRequirements};
use crate::yaml::PathSegment;
use kubedb_semantics::quantity::compare_json_quantities;

/// The exporter's resources (`monitor.prometheus.exporter.resources`), as declared or live.
pub fn exporter(spec: &PostgresSpec) -> Option<ResourceRequirements> {
    let value = spec
        .other
        .get("monitor")?
        .pointer("/prometheus/exporter/resources")?;
    serde_json::from_value(value.clone()).ok()
}

/// The resources to send when `wanted` declares something `current` lacks: the live
/// resources with the declared requests/limits laid over them, so undeclared limits stay.
pub fn resize(
    wanted: Option<&ResourceRequirements>,
    current: Option<&ResourceRequirements>,
) -> Option<ResourceRequirements> {
    let wanted = wanted?;
    let wanted_json = serde_json::to_value(wanted).ok()?;
    let current_json = current.map(|c| serde_json::to_value(c).unwrap_or(Value::Null));
    if covers(&wanted_json, current_json.as_ref()) {
        return None;
    }
    Some(merge(wanted, current))
}

/// The live resources with the declared requests/limits laid over them.
pub fn merge(
    wanted: &ResourceRequirements,
    current: Option<&ResourceRequirements>,
) -> ResourceRequirements {
    let mut merged = current.cloned().unwrap_or_default();
    for (target, source) in [
        (&mut merged.requests, &wanted.requests),
        (&mut merged.limits, &wanted.limits),
    ] {
        if let Some(source) = source {
            target
                .get_or_insert_with(Default::default)
                .extend(source.clone());
        }
    }
    sendable(merged)
}

/// The request schema takes integers or strings; a fractional number copied from the live
/// object is sent in its string form, which is the same quantity.
pub fn sendable(mut resources: ResourceRequirements) -> ResourceRequirements {
    for map in [&mut resources.requests, &mut resources.limits]
        .into_iter()
        .flatten()
    {
        for value in map.values_mut().filter(|v| v.is_f64()) {
            *value = Value::String(value.to_string());
        }
    }
    resources
}

/// Every resources block the plan would send (declared containers, the exporter) whose
/// result has a request above its limit. The error names the live value when one side came
/// from the live object: raising the other side silently would change a value Git never
/// declared, so the user declares it (README, "How changes become OpsRequests").
pub fn check(desired: &PostgresSpec, live: Option<&PostgresSpec>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let containers = desired
        .pod_template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.as_ref());
    for (index, container) in containers.into_iter().flatten().enumerate() {
        let Some(wanted) = container.resources.as_ref() else {
            continue;
        };
        let current = live
            .and_then(|l| l.container(&container.name))
            .and_then(|c| c.resources.as_ref());
        let mut at = keys(&["spec", "podTemplate", "spec", "containers"]);
        at.push(PathSegment::Index(index));
        at.push(PathSegment::Key("resources".into()));
        let what = format!("container {}", container.name);
        check_one(&what, &at, wanted, current, &mut findings);
    }
    if let Some(wanted) = exporter(desired) {
        let current = live.and_then(exporter);
        let at = keys(&["spec", "monitor", "prometheus", "exporter", "resources"]);
        check_one(
            "the exporter",
            &at,
            &wanted,
            current.as_ref(),
            &mut findings,
        );
    }
    findings
}

fn keys(keys: &[&str]) -> Vec<PathSegment> {
    keys.iter()
        .map(|k| PathSegment::Key((*k).to_string()))
        .collect()
}

pub(super) fn check_one(
    what: &str,
    at: &[PathSegment],
    wanted: &ResourceRequirements,
    current: Option<&ResourceRequirements>,
    findings: &mut Vec<Finding>,
) {
    // Only what would be sent: an unchanged block is not the plan's to refuse.
    let Some(merged) = resize(Some(wanted), current) else {
        return;
    };
    let (Some(requests), Some(limits)) = (&merged.requests, &merged.limits) else {
        return;
    };
    let declared = |side: &Option<serde_json::Map<String, Value>>, name: &str| {
        side.as_ref().is_some_and(|m| m.contains_key(name))
    };
    for (name, request) in requests {
        let Some(limit) = limits.get(name) else {
            continue;
        };
        if compare_json_quantities(request, limit) != Some(Ordering::Greater) {
            continue;
        }
        let (request, limit) = (show(request), show(limit));
        let (side, message) = match (
            declared(&wanted.requests, name),
            declared(&wanted.limits, name),
        ) {
            (true, false) => (
                Some("requests"),
                format!(
                    "requests.{name} {request} of {what} is above its live limits.{name} \
                     {limit}; declare limits.{name} too (at least {request}), or a request of \
                     at most {limit}: a request above its limit is refused"
                ),
            ),
            (false, true) => (
                Some("limits"),
                format!(
                    "limits.{name} {limit} of {what} is below its live requests.{name} \
                     {request}; declare requests.{name} too (at most {limit}), or a limit of \
                     at least {request}: a request above its limit is refused"
                ),
            ),
            (true, true) => (
                Some("requests"),
                format!(
                    "requests.{name} {request} of {what} is above its limits.{name} {limit}: \
                     a request above its limit is refused"
                ),
            ),
            (false, false) => (
                None,
                format!(
                    "the live requests.{name} {request} of {what} is above its live \
                     limits.{name} {limit}; declare both"
                ),
            ),
        };
        let mut path = at.to_vec();
        if let Some(side) = side {
            path.push(PathSegment::Key(side.into()));
            path.push(PathSegment::Key(name.clone()));
        }
        findings.push(Finding { path, message });
    }
}

/// A container whose resources VerticalScaling changes.
pub fn is_scaled(container: &Value) -> bool {
    SCALED_CONTAINERS
        .iter()
        .any(|(name, _)| container.get("name").and_then(Value::as_str) == Some(*name))
}

/// A sidecar's declared requests/limits laid over its live ones, as VerticalScaling does for
/// the database's containers, so an undeclared live limit stays.
fn merged_resources(declared: &Value, live: Option<&Value>) -> Option<Value> {
    let wanted: ResourceRequirements = serde_json::from_value(declared.clone()).ok()?;
    let current: Option<ResourceRequirements> =
        live.and_then(|l| serde_json::from_value(l.clone()).ok());
    serde_json::to_value(merge(&wanted, current.as_ref())).ok()
}

/// Containers are an atomic list to a merge patch: send the live list with the declared
/// fields laid over each named container, so defaulted containers and resources survive.
pub fn merge_containers(wanted: &Value, live: Option<&Value>) -> Value {
    let mut merged = wanted.clone();
    let declared = wanted
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let live_list = live
        .and_then(|l| l.pointer("/spec/containers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if declared.is_empty() {
        return merged;
    }
    let mut list = live_list.clone();
    for container in &declared {
        match list
            .iter_mut()
            .find(|c| c.get("name") == container.get("name"))
        {
            Some(existing) => {
                if let (Some(target), Some(fields)) =
                    (existing.as_object_mut(), container.as_object())
                {
                    let live_resources = target.get("resources").cloned();
                    target.extend(fields.clone());
                    if let Some(merged) = fields
                        .get("resources")
                        .and_then(|r| merged_resources(r, live_resources.as_ref()))
                    {
                        target.insert("resources".into(), merged);
                    }
                }
            }
            None => list.push(container.clone()),
        }
    }
    debug_assert!(
        declared
            .iter()
            .all(|c| find_by(&list, "name", &c["name"]).is_some())
    );
    if let Some(slot) = merged.pointer_mut("/spec/containers") {
        *slot = Value::Array(list);
    }
    merged
}

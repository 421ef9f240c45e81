//! Changes KubeDB cannot make, found before anything is planned: one of these stops that
//! database's plan so nothing is half-applied.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::Value;

use super::compare::covers;
use super::version::{VersionCheck, check_target, check_upgrade};
use crate::models::{
    KubedbPostgres, LastApplied, ObjectMeta, PostgresSpec, PostgresVersion,
    VOLUME_EXPANSION_MODE_ANNOTATION,
};
use crate::yaml::PathSegment;
use kubedb_semantics::quantity::compare_json_quantities;

/// A reason a database cannot be planned, at a path in its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: Vec<PathSegment>,
    pub message: String,
}

/// The PostgresVersion objects of the cluster, by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    versions: BTreeMap<String, PostgresVersion>,
}

impl Catalog {
    pub fn new(versions: impl IntoIterator<Item = PostgresVersion>) -> Self {
        Self {
            versions: versions
                .into_iter()
                .filter_map(|v| Some((v.metadata.name.clone()?, v)))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&PostgresVersion> {
        self.versions.get(name)
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }
}

fn path(keys: &[&str]) -> Vec<PathSegment> {
    keys.iter()
        .map(|k| PathSegment::Key((*k).to_string()))
        .collect()
}

fn finding(keys: &[&str], message: impl Into<String>) -> Finding {
    Finding {
        path: path(keys),
        message: message.into(),
    }
}

/// Checks the desired spec against the live database (when there is one) and the catalog.
/// Returns the blocking findings and notes (such as a skipped version check).
pub fn check(
    desired: &PostgresSpec,
    declared: &Value,
    live: Option<&KubedbPostgres>,
    record: Option<&LastApplied>,
    catalog: Option<&Catalog>,
) -> (Vec<Finding>, Vec<String>) {
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    if let Some(replicas) = desired.replicas.filter(|r| *r < 1) {
        findings.push(finding(
            &["spec", "replicas"],
            format!("replicas must be at least 1, not {replicas}"),
        ));
    }
    check_containers(desired, &mut findings);
    findings.extend(super::resources::check(desired, live.map(|l| &l.spec)));
    super::members::check(desired, live.map(|l| &l.spec), &mut findings);
    check_inline_config(desired, &mut findings);
    check_sync_replicas(desired, live, &mut findings);
    check_tls_consistency(desired, declared, live, record, &mut findings);
    let version_check = match (desired.version.as_deref(), live) {
        (Some(target), None) => check_target(target, catalog),
        (Some(target), Some(live)) if live.spec.version.as_deref() != Some(target) => {
            check_upgrade(live.spec.version.as_deref(), target, catalog)
        }
        _ => VersionCheck::Unchanged,
    };
    match version_check {
        VersionCheck::Refused(message) => findings.push(finding(&["spec", "version"], message)),
        VersionCheck::Skipped => notes.push(
            "version check skipped: no PostgresVersion catalog was given, so the upgrade path is unchecked".into(),
        ),
        VersionCheck::Allowed | VersionCheck::Unchanged => {}
    }
    if let Some(live) = live {
        check_immutable(desired, declared, live, &mut findings);
    }
    (findings, notes)
}

/// Checks the gitops object's own annotations that shape the plan.
pub fn check_metadata(metadata: &ObjectMeta) -> Vec<Finding> {
    let mut findings = Vec::new();
    let annotations = metadata.annotations.as_ref();
    // KubeDB's CRD takes exactly `Online` or `Offline` (case-sensitive): any other value
    // would make a VolumeExpansion the API server refuses. Checked whether or not the disk
    // grows now, so a wrong value is found when it is written, not on the day it is used.
    if let Some(mode) = annotations
        .and_then(|a| a.get(VOLUME_EXPANSION_MODE_ANNOTATION))
        .filter(|m| !matches!(m.as_str(), "Online" | "Offline"))
    {
        findings.push(finding(
            &["metadata", "annotations", VOLUME_EXPANSION_MODE_ANNOTATION],
            format!(
                "annotation {VOLUME_EXPANSION_MODE_ANNOTATION} is {mode:?}; it must be Online or \
                 Offline (exactly, as KubeDB's VolumeExpansion mode is spelt)"
            ),
        ));
    }
    // Change control read from the annotations: a window or policy that cannot be read stops
    // the database here, at the annotation's line, rather than silently never holding.
    if let Some(annotations) = annotations {
        for (annotation, problem) in crate::gate::check_annotations(annotations) {
            findings.push(finding(
                &["metadata", "annotations", annotation],
                format!("annotation {annotation}: {problem}"),
            ));
        }
    }
    findings
}

fn check_containers(desired: &PostgresSpec, findings: &mut Vec<Finding>) {
    let containers = desired
        .pod_template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.containers.as_ref());
    let mut seen = std::collections::BTreeSet::new();
    for (index, container) in containers.into_iter().flatten().enumerate() {
        if !seen.insert(container.name.as_str()) {
            let mut at = path(&["spec", "podTemplate", "spec", "containers"]);
            at.push(PathSegment::Index(index));
            at.push(PathSegment::Key("name".into()));
            findings.push(Finding {
                path: at,
                message: format!("container {:?} is declared twice", container.name),
            });
        }
    }
}

fn check_inline_config(desired: &PostgresSpec, findings: &mut Vec<Finding>) {
    let Some(inline) = desired
        .configuration
        .as_ref()
        .and_then(|c| c.inline.as_ref())
    else {
        return;
    };
    if inline.keys().any(|k| k != "user.conf") || inline.len() > 1 {
        findings.push(finding(
            &["spec", "configuration", "inline"],
            "KubeDB accepts only the key `user.conf` in configuration.inline",
        ));
    }
}

/// KubeDB's synchronous replication makes every commit wait for `numSyncReplicas` standbys
/// (default 1): it must be below `replicas`, or at most the number of `standbyNames` when
/// those are listed, or commits wait for standbys that do not exist. Checked on the result
/// of the change (declared, else live), so scaling down below the live value is caught too.
fn check_sync_replicas(
    desired: &PostgresSpec,
    live: Option<&KubedbPostgres>,
    findings: &mut Vec<Finding>,
) {
    const KEY: &str = "synchronousReplicationConfig";
    let declared = desired.other.get(KEY).filter(|c| !c.is_null());
    if desired.replicas.is_none() && declared.is_none() {
        return;
    }
    let Some(config) = declared.or_else(|| live.and_then(|l| l.spec.other.get(KEY))) else {
        return;
    };
    let wanted = config.get("numSyncReplicas").and_then(Value::as_i64);
    let count = wanted.unwrap_or(1);
    let replicas = desired
        .replicas
        .or_else(|| live.and_then(|l| l.spec.replicas))
        .unwrap_or(1);
    let names = config
        .get("standbyNames")
        .and_then(Value::as_array)
        .filter(|n| !n.is_empty());
    let origin = if declared.is_some() { "" } else { " (live)" };
    let message = match names {
        _ if count < 1 => format!("numSyncReplicas {count}{origin} must be at least 1"),
        Some(names) if count > names.len() as i64 => format!(
            "numSyncReplicas {count}{origin} must be at most the {} standbyNames listed: \
             every commit waits for that many of them",
            names.len()
        ),
        None if count >= i64::from(replicas) => format!(
            "numSyncReplicas {count}{origin} must be below replicas {replicas}: every commit \
             waits for that many standbys, and there are {}",
            replicas - 1
        ),
        _ => return,
    };
    let at: &[&str] = match (declared, wanted) {
        (None, _) => &["spec", "replicas"],
        (Some(_), Some(_)) => &["spec", KEY, "numSyncReplicas"],
        (Some(_), None) => &["spec", KEY],
    };
    findings.push(finding(at, message));
}

/// `tls` and `sslMode` must agree (KubeDB's validating webhook refuses the rest).
fn check_tls_consistency(
    desired: &PostgresSpec,
    declared: &Value,
    live: Option<&KubedbPostgres>,
    record: Option<&LastApplied>,
    findings: &mut Vec<Finding>,
) {
    let declares_tls = declared.get("tls").is_some_and(|v| !v.is_null());
    // Leaving tls out removes it only if the record says Git declared it before.
    let removed = record.is_some_and(|r| r.spec.contains_key("tls"));
    let tls_after = declares_tls
        || live.is_some_and(|l| l.spec.tls.is_some() && declared.get("tls").is_none() && !removed);
    let ssl_mode = desired.ssl_mode.as_deref();
    match (tls_after, ssl_mode) {
        (false, Some(mode)) if mode != "disable" => findings.push(finding(
            &["spec", "sslMode"],
            format!("sslMode {mode} needs spec.tls; add tls or use sslMode disable"),
        )),
        (true, Some("disable")) => findings.push(finding(
            &["spec", "sslMode"],
            "sslMode disable cannot be used with spec.tls",
        )),
        _ => {}
    }
    // Without TLS KubeDB refuses clientAuthMode cert: removing TLS from a database that
    // authenticates by certificate needs the mode it is to use instead.
    let removing =
        removed && declared.get("tls").is_none() && live.is_some_and(|l| l.spec.tls.is_some());
    let live_auth = live.and_then(|l| l.spec.client_auth_mode.as_deref());
    if removing && desired.client_auth_mode.is_none() && live_auth == Some("cert") {
        findings.push(finding(
            &["spec"],
            "removing spec.tls while the live clientAuthMode is cert, which KubeDB refuses \
             without TLS: declare spec.clientAuthMode: md5 or scram",
        ));
    }
    // A database without TLS runs with sslMode disable (KubeDB's default), and KubeDB refuses
    // tls together with disable: adding TLS without declaring a mode would be refused.
    let live_disabled =
        live.is_some_and(|l| l.spec.tls.is_none() && l.spec.ssl_mode.as_deref() == Some("disable"));
    if declares_tls && ssl_mode.is_none() && live_disabled {
        findings.push(finding(
            &["spec", "tls"],
            "adding spec.tls while the live sslMode is disable, which KubeDB refuses with TLS: \
             declare spec.sslMode: verify-full (KubeDB's default with TLS), or verify-ca, \
             require, prefer or allow",
        ));
    }
    if desired.client_auth_mode.as_deref() == Some("cert")
        && (!tls_after || ssl_mode == Some("disable"))
    {
        findings.push(finding(
            &["spec", "clientAuthMode"],
            "clientAuthMode cert needs TLS (spec.tls and an sslMode other than disable)",
        ));
    }
}

/// Fields KubeDB fixes at provisioning time.
fn check_immutable(
    desired: &PostgresSpec,
    declared: &Value,
    live: &KubedbPostgres,
    findings: &mut Vec<Finding>,
) {
    if let Some(wanted) = desired.storage_type.as_deref() {
        let current = live.spec.storage_type.as_deref().unwrap_or("Durable");
        if wanted != current {
            findings.push(finding(&["spec", "storageType"], format!("storageType cannot change ({current} → {wanted}); it is fixed when the database is created")));
        }
    }
    if let Some(storage) = declared.get("storage") {
        check_storage(storage, live, findings);
    }
    if let Some(init) = declared.get("init") {
        let initialized = live
            .spec
            .other
            .get("init")
            .and_then(|i| i.get("initialized"))
            == Some(&Value::Bool(true));
        let mut wanted = init.clone();
        if let Some(map) = wanted.as_object_mut() {
            map.remove("initialized");
        }
        if initialized && !covers(&wanted, live.spec.other.get("init")) {
            findings.push(finding(
                &["spec", "init"],
                "spec.init cannot change after the database was initialised",
            ));
        }
    }
}

fn check_storage(storage: &Value, live: &KubedbPostgres, findings: &mut Vec<Finding>) {
    let live_storage =
        serde_json::to_value(live.spec.storage.clone().unwrap_or_default()).unwrap_or(Value::Null);
    if let (Some(wanted), Some(current)) = (
        storage.pointer("/resources/requests/storage"),
        live_storage.pointer("/resources/requests/storage"),
    ) {
        match compare_json_quantities(wanted, current) {
            Some(Ordering::Less) => findings.push(finding(
                &["spec", "storage", "resources", "requests", "storage"],
                format!(
                    "storage cannot shrink ({} → {}); volumes only grow",
                    show(current),
                    show(wanted)
                ),
            )),
            None => findings.push(finding(
                &["spec", "storage", "resources", "requests", "storage"],
                format!(
                    "cannot compare storage sizes {} and {}",
                    show(current),
                    show(wanted)
                ),
            )),
            _ => {}
        }
    }
    if let Some(wanted) = storage.get("storageClassName").and_then(Value::as_str) {
        let current = live_storage
            .get("storageClassName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if wanted != current {
            findings.push(finding(
                &["spec", "storage", "storageClassName"],
                format!("storageClassName cannot change ({current:?} → {wanted:?}): a storage migration is not planned automatically"),
            ));
        }
    }
    for (key, value) in storage.as_object().into_iter().flatten() {
        if key == "resources" || key == "storageClassName" {
            continue;
        }
        if !covers(value, live_storage.get(key)) {
            findings.push(finding(
                &["spec", "storage", key],
                format!("storage.{key} cannot change after the volumes exist"),
            ));
        }
    }
}

pub(super) fn show(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

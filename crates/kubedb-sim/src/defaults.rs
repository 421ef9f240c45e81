//! KubeDB's mutating webhook for `kubedb.com/v1` Postgres (`Postgres.SetDefaults` plus the
//! webhook's `replicas`/`authSecret` defaults), as a pure function over the spec JSON.
//!
//! Like the webhook it only fills what is absent, so running it again changes nothing; the
//! simulator runs it on every change it sees, as the webhook runs on every write. Values come
//! from kubedb/apimachinery `apis/kubedb/v1/postgres_helpers.go` and `apis/kubedb/constants.go`
//! (see `docs/kubedb-api.md` §1.2). Quantities are written in the canonical spelling the Go
//! webhook would serialise (`.500` → `500m`, `1024Mi` → `1Gi`).

use serde_json::{Value, json};

use super::api::{COORDINATOR_CONTAINER, INIT_CONTAINER, POSTGRES_CONTAINER};
use super::json::{fill, is_unset, named_item, object_entry, set, str_at};

/// The uid Postgres runs as in the official images; used only when the PostgresVersion object
/// is missing (KubeDB itself would refuse such a database; the simulator stays lenient so a
/// CI flow does not need a catalog unless it tests version updates).
pub const FALLBACK_RUN_AS_USER: i64 = 70;

/// Port of the Prometheus exporter sidecar when monitoring is enabled.
const EXPORTER_PORT: i64 = 56790;

/// What the defaulter needs to know about the database's PostgresVersion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFacts {
    /// Major version of the engine (`spec.version` of the catalog object), e.g. 16.
    pub major: Option<u64>,
    /// `spec.securityContext.runAsUser` of the catalog object.
    pub run_as_user: Option<i64>,
}

impl VersionFacts {
    /// Facts from the catalog object when there is one, otherwise guessed from the version
    /// name the database refers to (`"16.8-bookworm"` → major 16).
    pub fn new(version_name: &str, catalog_object: Option<&Value>) -> Self {
        let engine_version = catalog_object
            .and_then(|object| str_at(object, "/spec/version"))
            .unwrap_or(version_name);
        Self {
            major: leading_number(engine_version),
            run_as_user: catalog_object
                .and_then(|object| object.pointer("/spec/securityContext/runAsUser"))
                .and_then(Value::as_i64),
        }
    }
}

fn leading_number(text: &str) -> Option<u64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The spec with KubeDB's defaults filled in. `db_name` names the database (the defaults
/// derive the auth secret, service account and certificate secret names from it).
pub fn default_postgres_spec(db_name: &str, spec: &Value, version: &VersionFacts) -> Value {
    let mut spec = if spec.is_object() {
        spec.clone()
    } else {
        json!({})
    };
    let run_as_user = version.run_as_user.unwrap_or(FALLBACK_RUN_AS_USER);

    fill(&mut spec, "replicas", json!(1));
    fill(&mut spec, "standbyMode", json!("Hot"));
    fill(&mut spec, "storageType", json!("Durable"));
    // A halted database is forced to Halt (KubeDB refuses halting a DoNotTerminate one; the
    // simulator leaves that policy alone instead).
    let halted = spec.get("halted").and_then(Value::as_bool) == Some(true);
    let do_not_terminate = str_at(&spec, "/deletionPolicy") == Some("DoNotTerminate");
    if halted && !do_not_terminate {
        set(&mut spec, "deletionPolicy", json!("Halt"));
    }
    fill(&mut spec, "deletionPolicy", json!("Delete"));
    default_auth_secret(&mut spec, db_name);
    migrate_legacy_config_secret(&mut spec);
    default_leader_election(&mut spec);

    let has_tls = !is_unset(spec.get("tls"));
    fill(
        &mut spec,
        "sslMode",
        json!(if has_tls { "verify-full" } else { "disable" }),
    );
    // Newer KubeDB defaults to scram from PostgreSQL 18 on (`docs/kubedb-api.md` §1.1).
    let scram = version.major.is_some_and(|major| major >= 18);
    fill(
        &mut spec,
        "clientAuthMode",
        json!(if scram { "scram" } else { "md5" }),
    );

    default_pod_template(&mut spec, db_name, run_as_user);
    default_replication(&mut spec, version.major);
    default_arbiter(&mut spec);
    default_tls_certificates(&mut spec, db_name);
    let health = object_entry(&mut spec, "healthChecker");
    fill(health, "periodSeconds", json!(10));
    fill(health, "timeoutSeconds", json!(10));
    fill(health, "failureThreshold", json!(1));
    default_monitor(&mut spec, run_as_user);
    spec
}

fn default_auth_secret(spec: &mut Value, db_name: &str) {
    let auth = object_entry(spec, "authSecret");
    if is_unset(auth.get("name")) {
        set(auth, "name", json!(format!("{db_name}-auth")));
    }
    if is_unset(auth.get("kind")) {
        set(auth, "kind", json!("Secret"));
    }
}

/// The legacy `configSecret` becomes `configuration.secretName` (webhook behaviour, §1.1).
fn migrate_legacy_config_secret(spec: &mut Value) {
    let Some(legacy) = str_at(spec, "/configSecret/name").map(str::to_string) else {
        return;
    };
    if is_unset(spec.get("configuration")) {
        set(spec, "configuration", json!({"secretName": legacy}));
    }
    if str_at(spec, "/configuration/secretName") == Some(legacy.as_str()) {
        spec.as_object_mut()
            .expect("spec is an object")
            .remove("configSecret");
    }
}

fn default_leader_election(spec: &mut Value) {
    if is_unset(spec.get("leaderElection")) {
        set(
            spec,
            "leaderElection",
            json!({
                "period": "300ms",
                "electionTick": 10,
                "heartbeatTick": 1,
                "maximumLagBeforeFailover": 64 * 1024 * 1024,
            }),
        );
    }
    let election = object_entry(spec, "leaderElection");
    fill(election, "transferLeadershipInterval", json!("1s"));
    fill(election, "transferLeadershipTimeout", json!("1m0s"));
}

fn default_pod_template(spec: &mut Value, db_name: &str, run_as_user: i64) {
    let pod_spec = object_entry(object_entry(spec, "podTemplate"), "spec");
    if is_unset(pod_spec.get("serviceAccountName")) {
        set(pod_spec, "serviceAccountName", json!(db_name));
    }
    let pod_security = object_entry(pod_spec, "securityContext");
    fill(pod_security, "fsGroup", json!(run_as_user));
    fill(pod_security, "runAsUser", json!(run_as_user));
    fill(pod_security, "runAsGroup", json!(run_as_user));

    let containers = object_entry_list(pod_spec, "containers");
    let postgres = named_item(containers, POSTGRES_CONTAINER);
    default_container(
        postgres,
        run_as_user,
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}),
    );
    let coordinator = named_item(containers, COORDINATOR_CONTAINER);
    default_container(
        coordinator,
        run_as_user,
        json!({"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}}),
    );
    let init_containers = object_entry_list(pod_spec, "initContainers");
    let init = named_item(init_containers, INIT_CONTAINER);
    default_container(
        init,
        run_as_user,
        json!({"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}),
    );
}

fn object_entry_list<'a>(parent: &'a mut Value, key: &str) -> &'a mut Value {
    let map = parent.as_object_mut().expect("pod spec is an object");
    let slot = map.entry(key.to_string()).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot
}

fn default_container(container: &mut Value, run_as_user: i64, default_resources: Value) {
    let security = object_entry(container, "securityContext");
    fill(security, "allowPrivilegeEscalation", json!(false));
    fill(security, "capabilities", json!({"drop": ["ALL"]}));
    fill(security, "runAsNonRoot", json!(true));
    fill(security, "runAsUser", json!(run_as_user));
    fill(security, "runAsGroup", json!(run_as_user));
    fill(
        security,
        "seccompProfile",
        json!({"type": "RuntimeDefault"}),
    );
    // KubeDB only defaults resources when the user set neither requests nor limits.
    let resources = container.get("resources");
    let untouched = is_unset(resources.and_then(|r| r.get("requests")))
        && is_unset(resources.and_then(|r| r.get("limits")));
    if untouched {
        let resources = object_entry(container, "resources");
        set(resources, "requests", default_resources["requests"].clone());
        set(resources, "limits", default_resources["limits"].clone());
    }
}

/// WAL retention: keep-size for PostgreSQL 13+, keep-segment before (`SetDefaultReplicationMode`).
fn default_replication(spec: &mut Value, major: Option<u64>) {
    let replication = object_entry(spec, "replication");
    let keep_segments = major.is_some_and(|major| major <= 12);
    fill(
        replication,
        "walLimitPolicy",
        json!(if keep_segments {
            "WALKeepSegment"
        } else {
            "WALKeepSize"
        }),
    );
    match str_at(replication, "/walLimitPolicy") {
        Some("WALKeepSegment") => fill(replication, "walKeepSegment", json!(96)),
        Some("WALKeepSize") => fill(replication, "walKeepSize", json!(1536)),
        Some("ReplicationSlot") => fill(replication, "maxSlotWALKeepSize", json!(-1)),
        _ => {}
    }
}

/// An even number of replicas gets an arbiter so elections cannot tie (`SetArbiterDefault`).
fn default_arbiter(spec: &mut Value) {
    let replicas = spec.get("replicas").and_then(Value::as_i64).unwrap_or(0);
    if replicas % 2 == 0 && is_unset(spec.get("arbiter")) {
        set(
            spec,
            "arbiter",
            json!({"resources": {
                "requests": {"storage": "2Gi", "cpu": "200m", "memory": "256Mi"},
                "limits": {"memory": "256Mi"},
            }}),
        );
    }
}

/// Certificate secret names `<db>-<alias>-cert` for the aliases Postgres uses (`SetTLSDefaults`).
fn default_tls_certificates(spec: &mut Value, db_name: &str) {
    if is_unset(spec.pointer("/tls/issuerRef")) {
        return;
    }
    let certificates = object_entry_list(object_entry(spec, "tls"), "certificates");
    for alias in ["server", "client", "metrics-exporter"] {
        let items = certificates.as_array_mut().expect("certificates is a list");
        let secret_name = json!(format!("{db_name}-{alias}-cert"));
        match items
            .iter_mut()
            .find(|item| item.get("alias").and_then(Value::as_str) == Some(alias))
        {
            Some(item) => fill(item, "secretName", secret_name),
            None => items.push(json!({"alias": alias, "secretName": secret_name})),
        }
    }
}

fn default_monitor(spec: &mut Value, run_as_user: i64) {
    // KubeDB checks for a non-nil pointer: `prometheus: {}` enables the exporter too.
    if spec
        .pointer("/monitor/prometheus")
        .is_none_or(Value::is_null)
    {
        return;
    }
    let exporter = object_entry(
        object_entry(object_entry(spec, "monitor"), "prometheus"),
        "exporter",
    );
    fill(exporter, "port", json!(EXPORTER_PORT));
    let security = object_entry(exporter, "securityContext");
    fill(security, "runAsUser", json!(run_as_user));
    fill(security, "runAsGroup", json!(run_as_user));
}

#[cfg(test)]
mod tests;

//! The field → OpsRequest table: one function per OpsRequest type, each comparing only what
//! the desired spec declares and returning the type's block when something must change.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::compare::{covers, is_empty};
use super::members;
use super::removals;
use super::resources::{exporter, resize, sendable};
use crate::models::{KubedbPostgres, LastApplied, PostgresSpec};
use kubedb_semantics::quantity::compare_json_quantities;

/// What one category contributes: the block of its OpsRequest.
pub type Block = Option<Value>;

/// Everything the step functions read.
pub struct Inputs<'a> {
    pub desired: &'a PostgresSpec,
    /// The spec as written (only declared keys).
    pub declared: &'a Map<String, Value>,
    pub live: &'a KubedbPostgres,
    pub record: Option<&'a LastApplied>,
}

impl Inputs<'_> {
    /// Declared before (in the last-applied record), absent now: the user removed it.
    fn removed(&self, key: &str) -> bool {
        !self.declared.contains_key(key) && self.record.is_some_and(|r| r.spec.contains_key(key))
    }
}

/// HorizontalScaling, with the direction (scale-downs go first, scale-ups after resizing).
pub fn horizontal_scaling(inputs: &Inputs<'_>) -> Option<(Value, Ordering)> {
    let wanted = inputs.desired.replicas?;
    let current = inputs.live.spec.replicas.unwrap_or(1);
    if wanted == current {
        return None;
    }
    // The CRD defaults standbyMode/streamingMode on the request; keep the live ones explicit
    // so a scale never silently changes the replication mode.
    let block = json!({
        "replicas": wanted,
        "standbyMode": inputs.live.spec.standby_mode.as_deref().unwrap_or("Hot"),
        "streamingMode": inputs.live.spec.streaming_mode.as_deref().unwrap_or("Asynchronous"),
    });
    Some((block, wanted.cmp(&current)))
}

/// VolumeExpansion: grow only (a shrink is refused by the checks before this runs).
pub fn volume_expansion(inputs: &Inputs<'_>, mode: &str) -> Block {
    let wanted = inputs.desired.storage.as_ref()?.requested_size()?;
    let current = inputs
        .live
        .spec
        .storage
        .as_ref()
        .and_then(|s| s.requested_size());
    let grows = match current {
        Some(current) => compare_json_quantities(wanted, current) == Some(Ordering::Greater),
        None => true,
    };
    grows.then(|| json!({"mode": mode, "postgres": wanted}))
}

/// The containers VerticalScaling resizes, with their block keys.
pub const SCALED_CONTAINERS: [(&str, &str); 2] =
    [("postgres", "postgres"), ("pg-coordinator", "coordinator")];

/// VerticalScaling of the database, coordinator and exporter containers, the arbiter and the
/// read replica groups.
pub fn vertical_scaling(inputs: &Inputs<'_>) -> Block {
    let mut block = Map::new();
    for (container, key) in SCALED_CONTAINERS {
        let wanted = inputs
            .desired
            .container(container)
            .and_then(|c| c.resources.as_ref());
        let current = inputs
            .live
            .spec
            .container(container)
            .and_then(|c| c.resources.as_ref());
        if let Some(resources) = resize(wanted, current) {
            block.insert(key.into(), json!({"resources": resources}));
        }
    }
    members::vertical_scaling(inputs.desired, &inputs.live.spec, &mut block);
    let wanted = exporter(inputs.desired);
    if let Some(resources) = resize(wanted.as_ref(), exporter(&inputs.live.spec).as_ref()) {
        block.insert("exporter".into(), json!({"resources": resources}));
        if !block.contains_key("postgres") {
            // KubeDB's webhook refuses a VerticalScaling with only `exporter`; restating the
            // database's current resources satisfies it without resizing the database.
            let current = inputs
                .live
                .spec
                .container("postgres")
                .and_then(|c| c.resources.clone());
            block.insert(
                "postgres".into(),
                json!({"resources": sendable(current.unwrap_or_default())}),
            );
        }
    }
    (!block.is_empty()).then_some(Value::Object(block))
}

/// UpdateVersion to the declared version.
pub fn update_version(inputs: &Inputs<'_>) -> Block {
    let wanted = inputs.desired.version.as_deref()?;
    (inputs.live.spec.version.as_deref() != Some(wanted)).then(|| json!({"targetVersion": wanted}))
}

/// Reconfigure: custom-config secret, inline `user.conf`, tuning; removal through the record.
pub fn reconfigure(inputs: &Inputs<'_>) -> Block {
    let desired = inputs.desired;
    let live = &inputs.live.spec;
    let wanted_secret = desired.config_secret_name();
    let wanted_inline = desired
        .configuration
        .as_ref()
        .and_then(|c| c.inline.as_ref())
        .and_then(|i| i.get("user.conf"));
    let wanted_tuning = desired
        .configuration
        .as_ref()
        .and_then(|c| c.tuning.as_ref());
    let live_config = live.configuration.as_ref();
    let live_inline = live_config
        .and_then(|c| c.inline.as_ref())
        .and_then(|i| i.get("user.conf"));
    let live_tuning = live_config.and_then(|c| c.tuning.as_ref());

    let record_config = inputs
        .record
        .and_then(|r| r.spec.get("configuration").cloned())
        .unwrap_or_default();
    let record_had = |key: &str| {
        !is_empty(&record_config[key])
            || (key == "secretName"
                && inputs
                    .record
                    .is_some_and(|r| r.spec.contains_key("configSecret")))
    };
    let removed_secret =
        wanted_secret.is_none() && record_had("secretName") && live.config_secret_name().is_some();
    let removed_inline = wanted_inline.is_none() && record_had("inline") && live_inline.is_some();
    let removed_tuning = wanted_tuning.is_none() && record_had("tuning") && live_tuning.is_some();
    let remove = removed_secret || removed_inline || removed_tuning;

    let mut block = Map::new();
    // After removeCustomConfig everything custom is gone, so what remains declared is re-sent.
    if let Some(secret) = wanted_secret.filter(|s| remove || live.config_secret_name() != Some(*s))
    {
        block.insert("configSecret".into(), json!({"name": secret}));
    }
    if let Some(inline) = wanted_inline.filter(|i| remove || live_inline != Some(*i)) {
        block.insert("applyConfig".into(), json!({"user.conf": inline}));
    }
    if let Some(tuning) = wanted_tuning.filter(|t| remove || !covers(t, live_tuning)) {
        block.insert("tuning".into(), tuning.clone());
    }
    if remove {
        block.insert("removeCustomConfig".into(), json!(true));
    }
    (!block.is_empty()).then_some(Value::Object(block))
}

/// ReconfigureTLS: add or change TLS (with sslMode/clientAuthMode), rotate on request, remove.
pub fn reconfigure_tls(inputs: &Inputs<'_>, rotate_requested: bool) -> Block {
    let desired = inputs.desired;
    let live = &inputs.live.spec;
    if inputs.removed("tls") && live.tls.as_ref().is_some_and(|t| !is_empty(t)) {
        // KubeDB's remove guide names the clientAuthMode to use without TLS (`cert` is
        // refused then; the checks stop a live `cert` that Git does not replace).
        let mut block = json!({"remove": true});
        if let Some(mode) = &desired.client_auth_mode {
            block["clientAuthMode"] = json!(mode);
        }
        return Some(block);
    }
    // A certificate removed from Git is a change the comparison of what is declared cannot
    // see; the declared list is sent (ReconfigureTLS takes `certificates`), without it.
    let recorded = inputs.record.and_then(|r| r.spec.get("tls"));
    let certificate_removed = desired.tls.as_ref().is_some_and(|t| {
        removals::item_removed(
            t.get("certificates").unwrap_or(&Value::Null),
            recorded.and_then(|r| r.get("certificates")),
            live.tls.as_ref().and_then(|l| l.get("certificates")),
        )
    });
    let mut block = Map::new();
    if let Some(tls) = desired
        .tls
        .as_ref()
        .filter(|t| certificate_removed || !covers(t, live.tls.as_deref()))
    {
        block.extend(tls.as_object().cloned().unwrap_or_default());
    }
    let ssl_changed = desired
        .ssl_mode
        .as_ref()
        .is_some_and(|m| live.ssl_mode.as_ref() != Some(m));
    let auth_changed = desired
        .client_auth_mode
        .as_ref()
        .is_some_and(|m| live.client_auth_mode.as_ref() != Some(m));
    if !block.is_empty() || ssl_changed || auth_changed {
        if let Some(mode) = &desired.ssl_mode {
            block.insert("sslMode".into(), json!(mode));
        }
        if let Some(mode) = &desired.client_auth_mode {
            block.insert("clientAuthMode".into(), json!(mode));
        }
    }
    if rotate_requested && block.is_empty() && live.tls.is_some() {
        block.insert("rotateCertificates".into(), json!(true));
    }
    (!block.is_empty()).then_some(Value::Object(block))
}

/// RotateAuth to the declared secret (KubeDB keeps the previous credentials as `.prev`).
pub fn rotate_auth(inputs: &Inputs<'_>) -> Block {
    let wanted = inputs.desired.auth_secret.as_ref()?;
    let name = wanted.name.as_deref()?;
    let current = inputs
        .live
        .spec
        .auth_secret
        .as_ref()
        .and_then(|a| a.name.as_deref());
    if current == Some(name) {
        return None;
    }
    let mut secret_ref = Map::new();
    secret_ref.insert(
        "kind".into(),
        json!(wanted.kind.as_deref().unwrap_or("Secret")),
    );
    secret_ref.insert("name".into(), json!(name));
    if let Some(group) = wanted.api_group.as_deref().filter(|g| !g.is_empty()) {
        secret_ref.insert("apiGroup".into(), json!(group));
    }
    Some(json!({"secretRef": secret_ref}))
}

//! The bodies of the fuzz targets (`fuzz/`, cargo-fuzz on nightly), kept in the library so
//! the stable test suite replays every saved corpus input and every crash found through the
//! very same code (`tests/offline/fuzz_corpus.rs`). Each takes arbitrary bytes, must never
//! panic, and checks what must hold for any input.

use std::path::Path;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::manifest::{LoadOptions, ManifestSet, load_text};
use crate::plan::{PlanSettings, plan_database};
use crate::server::Provider;
use crate::yaml::PathSegment;

/// The manifest loader and the YAML line lookup: any text loads into manifests and errors,
/// and every field of a loaded manifest has a line inside the file.
pub fn manifest_loader(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Lines as YAML counts them: a lone `\r` breaks a line too.
    let lines = 1 + text.matches('\n').count() + text.replace("\r\n", "\n").matches('\r').count();
    let mut set = ManifestSet::default();
    load_text(
        Path::new("fuzz.yaml"),
        Arc::from(text.as_ref()),
        &LoadOptions::default(),
        &mut set,
    );
    for manifest in &set.manifests {
        let mut paths = Vec::new();
        collect_paths(&manifest.declared, &mut Vec::new(), &mut paths);
        for path in paths.iter().take(64) {
            let line = manifest.line_of(path);
            assert!(
                line >= 1 && line <= lines + 1,
                "{path:?} at line {line} of {lines}"
            );
        }
    }
    for error in &set.errors {
        assert!(error.line <= lines + 1, "{error:?}");
    }
}

fn collect_paths(value: &Value, at: &mut Vec<PathSegment>, out: &mut Vec<Vec<PathSegment>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                at.push(PathSegment::Key(key.clone()));
                collect_paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                at.push(PathSegment::Index(index));
                collect_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// The quantity parser: a quantity that parses equals itself, whatever its spelling.
pub fn quantity(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if kubedb_semantics::quantity::Quantity::parse(&text).is_ok() {
        let value = json!(text);
        assert_eq!(
            kubedb_semantics::quantity::compare_json_quantities(&value, &value),
            Some(std::cmp::Ordering::Equal),
            "{text:?}"
        );
    }
}

/// Webhook signature checks and payload parsing for every provider: the first byte picks the
/// provider, then a header value line, then the body. Nothing panics, an arbitrary header
/// value never verifies against the secret unless it is the right one, and a delivery signed
/// the way the provider signs always verifies.
pub fn webhook(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let provider = Provider::ALL[usize::from(pick) % Provider::ALL.len()];
    let split = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
    let (header, body) = (&rest[..split], rest.get(split + 1..).unwrap_or_default());
    let secret = b"fuzz-secret";
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(header) {
        for name in [
            "x-hub-signature-256",
            "x-hub-signature",
            "x-gitlab-token",
            "x-gitea-signature",
            "x-signature",
            "x-github-event",
            "x-gitlab-event",
            "x-gitea-event",
            "x-event-key",
            "content-type",
        ] {
            headers.insert(HeaderName::from_static(name), value.clone());
        }
    }
    let _ = crate::server::webhook::parse_event(provider, &headers, body);
    let arbitrary = crate::server::webhook::verify(provider, secret, &headers, body);
    let signed = crate::server::signature::sign_for(provider, secret, body);
    if arbitrary.is_ok() {
        let shown = String::from_utf8_lossy(header).trim().to_ascii_lowercase();
        assert!(
            shown.ends_with(&signed.1.to_ascii_lowercase()),
            "{provider:?} verified a wrong signature: {shown:?}"
        );
    }
    let mut good = HeaderMap::new();
    good.insert(
        HeaderName::from_static(signed.0),
        HeaderValue::from_str(&signed.1).expect("a signature is a header value"),
    );
    assert!(crate::server::webhook::verify(provider, secret, &good, body).is_ok());
}

/// known_hosts parsing: any file, host, port and key gives a verdict without panicking.
pub fn known_hosts(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, rest) = text.split_once('\0').unwrap_or((&text, ""));
    let (host, key) = rest.split_once('\0').unwrap_or((rest, ""));
    let port = 22 + (data.len() % 3) as u16;
    let _ = crate::source::known_hosts::check(file, host, port, key.as_bytes());
}

/// Config loading: any text is a config or an error, and an error says its cause once.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Err(error) = crate::config::Config::from_toml_str(&text) {
        let _ = error.to_string();
    }
}

/// URL redaction: what is shown never holds the password, and showing is stable.
pub fn redact(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let parsed = crate::source::redact::parse_url(&text);
    // The userinfo is gone from the authority (the same bytes may still occur by chance in
    // the host or the path, which are shown as written).
    if let Some(password) = parsed.password.as_deref() {
        let after_scheme = parsed
            .display
            .split_once("://")
            .map_or("", |(_, rest)| rest);
        let authority = after_scheme.split('/').next().unwrap_or_default();
        assert!(
            !authority.contains(&format!(":{password}@")),
            "{text:?} shows {:?}",
            parsed.display
        );
    }
    let again = crate::source::redact::parse_url(&parsed.display);
    assert_eq!(again.display, parsed.display, "{text:?}");
}

/// The planner: arbitrary desired and live specs (JSON, split at the first NUL) never make it
/// panic, and it gives the same plan twice.
pub fn planner(data: &[u8]) {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (Ok(desired), Ok(live)) = (
        serde_json::from_slice::<Value>(&data[..split]),
        serde_json::from_slice::<Value>(data.get(split + 1..).unwrap_or_default()),
    ) else {
        return;
    };
    let document = json!({"apiVersion": "gitops.kubedb.com/v1alpha1", "kind": "Postgres",
        "metadata": {"name": "fuzz", "namespace": "db"}, "spec": desired});
    let mut set = ManifestSet::default();
    let text = crate::yaml::to_string(&document);
    load_text(
        Path::new("fuzz.yaml"),
        Arc::from(text),
        &LoadOptions::default(),
        &mut set,
    );
    let Some(manifest) = set.manifests.first() else {
        return;
    };
    let live: Option<crate::models::KubedbPostgres> = serde_json::from_value(json!({
        "apiVersion": "kubedb.com/v1", "kind": "Postgres",
        "metadata": {"name": "fuzz", "namespace": "db"}, "spec": live, "status": {"phase": "Ready"}
    }))
    .ok();
    let settings = PlanSettings {
        describe: true,
        ..PlanSettings::default()
    };
    let first = plan_database(manifest, live.as_ref(), &[], None, &settings, Some("r"));
    let second = plan_database(manifest, live.as_ref(), &[], None, &settings, Some("r"));
    assert_eq!(first, second);
}

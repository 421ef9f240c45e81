//! Reading what the cluster holds: `kubedb.com` Postgres objects, PostgresOpsRequests and the
//! PostgresVersion catalog, either from files (`plan --live`) or from the API server.

use std::path::{Path, PathBuf};

use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::warn;

use crate::manifest::ManifestError;
use crate::models::{KubedbPostgres, PostgresOpsRequest, PostgresVersion};
use crate::plan::{Catalog, LiveState};
use crate::walk;
use crate::yaml;

/// Errors from reading live objects from the cluster. Files (`plan --live`) never fail as a
/// whole: what cannot be read of them is reported in [`LiveState::errors`].
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot reach the cluster: {0}")]
    Config(String),
    #[error("cannot list {what} from the cluster: {source}")]
    List {
        what: &'static str,
        source: kube::Error,
    },
}

/// Reads live objects from files or directories (YAML, multi-document, `kind: List` too).
/// Objects of other kinds are ignored. Without any PostgresVersion the catalog stays unknown.
/// Objects without a namespace are in `default_namespace`, as `kubectl apply` would put them.
///
/// A file that cannot be read or parsed, or an object that cannot be typed, is an error entry
/// (as a broken manifest is), and the rest is still read: the JSON contract promises output
/// for every run. An object that names its database (a Postgres, or an OpsRequest by its
/// `databaseRef`) puts the error on that database, which is then not planned: planned
/// without its live object, it would look missing and get a Provision step.
pub fn read_files(paths: &[PathBuf], default_namespace: &str) -> LiveState {
    let mut state = LiveState::default();
    let mut files = Vec::new();
    for path in paths {
        if let Err(error) = collect(path, &mut files) {
            state
                .errors
                .push(problem(path, 0, format!("cannot read: {error}"), None));
        }
    }
    let mut versions = Vec::new();
    for (file, read_from) in files {
        let text = match std::fs::read_to_string(&read_from) {
            Ok(text) => text,
            Err(error) => {
                state
                    .errors
                    .push(problem(&file, 0, format!("cannot read: {error}"), None));
                continue;
            }
        };
        let documents = match yaml::parse_documents(&text) {
            Ok(documents) => documents,
            Err(error) => {
                state
                    .errors
                    .push(problem(&file, error.line(), error.to_string(), None));
                continue;
            }
        };
        for document in documents {
            let items = match document.value.get("kind").and_then(Value::as_str) {
                Some(kind) if kind.ends_with("List") => document.value["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                _ => vec![document.value],
            };
            for item in items {
                let database = names_database(&item, default_namespace);
                if let Err(message) = add(&mut state, &mut versions, item, default_namespace) {
                    state
                        .errors
                        .push(problem(&file, document.line, message, database));
                }
            }
        }
    }
    if !versions.is_empty() {
        state.catalog = Some(Catalog::new(versions));
    }
    state
}

fn problem(
    file: &Path,
    line: usize,
    message: String,
    database: Option<(String, String)>,
) -> ManifestError {
    ManifestError {
        file: file.to_path_buf(),
        line,
        message,
        database,
    }
}

/// The database a live object belongs to, read untyped so a broken object still names it.
fn names_database(item: &Value, default_namespace: &str) -> Option<(String, String)> {
    let name = match item.get("kind").and_then(Value::as_str) {
        Some("Postgres") => item.pointer("/metadata/name"),
        Some("PostgresOpsRequest") => item.pointer("/spec/databaseRef/name"),
        _ => None,
    }?
    .as_str()
    .filter(|name| !name.is_empty())?;
    let namespace = item
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .unwrap_or(default_namespace);
    Some((namespace.to_string(), name.to_string()))
}

/// A directory is walked by the one walker ([`walk`]), with the directory itself as the
/// boundary, keeping `.yaml`, `.yml` and `.json` files; a file path is taken as it is. Each
/// file comes with the name to report (as the user spelled it) and the path to read.
fn collect(path: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> Result<(), std::io::Error> {
    if !path.is_dir() {
        std::fs::metadata(path)?;
        out.push((path.to_path_buf(), path.to_path_buf()));
        return Ok(());
    }
    let walked = walk::walk(path, path, |file| {
        matches!(
            file.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        )
    })?;
    for refused in walked.refused {
        warn!(path = %path.join(&refused.relative).display(), reason = refused.reason, "not read");
    }
    out.extend(
        walked
            .files
            .into_iter()
            .map(|file| (path.join(file.relative), file.path)),
    );
    Ok(())
}

fn add(
    state: &mut LiveState,
    versions: &mut Vec<PostgresVersion>,
    item: Value,
    default_namespace: &str,
) -> Result<(), String> {
    fn typed<T: DeserializeOwned>(item: Value, what: &str) -> Result<T, String> {
        serde_json::from_value(item).map_err(|e| format!("cannot read this {what}: {e}"))
    }
    let api_version = item
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = item.get("kind").and_then(Value::as_str).unwrap_or_default();
    match (api_version, kind) {
        ("kubedb.com/v1", "Postgres") => {
            let mut database: KubedbPostgres = typed(item, "kubedb.com/v1 Postgres")?;
            let namespace = database
                .metadata
                .namespace
                .get_or_insert_with(|| default_namespace.into())
                .clone();
            let key = (
                namespace,
                database.metadata.name.clone().unwrap_or_default(),
            );
            state.databases.insert(key, database.into());
        }
        ("ops.kubedb.com/v1alpha1", "PostgresOpsRequest") => {
            let mut request: PostgresOpsRequest = typed(item, "PostgresOpsRequest")?;
            request
                .metadata
                .namespace
                .get_or_insert_with(|| default_namespace.into());
            state.ops_requests.push(request);
        }
        ("catalog.kubedb.com/v1alpha1", "PostgresVersion") => {
            versions.push(typed(item, "PostgresVersion")?)
        }
        _ => {}
    }
    Ok(())
}

/// A client from an explicit kubeconfig file, or the usual discovery (KUBECONFIG, in-cluster).
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, LiveError> {
    let config = match kubeconfig {
        Some(path) => {
            let file = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| LiveError::Config(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| LiveError::Config(e.to_string()))?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| LiveError::Config(e.to_string()))?,
    };
    kube::Client::try_from(identified(config)).map_err(|e| LiveError::Config(e.to_string()))
}

/// The User-Agent of every request the service and `plan` send: the API server's audit log
/// and request metrics then tell pg-gitops from other clients (kube-rs sends none of its own).
pub const USER_AGENT: &str = concat!("pg-gitops/", env!("CARGO_PKG_VERSION"));

/// `config` with the [`USER_AGENT`] header (replacing any User-Agent it already had).
pub fn identified(mut config: kube::Config) -> kube::Config {
    use axum::http::{HeaderValue, header};
    config
        .headers
        .retain(|(name, _)| *name != header::USER_AGENT);
    config
        .headers
        .push((header::USER_AGENT, HeaderValue::from_static(USER_AGENT)));
    config
}

/// Reads the same objects from the API server (every namespace).
pub async fn read_cluster(client: kube::Client) -> Result<LiveState, LiveError> {
    let list = ListParams::default();
    let databases = Api::<KubedbPostgres>::all(client.clone())
        .list(&list)
        .await
        .map_err(|source| LiveError::List {
            what: "kubedb.com Postgres",
            source,
        })?;
    let ops_requests = Api::<PostgresOpsRequest>::all(client.clone())
        .list(&list)
        .await
        .map_err(|source| LiveError::List {
            what: "PostgresOpsRequests",
            source,
        })?;
    let versions = Api::<PostgresVersion>::all(client)
        .list(&list)
        .await
        .map_err(|source| LiveError::List {
            what: "PostgresVersions",
            source,
        })?;
    let mut state = LiveState {
        ops_requests: ops_requests.items,
        catalog: (!versions.items.is_empty()).then(|| Catalog::new(versions.items)),
        ..LiveState::default()
    };
    for database in databases.items {
        let key = (
            database.metadata.namespace.clone().unwrap_or_default(),
            database.metadata.name.clone().unwrap_or_default(),
        );
        state.databases.insert(key, database.into());
    }
    Ok(state)
}

#[cfg(test)]
mod tests;

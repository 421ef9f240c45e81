//! The API server's audit log of an [`crate::cluster::OwnCluster`]: every write request
//! (create, update, patch, delete) at Metadata level, one JSON object per line, with the
//! client's User-Agent. The service sends `pg-gitops/<version>` (`pg_gitops::live::USER_AGENT`),
//! so its writes are told apart from the simulator's and the test's own.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// One audited request (the fields the tests read).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub verb: String,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub request_uri: String,
    #[serde(default)]
    pub object_ref: ObjectRef,
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    /// When the API server received the request (RFC 3339, microseconds).
    #[serde(default)]
    pub request_received_timestamp: Option<String>,
    /// When it answered (the policy logs only that stage): for a create, when the object
    /// existed.
    #[serde(default)]
    pub stage_timestamp: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub api_group: String,
    #[serde(default)]
    pub subresource: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResponseStatus {
    #[serde(default)]
    pub code: u16,
}

impl Entry {
    /// Whether pg-gitops sent it.
    pub fn is_pg_gitops(&self) -> bool {
        self.user_agent.starts_with("pg-gitops/")
    }

    /// What the write was for, by its target: `gitops apply` (a gitops object),
    /// `status` (its status subresource), `OpsRequest create`, `Event`, `record patch` (a
    /// `kubedb.com` Postgres: the last-applied record or a Patch step), `provision` (a new
    /// `kubedb.com` Postgres), `lease`, else `<verb> <resource>`.
    pub fn reason(&self) -> String {
        let target = &self.object_ref;
        match (
            target.api_group.as_str(),
            target.resource.as_str(),
            target.subresource.as_str(),
            self.verb.as_str(),
        ) {
            ("gitops.kubedb.com", "postgreses", "status", _) => "status".into(),
            ("gitops.kubedb.com", "postgreses", "", _) => "gitops apply".into(),
            ("ops.kubedb.com", "postgresopsrequests", "", "create") => "OpsRequest create".into(),
            ("events.k8s.io" | "", "events", _, _) => "Event".into(),
            ("kubedb.com", "postgreses", "", "create") => "provision".into(),
            ("kubedb.com", "postgreses", "", "patch" | "update") => "record patch".into(),
            ("coordination.k8s.io", "leases", _, _) => "lease".into(),
            (_, resource, "", verb) => format!("{verb} {resource}"),
            (_, resource, subresource, verb) => format!("{verb} {resource}/{subresource}"),
        }
    }

    /// `reason namespace/name` (with the response code when it is not 2xx).
    pub fn describe(&self) -> String {
        let code = self
            .response_status
            .as_ref()
            .map_or(0, |status| status.code);
        let failed = if (200..300).contains(&code) {
            String::new()
        } else {
            format!(" (HTTP {code})")
        };
        format!(
            "{} {}/{}{failed}",
            self.reason(),
            self.object_ref.namespace,
            self.object_ref.name
        )
    }
}

/// Reads an audit log as it grows: each call returns the entries written since the last.
pub struct AuditLog {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl AuditLog {
    /// Follows `path` from its current end (what was logged before is skipped).
    pub fn from_end(path: PathBuf) -> Self {
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        Self {
            path,
            offset,
            partial: Vec::new(),
        }
    }

    /// The complete entries logged since the last call.
    pub fn read_new(&mut self) -> Vec<Entry> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        file.seek(SeekFrom::Start(self.offset)).unwrap();
        let mut bytes = std::mem::take(&mut self.partial);
        let read = file.read_to_end(&mut bytes).unwrap();
        self.offset += read as u64;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(complete);
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                serde_json::from_slice(line).unwrap_or_else(|e| {
                    panic!(
                        "an audit line is not an event ({e}): {}",
                        String::from_utf8_lossy(line)
                    )
                })
            })
            .collect()
    }

    /// The writes pg-gitops sent since the last call.
    pub fn pg_gitops_writes(&mut self) -> Vec<Entry> {
        self.read_new()
            .into_iter()
            .filter(Entry::is_pg_gitops)
            .collect()
    }

    /// Waits until pg-gitops has written nothing for `quiet`; returns its writes meanwhile.
    /// Fails after `patience`.
    pub async fn pg_gitops_until_quiet(
        &mut self,
        quiet: Duration,
        patience: Duration,
    ) -> Vec<Entry> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut writes = Vec::new();
        let mut last = tokio::time::Instant::now();
        while last.elapsed() < quiet {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pg-gitops never stopped writing within {patience:?} ({} writes)",
                writes.len()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            let new = self.pg_gitops_writes();
            if !new.is_empty() {
                last = tokio::time::Instant::now();
                writes.extend(new);
            }
        }
        writes
    }
}

/// How many writes per [`Entry::reason`].
pub fn by_reason(entries: &[Entry]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for entry in entries {
        *counts.entry(entry.reason()).or_insert(0) += 1;
    }
    counts
}

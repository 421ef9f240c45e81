//! Manifest loading: `*.yaml`/`*.yml` files under a directory, multi-document, recursive.
//! Only `gitops.kubedb.com/v1alpha1` `Postgres` documents are desired state; others are
//! skipped with a notice. Every problem names the file, the line and the field, and one
//! broken document never hides the others.

mod kinds;
mod names;
pub(crate) mod schema;
mod tree;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub(crate) use schema::{Violation, gitops_spec_schema};

use crate::config::Config;
use crate::models::{GitopsPostgres, MANAGED_BY_LABEL, MANAGED_BY_VALUE, drop_nulls};
use crate::yaml::{self, PathSegment};
pub(crate) use tree::{LoadedTree, load_git_tree, unreadable_root};

const GITOPS_API_VERSION: &str = "gitops.kubedb.com/v1alpha1";
/// `metadata` keys a manifest may carry; the rest are server-owned or typos.
const METADATA_KEYS: [&str; 5] = ["name", "namespace", "labels", "annotations", "generation"];
const TOP_LEVEL_KEYS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

/// Options for [`load_dir`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Namespace given to manifests that declare none.
    pub default_namespace: String,
    /// What one snapshot may cost.
    pub limits: SnapshotLimits,
}

impl LoadOptions {
    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            default_namespace: config.plan.default_namespace.clone(),
            limits: SnapshotLimits {
                max_file_bytes: config.source.max_file_bytes,
                max_files: config.source.max_files,
                max_total_bytes: config.source.max_total_bytes,
            },
        }
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            default_namespace: "default".into(),
            limits: SnapshotLimits::default(),
        }
    }
}

/// Bounds on what loading one tree may read, so a hostile or mistaken repository (a huge
/// file, a hundred thousand files) costs bounded memory and time. A file over the size limit
/// is an error for that file; a tree over the file-count or total-size limit is not loaded
/// at all (a partial snapshot could look like removals), and the last good one stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotLimits {
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub max_total_bytes: u64,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 1 << 20,
            max_files: 50_000,
            max_total_bytes: 256 << 20,
        }
    }
}

/// One desired database, as written in Git.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// File the document came from, relative to the loaded root.
    pub file: PathBuf,
    /// 1-based line where the document starts.
    pub line: usize,
    /// The document as written (only keys the user wrote), for declared-field comparison.
    /// The only form kept: the typed object is read from it when a plan needs it
    /// ([`Manifest::object`]), as a snapshot of 10,000 manifests held both for no reader.
    pub declared: Value,
    /// The file's text and the document's index in it, to find lines of fields later.
    source: Arc<str>,
    document_index: usize,
}

impl Manifest {
    /// `(namespace, name)`; the namespace is always set after loading.
    pub fn key(&self) -> (String, String) {
        let (namespace, name) = self.key_ref();
        (namespace.to_owned(), name.to_owned())
    }

    /// `(namespace, name)`, borrowed.
    pub(crate) fn key_ref(&self) -> (&str, &str) {
        let metadata = &self.declared["metadata"];
        let field = |key: &str| metadata[key].as_str().unwrap_or_default();
        (field("namespace"), field("name"))
    }

    /// The declared object, typed. Loading checked that it reads (an error otherwise), so
    /// this fails only for a manifest made from a cluster object KubeDB's types cannot read.
    pub fn object(&self) -> Result<GitopsPostgres, serde_json::Error> {
        <GitopsPostgres as serde::Deserialize>::deserialize(&self.declared)
    }

    /// The line of a field in this document (or of its nearest written ancestor).
    pub(crate) fn line_of(&self, path: &[PathSegment]) -> usize {
        yaml::locate(&self.source, self.document_index, path).unwrap_or(self.line)
    }

    /// Builds a manifest from an object read from the cluster: there is no file, so lines
    /// point at the object itself. What the API server and the sync stage added is taken out
    /// first (and the status, which no manifest declares), so the object declares what its
    /// manifest declared.
    pub(crate) fn from_object(object: &GitopsPostgres, origin: &str) -> Self {
        let mut declared = serde_json::to_value(object).unwrap_or(Value::Null);
        if let Some(document) = declared.as_object_mut() {
            document.remove("status");
        }
        declared_form(&mut declared);
        Self {
            file: PathBuf::from(origin),
            line: 1,
            declared,
            source: Arc::from(""),
            document_index: 0,
        }
    }
}

/// A problem with one document or file; it never stops the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
    /// `(namespace, name)` when the broken document could still be identified.
    pub database: Option<(String, String)>,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// A document that was skipped on purpose (another kind), reported as a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

/// Everything loaded from one tree.
#[derive(Debug, Clone, Default)]
pub struct ManifestSet {
    /// Shared, so a snapshot built from the last one keeps the manifests of unchanged files
    /// without copying them.
    pub manifests: Vec<Arc<Manifest>>,
    pub errors: Vec<ManifestError>,
    pub notices: Vec<Notice>,
}

/// Loads every manifest under `root`, following no symlink out of `root`. Never fails as a
/// whole: unreadable files and broken documents become [`ManifestError`]s next to the good
/// manifests.
pub fn load_dir(root: &Path, opts: &LoadOptions) -> ManifestSet {
    load_tree(root, root, opts)
}

/// Loads every manifest under `root`, a directory inside `boundary` (a Git checkout or a
/// watched directory). A symlink is followed only where it stays inside `boundary`; every
/// other one is an error for its file (see [`crate::walk`]).
pub(crate) fn load_tree(root: &Path, boundary: &Path, opts: &LoadOptions) -> ManifestSet {
    tree::load_dir_tree(root, boundary, opts)
}

/// Loads a multi-document YAML stream (`kustomize build` output, say) read as one file named
/// `name`: the documents of a whole tree, with duplicates judged as across files.
pub fn load_stream(name: &Path, text: &str, opts: &LoadOptions) -> ManifestSet {
    let mut set = ManifestSet::default();
    load_text(name, Arc::from(text), opts, &mut set);
    reject_duplicates(&mut set);
    set
}

pub(crate) fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Parses and validates the documents of one file into `set`.
pub fn load_text(file: &Path, text: Arc<str>, opts: &LoadOptions, set: &mut ManifestSet) {
    let documents = match yaml::parse_documents(&text) {
        Ok(documents) => documents,
        Err(error) => {
            set.errors.push(ManifestError {
                file: file.to_path_buf(),
                line: error.line(),
                message: error.to_string(),
                database: None,
            });
            return;
        }
    };
    for document in documents {
        let api_version = document.value["apiVersion"].as_str().unwrap_or_default();
        let kind = document.value["kind"].as_str().unwrap_or_default();
        if kinds::is_misspelt_kind(api_version, kind) {
            let line = yaml::locate(&text, document.index, &[PathSegment::Key("kind".into())])
                .unwrap_or(document.line);
            set.errors.push(ManifestError {
                file: file.to_path_buf(),
                line,
                message: format!(
                    "kind: {kind:?} is not a kind of {api_version} that pg-gitops reads \
                     (expected Postgres); the document is not applied"
                ),
                database: identify(&document.value, opts),
            });
            continue;
        }
        if api_version != GITOPS_API_VERSION || kind != "Postgres" {
            set.notices.push(Notice {
                file: file.to_path_buf(),
                line: document.line,
                message: format!(
                    "skipped: {} {} is not a {GITOPS_API_VERSION} Postgres",
                    if api_version.is_empty() {
                        "<no apiVersion>"
                    } else {
                        api_version
                    },
                    if kind.is_empty() { "<no kind>" } else { kind },
                ),
            });
            continue;
        }
        let located = |path: &[PathSegment]| {
            yaml::locate(&text, document.index, path).unwrap_or(document.line)
        };
        match build_manifest(document.value, opts) {
            Ok(declared) => set.manifests.push(Arc::new(Manifest {
                file: file.to_path_buf(),
                line: document.line,
                declared,
                source: text.clone(),
                document_index: document.index,
            })),
            Err((database, violations)) => {
                for violation in violations {
                    set.errors.push(ManifestError {
                        file: file.to_path_buf(),
                        line: located(&violation.path),
                        message: format!(
                            "{}: {}",
                            yaml::display_path(&violation.path),
                            violation.message
                        ),
                        database: database.clone(),
                    });
                }
            }
        }
    }
}

type Identified = Option<(String, String)>;

/// The database a document names, if it names one; kept from pruning even when broken.
fn identify(value: &Value, opts: &LoadOptions) -> Identified {
    let name = value["metadata"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())?;
    let namespace = value["metadata"]["namespace"]
        .as_str()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(&opts.default_namespace);
    Some((namespace.to_string(), name.to_string()))
}

/// Validates one gitops Postgres document and types it.
fn build_manifest(
    mut value: Value,
    opts: &LoadOptions,
) -> Result<Value, (Identified, Vec<Violation>)> {
    let mut violations = Vec::new();
    let key = |k: &str| vec![PathSegment::Key(k.to_string())];
    let map = value
        .as_object_mut()
        .expect("a document with apiVersion is a mapping");
    for name in map.keys() {
        if !TOP_LEVEL_KEYS.contains(&name.as_str()) {
            violations.push(Violation {
                path: key(name),
                message: "unknown top-level field (expected apiVersion, kind, metadata, spec)"
                    .into(),
            });
        }
    }
    // `metadata` may be missing or not a mapping: a Map index would panic on a missing key.
    let metadata_str = |field: &str| {
        let metadata = map.get("metadata").and_then(Value::as_object);
        metadata.and_then(|m| m.get(field)).and_then(Value::as_str)
    };
    let name = metadata_str("name").unwrap_or_default().to_string();
    if name.is_empty() {
        violations.push(Violation {
            path: vec![
                PathSegment::Key("metadata".into()),
                PathSegment::Key("name".into()),
            ],
            message: "required field is missing".into(),
        });
    } else if !names::is_dns_label(&name) {
        violations.push(Violation {
            path: vec![
                PathSegment::Key("metadata".into()),
                PathSegment::Key("name".into()),
            ],
            message: format!(
                "{name:?} is not a valid name (lower-case letters, digits and '-', at most 63)"
            ),
        });
    }
    if let Some(metadata) = map.get("metadata").and_then(Value::as_object) {
        for field in metadata.keys() {
            if !METADATA_KEYS.contains(&field.as_str()) {
                violations.push(Violation {
                    path: vec![
                        PathSegment::Key("metadata".into()),
                        PathSegment::Key(field.clone()),
                    ],
                    message: format!(
                        "unexpected metadata field (a manifest may set {})",
                        METADATA_KEYS.join(", ")
                    ),
                });
            }
        }
    }
    let namespace = match metadata_str("namespace") {
        Some(ns) if !ns.is_empty() => ns.to_string(),
        _ => opts.default_namespace.clone(),
    };
    if let Some(metadata) = map.get("metadata").and_then(Value::as_object) {
        names::check_metadata(metadata, &namespace, &mut violations);
    }
    if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("namespace".into(), Value::String(namespace.clone()));
    }
    match map.get("spec") {
        Some(spec) => gitops_spec_schema().validate(spec, &key("spec"), &mut violations),
        None => violations.push(Violation {
            path: key("spec"),
            message: "required field is missing".into(),
        }),
    }
    // Status is the service's to write; what Git holds there is ignored.
    map.remove("status");
    if violations.is_empty() {
        declared_form(&mut value);
    }
    let identified = (!name.is_empty()).then_some((namespace, name));
    if !violations.is_empty() {
        return Err((identified, violations));
    }
    // Read once here so that every later `Manifest::object` reads.
    match <GitopsPostgres as serde::Deserialize>::deserialize(&value) {
        Ok(_) => Ok(value),
        Err(error) => Err((
            identified,
            vec![Violation {
                path: key("spec"),
                message: format!("cannot be read: {error}"),
            }],
        )),
    }
}

/// The declared form of a gitops Postgres: no `null` (the API server drops them, so the
/// service never sees `tls: null` as anything but `tls` left out, and `plan` must agree), no
/// schema defaults in the spec, and not the label the sync stage puts on every object it
/// applies.
fn declared_form(document: &mut Value) {
    drop_nulls(document);
    if let Some(spec) = document.get_mut("spec") {
        gitops_spec_schema().normalize_numbers(spec);
        gitops_spec_schema().strip_defaults(spec);
    }
    if let Some(labels) = document
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
        && labels.get(MANAGED_BY_LABEL).and_then(Value::as_str) == Some(MANAGED_BY_VALUE)
    {
        labels.remove(MANAGED_BY_LABEL);
    }
}

/// Two manifests for one database: neither is applied, both are reported.
pub(crate) fn reject_duplicates(set: &mut ManifestSet) {
    // Keys are borrowed while looking (no allocation per manifest: a snapshot of 10,000 is
    // judged on every commit) and copied only for the duplicates found.
    let mut first_at: HashMap<(&str, &str), usize> = HashMap::with_capacity(set.manifests.len());
    let mut repeated: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (index, manifest) in set.manifests.iter().enumerate() {
        let key = manifest.key_ref();
        match first_at.entry(key) {
            Entry::Occupied(first) => (repeated.entry(key))
                .or_insert_with(|| vec![*first.get()])
                .push(index),
            Entry::Vacant(vacant) => {
                vacant.insert(index);
            }
        }
    }
    let repeated: Vec<((String, String), Vec<usize>)> = (repeated.into_iter())
        .map(|((namespace, name), indexes)| ((namespace.to_owned(), name.to_owned()), indexes))
        .collect();
    let mut duplicates: Vec<usize> = Vec::new();
    for ((namespace, name), indexes) in repeated {
        let places: Vec<String> = indexes
            .iter()
            .map(|&i| {
                format!(
                    "{}:{}",
                    set.manifests[i].file.display(),
                    set.manifests[i].line
                )
            })
            .collect();
        for &index in &indexes {
            let manifest = &set.manifests[index];
            set.errors.push(ManifestError {
                file: manifest.file.clone(),
                line: manifest.line,
                message: format!(
                    "{namespace}/{name} is declared more than once ({}); none is applied",
                    places.join(", ")
                ),
                database: Some((namespace.clone(), name.clone())),
            });
        }
        duplicates.extend(indexes);
    }
    duplicates.sort_unstable();
    for index in duplicates.into_iter().rev() {
        set.manifests.remove(index);
    }
}

#[cfg(test)]
mod tests;

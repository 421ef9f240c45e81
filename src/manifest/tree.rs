//! Loading a tree of manifests, and loading it again after a commit. What each file held is
//! kept between loads (its manifests are shared, not copied), so a commit that changes one
//! file of 10,000 reads and validates that one file; the rest of the snapshot is reused.
//! Duplicates across files are judged again on the whole set every time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    LoadOptions, ManifestError, ManifestSet, SnapshotLimits, is_yaml, load_text, reject_duplicates,
};
use crate::walk;

/// What each file of a tree held, by its path relative to the loaded root, before
/// duplicates across files were judged.
#[derive(Debug, Default)]
pub(crate) struct LoadedTree {
    files: BTreeMap<PathBuf, ManifestSet>,
}

impl LoadedTree {
    /// Loads every manifest under `root`, a directory inside `boundary`. With `previous`, a
    /// file is read again only when it is in the changed set (paths relative to `root`), is
    /// new, or is reached through a symlink (its target may have changed without it); every
    /// other file keeps what the previous load found. The walk itself always runs, so files
    /// that are gone are gone, and symlink rules hold for every load.
    pub(crate) fn load(
        root: &Path,
        boundary: &Path,
        opts: &LoadOptions,
        previous: Option<(&LoadedTree, &BTreeSet<PathBuf>)>,
    ) -> (LoadedTree, ManifestSet) {
        let mut tree = LoadedTree::default();
        let mut refused = Vec::new();
        let walked = match walk::walk(root, boundary, is_yaml) {
            Ok(walked) => walked,
            Err(error) => {
                let mut set = ManifestSet::default();
                set.errors.push(ManifestError {
                    file: root.to_path_buf(),
                    line: 0,
                    message: format!("cannot read the manifest directory: {error}"),
                    database: None,
                });
                return (tree, set);
            }
        };
        for link in walked.refused {
            refused.push(ManifestError {
                file: link.relative,
                line: 0,
                message: link.reason.to_string(),
                database: None,
            });
        }
        if let Some(refusal) = over_limits(root, &walked.files, &opts.limits) {
            let mut set = ManifestSet::default();
            set.errors.push(refusal);
            return (tree, set);
        }
        let resolved_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        for file in walked.files {
            let direct = file.path == resolved_root.join(&file.relative);
            let kept = previous
                .filter(|(_, changed)| direct && !changed.contains(&file.relative))
                .and_then(|(last, _)| last.files.get(&file.relative));
            let loaded = match kept {
                Some(set) => set.clone(),
                None => read(&file.relative, &file.path, opts),
            };
            tree.files.insert(file.relative, loaded);
        }
        let set = tree.assemble(refused);
        (tree, set)
    }

    /// The snapshot's set: every file's manifests (shared), errors and notices, and the
    /// refused links, with duplicates across files judged.
    fn assemble(&self, refused: Vec<ManifestError>) -> ManifestSet {
        let mut set = ManifestSet {
            errors: refused,
            ..ManifestSet::default()
        };
        for file in self.files.values() {
            set.manifests.extend(file.manifests.iter().cloned());
            set.errors.extend(file.errors.iter().cloned());
            set.notices.extend(file.notices.iter().cloned());
        }
        reject_duplicates(&mut set);
        set
    }
}

/// Why the whole tree is not loaded: more files, or more bytes, than a snapshot may hold.
/// Loading a part would make the rest look removed.
fn over_limits(
    root: &Path,
    files: &[walk::WalkedFile],
    limits: &SnapshotLimits,
) -> Option<ManifestError> {
    let refuse = |what: String| ManifestError {
        file: root.to_path_buf(),
        line: 0,
        message: format!("{what}; nothing is loaded and the last good snapshot stays in force"),
        database: None,
    };
    if files.len() > limits.max_files {
        return Some(refuse(format!(
            "{} YAML files, more than source.max_files ({})",
            files.len(),
            limits.max_files
        )));
    }
    let total: u64 = (files.iter())
        .filter_map(|file| std::fs::metadata(&file.path).ok())
        .map(|metadata| metadata.len())
        .sum();
    (total > limits.max_total_bytes).then(|| {
        refuse(format!(
            "{total} bytes of YAML, more than source.max_total_bytes ({})",
            limits.max_total_bytes
        ))
    })
}

/// Reads and validates one file; a file over the size limit is not read.
fn read(relative: &Path, path: &Path, opts: &LoadOptions) -> ManifestSet {
    let mut set = ManifestSet::default();
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > opts.limits.max_file_bytes {
        set.errors.push(ManifestError {
            file: relative.to_path_buf(),
            line: 0,
            message: format!(
                "the file is {size} bytes, more than source.max_file_bytes ({}); it is not read",
                opts.limits.max_file_bytes
            ),
            database: None,
        });
        return set;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => load_text(relative, Arc::from(text), opts, &mut set),
        Err(error) => set.errors.push(ManifestError {
            file: relative.to_path_buf(),
            line: 0,
            message: format!("cannot read the file: {error}"),
            database: None,
        }),
    }
    set
}

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
use crate::walk::{self, Store, Walked, WalkedFile};

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
        let walked = match walk::walk(root, boundary, is_yaml) {
            Ok(walked) => walked,
            Err(error) => return (LoadedTree::default(), unreadable_root(root, &error)),
        };
        let resolved_root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        Self::load_walked(root, walked, &walk::Disk, opts, |file| {
            let direct = file.path == resolved_root.join(&file.relative);
            previous
                .filter(|(_, changed)| direct && !changed.contains(&file.relative))
                .and_then(|(last, _)| last.files.get(&file.relative))
        })
    }

    /// Loads what a walk found, read from `store`: the one loader behind a directory, a
    /// checkout and a Git tree, so the limits and the refusals are the same for all three.
    /// `kept` gives what a previous load found for a file that need not be read again.
    pub(crate) fn load_walked<'p, S: Store>(
        root: &Path,
        walked: Walked<S::Location>,
        store: &S,
        opts: &LoadOptions,
        kept: impl Fn(&WalkedFile<S::Location>) -> Option<&'p ManifestSet>,
    ) -> (LoadedTree, ManifestSet) {
        let mut tree = LoadedTree::default();
        let refused = (walked.refused.into_iter())
            .map(|link| ManifestError {
                file: link.relative,
                line: 0,
                message: link.reason.to_string(),
                database: None,
            })
            .collect();
        if let Some(refusal) = over_limits(root, &walked.files, store, &opts.limits) {
            let mut set = ManifestSet::default();
            set.errors.push(refusal);
            return (tree, set);
        }
        for file in walked.files {
            let loaded = match kept(&file) {
                Some(set) => set.clone(),
                None => read(&file.relative, &file.path, store, opts),
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
fn over_limits<S: Store>(
    root: &Path,
    files: &[WalkedFile<S::Location>],
    store: &S,
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
        .filter_map(|file| store.size(&file.path))
        .sum();
    (total > limits.max_total_bytes).then(|| {
        refuse(format!(
            "{total} bytes of YAML, more than source.max_total_bytes ({})",
            limits.max_total_bytes
        ))
    })
}

/// Reads and validates one file; a file over the size limit is not read.
fn read<S: Store>(relative: &Path, at: &S::Location, store: &S, opts: &LoadOptions) -> ManifestSet {
    let mut set = ManifestSet::default();
    let size = store.size(at).unwrap_or(0);
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
    match store.read(at) {
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

/// The error of a tree that cannot be walked at all.
fn unreadable_root(root: &Path, error: &std::io::Error) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.errors.push(ManifestError {
        file: root.to_path_buf(),
        line: 0,
        message: format!("cannot read the manifest directory: {error}"),
        database: None,
    });
    set
}

/// Loads every manifest under `root` (relative to the repository's root) in a commit's tree,
/// read from the object database, with no checkout: the rules of [`LoadedTree::load`], with
/// the repository as the boundary.
pub(crate) fn load_git_tree(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    root: &Path,
    opts: &LoadOptions,
) -> ManifestSet {
    match walk::walk_tree(repo, tree, root, is_yaml) {
        Ok(walked) => LoadedTree::load_walked(root, walked, &walk::Blobs(repo), opts, |_| None).1,
        Err(error) => unreadable_root(root, &error),
    }
}

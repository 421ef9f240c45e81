//! Loading a tree of manifests, and loading it again after a commit. What each file held is
//! kept between loads of a Git tree (its manifests are shared, not copied), so a commit that
//! changes one file of 10,000 reads and validates that one file; the rest of the snapshot is
//! reused. A file is reused only when it is the same blob: a blob id names its content, so a
//! file reached through a link whose target changed is read again too. Duplicates across files
//! are judged again on the whole set every time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    LoadOptions, ManifestError, ManifestSet, SnapshotLimits, is_yaml, load_text, reject_duplicates,
};
use crate::walk::{self, Store, Walked, WalkedFile};

/// What each file of a tree held, before duplicates across files were judged. `L` is where
/// each file was read from.
#[derive(Debug)]
pub(crate) struct LoadedTree<L> {
    /// Sorted by path, as a walk gives them: the next load pairs its files with these in one
    /// pass (at 10,000 files, a lookup per file cost more than the rest of the load).
    files: Vec<LoadedFile<L>>,
}

impl<L> Default for LoadedTree<L> {
    fn default() -> Self {
        Self { files: Vec::new() }
    }
}

/// One file of a loaded tree: its path relative to the loaded root, where it was read from,
/// its size, and what it held.
#[derive(Debug)]
struct LoadedFile<L> {
    relative: PathBuf,
    at: L,
    bytes: u64,
    set: ManifestSet,
}

/// Loads every manifest under `root`, a directory inside `boundary` (see [`walk::walk`]).
pub(crate) fn load_dir_tree(root: &Path, boundary: &Path, opts: &LoadOptions) -> ManifestSet {
    match walk::walk(root, boundary, is_yaml) {
        Ok(walked) => LoadedTree::load_walked(root, walked, &walk::Disk, opts, None).1,
        Err(error) => unreadable_root(root, &error),
    }
}

/// Loads every manifest under `root` (relative to the repository's root) in a commit's tree,
/// read from the object database, with no checkout: the rules of a directory, with the
/// repository as the boundary.
pub(crate) fn load_git_tree(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    root: &Path,
    opts: &LoadOptions,
) -> ManifestSet {
    match LoadedTree::load_git(repo, tree, root, opts, None) {
        Ok((_, set)) => set,
        Err(error) => unreadable_root(root, &error),
    }
}

impl LoadedTree<git2::Oid> {
    /// Loads `root` of a commit's tree; a file that is the same blob as in `previous` keeps
    /// what `previous` found in it. Fails only when `root` cannot be walked (see
    /// [`walk::walk_tree`]).
    pub(crate) fn load_git(
        repo: &git2::Repository,
        tree: &git2::Tree<'_>,
        root: &Path,
        opts: &LoadOptions,
        previous: Option<&Self>,
    ) -> std::io::Result<(Self, ManifestSet)> {
        let walked = walk::walk_tree(repo, tree, root, is_yaml)?;
        Ok(Self::load_walked(
            root,
            walked,
            &walk::Blobs(repo),
            opts,
            previous,
        ))
    }
}

impl<L> LoadedTree<L> {
    /// Loads what a walk found, read from `store`: the one loader behind a directory and a
    /// Git tree, so the limits and the refusals are the same for both. A file that `store`
    /// says holds the same content as in `previous` is not read again.
    fn load_walked<S: Store<Location = L>>(
        root: &Path,
        walked: Walked<L>,
        store: &S,
        opts: &LoadOptions,
        previous: Option<&Self>,
    ) -> (Self, ManifestSet) {
        let mut tree = LoadedTree::default();
        let refused = (walked.refused.into_iter())
            .map(|link| ManifestError {
                file: link.relative,
                line: 0,
                message: link.reason.to_string(),
                database: None,
            })
            .collect();
        let mut last = (previous.map_or(&[][..], |tree| &tree.files[..]).iter()).peekable();
        let found: Vec<_> = (walked.files.into_iter())
            .map(|file| {
                // Both lists are sorted by path: pass what the last load had before this file.
                while last
                    .next_if(|loaded| loaded.relative < file.relative)
                    .is_some()
                {}
                let kept = (last.next_if(|loaded| loaded.relative == file.relative))
                    .filter(|loaded| store.same_content(&loaded.at, &file.path));
                let bytes = kept.map_or_else(|| store.size(&file.path), |last| Some(last.bytes));
                (file, bytes, kept)
            })
            .collect();
        let total = found.iter().filter_map(|(_, bytes, _)| *bytes).sum();
        if let Some(refusal) = over_limits(root, found.len(), total, &opts.limits) {
            let mut set = ManifestSet::default();
            set.errors.push(refusal);
            return (tree, set);
        }
        for (file, bytes, kept) in found {
            let set = match kept {
                Some(last) => last.set.clone(),
                None => read(&file, bytes, store, opts),
            };
            tree.files.push(LoadedFile {
                relative: file.relative,
                at: file.path,
                bytes: bytes.unwrap_or(0),
                set,
            });
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
        for file in &self.files {
            set.manifests.extend(file.set.manifests.iter().cloned());
            set.errors.extend(file.set.errors.iter().cloned());
            set.notices.extend(file.set.notices.iter().cloned());
        }
        reject_duplicates(&mut set);
        set
    }
}

/// Why the whole tree is not loaded: more files, or more bytes, than a snapshot may hold.
/// Loading a part would make the rest look removed.
fn over_limits(
    root: &Path,
    files: usize,
    total: u64,
    limits: &SnapshotLimits,
) -> Option<ManifestError> {
    let refuse = |what: String| ManifestError {
        file: root.to_path_buf(),
        line: 0,
        message: format!("{what}; nothing is loaded and the last good snapshot stays in force"),
        database: None,
    };
    if files > limits.max_files {
        return Some(refuse(format!(
            "{files} YAML files, more than source.max_files ({})",
            limits.max_files
        )));
    }
    (total > limits.max_total_bytes).then(|| {
        refuse(format!(
            "{total} bytes of YAML, more than source.max_total_bytes ({})",
            limits.max_total_bytes
        ))
    })
}

/// Reads and validates one file of `size` bytes (`None`: its size cannot be read); a file
/// over the size limit is not read.
fn read<S: Store>(
    file: &WalkedFile<S::Location>,
    size: Option<u64>,
    store: &S,
    opts: &LoadOptions,
) -> ManifestSet {
    let relative = &file.relative;
    let mut set = ManifestSet::default();
    let size = size.unwrap_or(0);
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
    match store.read(&file.path) {
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
pub(crate) fn unreadable_root(root: &Path, error: &std::io::Error) -> ManifestSet {
    let mut set = ManifestSet::default();
    set.errors.push(ManifestError {
        file: root.to_path_buf(),
        line: 0,
        message: format!("cannot read the manifest directory: {error}"),
        database: None,
    });
    set
}

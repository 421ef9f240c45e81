//! Loading a new commit by what it changed: the trees of the last loaded commit and the new
//! one are diffed, and only the files under `source.path` that the diff names are read and
//! validated again; the rest of the last snapshot is reused. A force push needs nothing
//! special (two trees diff the same whatever the history between them). A full load happens
//! on the first sync, and whenever the last loaded commit cannot be read any more.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use git2::{Oid, Repository, Tree};
use tracing::debug;

use super::{GitSync, SyncOutcome};
use crate::manifest::{LoadOptions, LoadedTree, ManifestSet};

impl GitSync {
    /// The snapshot's manifests at `outcome`'s commit.
    pub(crate) fn load(&mut self, outcome: &SyncOutcome, options: &LoadOptions) -> ManifestSet {
        let target = Oid::from_str(&outcome.revision).ok();
        let changed = match (&self.loaded, target) {
            (Some((from, _)), Some(to)) => self.changed_paths(*from, to),
            _ => None,
        };
        let previous = (self.loaded.as_ref())
            .zip(changed.as_ref())
            .map(|((_, tree), changed)| (tree, changed));
        debug!(
            changed = changed.as_ref().map(BTreeSet::len),
            "loading the snapshot"
        );
        let (tree, set) = LoadedTree::load(&outcome.root, &outcome.checkout, options, previous);
        self.loaded = target.map(|target| (target, tree));
        set
    }

    /// The paths under `source.path`, relative to it, that differ between the trees of two
    /// commits; `None` when either commit cannot be read.
    fn changed_paths(&self, from: Oid, to: Oid) -> Option<BTreeSet<PathBuf>> {
        let repo = Repository::open(&self.work_dir).ok()?;
        let tree = |oid| repo.find_commit(oid).and_then(|commit| commit.tree());
        changed_paths(&repo, &tree(from).ok()?, &tree(to).ok()?, &self.path).ok()
    }
}

/// The paths under `path` (relative to the repository's root), relative to it, that differ
/// between two trees: both sides of a rename, added and deleted files alike.
pub(crate) fn changed_paths(
    repo: &Repository,
    from: &Tree<'_>,
    to: &Tree<'_>,
    path: &str,
) -> Result<BTreeSet<PathBuf>, git2::Error> {
    let diff = repo.diff_tree_to_tree(Some(from), Some(to), None)?;
    let base: PathBuf = Path::new(path)
        .components()
        .filter(|part| !matches!(part, Component::CurDir))
        .collect();
    let mut changed = BTreeSet::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(relative) = file.path().and_then(|p| p.strip_prefix(&base).ok()) {
                changed.insert(relative.to_path_buf());
            }
        }
    }
    Ok(changed)
}

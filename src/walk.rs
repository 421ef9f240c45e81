//! The one directory walker: every file the service reads from a repository or a watched
//! directory is found here, under one rule for hidden entries and one for symlinks.
//!
//! Anyone who can push to the repository controls its symlinks. A link that leads out of the
//! checkout would let them make the service read files of its host (mounted Git tokens,
//! webhook secrets, the service-account token) and apply or echo what it finds. So a symlink
//! is followed only when its fully resolved target stays inside the boundary (the checkout or
//! the watched directory) and outside the boundary's `.git`; every other link is refused by
//! name, without reading it and without saying where it points.
//!
//! `pg-gitops plan --repo` reads a commit's tree without a checkout; [`git_tree`] walks it
//! under the same two rules, with the repository's root as the boundary.

mod git_tree;

use std::path::{Path, PathBuf};

pub(crate) use git_tree::{Blobs, walk_tree};

/// What a walk found: files to read and links it refused. `L` says where a file is read
/// from: a path on disk, or a blob of a Git repository.
#[derive(Debug)]
pub(crate) struct Walked<L = PathBuf> {
    /// Files to read, sorted by their path relative to the walked root.
    pub files: Vec<WalkedFile<L>>,
    /// Entries that were not followed, with the reason, sorted by path.
    pub refused: Vec<Refused>,
}

impl<L> Default for Walked<L> {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            refused: Vec::new(),
        }
    }
}

impl<L> Walked<L> {
    fn sort(&mut self) {
        self.files.sort_by(|a, b| a.relative.cmp(&b.relative));
        self.refused.sort_by(|a, b| a.relative.cmp(&b.relative));
    }
}

#[derive(Debug)]
pub(crate) struct WalkedFile<L = PathBuf> {
    /// Path relative to the walked root, as the user wrote it (links keep their own name).
    pub relative: PathBuf,
    /// Where to read it: the resolved path inside the boundary, or the blob.
    pub path: L,
}

/// Where the files of a walk are read from, so one loader (limits, sizes, parsing) serves a
/// directory and a Git tree alike.
pub(crate) trait Store {
    type Location;
    /// The file's size in bytes, known before it is read (`None`: it cannot be read).
    fn size(&self, at: &Self::Location) -> Option<u64>;
    fn read(&self, at: &Self::Location) -> std::io::Result<String>;
    /// Whether two locations surely hold the same bytes, so what was read from one holds
    /// for the other: a blob id names its content, a path on disk does not.
    fn same_content(&self, a: &Self::Location, b: &Self::Location) -> bool;
}

/// The file system.
pub(crate) struct Disk;

impl Store for Disk {
    type Location = PathBuf;

    fn size(&self, at: &PathBuf) -> Option<u64> {
        std::fs::metadata(at).ok().map(|metadata| metadata.len())
    }

    fn read(&self, at: &PathBuf) -> std::io::Result<String> {
        std::fs::read_to_string(at)
    }

    fn same_content(&self, _: &PathBuf, _: &PathBuf) -> bool {
        false
    }
}

#[derive(Debug)]
pub(crate) struct Refused {
    pub relative: PathBuf,
    pub reason: &'static str,
}

pub(crate) const OUTSIDE: &str = "symlink points outside the repository; it is not followed";
pub(crate) const INTO_GIT: &str = "symlink points into .git; it is not followed";
pub(crate) const ROOT_OUTSIDE: &str =
    "the manifest path leads outside the repository through a symlink";
const BROKEN: &str = "symlink target does not exist";

/// Walks `root` recursively, skipping hidden entries (`.git`, editor swap files, kubelet's
/// `..data` indirection, whose files are reached through their visible symlinks) and keeping
/// the files for which `keep` holds. Fails only when `root` itself cannot be read or resolves
/// outside `boundary`.
pub(crate) fn walk(
    root: &Path,
    boundary: &Path,
    keep: impl Fn(&Path) -> bool,
) -> std::io::Result<Walked> {
    let boundary = boundary.canonicalize()?;
    let resolved_root = root.canonicalize()?;
    if !inside(&resolved_root, &boundary) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            ROOT_OUTSIDE,
        ));
    }
    let mut walker = Walker {
        boundary,
        keep,
        walked: Walked::default(),
        ancestors: Vec::new(),
    };
    walker.visit_dir(&resolved_root, Path::new(""))?;
    walker.walked.sort();
    Ok(walker.walked)
}

struct Walker<F> {
    boundary: PathBuf,
    keep: F,
    walked: Walked,
    /// Resolved directories on the way down to the current one: a link back to any of them
    /// is a cycle and ends there. A link to a sibling is walked under its own name.
    ancestors: Vec<PathBuf>,
}

impl<F: Fn(&Path) -> bool> Walker<F> {
    fn visit_dir(&mut self, dir: &Path, relative: &Path) -> std::io::Result<()> {
        if self.ancestors.iter().any(|ancestor| ancestor == dir) {
            return Ok(());
        }
        self.ancestors.push(dir.to_path_buf());
        let visited = self.visit_entries(dir, relative);
        self.ancestors.pop();
        visited
    }

    fn visit_entries(&mut self, dir: &Path, relative: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if is_hidden(&name.to_string_lossy()) {
                continue;
            }
            let relative = relative.join(&name);
            let mut path = entry.path();
            let mut file_type = entry.file_type()?;
            if file_type.is_symlink() {
                match self.resolve_link(&path) {
                    Ok((target, target_type)) => (path, file_type) = (target, target_type),
                    Err(reason) => {
                        // Refused whatever its name: a link named `x.txt` is as hostile as
                        // `x.yaml` and worth the user's attention.
                        self.walked.refused.push(Refused { relative, reason });
                        continue;
                    }
                }
            }
            if file_type.is_dir() {
                self.visit_dir(&path, &relative)?;
            } else if file_type.is_file() && (self.keep)(&relative) {
                self.walked.files.push(WalkedFile { relative, path });
            }
        }
        Ok(())
    }

    fn resolve_link(&self, link: &Path) -> Result<(PathBuf, std::fs::FileType), &'static str> {
        let target = link.canonicalize().map_err(|_| BROKEN)?;
        if !inside(&target, &self.boundary) {
            return Err(OUTSIDE);
        }
        if inside(&target, &self.boundary.join(".git")) {
            return Err(INTO_GIT);
        }
        let file_type = std::fs::metadata(&target).map_err(|_| BROKEN)?.file_type();
        Ok((target, file_type))
    }
}

/// `.git`, editor swap files, kubelet's `..data`: never walked, in a directory or a tree.
fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// Both paths are resolved, so a component-wise prefix check is exact.
fn inside(path: &Path, boundary: &Path) -> bool {
    path.starts_with(boundary)
}

#[cfg(test)]
mod tests;

//! The one directory walker: every file the service reads from a repository or a watched
//! directory is found here, under one rule for hidden entries and one for symlinks.
//!
//! Anyone who can push to the repository controls its symlinks. A link that leads out of the
//! checkout would let them make the service read files of its host (mounted Git tokens,
//! webhook secrets, the service-account token) and apply or echo what it finds. So a symlink
//! is followed only when its fully resolved target stays inside the boundary (the checkout or
//! the watched directory) and outside the boundary's `.git`; every other link is refused by
//! name, without reading it and without saying where it points.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What a walk found: files to read and links it refused.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// Files to read, sorted by their path relative to the walked root.
    pub files: Vec<WalkedFile>,
    /// Entries that were not followed, with the reason, sorted by path.
    pub refused: Vec<Refused>,
}

#[derive(Debug)]
pub(crate) struct WalkedFile {
    /// Path relative to the walked root, as the user wrote it (links keep their own name).
    pub relative: PathBuf,
    /// Where to read it: the resolved path inside the boundary.
    pub path: PathBuf,
}

#[derive(Debug)]
pub(crate) struct Refused {
    pub relative: PathBuf,
    pub reason: &'static str,
}

pub(crate) const OUTSIDE: &str = "symlink points outside the repository; it is not followed";
pub(crate) const INTO_GIT: &str = "symlink points into .git; it is not followed";
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
            "the manifest path leads outside the repository through a symlink",
        ));
    }
    let mut walker = Walker {
        boundary,
        keep,
        walked: Walked::default(),
        visited: HashSet::new(),
    };
    walker.visit_dir(&resolved_root, Path::new(""))?;
    walker
        .walked
        .files
        .sort_by(|a, b| a.relative.cmp(&b.relative));
    walker
        .walked
        .refused
        .sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(walker.walked)
}

struct Walker<F> {
    boundary: PathBuf,
    keep: F,
    walked: Walked,
    /// Resolved directories already walked, so a link cycle ends.
    visited: HashSet<PathBuf>,
}

impl<F: Fn(&Path) -> bool> Walker<F> {
    fn visit_dir(&mut self, dir: &Path, relative: &Path) -> std::io::Result<()> {
        if !self.visited.insert(dir.to_path_buf()) {
            return Ok(());
        }
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
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

/// Both paths are resolved, so a component-wise prefix check is exact.
fn inside(path: &Path, boundary: &Path) -> bool {
    path.starts_with(boundary)
}

#[cfg(test)]
mod tests;

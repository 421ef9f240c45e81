//! Walking a commit's tree the way [`super::walk`] walks a checkout, without writing anything
//! to disk: hidden entries are skipped, and a symlink is followed only where its target,
//! resolved inside the tree, stays inside the repository and outside `.git`.
//!
//! A target is resolved one component at a time (a link to a link, a link through a linked
//! directory, `..` after a link), as the kernel resolves it in a checkout. An absolute target,
//! or one that climbs above the repository's root, is outside: in a tree there is no checkout
//! whose location it could lead back into, so it is refused as the service would refuse a
//! link that leaves its checkout.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use git2::{ObjectType, Oid, Repository, Tree};

use super::{
    BROKEN, INTO_GIT, OUTSIDE, ROOT_OUTSIDE, Refused, Store, Walked, WalkedFile, is_hidden,
};

/// Links followed while resolving one path before giving up, as Linux does (ELOOP).
const MAX_LINK_HOPS: u32 = 40;
/// Git's file mode of a symlink.
const LINK_MODE: i32 = 0o120_000;

/// A resolved entry: its path from the repository's root (no links in it), kind and object.
struct Resolved {
    path: Vec<Vec<u8>>,
    kind: Option<ObjectType>,
    id: Oid,
}

/// Walks `root` (a directory of `tree`, relative to the repository's root) recursively and
/// keeps the files for which `keep` holds. Fails only when `root` does not resolve to a
/// directory inside the repository.
pub(crate) fn walk_tree(
    repo: &Repository,
    tree: &Tree<'_>,
    root: &Path,
    keep: impl Fn(&Path) -> bool,
) -> std::io::Result<Walked<Oid>> {
    let mut walker = TreeWalker {
        repo,
        top: tree,
        keep,
        walked: Walked::default(),
        ancestors: Vec::new(),
    };
    let start = walker.resolve(&[], root).map_err(|reason| {
        let kind = if reason == BROKEN {
            std::io::ErrorKind::NotFound
        } else {
            std::io::ErrorKind::PermissionDenied
        };
        let message = if reason == BROKEN {
            format!("`{}` does not exist in the tree", root.display())
        } else {
            ROOT_OUTSIDE.to_string()
        };
        std::io::Error::new(kind, message)
    })?;
    if start.kind != Some(ObjectType::Tree) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("`{}` is not a directory in the tree", root.display()),
        ));
    }
    walker.visit_dir(start.id, start.path, Path::new(""))?;
    walker.walked.sort();
    Ok(walker.walked)
}

struct TreeWalker<'r, F> {
    repo: &'r Repository,
    top: &'r Tree<'r>,
    keep: F,
    walked: Walked<Oid>,
    /// Resolved directories on the way down: a link back to one of them ends there.
    ancestors: Vec<Vec<Vec<u8>>>,
}

impl<F: Fn(&Path) -> bool> TreeWalker<'_, F> {
    fn visit_dir(&mut self, id: Oid, at: Vec<Vec<u8>>, relative: &Path) -> std::io::Result<()> {
        if self.ancestors.contains(&at) {
            return Ok(());
        }
        let tree = self.repo.find_tree(id).map_err(std::io::Error::other)?;
        self.ancestors.push(at.clone());
        for entry in tree.iter() {
            let name = entry.name_bytes().to_vec();
            if is_hidden(&String::from_utf8_lossy(&name)) {
                continue;
            }
            let relative = relative.join(OsStr::from_bytes(&name));
            let resolved = if entry.filemode() == LINK_MODE {
                match self.link_target(entry.id()) {
                    Some(target) => self.resolve(&at, &target),
                    None => Err(BROKEN),
                }
            } else {
                // Only a directory's path is used (to walk it); a file's is not built.
                let mut path = Vec::new();
                if entry.kind() == Some(ObjectType::Tree) {
                    path = at.clone();
                    path.push(name);
                }
                Ok(Resolved {
                    path,
                    kind: entry.kind(),
                    id: entry.id(),
                })
            };
            let resolved = match resolved {
                Ok(resolved) => resolved,
                Err(reason) => {
                    self.walked.refused.push(Refused { relative, reason });
                    continue;
                }
            };
            match resolved.kind {
                Some(ObjectType::Tree) => self.visit_dir(resolved.id, resolved.path, &relative)?,
                Some(ObjectType::Blob) if (self.keep)(&relative) => {
                    self.walked.files.push(WalkedFile {
                        relative,
                        path: resolved.id,
                    });
                }
                // A submodule is a commit of another repository: nothing here to read.
                _ => {}
            }
        }
        self.ancestors.pop();
        Ok(())
    }

    /// What a link blob says: the path it points to.
    fn link_target(&self, id: Oid) -> Option<PathBuf> {
        let blob = self.repo.find_blob(id).ok()?;
        Some(PathBuf::from(OsStr::from_bytes(blob.content())))
    }

    /// Resolves `target` from the directory `from` (a resolved path), following links.
    fn resolve(&self, from: &[Vec<u8>], target: &Path) -> Result<Resolved, &'static str> {
        let mut pending: Vec<Vec<u8>> = Vec::new();
        push_components(&mut pending, target)?;
        let mut path = from.to_vec();
        let mut hops = 0;
        // `pending` is a stack: the next component is last.
        while let Some(part) = pending.pop() {
            if part == b".." {
                path.pop().ok_or(OUTSIDE)?;
                continue;
            }
            if path.is_empty() && part == b".git" {
                return Err(INTO_GIT);
            }
            path.push(part);
            let entry = self.lookup(&path).ok_or(BROKEN)?;
            if entry.kind == Some(ObjectType::Blob) && entry.mode == LINK_MODE {
                hops += 1;
                if hops > MAX_LINK_HOPS {
                    return Err(BROKEN);
                }
                path.pop();
                let link = self.link_target(entry.id).ok_or(BROKEN)?;
                push_components(&mut pending, &link)?;
            } else if entry.kind != Some(ObjectType::Tree) && !pending.is_empty() {
                // A file is no directory to go on through.
                return Err(BROKEN);
            }
        }
        let entry = self.lookup(&path).ok_or(BROKEN)?;
        Ok(Resolved {
            path,
            kind: entry.kind,
            id: entry.id,
        })
    }

    /// The entry at a path without links (the root tree for the empty path).
    fn lookup(&self, path: &[Vec<u8>]) -> Option<Entry> {
        if path.is_empty() {
            return Some(Entry {
                kind: Some(ObjectType::Tree),
                mode: 0o040_000,
                id: self.top.id(),
            });
        }
        let joined: PathBuf = path.iter().map(|part| OsStr::from_bytes(part)).collect();
        let entry = self.top.get_path(&joined).ok()?;
        Some(Entry {
            kind: entry.kind(),
            mode: entry.filemode(),
            id: entry.id(),
        })
    }
}

struct Entry {
    kind: Option<ObjectType>,
    mode: i32,
    id: Oid,
}

/// Puts the components of `target` on the stack so that its first one is popped next. An
/// absolute target leaves the repository.
fn push_components(pending: &mut Vec<Vec<u8>>, target: &Path) -> Result<(), &'static str> {
    let mut parts = Vec::new();
    for component in target.components() {
        match component {
            Component::Normal(part) => parts.push(part.as_bytes().to_vec()),
            Component::ParentDir => parts.push(b"..".to_vec()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(OUTSIDE),
        }
    }
    pending.extend(parts.into_iter().rev());
    Ok(())
}

/// The objects of a repository, read by blob id.
pub(crate) struct Blobs<'r>(pub &'r Repository);

impl Store for Blobs<'_> {
    type Location = Oid;

    fn size(&self, at: &Oid) -> Option<u64> {
        let (size, _) = self.0.odb().ok()?.read_header(*at).ok()?;
        u64::try_from(size).ok()
    }

    fn read(&self, at: &Oid) -> std::io::Result<String> {
        let blob = self.0.find_blob(*at).map_err(std::io::Error::other)?;
        // The same error, in the same words, as reading a checked-out file that is not text.
        String::from_utf8(blob.content().to_vec()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        })
    }

    fn same_content(&self, a: &Oid, b: &Oid) -> bool {
        a == b
    }
}

#[cfg(test)]
mod tests;

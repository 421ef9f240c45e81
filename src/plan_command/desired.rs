//! Where `pg-gitops plan` reads the desired state: a directory, standard input, a commit of a
//! local repository, or what a range of commits changed. Git trees are read from the object
//! database, never checked out, through the loader the service uses for its Git source: the
//! same limits, the same refusal of links that leave the repository.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use git2::{Commit, Repository, Tree};

use super::PlanCommandError;
use crate::manifest::{self, LoadOptions, ManifestSet};
use crate::render::PlanContext;

/// What `--manifests` says for standard input, and what errors name it.
pub const STDIN: &str = "<stdin>";

/// Where the desired state comes from.
#[derive(Debug, Clone)]
pub enum Desired {
    /// `--manifests DIR`.
    Dir(PathBuf),
    /// `--manifests -`: one multi-document YAML stream (`kustomize build` output).
    Stdin,
    /// `--repo PATH --ref REV`: the tree of one commit.
    Commit {
        repo: PathBuf,
        reference: String,
        path: String,
    },
    /// `--repo PATH --base REV --head REV`: the databases the range changed, as at `head`.
    Range {
        repo: PathBuf,
        base: String,
        head: String,
        path: String,
    },
}

/// The manifests to plan, and what the comment says beside them.
pub(crate) struct Loaded {
    pub set: ManifestSet,
    pub context: PlanContext,
    /// The commit planned, which the OpsRequests would carry as the service's would.
    pub revision: Option<String>,
}

type Key = (String, String);

impl Desired {
    pub(crate) fn load(
        &self,
        opts: &LoadOptions,
        stdin: impl Read,
    ) -> Result<Loaded, PlanCommandError> {
        let whole = |set, label: String| Loaded {
            set,
            context: PlanContext {
                label,
                ..PlanContext::default()
            },
            revision: None,
        };
        match self {
            Self::Dir(dir) => Ok(whole(
                manifest::load_dir(dir, opts),
                dir.display().to_string(),
            )),
            Self::Stdin => Ok(whole(read_stdin(stdin, opts)?, STDIN.into())),
            Self::Commit {
                repo: at,
                reference,
                path,
            } => {
                let root = manifest_root(path)?;
                let repo = open(at)?;
                let commit = resolve(&repo, at, reference)?;
                let tree = tree_of(&commit, at, reference)?;
                let set = manifest::load_git_tree(&repo, &tree, &root, opts);
                let mut loaded = whole(set, short(&commit));
                loaded.revision = Some(commit.id().to_string());
                Ok(loaded)
            }
            Self::Range {
                repo: at,
                base,
                head,
                path,
            } => {
                let root = manifest_root(path)?;
                let repo = open(at)?;
                let (from, to) = (resolve(&repo, at, base)?, resolve(&repo, at, head)?);
                let (from_tree, to_tree) = (tree_of(&from, at, base)?, tree_of(&to, at, head)?);
                let touched =
                    changed_paths(&repo, &from_tree, &to_tree, path).map_err(|source| {
                        PlanCommandError::Diff {
                            base: base.clone(),
                            head: head.clone(),
                            source,
                        }
                    })?;
                let before = manifest::load_git_tree(&repo, &from_tree, &root, opts);
                let after = manifest::load_git_tree(&repo, &to_tree, &root, opts);
                let mut loaded = select(before, after, &touched, &root);
                loaded.context.label = format!("{}..{}", short(&from), short(&to));
                loaded.revision = Some(to.id().to_string());
                Ok(loaded)
            }
        }
    }
}

/// Reads the stream whole, up to what one snapshot may hold in all.
fn read_stdin(stdin: impl Read, opts: &LoadOptions) -> Result<ManifestSet, PlanCommandError> {
    let limit = opts.limits.max_total_bytes;
    let mut text = String::new();
    stdin
        .take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(PlanCommandError::Stdin)?;
    if text.len() as u64 > limit {
        let mut set = ManifestSet::default();
        set.errors.push(manifest::ManifestError {
            file: PathBuf::from(STDIN),
            line: 0,
            message: format!(
                "more than source.max_total_bytes ({limit}) of YAML; nothing is loaded"
            ),
            database: None,
        });
        return Ok(set);
    }
    Ok(manifest::load_stream(Path::new(STDIN), &text, opts))
}

/// `--path` as the service checks `source.path`: inside the repository, `.` for its root.
fn manifest_root(path: &str) -> Result<PathBuf, PlanCommandError> {
    if path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Err(PlanCommandError::PathOutside(path.into()));
    }
    Ok(PathBuf::from(if path.is_empty() { "." } else { path }))
}

fn open(path: &Path) -> Result<Repository, PlanCommandError> {
    Repository::open(path).map_err(|source| PlanCommandError::Open {
        path: path.to_path_buf(),
        source,
    })
}

fn resolve<'r>(
    repo: &'r Repository,
    at: &Path,
    reference: &str,
) -> Result<Commit<'r>, PlanCommandError> {
    (repo.revparse_single(reference))
        .and_then(|object| object.peel_to_commit())
        .map_err(|source| PlanCommandError::Revision {
            repo: at.to_path_buf(),
            reference: reference.into(),
            source,
        })
}

fn tree_of<'r>(
    commit: &Commit<'r>,
    at: &Path,
    reference: &str,
) -> Result<git2::Tree<'r>, PlanCommandError> {
    commit.tree().map_err(|source| PlanCommandError::Revision {
        repo: at.to_path_buf(),
        reference: reference.into(),
        source,
    })
}

fn short(commit: &Commit<'_>) -> String {
    commit.id().to_string()[..7].to_string()
}

/// The part of the head tree a range changed. The diff says which files the range touched:
/// their errors are the range's. The declared values say which databases changed: a file of
/// fifty databases where one changed plans one, a renamed file plans none, and a database
/// reached through a link whose target changed is planned although the link did not change.
/// A database gone from the head tree is reported as removed, unless the head tree cannot
/// say: a file that is no longer read whole could still declare it.
pub(crate) fn select(
    before: ManifestSet,
    after: ManifestSet,
    touched: &BTreeSet<PathBuf>,
    root: &Path,
) -> Loaded {
    let declared_before: BTreeMap<Key, &serde_json::Value> = (before.manifests.iter())
        .map(|manifest| (manifest.key(), &manifest.declared))
        .collect();
    let tree_wide = |error: &manifest::ManifestError| error.line == 0 && error.file == root;
    let changed: BTreeSet<Key> = (after.manifests.iter())
        .filter(|m| declared_before.get(&m.key()) != Some(&&m.declared))
        .map(|m| m.key())
        .collect();
    let named: BTreeSet<Key> = (after.errors.iter())
        .filter(|error| touched.contains(&error.file))
        .filter_map(|error| error.database.clone())
        .chain(changed.iter().cloned())
        .collect();
    let in_head: BTreeSet<Key> = (after.manifests.iter().map(|m| m.key()))
        .chain(after.errors.iter().filter_map(|e| e.database.clone()))
        .collect();
    let unreadable: BTreeSet<&Path> = (after.errors.iter())
        .filter(|error| error.database.is_none())
        .map(|error| error.file.as_path())
        .collect();
    let removed = if after.errors.iter().any(tree_wide) {
        Vec::new()
    } else {
        (before.manifests.iter())
            .filter(|m| !in_head.contains(&m.key()) && !unreadable.contains(m.file.as_path()))
            .map(|m| m.key())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let untouched = (after.manifests.iter())
        .filter(|m| !changed.contains(&m.key()))
        .count();
    let set = ManifestSet {
        manifests: (after.manifests.into_iter())
            .filter(|m| changed.contains(&m.key()))
            .collect(),
        errors: (after.errors.into_iter())
            .filter(|error| {
                touched.contains(&error.file)
                    || tree_wide(error)
                    || error
                        .database
                        .as_ref()
                        .is_some_and(|key| named.contains(key))
            })
            .collect(),
        notices: (after.notices.into_iter())
            .filter(|notice| touched.contains(&notice.file))
            .collect(),
    };
    Loaded {
        set,
        context: PlanContext {
            label: String::new(),
            removed,
            untouched,
        },
        revision: None,
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

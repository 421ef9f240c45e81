//! Loading a commit's manifests from Git's objects: its tree is walked (cheap: no file is
//! written or statted) and a file that is the same blob as at the last loaded commit keeps
//! what was loaded from it, so a commit that changes one file of 10,000 reads and validates
//! that one file. A force push needs nothing special (two trees compare the same whatever the
//! history between them), and neither does a link whose target changed (the walk resolves it
//! to the target's blob). The first load of a process reads every file.

use std::io::ErrorKind;
use std::path::Path;

use super::{GitSync, Synced};
use crate::manifest::{LoadOptions, LoadedTree, ManifestSet, unreadable_root};
use crate::source::SourceError;

impl GitSync {
    /// The manifests under `source.path` at the synced commit. Fails when that path is not a
    /// directory there (a wrong path or a bad push; the last snapshot stays in force).
    pub(crate) fn load(
        &mut self,
        synced: &Synced,
        options: &LoadOptions,
    ) -> Result<ManifestSet, SourceError> {
        let commit = synced.commit;
        let tree = (synced.repo.find_commit(commit))
            .and_then(|found| found.tree())
            .map_err(|error| SourceError::Git {
                url: self.url.display.clone(),
                detail: format!("cannot read the tree of {commit}: {}", error.message()),
            })?;
        let root = Path::new(&self.path);
        match LoadedTree::load_git(&synced.repo, &tree, root, options, self.loaded.as_ref()) {
            Ok((loaded, set)) => {
                self.loaded = Some(loaded);
                Ok(set)
            }
            Err(error) if error.kind() == ErrorKind::NotFound => Err(SourceError::Config(format!(
                "source.path `{}` does not exist at revision {commit}",
                self.path
            ))),
            Err(error) if error.kind() == ErrorKind::NotADirectory => {
                Err(SourceError::Config(format!(
                    "source.path `{}` is not a directory at revision {commit}",
                    self.path
                )))
            }
            // A path that leads out through a link: an error in the snapshot, as for a
            // directory source.
            Err(error) => Ok(unreadable_root(root, &error)),
        }
    }
}

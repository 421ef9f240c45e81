//! The `dir` source for development: watch a local directory with notify, wait until writes
//! go quiet (an editor save is several events), then reload if the content really changed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::{FetchTrigger, Snapshot, SourceError, SourceStats};
use crate::backoff::jittered;
use crate::config::SourceConfig;
use crate::manifest::{LoadOptions, load_tree};
use crate::walk::walk;

pub(crate) struct DirSource {
    /// Watched as a whole: kubelet updates mounted volumes by swapping a `..data` symlink,
    /// which a watch on the subpath alone would miss.
    dir: PathBuf,
    root: PathBuf,
    debounce: Duration,
    poll_interval: Duration,
    poll_jitter: Duration,
}

impl DirSource {
    pub fn new(config: &SourceConfig) -> Result<Self, SourceError> {
        let dir = config
            .dir
            .clone()
            .ok_or_else(|| SourceError::Config("source.kind = \"dir\" needs source.dir".into()))?;
        if !dir.is_dir() {
            return Err(SourceError::Config(format!(
                "source.dir {} is not a directory",
                dir.display()
            )));
        }
        Ok(DirSource {
            root: dir.join(&config.path),
            dir,
            debounce: config.dir_debounce.0,
            poll_interval: config.poll_interval.0,
            poll_jitter: config.poll_jitter.0,
        })
    }
}

pub(crate) async fn run(
    source: DirSource,
    load: LoadOptions,
    trigger: FetchTrigger,
    stats: Arc<SourceStats>,
    sender: watch::Sender<Option<Arc<Snapshot>>>,
) {
    let (changes_tx, mut changes) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Our own reads show up as access events; reacting to them would reload forever.
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            let _ = changes_tx.send(());
        }
    })
    .and_then(|mut watcher| {
        watcher
            .watch(&source.dir, RecursiveMode::Recursive)
            .map(|()| watcher)
    });
    // Kept alive for the life of the loop; without a watcher the poll tick still reloads.
    let _watcher = match watcher {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            warn!(dir = %source.dir.display(), %error, "cannot watch directory; falling back to polling");
            None
        }
    };
    loop {
        SourceStats::bump(&stats.syncs);
        let started = std::time::Instant::now();
        let current = sender
            .borrow()
            .as_ref()
            .map(|snapshot| snapshot.revision.clone());
        let (dir, root, load_options) = (source.dir.clone(), source.root.clone(), load.clone());
        let job = tokio::task::spawn_blocking(move || {
            reload_if_changed(&dir, &root, current, &load_options)
        });
        match job.await {
            Ok(Ok(Some(snapshot))) => {
                info!(revision = %snapshot.revision, "directory changed; new snapshot");
                stats.record_sync(None, started.elapsed());
                sender.send_replace(Some(Arc::new(snapshot)));
            }
            Ok(Ok(None)) => stats.record_sync(None, started.elapsed()),
            Ok(Err(error)) => {
                warn!(%error, "directory source failed");
                stats.record_sync(Some(error.to_string()), started.elapsed());
            }
            Err(join_error) => stats.record_sync(
                Some(format!("reload task failed: {join_error}")),
                started.elapsed(),
            ),
        }
        tokio::select! {
            Some(()) = changes.recv() => {
                // Debounce: wait until no event arrived for a whole `debounce` period.
                while let Ok(Some(())) = tokio::time::timeout(source.debounce, changes.recv()).await {}
                debug!("file changes settled");
            }
            () = trigger.wait() => debug!("reload requested"),
            () = tokio::time::sleep(jittered(source.poll_interval, source.poll_jitter)) => {}
        }
    }
}

fn reload_if_changed(
    dir: &Path,
    root: &Path,
    current: Option<String>,
    load: &LoadOptions,
) -> Result<Option<Snapshot>, SourceError> {
    let revision = content_hash(root, dir)?;
    if current.as_deref() == Some(revision.as_str()) {
        return Ok(None);
    }
    let manifests = load_tree(root, dir, load);
    Ok(Some(Snapshot {
        revision,
        manifests,
    }))
}

/// `sha256:<hex>` over every file's relative path and bytes, in sorted order, so the
/// revision changes exactly when the content does. It walks what the loader walks, so a
/// symlink out of `dir` is neither hashed nor read.
pub(crate) fn content_hash(root: &Path, dir: &Path) -> Result<String, SourceError> {
    let walked = walk(root, dir, |_| true).map_err(|source| SourceError::Io {
        context: format!("cannot list {}", root.display()),
        source,
    })?;
    let mut hasher = Sha256::new();
    for file in walked.files {
        let bytes = std::fs::read(&file.path).map_err(|source| SourceError::Io {
            context: format!("cannot read {}", root.join(&file.relative).display()),
            source,
        })?;
        hasher.update(file.relative.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    let digest = hasher.finalize();
    Ok(format!(
        "sha256:{}",
        digest
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    ))
}

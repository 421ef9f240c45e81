use super::*;

#[test]
fn retries_back_off_up_to_the_poll_interval() {
    let poll = Duration::from_secs(60);
    assert_eq!(retry_or_poll_delay(0, poll), poll);
    assert_eq!(retry_or_poll_delay(1, poll), Duration::from_secs(1));
    assert_eq!(retry_or_poll_delay(3, poll), Duration::from_secs(4));
    assert_eq!(retry_or_poll_delay(7, poll), poll);
    assert_eq!(retry_or_poll_delay(u32::MAX, poll), poll);
}

mod reload {
    use std::collections::BTreeMap;

    use test_support::git::repo::{TestRepo, git};

    use super::super::GitSync;
    use crate::config::{SourceConfig, SourceKind};
    use crate::manifest::{LoadOptions, Manifest, ManifestSet, load_git_tree};
    use crate::source::{Reference, SourceStats};

    fn document(name: &str, replicas: u32) -> String {
        format!(
            "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: {name}\n  \
             namespace: db\nspec:\n  version: \"16.4\"\n  replicas: {replicas}\n"
        )
    }

    /// Syncs and loads by what changed; also loads the same commit in full, to compare.
    fn sync(sync: &mut GitSync) -> (ManifestSet, ManifestSet) {
        let synced = sync.sync_once(&SourceStats::default()).unwrap();
        let by_change = sync.load(&synced, &LoadOptions::default()).unwrap();
        let tree = synced
            .repo
            .find_commit(synced.commit)
            .unwrap()
            .tree()
            .unwrap();
        let root = std::path::Path::new(&sync.path);
        let full = load_git_tree(&synced.repo, &tree, root, &LoadOptions::default());
        (by_change, full)
    }

    /// A Git source of `repo`'s manifests under `path`, cloned into the test's directory.
    fn config(repo: &TestRepo, path: &str) -> SourceConfig {
        SourceConfig {
            kind: SourceKind::Git,
            url: Some(repo.file_url()),
            path: path.into(),
            work_dir: repo.work_dir("clone"),
            ..SourceConfig::default()
        }
    }

    fn same(a: &ManifestSet, b: &ManifestSet) {
        let shape = |set: &ManifestSet| {
            let manifests: Vec<_> = (set.manifests.iter())
                .map(|m| (m.file.clone(), m.line, m.declared.clone()))
                .collect();
            (manifests, set.errors.clone(), format!("{:?}", set.notices))
        };
        assert_eq!(shape(a), shape(b));
    }

    fn by_name(set: &ManifestSet) -> BTreeMap<String, std::sync::Arc<Manifest>> {
        let named = set.manifests.iter().map(|m| (m.key().1, m.clone()));
        named.collect()
    }

    /// A commit is loaded by what changed: the result equals a full load, the manifests of
    /// unchanged files are the very ones loaded before (not read again), and duplicates across
    /// files are judged on the whole set, so removing one copy brings the other back.
    #[test]
    fn a_commit_reloads_only_the_files_it_changed() {
        let repo = TestRepo::new();
        for name in ["a", "b", "c", "e"] {
            std::fs::write(
                repo.work.join(format!("fleet/{name}.yaml")),
                document(name, 3),
            )
            .unwrap();
        }
        repo.commit("fleet/db.yaml", "revision: 1\n", "four databases");
        let config = config(&repo, "./fleet");
        let mut source = GitSync::new(&config, Reference::from_config(&config)).unwrap();
        let (first, full) = sync(&mut source);
        same(&first, &full);
        assert_eq!(first.manifests.len(), 4);

        // Change b, delete c, add d declaring a again (a duplicate): e is untouched.
        std::fs::remove_file(repo.work.join("fleet/c.yaml")).unwrap();
        std::fs::write(repo.work.join("fleet/b.yaml"), document("b", 5)).unwrap();
        repo.commit(
            "fleet/d.yaml",
            &document("a", 1),
            "change b, drop c, copy a",
        );
        let (second, full) = sync(&mut source);
        same(&second, &full);
        let (before, after) = (by_name(&first), by_name(&second));
        assert!(std::sync::Arc::ptr_eq(&before["e"], &after["e"]));
        assert!(!std::sync::Arc::ptr_eq(&before["b"], &after["b"]));
        assert_eq!(after["b"].object().unwrap().spec.replicas, Some(5));
        assert!(!after.contains_key("c") && !after.contains_key("a"));
        assert_eq!(second.errors.len(), 2, "{:?}", second.errors);

        // Dropping the copy brings a back: its file was never read again.
        git(&repo.work, &["rm", "-q", "fleet/d.yaml"]);
        repo.commit("fleet/db.yaml", "revision: 2\n", "drop the copy");
        let (third, full) = sync(&mut source);
        same(&third, &full);
        assert!(std::sync::Arc::ptr_eq(&before["a"], &by_name(&third)["a"]));
        assert_eq!(third.errors, vec![]);
        assert!(
            !config.work_dir.join("fleet").exists(),
            "nothing is checked out"
        );
    }

    /// A link whose target changed is read again although the link itself did not change
    /// (and the target is outside `source.path`): the walk resolves it to the target's blob.
    #[test]
    fn a_link_is_read_again_when_its_target_changes() {
        let repo = TestRepo::new();
        std::fs::create_dir_all(repo.work.join("shared")).unwrap();
        std::fs::write(repo.work.join("shared/f.yaml"), document("f", 1)).unwrap();
        std::os::unix::fs::symlink("../shared/f.yaml", repo.work.join("fleet/f.yaml")).unwrap();
        repo.commit("fleet/db.yaml", "revision: 1\n", "a linked database");
        let config = config(&repo, "fleet");
        let mut source = GitSync::new(&config, Reference::from_config(&config)).unwrap();
        let (first, _) = sync(&mut source);
        assert_eq!(
            by_name(&first)["f"].object().unwrap().spec.replicas,
            Some(1)
        );

        repo.commit("shared/f.yaml", &document("f", 4), "the target changes");
        let (second, full) = sync(&mut source);
        same(&second, &full);
        assert_eq!(
            by_name(&second)["f"].object().unwrap().spec.replicas,
            Some(4)
        );
    }
}

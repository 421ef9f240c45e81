//! The Git source over SSH against a real `sshd` on loopback: key auth with a passphrase,
//! strict known_hosts (unknown and changed host keys refused with a clear message), and no
//! passphrase in any log line or error.

use std::path::PathBuf;
use std::time::Duration;

use pg_gitops::config::SourceConfig;
use pg_gitops::manifest::LoadOptions;
use pg_gitops::source::{self, SourceError};
use test_support::git::repo::TestRepo;
use test_support::git::ssh::{SshServer, keygen};
use test_support::logs;

const PASSPHRASE: &str = "pass-9c2e71-never-log-me";

struct Setup {
    repo: TestRepo,
    server: SshServer,
    key: PathBuf,
    passphrase_file: PathBuf,
}

fn setup() -> Setup {
    logs::capture();
    let repo = TestRepo::new();
    let key = repo.temp.path().join("id_ed25519");
    keygen(&key, PASSPHRASE);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let server = SshServer::start(&public);
    let passphrase_file = repo.temp.path().join("passphrase");
    std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n")).unwrap();
    Setup {
        repo,
        server,
        key,
        passphrase_file,
    }
}

fn ssh_config(setup: &Setup, known_hosts: &str, work: &str) -> SourceConfig {
    let known_hosts_file = setup.repo.temp.path().join(format!("known_hosts-{work}"));
    std::fs::write(&known_hosts_file, known_hosts).unwrap();
    let mut config = test_support::git::source_config(
        setup.server.url(&setup.repo.bare),
        setup.repo.work_dir(work),
        Duration::from_secs(20),
    );
    config.auth.ssh_key_file = Some(setup.key.clone());
    config.auth.ssh_passphrase_file = Some(setup.passphrase_file.clone());
    config.auth.known_hosts_file = Some(known_hosts_file);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_with_passphrase_and_known_host_clones_and_fetches() {
    let setup = setup();
    let config = ssh_config(&setup, &setup.server.known_hosts_line(), "clone");
    let snapshot = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(snapshot.revision, setup.repo.head());
    let second = setup
        .repo
        .commit("fleet/db.yaml", "revision: 2\n", "second");
    let snapshot = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        snapshot.revision, second,
        "the incremental fetch over SSH works too"
    );
    assert!(
        logs::captured().contains("fetched"),
        "the log capture sees the source's lines"
    );
    logs::assert_no_secret_logged(&[PASSPHRASE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_with_a_clear_message() {
    let setup = setup();
    // known_hosts records a different key for this host:port, as after a MITM or a rotation.
    let impostor = setup.repo.temp.path().join("other_host_key");
    keygen(&impostor, "");
    let other = std::fs::read_to_string(impostor.with_extension("pub")).unwrap();
    let mut fields = other.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\n",
        setup.server.port,
        fields.next().unwrap(),
        fields.next().unwrap()
    );
    let config = ssh_config(&setup, &line, "clone");
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::HostKeyChanged { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "host key CHANGED for [127.0.0.1]:{}",
            setup.server.port
        )),
        "{message}"
    );
    assert!(message.contains("refusing to connect"), "{message}");
    assert!(
        message.contains("ssh-ed25519 key (fingerprint SHA256:"),
        "{message}"
    );
    assert!(
        !config
            .work_dir
            .join(".git/refs/remotes/origin/main")
            .exists(),
        "nothing fetched"
    );
    assert!(!message.contains(PASSPHRASE));
    logs::assert_no_secret_logged(&[PASSPHRASE]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_is_refused_not_trusted_on_first_use() {
    let setup = setup();
    let config = ssh_config(&setup, "# no entries\n", "clone");
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::HostKeyUnknown { .. }),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("host key unknown"), "{error}");
    // Refusing must not have recorded the key anywhere: a second try is refused too.
    let again = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(again, SourceError::HostKeyUnknown { .. }),
        "{again:?}"
    );

    let mut no_file = config.clone();
    no_file.auth.known_hosts_file = None;
    let error = source::sync_once(&no_file, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("source.auth.known_hosts_file is not set"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_or_passphrase_is_an_authentication_error() {
    let setup = setup();
    let stranger = setup.repo.temp.path().join("stranger");
    keygen(&stranger, "");
    let mut config = ssh_config(&setup, &setup.server.known_hosts_line(), "clone");
    config.auth.ssh_key_file = Some(stranger);
    config.auth.ssh_passphrase_file = None;
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::AuthRefused { .. }),
        "{error:?}"
    );

    let wrong = setup.repo.temp.path().join("wrong-passphrase");
    std::fs::write(&wrong, "not-the-passphrase").unwrap();
    let mut config = ssh_config(&setup, &setup.server.known_hosts_line(), "clone2");
    config.auth.ssh_passphrase_file = Some(wrong);
    let error = source::sync_once(&config, LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SourceError::AuthRefused { .. }),
        "{error:?}"
    );
    assert!(!format!("{error:?}").contains("not-the-passphrase"));
    logs::assert_no_secret_logged(&[PASSPHRASE, "not-the-passphrase"]);
}

//! The real Kubernetes API server of the cluster tests (`tests/cluster/`, one binary):
//!
//! ```ignore
//! use test_support::kinds;
//!
//! #[tokio::test]
//! async fn creates_an_ops_request() {
//!     let cluster = test_support::cluster().await; // &'static TestCluster, shared by the binary
//!     let client = cluster.client();               // a fresh kube::Client for THIS test's runtime
//!     let ns = cluster.namespace("ops").await;     // a fresh namespace for this test
//!     let api = kinds::ops_api(&client, &ns);
//!     // ...
//! }
//! ```
//!
//! What you get:
//! - [`cluster()`]: the cluster of this test binary, provisioned once per process (tests of
//!   one binary run on parallel threads and share it). Either the cluster that
//!   `PG_GITOPS_TEST_KUBECONFIG` points at (the KubeDB CRDs are created there if missing), or a
//!   new kube-apiserver 1.20.2 + etcd started by `scripts/control-plane up` on free loopback
//!   ports in a temporary directory. If no cluster can be had, the test FAILS (panics) with
//!   a message saying how to provision one (`scripts/control-plane build`); it never skips.
//! - [`TestCluster::client`]: a new `kube::Client` (admin, `system:masters`). Call it inside
//!   the test's own tokio runtime, once per test: a client is bound to the runtime that made
//!   it, and every `#[tokio::test]` has its own runtime, so do not share one across tests.
//! - [`TestCluster::kubeconfig_path`]: the kubeconfig file, e.g. for a child process
//!   (`KUBECONFIG=...`), such as the `pg-gitops` or `kubedb-sim` binaries.
//! - [`TestCluster::namespace`]: creates a fresh namespace `<prefix>-<random>` (labelled
//!   `app.kubernetes.io/created-by=pg-gitops-tests`) and returns its name. Namespaces are not
//!   deleted: the control plane has no namespace controller, and is thrown away at exit.
//! - [`TestCluster::service_account_token`] / [`TestCluster::service_account_client`]: on a
//!   control plane started here (None otherwise), a bearer token / client for
//!   `system:serviceaccount:pg-gitops:pg-gitops` (groups `system:serviceaccounts`,
//!   `system:serviceaccounts:pg-gitops`), with no RBAC grants until a test makes some, e.g.
//!   to prove that a Role (such as the Helm chart's) is sufficient.
//!   [`TestCluster::client_with_token`] takes any other token the cluster knows.
//! - [`TestCluster::service_account`]`(namespace, name)`: a client acting as that service
//!   account by impersonation, on ANY cluster (local or existing): the way to test RBAC rules.
//! - [`crate::kinds`]: the KubeDB kinds as `ApiResource`s and namespaced `Api`s.
//!
//! Teardown: `scripts/control-plane up --watch-pid <this process>` leaves a watchdog that
//! stops kube-apiserver, then etcd, and removes the temporary directory as soon as the test
//! process is gone, however it ended (success, panic, abort, signal).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::OnceCell;

/// Environment variable naming the kubeconfig of an existing cluster to test against.
const KUBECONFIG_ENV: &str = "PG_GITOPS_TEST_KUBECONFIG";

/// Names of the CRDs every cluster has once provisioned.
const CRD_NAMES: [&str; 4] = [
    "postgreses.kubedb.com",
    "postgresopsrequests.ops.kubedb.com",
    "postgreses.gitops.kubedb.com",
    "postgresversions.catalog.kubedb.com",
];

/// The CRD files vendored from KubeDB, in `vendor/kubedb-crds/`.
const CRD_FILES: [&str; 4] = [
    "kubedb.com_postgreses.yaml",
    "ops.kubedb.com_postgresopsrequests.yaml",
    "gitops.kubedb.com_postgreses.yaml",
    "catalog.kubedb.com_postgresversions.yaml",
];

const HOW_TO_PROVISION: &str = "The cluster tests need a real Kubernetes API server. Provision \
     the local one with `scripts/control-plane build` (installs etcd-server and Go from Debian \
     and builds kube-apiserver 1.20.2 once, ~7 min cold), or run every test with `scripts/test`; \
     or set PG_GITOPS_TEST_KUBECONFIG to the kubeconfig of an existing cluster.";

/// A Kubernetes API server with the KubeDB CRDs installed, shared by the tests of one binary.
pub struct TestCluster {
    kubeconfig: PathBuf,
    config: Config,
    /// The directory of a control plane started by this process (None for an existing cluster).
    dir: Option<PathBuf>,
}

static CLUSTER: OnceCell<Result<TestCluster, String>> = OnceCell::const_new();

/// The cluster of this test binary; provisions it on first use. Panics (failing the test)
/// with instructions if no cluster can be provisioned.
pub async fn cluster() -> &'static TestCluster {
    match CLUSTER.get_or_init(provision).await {
        Ok(cluster) => cluster,
        Err(err) => panic!("{err}\n\n{HOW_TO_PROVISION}"),
    }
}

impl TestCluster {
    /// A new client for the calling test's tokio runtime (admin rights).
    pub fn client(&self) -> Client {
        Client::try_from(self.config.clone())
            .expect("building a kube::Client from the test kubeconfig")
    }

    /// The parsed configuration, for clients built another way (e.g. with a tower layer).
    pub(crate) fn config(&self) -> Config {
        self.config.clone()
    }

    /// Path of the kubeconfig file (admin rights).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Whether this process started the control plane (false with PG_GITOPS_TEST_KUBECONFIG).
    pub fn is_local(&self) -> bool {
        self.dir.is_some()
    }

    /// Bearer token of `system:serviceaccount:pg-gitops:pg-gitops`; only on a control plane
    /// started by this process.
    pub fn service_account_token(&self) -> Option<String> {
        let dir = self.dir.as_ref()?;
        let token = std::fs::read_to_string(dir.join("sa-token")).ok()?;
        Some(token.trim().to_owned())
    }

    /// A new client that authenticates with the bearer token `token` instead of the admin's.
    pub fn client_with_token(&self, token: &str) -> Client {
        let mut config = self.config.clone();
        config.auth_info = kube::config::AuthInfo {
            token: Some(token.to_owned().into()),
            ..kube::config::AuthInfo::default()
        };
        Client::try_from(config).expect("building a kube::Client with a bearer token")
    }

    /// A new admin client that impersonates `user` with `groups` (works on any cluster whose
    /// kubeconfig user may impersonate, e.g. cluster-admin); for RBAC tests.
    fn impersonating(&self, user: &str, groups: &[&str]) -> Client {
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups =
            Some(groups.iter().map(|g| (*g).to_owned()).collect());
        Client::try_from(config).expect("building an impersonating kube::Client")
    }

    /// A client acting as service account `namespace/name` (by impersonation, with the groups
    /// a real service account token carries): to prove RBAC rules sufficient and minimal.
    pub fn service_account(&self, namespace: &str, name: &str) -> Client {
        self.impersonating(
            &format!("system:serviceaccount:{namespace}:{name}"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{namespace}"),
                "system:authenticated",
            ],
        )
    }

    /// A client acting as `system:serviceaccount:pg-gitops:pg-gitops` (see
    /// [`TestCluster::service_account_token`]); only on a control plane started here.
    pub fn service_account_client(&self) -> Option<Client> {
        Some(self.client_with_token(&self.service_account_token()?))
    }

    /// Creates a fresh namespace named `<prefix>-<random suffix>` and returns its name.
    pub async fn namespace(&self, prefix: &str) -> String {
        let mut prefix: String = prefix
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        prefix.truncate(50);
        let prefix = prefix.trim_matches('-');
        let prefix = if prefix.is_empty() { "test" } else { prefix };
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{prefix}-")),
                labels: Some(
                    [(
                        "app.kubernetes.io/created-by".to_owned(),
                        "pg-gitops-tests".to_owned(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let created = Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating a test namespace {prefix}-*: {e}"));
        created
            .metadata
            .name
            .expect("the API server names a generated namespace")
    }
}

async fn provision() -> Result<TestCluster, String> {
    match std::env::var_os(KUBECONFIG_ENV) {
        Some(path) if !path.is_empty() => existing_cluster(PathBuf::from(path)).await,
        _ => local_cluster().await,
    }
}

async fn load_config(kubeconfig: &Path) -> Result<Config, String> {
    let parsed = Kubeconfig::read_from(kubeconfig)
        .map_err(|e| format!("reading kubeconfig {}: {e}", kubeconfig.display()))?;
    Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("loading kubeconfig {}: {e}", kubeconfig.display()))
}

/// Runs `scripts/control-plane up` in a new temporary directory (with `extra` arguments);
/// returns the directory. The watchdog of `up` removes it once this process is gone.
fn control_plane_up(prefix: &str, extra: &[&str]) -> Result<PathBuf, String> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| format!("creating a temporary directory: {e}"))?
        // Removed by the watchdog of `up` once this process is gone.
        .keep();
    let script = crate::repo_root().join("scripts/control-plane");
    let output = Command::new(&script)
        .arg("up")
        .arg(&dir)
        .arg("--watch-pid")
        .arg(std::process::id().to_string())
        .args(extra)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!(
            "`scripts/control-plane up {}` failed ({}):\n{}",
            dir.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(dir)
}

/// Starts kube-apiserver + etcd with `scripts/control-plane up`.
async fn local_cluster() -> Result<TestCluster, String> {
    let dir = control_plane_up("pg-gitops-cluster-", &[])?;
    let kubeconfig = dir.join("kubeconfig");
    let config = load_config(&kubeconfig).await?;
    Ok(TestCluster {
        kubeconfig,
        config,
        dir: Some(dir),
    })
}

/// Uses the cluster of PG_GITOPS_TEST_KUBECONFIG; creates the KubeDB CRDs there if missing.
async fn existing_cluster(kubeconfig: PathBuf) -> Result<TestCluster, String> {
    let config = load_config(&kubeconfig).await?;
    let client = Client::try_from(config.clone()).map_err(|e| format!("building a client: {e}"))?;
    let version = client.apiserver_version().await.map_err(|e| {
        format!(
            "the cluster of {KUBECONFIG_ENV}={} does not answer: {e}",
            kubeconfig.display()
        )
    })?;
    let minor: u32 = version
        .minor
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0);
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for (name, file) in CRD_NAMES.iter().zip(CRD_FILES) {
        let present = crds
            .get_opt(name)
            .await
            .map_err(|e| format!("reading CRD {name}: {e}"))?;
        if present.is_some() {
            continue;
        }
        let path = crate::repo_root().join("vendor/kubedb-crds").join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        // API servers before 1.21 reject `default: ""` on string properties.
        let text = if version.major == "1" && minor < 21 {
            drop_empty_string_defaults(&text)
        } else {
            text
        };
        let crd: CustomResourceDefinition = pg_gitops::yaml::parse_value(&text)
            .map_err(|e| e.to_string())
            .and_then(|value| serde_json::from_value(value).map_err(|e| e.to_string()))
            .map_err(|e| format!("parsing {}: {e}", path.display()))?;
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => return Err(format!("creating CRD {name}: {e}")),
        }
    }
    for name in CRD_NAMES {
        wait_established(&crds, name).await?;
    }
    Ok(TestCluster {
        kubeconfig,
        config,
        dir: None,
    })
}

/// Drops the lines that are exactly `default: ""` (after indentation).
pub fn drop_empty_string_defaults(yaml: &str) -> String {
    yaml.lines()
        .filter(|line| line.trim() != r#"default: """#)
        .flat_map(|line| [line, "\n"])
        .collect()
}

/// Whether the CRD reports the condition `Established=True`.
pub fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

async fn wait_established(crds: &Api<CustomResourceDefinition>, name: &str) -> Result<(), String> {
    // Right after creation a CRD has no conditions yet: poll.
    for _ in 0..600 {
        let crd = crds
            .get(name)
            .await
            .map_err(|e| format!("reading CRD {name}: {e}"))?;
        if is_established(&crd) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("CRD {name} is not Established after 60 s"))
}

/// A control plane of one test's own, not shared with the other tests of the binary: for a
/// test that needs the whole cluster to itself (a service and a simulator serving every
/// namespace) or the API server's audit log. Started by `scripts/control-plane up
/// --audit-log` (about 11 s; always local, also with `PG_GITOPS_TEST_KUBECONFIG`: such a test
/// must not run a cluster-wide simulator on somebody's cluster); stopped by
/// [`OwnCluster::stop`], or by the watchdog when the test process ends.
pub struct OwnCluster {
    dir: PathBuf,
    config: Config,
}

impl OwnCluster {
    /// Starts it; panics (failing the test) with instructions if it cannot.
    pub async fn start(prefix: &str) -> Self {
        let started = tokio::task::spawn_blocking({
            let prefix = format!("pg-gitops-{prefix}-");
            move || control_plane_up(&prefix, &["--audit-log"])
        })
        .await
        .expect("the control plane start-up did not panic");
        let dir = started.unwrap_or_else(|err| panic!("{err}\n\n{HOW_TO_PROVISION}"));
        let config = load_config(&dir.join("kubeconfig"))
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        Self { dir, config }
    }

    /// A new client for the calling test's tokio runtime (admin rights).
    pub fn client(&self) -> Client {
        Client::try_from(self.config.clone())
            .expect("building a kube::Client from the test kubeconfig")
    }

    /// Path of the kubeconfig file (admin rights), for child processes.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The client configuration (admin rights), for a client on another runtime.
    pub fn config(&self) -> kube::Config {
        self.config.clone()
    }

    /// Creates namespace `name` (the cluster is the test's own: no name clash to avoid).
    pub async fn namespace(&self, name: &str) -> String {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name.into()
    }

    /// The audit log: one JSON object per write request (see [`crate::audit`]).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// An outage: stops kube-apiserver and etcd but keeps their data and ports
    /// (`scripts/control-plane stop`).
    pub async fn stop_api_server_and_etcd(&self) {
        self.control_plane(&["stop"]).await;
    }

    /// Ends the outage: etcd again on its data, then the API server on its port, until /readyz
    /// answers (`scripts/control-plane start`). Clients made before keep working.
    pub async fn start_api_server_and_etcd(&self) {
        self.control_plane(&["start"]).await;
    }

    /// Stops kube-apiserver and etcd and removes their data.
    pub async fn stop(self) {
        self.control_plane(&["down", "--purge"]).await;
    }

    /// Runs `scripts/control-plane COMMAND DIR [ARGS]`, failing the test if it fails.
    async fn control_plane(&self, command: &[&str]) {
        let script = crate::repo_root().join("scripts/control-plane");
        let shown = command.join(" ");
        let (dir, command) = (
            self.dir.clone(),
            command.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        );
        let status = tokio::task::spawn_blocking(move || {
            Command::new(script)
                .arg(&command[0])
                .arg(&dir)
                .args(&command[1..])
                .stdin(std::process::Stdio::null())
                .status()
        })
        .await
        .expect("scripts/control-plane did not panic")
        .expect("running scripts/control-plane");
        assert!(status.success(), "scripts/control-plane {shown}: {status}");
    }
}

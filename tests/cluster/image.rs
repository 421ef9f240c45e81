//! The container image (issue 10, "Image"): `scripts/image` builds it, umoci unpacks it into an
//! OCI bundle, and Debian's runc runs it the way the chart runs the pod: read-only root
//! filesystem, uid/gid 65532, no capabilities, no new privileges, an emptyDir-like tmpfs at
//! /tmp, configuration and credentials mounted read-only; host network (no network namespace),
//! so the container reaches the test API server on loopback.
//!
//! The image is built from the debug binary this test binary was built with
//! (`scripts/image --binary`, which strips its debug info), not from a release build: a
//! release build of the service takes minutes on two cores, the image build takes seconds,
//! and the image is otherwise the one `scripts/image` builds for release (same script, same
//! libraries, same layout). It is built once per test run and shared by the tests here.
//!
//! runc and buildah need root (the tests run as root here and in CI); a missing tool fails
//! the test with the Debian package to install (scripts/test installs them).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::e2e::*;
use test_support::kinds::databases_api;

/// The user the image runs as (distroless' nonroot), as the chart's securityContext says.
const NONROOT: u32 = 65532;

/// How long a simulated OpsRequest stays Progressing (none is expected here).
const STEP: Duration = Duration::from_millis(300);

/// The image, built and unpacked once for the tests of this file.
struct Unpacked {
    /// Holds the archive, the OCI layout and the unpacked root filesystem.
    _dir: tempfile::TempDir,
    rootfs: PathBuf,
    /// The runtime spec umoci derived from the image config (user, entrypoint, env, cwd).
    spec: Value,
}

static IMAGE: OnceLock<Result<Unpacked, String>> = OnceLock::new();

/// Builds and unpacks the image on first use (blocking; call from spawn_blocking).
fn image() -> &'static Unpacked {
    match IMAGE.get_or_init(build_and_unpack) {
        Ok(unpacked) => unpacked,
        Err(error) => panic!("{error}"),
    }
}

async fn unpacked_image() -> &'static Unpacked {
    tokio::task::spawn_blocking(image)
        .await
        .expect("building the image")
}

/// The path of a tool, or a failure saying which Debian package brings it.
fn tool(name: &str, package: &str) -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            format!(
                "`{name}` is missing: the image test needs Debian's {package} package \
                 (`apt-get install {package}`; scripts/test installs everything in \
                 scripts/apt-packages)"
            )
        })
}

fn run(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|error| format!("running {command:?}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The image name the chart deploys by default: `image.repository` at `appVersion`.
fn chart_image() -> String {
    let chart_dir = test_support::repo_root().join("charts/pg-gitops");
    let read = |file: &str| {
        let text = std::fs::read_to_string(chart_dir.join(file)).unwrap();
        pg_gitops::yaml::parse_value(&text).unwrap()
    };
    let values = read("values.yaml");
    let chart = read("Chart.yaml");
    assert_eq!(
        values["image"]["tag"],
        json!(""),
        "the tag defaults to appVersion"
    );
    format!(
        "{}:{}",
        values["image"]["repository"].as_str().unwrap(),
        chart["appVersion"].as_str().unwrap()
    )
}

fn build_and_unpack() -> Result<Unpacked, String> {
    tool("buildah", "buildah")?;
    tool("umoci", "umoci")?;
    tool("runc", "runc")?;
    let dir = tempfile::Builder::new()
        .prefix("pg-gitops-image-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let archive = dir.path().join("pg-gitops.oci.tar");
    let started = Instant::now();
    run(
        Command::new(test_support::repo_root().join("scripts/image"))
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_pg-gitops"))
            .arg("--output")
            .arg(&archive)
            .stdin(Stdio::null()),
    )?;
    let built = started.elapsed();

    // umoci reads an OCI image layout (a directory); the archive is that layout as a tar.
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).map_err(|e| e.to_string())?;
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout))?;
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let name = index
        .pointer("/manifests/0/annotations/org.opencontainers.image.ref.name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the archive names no image: {index:#}"))?
        .to_string();
    if name != chart_image() {
        return Err(format!(
            "scripts/image built {name}, the chart deploys {} by default",
            chart_image()
        ));
    }
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{name}", layout.display()))
        .arg(&bundle))?;
    let spec: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    let rootfs = bundle.join("rootfs");
    eprintln!(
        "image: {name} built in {built:.1?} from the debug binary, archive {} bytes, \
         root filesystem {} bytes",
        std::fs::metadata(&archive).unwrap().len(),
        tree_size(&rootfs)
    );
    Ok(Unpacked {
        _dir: dir,
        rootfs,
        spec,
    })
}

fn tree_size(dir: &Path) -> u64 {
    files(dir)
        .iter()
        .map(|path| std::fs::symlink_metadata(path).unwrap().len())
        .sum()
}

/// Every file and directory under `dir`, as full paths.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(files(&path));
        }
        found.push(path);
    }
    found
}

/// A container of the unpacked image, deleted (killed first if it runs) when dropped, so a
/// failing test leaves no process behind.
struct Container {
    id: String,
    /// runc's state directory for this container (not /run/runc, shared with anything else).
    state: tempfile::TempDir,
    bundle: tempfile::TempDir,
    log: PathBuf,
}

impl Container {
    /// A bundle whose config.json is the image's runtime spec with the chart's restrictions,
    /// running `args` (after the entrypoint) with `mounts` (host path, container path) read-only.
    fn new(image: &Unpacked, args: &[&str], mounts: &[(&Path, &str)], env: &[&str]) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = format!(
            "pg-gitops-image-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let state = tempfile::tempdir().unwrap();
        let bundle = tempfile::tempdir().unwrap();
        let log = bundle.path().join("container.log");
        let mut spec = image.spec.clone();
        spec["root"] = json!({"path": image.rootfs, "readonly": true});
        let process = &mut spec["process"];
        process["terminal"] = json!(false);
        let mut argv = vec![process["args"][0].clone()];
        argv.extend(args.iter().map(|a| json!(a)));
        process["args"] = json!(argv);
        process["env"]
            .as_array_mut()
            .unwrap()
            .extend(env.iter().map(|e| json!(e)));
        process["noNewPrivileges"] = json!(true);
        // The chart drops every capability.
        process["capabilities"] = json!({
            "bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []
        });
        // Host network: the API server and the probes are on the host's loopback.
        spec["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|namespace| namespace["type"] != "network");
        let spec_mounts = spec["mounts"].as_array_mut().unwrap();
        // The chart's emptyDir at /tmp: HOME and the Git clone.
        spec_mounts.push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=268435456"],
        }));
        for (source, destination) in mounts {
            spec_mounts.push(json!({
                "destination": destination, "type": "bind", "source": source,
                "options": ["rbind", "ro", "nosuid", "nodev"],
            }));
        }
        std::fs::write(
            bundle.path().join("config.json"),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
        Self {
            id,
            state,
            bundle,
            log,
        }
    }

    fn runc(&self) -> Command {
        let mut command = Command::new("runc");
        command.arg("--root").arg(self.state.path());
        command
    }

    /// Runs to the end in the foreground; its exit status and output.
    fn run_to_end(&self) -> std::process::Output {
        self.runc()
            .args(["run", "--bundle"])
            .arg(self.bundle.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .output()
            .expect("running runc")
    }

    /// Starts it in the background; its output goes to the log file.
    fn start(&self) {
        let log = std::fs::File::create(&self.log).unwrap();
        let output = self
            .runc()
            .args(["run", "--detach", "--bundle"])
            .arg(self.bundle.path())
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .output()
            .expect("running runc");
        assert!(
            output.status.success(),
            "runc run --detach failed ({}); log:\n{}",
            output.status,
            self.log_text()
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `runc state`: status ("running", "stopped") and the host pid of the container process.
    fn state(&self) -> Value {
        let output = self
            .runc()
            .arg("state")
            .arg(&self.id)
            .output()
            .expect("running runc state");
        assert!(
            output.status.success(),
            "runc state: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// SIGTERM, as the kubelet sends it, then waits for the process to end.
    async fn terminate(&self) {
        let output = self
            .runc()
            .args(["kill"])
            .arg(&self.id)
            .arg("TERM")
            .output()
            .expect("running runc kill");
        assert!(output.status.success(), "runc kill: {output:?}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.state()["status"] != "stopped" {
            assert!(
                Instant::now() < deadline,
                "pg-gitops did not stop within 20 s of SIGTERM; log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // --force kills a running container first; a container never created is no error.
        let _ = self
            .runc()
            .args(["delete", "--force"])
            .arg(&self.id)
            .stderr(Stdio::null())
            .status();
    }
}

/// Mode `mode` and owner `uid`:`uid` for a file the container reads (a Secret mounted with the
/// chart's fsGroup is readable by 65532, not by the world).
fn hand_over(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(NONROOT), Some(NONROOT)).unwrap();
}

/// The test cluster's kubeconfig with every referenced file (CA, client certificate and key,
/// token file) inlined, so the container needs only this one file.
fn self_contained_kubeconfig(path: &Path) -> String {
    let parsed = kube::config::Kubeconfig::read_from(path).unwrap();
    let mut config = serde_json::to_value(&parsed).unwrap();
    let inline = |object: &mut Value, file_key: &str, data_key: &str, encode: bool| {
        if let Some(file) = object.get(file_key).and_then(Value::as_str) {
            let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
            object[data_key] = if encode {
                json!(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    bytes
                ))
            } else {
                json!(String::from_utf8(bytes).unwrap().trim())
            };
            object.as_object_mut().unwrap().remove(file_key);
        }
    };
    for cluster in config["clusters"].as_array_mut().into_iter().flatten() {
        inline(
            &mut cluster["cluster"],
            "certificate-authority",
            "certificate-authority-data",
            true,
        );
    }
    for user in config["users"].as_array_mut().into_iter().flatten() {
        let user = &mut user["user"];
        inline(user, "client-certificate", "client-certificate-data", true);
        inline(user, "client-key", "client-key-data", true);
        inline(user, "tokenFile", "token", false);
    }
    serde_json::to_string_pretty(&config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_is_the_binary_its_libraries_and_certificates_and_runs_as_nonroot() {
    let image = unpacked_image().await;

    // The image config: what `docker run` and the chart rely on.
    let process = &image.spec["process"];
    assert_eq!(process["user"]["uid"], json!(NONROOT), "{process:#}");
    assert_eq!(process["user"]["gid"], json!(NONROOT), "{process:#}");
    assert_eq!(
        process["args"],
        json!(["pg-gitops", "run", "--config", "/etc/pg-gitops/config.toml"]),
        "entrypoint pg-gitops (the chart's command), default arguments run --config"
    );
    let env: Vec<&str> = process["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for expected in ["HOME=/tmp", "PATH=/usr/local/bin"] {
        assert!(env.contains(&expected), "{expected} in {env:?}");
    }

    // Nothing but the binary, shared libraries, CA certificates, user names and /tmp.
    let wanted = [
        "usr/local/bin/pg-gitops",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "etc/group",
        "etc/nsswitch.conf",
    ];
    for path in files(&image.rootfs) {
        let relative = path.strip_prefix(&image.rootfs).unwrap();
        let metadata = std::fs::symlink_metadata(&path).unwrap();
        if metadata.is_dir() {
            continue;
        }
        let name = relative.to_string_lossy();
        let is_library = name.contains(".so");
        assert!(
            wanted.contains(&name.as_ref()) || is_library,
            "unexpected file in the image: /{name}"
        );
        assert!(
            metadata.permissions().mode() & 0o6000 == 0,
            "/{name} is setuid or setgid"
        );
        assert_eq!(std::os::unix::fs::MetadataExt::uid(&metadata), 0, "/{name}");
    }
    for name in wanted {
        assert!(image.rootfs.join(name).is_file(), "/{name} is missing");
    }
    let tmp = std::fs::metadata(image.rootfs.join("tmp")).unwrap();
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777, "/tmp");
    let passwd = std::fs::read_to_string(image.rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");

    // `pg-gitops --version` in the container says what the binary this test was built with
    // says: the crate version, the commit and the build date.
    let container = Container::new(image, &["--version"], &[], &[]);
    let output = container.run_to_end();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pg-gitops --version in the container failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let host = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(stdout, String::from_utf8_lossy(&host.stdout));
    let expected = format!(
        "pg-gitops {} (commit {}, built ",
        pg_gitops::build_info::VERSION,
        pg_gitops::build_info::COMMIT
    );
    assert!(stdout.starts_with(&expected), "{stdout:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_the_service_on_a_read_only_root_and_provisions_a_database() {
    let image = unpacked_image().await;
    let cluster = test_support::cluster().await;
    let sim = sim_namespace("image", STEP).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db::new("boxed");
    let fleet = Fleet::new(&ns, &[&db]);

    // The chart's configuration shape: a Git source cloned into the emptyDir at /tmp, the
    // repository read over file:// from a read-only mount.
    let mut config = fleet.config("image");
    config.source.url = Some("file:///repo".into());
    config.source.work_dir = "/tmp/pg-gitops/source".into();
    let mounted = fleet.repo.temp.path().join("container");
    std::fs::create_dir(&mounted).unwrap();
    let config_file = mounted.join("config.toml");
    write_config(&config, &config_file);
    hand_over(&config_file, 0o644);
    let kubeconfig = mounted.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        self_contained_kubeconfig(cluster.kubeconfig_path()),
    )
    .unwrap();
    hand_over(&kubeconfig, 0o600);
    // libgit2 refuses a repository its user does not own.
    for path in files_and_self(&fleet.repo.bare) {
        std::os::unix::fs::chown(&path, Some(NONROOT), Some(NONROOT)).unwrap();
    }

    let container = Container::new(
        image,
        &["run", "--config", "/etc/pg-gitops/config.toml"],
        &[
            (config_file.as_path(), "/etc/pg-gitops/config.toml"),
            (kubeconfig.as_path(), "/var/run/pg-gitops/kubeconfig"),
            (fleet.repo.bare.as_path(), "/repo"),
        ],
        &[
            "KUBECONFIG=/var/run/pg-gitops/kubeconfig",
            "RUST_LOG=info",
            "POD_NAME=pg-gitops-image-test",
        ],
    );
    container.start();

    // The container process, seen from the host: uid 65532, no capabilities, read-only root.
    let pid = container.state()["pid"]
        .as_u64()
        .expect("a running container");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("Uid:"), "65532\t65532\t65532\t65532", "{status}");
    assert_eq!(field("Gid:"), "65532\t65532\t65532\t65532", "{status}");
    assert_eq!(field("CapEff:"), "0000000000000000", "{status}");
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root_options = mountinfo
        .lines()
        .map(|line| line.split(' ').collect::<Vec<_>>())
        .rfind(|fields| fields.get(4) == Some(&"/"))
        .map(|fields| fields[5].to_string())
        .expect("a root mount");
    assert!(
        root_options.split(',').any(|option| option == "ro"),
        "the root filesystem is mounted {root_options}"
    );

    let deadline = Instant::now() + PATIENCE;
    while !http_get(config.server.listen, "/readyz")
        .await
        .starts_with("HTTP/1.1 200")
    {
        assert!(
            Instant::now() < deadline && container.state()["status"] == "running",
            "pg-gitops in the container is not ready; its log:\n{}",
            container.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The manifest in Git becomes a Ready kubedb.com Postgres, and the status says so.
    let status = wait_current(&client, &ns, &db).await;
    assert_eq!(
        status["metadata"]["annotations"]["gitops.kubedb.com/revision"],
        json!(fleet.repo.head()),
        "the revision of the clone in the container"
    );
    let live = to_value(&databases_api(&client, &ns).get(&db.name).await.unwrap());
    assert_eq!(phase_of(&live), "Ready", "{live:#}");
    db.assert_live_matches(&live);
    let reasons = event_reasons(&client, &ns, &db.name).await;
    assert!(reasons.contains(&"Provisioned".to_string()), "{reasons:?}");

    container.terminate().await;
    let log = container.log_text();
    assert!(!log.contains("panicked"), "{log}");
    drop(container);
    sim.stop().await;
}

/// `dir` and everything under it.
fn files_and_self(dir: &Path) -> Vec<PathBuf> {
    let mut all = files(dir);
    all.push(dir.to_path_buf());
    all
}

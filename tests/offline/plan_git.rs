//! `pg-gitops plan` on a real Git repository, as CI runs it: the command line of
//! `examples/ci` (read from the example files, so a change there is tested here) on a pull
//! request's range, its markdown comment and exit code; `--ref` on a bare repository; a
//! symlink out of the repository and a huge file refused as the service refuses them;
//! `--manifests -`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use test_support::git::repo::git;

fn manifest(name: &str, version: &str, replicas: u32) -> String {
    format!(
        "apiVersion: gitops.kubedb.com/v1alpha1\nkind: Postgres\nmetadata:\n  name: {name}\n  \
         namespace: shop\nspec:\n  version: \"{version}\"\n  replicas: {replicas}\n"
    )
}

fn live_database(name: &str) -> String {
    format!(
        "apiVersion: kubedb.com/v1\nkind: Postgres\nmetadata:\n  name: {name}\n  namespace: shop\n\
         spec:\n  version: \"16.4\"\n  replicas: 3\n  standbyMode: Hot\nstatus:\n  phase: Ready\n"
    )
}

/// A repository whose `fleet/` holds three databases at `base`; `head` scales `orders` to 5
/// and updates `billing` to 17.2. The live state (and the version catalog of
/// `examples/live`) agrees with `base`.
struct Fleet {
    _temp: tempfile::TempDir,
    work: PathBuf,
    live: PathBuf,
    base: String,
    head: String,
}

impl Fleet {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let work = temp.path().join("work");
        let live = temp.path().join("live");
        std::fs::create_dir_all(work.join("fleet")).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        git(&work, &["init", "-q"]);
        let versions = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/live/versions.yaml");
        std::fs::copy(versions, live.join("versions.yaml")).unwrap();
        for name in ["orders", "billing", "analytics"] {
            std::fs::write(live.join(format!("{name}.yaml")), live_database(name)).unwrap();
        }
        let mut fleet = Fleet {
            _temp: temp,
            work,
            live,
            base: String::new(),
            head: String::new(),
        };
        fleet.write("orders.yaml", &manifest("orders", "16.4", 3));
        fleet.write("billing.yaml", &manifest("billing", "16.4", 3));
        fleet.write("analytics.yaml", &manifest("analytics", "16.4", 3));
        fleet.base = fleet.commit("three databases");
        fleet.write("orders.yaml", &manifest("orders", "16.4", 5));
        fleet.write("billing.yaml", &manifest("billing", "17.2", 3));
        fleet.head = fleet.commit("scale orders, update billing");
        fleet
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.work.join("fleet").join(file), text).unwrap();
    }

    fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn short(sha: &str) -> &str {
        &sha[..7]
    }
}

/// Runs the examples' command in `fleet`'s work tree with `sh`, as the CI job does, with
/// the live state from files; returns the exit code it keeps and the comment.
fn run_ci(fleet: &Fleet, base: &str, head: &str) -> (i32, String) {
    let command = test_support::ci_example_command("github-actions.yaml");
    assert_eq!(
        command,
        test_support::ci_example_command("gitlab-ci.yml"),
        "both examples run the same command"
    );
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_pg-gitops"));
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("code=0\n{command}\nexit $code"))
        .current_dir(&fleet.work)
        .env("PATH", path)
        .env("BASE", base)
        .env("HEAD", head)
        .env("LIVE", &fleet.live)
        .output()
        .unwrap();
    let comment = std::fs::read_to_string(fleet.work.join("plan.md")).unwrap();
    assert!(
        output.stdout.is_empty(),
        "the comment goes to plan.md: {output:?}"
    );
    (output.status.code().unwrap(), comment)
}

#[test]
fn the_ci_examples_post_a_comment_for_what_a_pull_request_changes() {
    let fleet = Fleet::new();
    let (code, comment) = run_ci(&fleet, &fleet.base, &fleet.head);
    assert_eq!(code, 1, "changes planned\n{comment}");
    let summary = comment.lines().nth(1).unwrap();
    assert_eq!(
        summary,
        format!(
            "**pg-gitops plan** for `{}..{}`: 2 databases change, 2 OpsRequests \
             (1 restart pods, 1 irreversible), 0 errors, 1 unchanged",
            Fleet::short(&fleet.base),
            Fleet::short(&fleet.head)
        )
    );
    let rows: Vec<&str> = comment.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(
        rows,
        [
            "| `shop/billing` | UpdateVersion | yes |  | yes |  |",
            "| `shop/orders` | HorizontalScaling |  |  |  |  |",
        ],
        "{comment}"
    );
    assert!(
        comment.contains("-version: '16.4'\n+version: '17.2'\n"),
        "{comment}"
    );
    assert!(
        comment.contains("-replicas: 3\n+replicas: 5\n"),
        "{comment}"
    );
    assert!(
        comment.contains("targetVersion: '17.2'") && comment.contains("replicas: 5"),
        "the OpsRequests' YAML\n{comment}"
    );
    assert!(
        !comment.contains("analytics"),
        "unchanged: not planned\n{comment}"
    );
    println!("{comment}");
}

#[test]
fn a_broken_manifest_in_the_pull_request_fails_the_job_and_names_file_and_line() {
    let fleet = Fleet::new();
    fleet.write(
        "analytics.yaml",
        &(manifest("analytics", "16.4", 3) + "  storageType: Sometimes\n"),
    );
    let broken = fleet.commit("break analytics");
    let (code, comment) = run_ci(&fleet, &fleet.base, &broken);
    assert_eq!(code, 2, "{comment}");
    assert!(
        comment.contains("| `shop/analytics` |  |  |  |  | 1 error |"),
        "{comment}"
    );
    assert!(
        comment.contains("- `analytics.yaml:9`: spec.storageType"),
        "{comment}"
    );
    assert!(comment.contains(", 1 error, "), "{comment}");
    // The other changes of the range are still planned.
    assert!(
        comment.contains("| `shop/orders` | HorizontalScaling |"),
        "{comment}"
    );
}

#[test]
fn a_manifest_removed_in_the_range_is_reported_and_not_planned() {
    let fleet = Fleet::new();
    std::fs::remove_file(fleet.work.join("fleet/billing.yaml")).unwrap();
    let removal = fleet.commit("remove billing");
    let (code, comment) = run_ci(&fleet, &fleet.head, &removal);
    assert_eq!(code, 0, "a removal is nothing to do\n{comment}");
    assert!(comment.contains("0 databases change"), "{comment}");
    assert!(comment.contains("1 removed from Git"), "{comment}");
    assert!(comment.contains("**Removed from Git** (not planned: pg-gitops never deletes"));
    assert!(comment.contains("- `shop/billing`\n"), "{comment}");
}

fn plan(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
        .arg("plan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn steps(report: &Value, name: &str) -> Vec<String> {
    let database = (report["databases"].as_array().unwrap().iter())
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report}"));
    (database["steps"].as_array().unwrap().iter())
        .map(|s| s["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ref_plans_the_tree_of_any_revision_of_a_bare_repository() {
    let fleet = Fleet::new();
    let bare = fleet.work.parent().unwrap().join("bare.git");
    git(
        fleet.work.parent().unwrap(),
        &["clone", "-q", "--bare", "work", "bare.git"],
    );
    let live = fleet.live.to_str().unwrap();
    let at = |reference: &str| {
        let args = ["--repo", bare.to_str().unwrap(), "--ref", reference];
        plan(
            &[
                &args[..],
                &["--path", "fleet", "--output", "json", "--live", live],
            ]
            .concat(),
            None,
        )
    };
    let previous = at("HEAD~1");
    assert_eq!(previous.status.code(), Some(0), "{}", json(&previous));
    let report = json(&previous);
    assert_eq!(report["databases"].as_array().unwrap().len(), 3, "{report}");
    for reference in ["HEAD", &fleet.head[..12]] {
        let output = at(reference);
        assert_eq!(output.status.code(), Some(1));
        let report = json(&output);
        assert_eq!(steps(&report, "orders"), ["HorizontalScaling"]);
        assert_eq!(steps(&report, "billing"), ["UpdateVersion"]);
        assert_eq!(steps(&report, "analytics"), Vec::<String>::new());
    }
    let missing = at("no-such-branch");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("cannot resolve `no-such-branch`"),
        "{missing:?}"
    );
}

#[test]
fn ref_refuses_a_symlink_out_of_the_repository_as_the_service_does() {
    let fleet = Fleet::new();
    let outside = fleet.work.parent().unwrap().join("outside.yaml");
    std::fs::write(&outside, manifest("stolen", "16.4", 3)).unwrap();
    let link = |name: &str, target: &Path| {
        std::os::unix::fs::symlink(target, fleet.work.join("fleet").join(name)).unwrap();
    };
    link("absolute.yaml", &outside);
    link("relative.yaml", Path::new("../../outside.yaml"));
    link("config.yaml", Path::new("../.git/config"));
    // A link that stays inside the repository is followed, as in a checkout.
    std::fs::create_dir_all(fleet.work.join("shared")).unwrap();
    std::fs::write(
        fleet.work.join("shared/reporting.yaml"),
        manifest("reporting", "16.4", 1),
    )
    .unwrap();
    link("reporting.yaml", Path::new("../shared/reporting.yaml"));
    // And a file over `source.max_file_bytes`, which is not read either.
    let padding = format!("# {}\n", "x".repeat(2 << 20));
    fleet.write("huge.yaml", &(manifest("huge", "16.4", 1) + &padding));
    fleet.commit("links");
    let work = fleet.work.to_str().unwrap();
    let live = fleet.live.to_str().unwrap();
    let output = plan(
        &[
            "--repo", work, "--ref", "HEAD", "--path", "fleet", "--output", "json", "--live", live,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let report = json(&output);
    let mut errors: Vec<(String, String)> = (report["errors"].as_array().unwrap().iter())
        .map(|e| {
            assert_eq!(e["line"], 0, "{e}");
            (
                e["file"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    errors.sort();
    let outside_message = "symlink points outside the repository; it is not followed";
    assert_eq!(
        errors,
        [
            ("absolute.yaml".to_string(), outside_message.to_string()),
            (
                "config.yaml".to_string(),
                "symlink points into .git; it is not followed".to_string()
            ),
            (
                "huge.yaml".to_string(),
                format!(
                    "the file is {} bytes, more than source.max_file_bytes (1048576); \
                     it is not read",
                    manifest("huge", "16.4", 1).len() + padding.len()
                )
            ),
            ("relative.yaml".to_string(), outside_message.to_string()),
        ],
        "{report}"
    );
    assert!(!report.to_string().contains("stolen"), "{report}");
    assert!(!report.to_string().contains("\"huge\""), "{report}");
    assert_eq!(steps(&report, "reporting"), ["Provision"]);
}

#[test]
fn manifests_from_standard_input_name_stdin_and_the_line() {
    let fleet = Fleet::new();
    let stream = format!(
        "{}---\n{}---\n{}",
        manifest("orders", "16.4", 5),
        manifest("billing", "16.4", 3),
        manifest("analytics", "16.4", 3) + "  storageType: Sometimes\n"
    );
    let live = fleet.live.to_str().unwrap();
    let output = plan(
        &["--manifests", "-", "--output", "json", "--live", live],
        Some(&stream),
    );
    assert_eq!(output.status.code(), Some(2));
    let report = json(&output);
    assert_eq!(steps(&report, "orders"), ["HorizontalScaling"]);
    assert_eq!(steps(&report, "billing"), Vec::<String>::new());
    let analytics = (report["databases"].as_array().unwrap().iter())
        .find(|d| d["name"] == "analytics")
        .unwrap();
    let error = &analytics["errors"][0];
    assert_eq!(error["file"], "<stdin>", "{analytics}");
    assert_eq!(error["line"], 27, "{analytics}");
}

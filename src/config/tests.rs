use super::*;

fn repo_config_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml")).unwrap()
}

#[test]
fn repo_config_toml_parses_and_keeps_every_default() {
    let parsed = Config::from_toml_str(&repo_config_text()).unwrap();
    // The shipped file only sets the URL; everything else must equal the code defaults,
    // so the comments in it cannot drift from what the service really does.
    let mut expected = Config::default();
    expected.source.url = parsed.source.url.clone();
    assert_eq!(parsed, expected);
}

#[test]
fn repo_config_toml_documents_every_key() {
    let text = repo_config_text();
    let mut with_options = Config::default();
    let auth = &mut with_options.source.auth;
    auth.username = Some(String::new());
    auth.username_file = Some(PathBuf::new());
    auth.password_file = Some(PathBuf::new());
    auth.password_env = Some(String::new());
    auth.token_file = Some(PathBuf::new());
    auth.token_env = Some(String::new());
    auth.ssh_key_file = Some(PathBuf::new());
    auth.ssh_passphrase_file = Some(PathBuf::new());
    auth.ssh_passphrase_env = Some(String::new());
    auth.known_hosts_file = Some(PathBuf::new());
    with_options.source.url = Some(String::new());
    with_options.source.tag = Some(String::new());
    with_options.source.commit = Some(String::new());
    with_options.source.dir = Some(PathBuf::new());
    let hooks = &mut with_options.server.webhooks;
    hooks.github_secret_file = Some(PathBuf::new());
    hooks.gitlab_token_file = Some(PathBuf::new());
    hooks.gitea_secret_file = Some(PathBuf::new());
    hooks.bitbucket_secret_file = Some(PathBuf::new());
    hooks.generic_secret_file = Some(PathBuf::new());
    with_options.reconcile.namespace = Some(String::new());
    with_options.reconcile.instance = Some(String::new());
    with_options.reconcile.owner = Some(String::new());
    with_options.reconcile.max_parallel_ops = std::num::NonZeroU32::new(5);
    with_options.reconcile.max_parallel_ops_per_label = Some(String::new());
    with_options.approval.required = crate::gate::ApprovalPolicy::parse(["Restart"]).unwrap();
    with_options.maintenance.windows = vec![crate::config::WindowRule {
        selector: crate::config::LabelSelector::default(),
        schedule: crate::gate::Schedule::parse("Sat 01:00-05:00 UTC").unwrap(),
    }];
    with_options.notify.commit_status = vec![CommitStatusConfig {
        provider: Forge::GitHub,
        token_file: PathBuf::new(),
        api_url: Some(String::new()),
        repository: Some(String::new()),
        context: String::new(),
    }];
    with_options.notify.webhook = vec![AlertWebhookConfig {
        format: AlertFormat::Generic,
        url_file: PathBuf::new(),
        hmac_key_file: Some(PathBuf::new()),
        on: vec![AlertOn::Stalled],
    }];
    let table: toml::Table = toml::from_str(&toml::to_string(&with_options).unwrap()).unwrap();
    let mut missing = Vec::new();
    collect_missing(&table, "", &text, &mut missing);
    assert!(
        missing.is_empty(),
        "config.toml does not document: {missing:?}"
    );
}

#[test]
fn every_key_documented_in_config_toml_exists() {
    // Uncomment every `# key = value` example and every `# [[table]]` of one: with
    // deny_unknown_fields, a documented key that the code does not know (a typo, a renamed
    // field) fails to parse.
    let uncommented: String = repo_config_text()
        .lines()
        .map(|line| {
            let example = line.strip_prefix("# ").unwrap_or(line);
            let is_key = example
                .split_once(" = ")
                .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            let is_array_table = example.starts_with("[[") && example.ends_with("]]");
            if is_key || is_array_table {
                example
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let parsed: Result<Config, _> = toml::from_str(&uncommented);
    assert!(parsed.is_ok(), "{}", parsed.unwrap_err());
}

fn collect_missing(table: &toml::Table, prefix: &str, text: &str, missing: &mut Vec<String>) {
    for (key, value) in table {
        let full = format!("{prefix}{key}");
        match value {
            toml::Value::Table(inner) => {
                if !text.contains(&format!("[{full}]")) {
                    missing.push(format!("[{full}]"));
                }
                collect_missing(inner, &format!("{full}."), text, missing);
            }
            // An array of tables (`[[notify.webhook]]`): documented as one, with every key.
            toml::Value::Array(items) if items.iter().all(toml::Value::is_table) => {
                if !text.contains(&format!("[[{full}]]")) {
                    missing.push(format!("[[{full}]]"));
                }
                for inner in items.iter().filter_map(toml::Value::as_table) {
                    collect_missing(inner, &format!("{full}."), text, missing);
                }
            }
            _ => {
                if !text.lines().any(|line| {
                    line.trim_start_matches(['#', ' '])
                        .starts_with(&format!("{key} ="))
                }) {
                    missing.push(full);
                }
            }
        }
    }
}

#[test]
fn unknown_keys_are_rejected_in_every_table() {
    const CLUSTER: &str = "[source]\nkind = \"cluster\"\n";
    for text in [
        format!("typo = 1\n{CLUSTER}"),
        format!("{CLUSTER}branchh = \"main\""),
        format!("{CLUSTER}[source.auth]\ntoken = \"x\""),
        format!("{CLUSTER}[server]\nport = 80"),
        format!("{CLUSTER}[server.webhooks]\ngithub_secret = \"x\""),
        format!("{CLUSTER}[plan]\nx = 1"),
        format!("{CLUSTER}[reconcile]\nx = 1"),
        format!("{CLUSTER}[leader_election]\nx = 1"),
    ] {
        let err = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{text}: {err}");
    }
}

#[test]
fn durations_accept_units_and_bare_seconds() {
    let text = "[source]\nkind = \"cluster\"\npoll_interval = \"5m\"\npoll_jitter = 3\ntimeout = \"250ms\"";
    let config = Config::from_toml_str(text).unwrap();
    assert_eq!(config.source.poll_interval.0, Duration::from_secs(300));
    assert_eq!(config.source.poll_jitter.0, Duration::from_secs(3));
    assert_eq!(config.source.timeout.0, Duration::from_millis(250));
    let err = Config::from_toml_str("[source]\nkind = \"cluster\"\ntimeout = \"5 fortnights\"");
    assert!(err.unwrap_err().to_string().contains("unknown time unit"));
}

#[test]
fn git_source_needs_a_url_and_one_reference() {
    let err = Config::from_toml_str("[source]\nkind = \"git\"").unwrap_err();
    assert!(err.to_string().contains("needs source.url"));
    let text = "[source]\nurl = \"file:///r\"\ntag = \"v1\"\ncommit = \"0123456789012345678901234567890123456789\"";
    assert!(
        Config::from_toml_str(text)
            .unwrap_err()
            .to_string()
            .contains("exclusive")
    );
    let text = "[source]\nurl = \"file:///r\"\ncommit = \"abc\"";
    assert!(
        Config::from_toml_str(text)
            .unwrap_err()
            .to_string()
            .contains("40-character")
    );
}

#[test]
fn notify_errors_name_the_key() {
    const GIT: &str = "[source]\nurl = \"https://github.com/acme/fleet.git\"\n";
    let cases = [
        (
            "[source]\nkind = \"cluster\"\n[[notify.commit_status]]\nprovider = \"github\"\ntoken_file = \"/t\"".to_string(),
            "notify.commit_status[0]: commit statuses need source.kind = \"git\"",
        ),
        (
            "[source]\nurl = \"file:///srv/fleet.git\"\n[[notify.commit_status]]\nprovider = \"gitea\"\ntoken_file = \"/t\"".to_string(),
            "notify.commit_status[0].repository: cannot be derived",
        ),
        (
            format!("{GIT}[[notify.commit_status]]\nprovider = \"github\"\ntoken_file = \"/t\"\napi_url = \"api.github.com\""),
            "notify.commit_status[0].api_url: must start with https://",
        ),
        (
            format!("{GIT}[[notify.webhook]]\nformat = \"generic\"\nurl_file = \"/u\"\n[[notify.webhook]]\nformat = \"slack\"\nurl_file = \"/u\"\nhmac_key_file = \"/k\""),
            "notify.webhook[1].hmac_key_file: only format = \"generic\" is signed",
        ),
        (
            format!("{GIT}[[notify.webhook]]\nformat = \"slack\"\nurl_file = \"/u\"\non = []"),
            "notify.webhook[0].on must name",
        ),
        (
            format!("{GIT}[notify]\nmax_attempts = 0"),
            "notify.max_attempts must be at least 1",
        ),
    ];
    for (text, expected) in cases {
        let error = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(error.contains(expected), "{text}\n→ {error}");
    }
    let typo = format!("{GIT}[[notify.webhook]]\nformat = \"slack\"\nurl = \"https://hooks\"");
    let error = Config::from_toml_str(&typo).unwrap_err().to_string();
    assert!(error.contains("unknown field `url`"), "{error}");
    let ok = format!(
        "{GIT}[[notify.commit_status]]\nprovider = \"forgejo\"\ntoken_file = \"/t\"\napi_url = \"https://codeberg.org/api/v1/\""
    );
    let config = Config::from_toml_str(&ok).unwrap();
    let entry = &config.notify.commit_status[0];
    assert_eq!(entry.provider, Forge::Gitea);
    assert_eq!(
        entry
            .resolve(config.source.url.as_deref().unwrap())
            .unwrap(),
        ForgeRepository {
            api_url: "https://codeberg.org/api/v1".into(),
            repository: "acme/fleet".into(),
        }
    );
}

#[test]
fn the_readme_notifications_example_is_a_valid_config() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .find(|block| block.contains("[[notify.commit_status]]"))
        .expect("README's Notifications section has a TOML example");
    let text = format!("[source]\nurl = \"https://github.com/acme/fleet.git\"\n{block}");
    let config = Config::from_toml_str(&text).unwrap();
    assert_eq!(config.notify.commit_status.len(), 1);
    assert_eq!(config.notify.webhook.len(), 2);
    assert_eq!(config.notify.webhook[0].on, [AlertOn::Stalled]);
}

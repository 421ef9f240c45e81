//! Secrets never reach logs, status, Events, metrics, the `/status` API, `plan` output or
//! anything written to the cluster (issue 13). The whole service runs with a Git source over
//! smart HTTP behind a token, a secret for every webhook provider, and a database whose
//! manifest names a Secret holding its password; the database goes through a change (an
//! OpsRequest) announced by a delivery of every provider, a wrongly signed delivery is
//! refused, and the token is then revoked so the source fails. After all of that, every place
//! a secret could leak to is scanned for each value: the captured log (TRACE and up),
//! `/metrics`, `/status`, `pg-gitops plan` (text and JSON) against the cluster, and every
//! gitops object, `kubedb.com` Postgres, OpsRequest and Event of the namespace. (The SSH key
//! passphrase is checked the same way by the offline SSH tests.)

use std::time::Duration;

use kube::api::{Api, ListParams};
use pg_gitops::config::Seconds;
use pg_gitops::server::Provider;
use test_support::e2e::*;
use test_support::git::http::HttpGitServer;
use test_support::kinds::{databases_api, gitops_api, ops_api};
use test_support::logs;
use test_support::webhook::deliver_over_tcp;

const TOKEN: &str = "tok-scan-61c0e2-never-log-me";
const WRONG_TOKEN: &str = "tok-scan-wrong-93d4-never-log-me";
const WEBHOOK_SECRET: &str = "whsec-scan-0b7f-never-log-me";
const PASSWORD: &str = "db-password-5c2e-never-log-me";
/// One secret per provider: the generic one above, and these.
const PROVIDER_SECRETS: [(Provider, &str); 4] = [
    (Provider::GitHub, "whsec-github-81aa-never-log-me"),
    (Provider::GitLab, "whsec-gitlab-2d93-never-log-me"),
    (Provider::Gitea, "whsec-gitea-c4e0-never-log-me"),
    (Provider::Bitbucket, "whsec-bitbucket-7f15-never-log-me"),
];

fn secrets() -> Vec<&'static str> {
    let mut all = vec![TOKEN, WRONG_TOKEN, WEBHOOK_SECRET, PASSWORD];
    all.extend(PROVIDER_SECRETS.iter().map(|(_, secret)| *secret));
    all
}

fn assert_clean(place: &str, text: &str) {
    for secret in secrets() {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked into {place}: {text}"
        );
    }
}

async fn everything_in(client: &kube::Client, ns: &str) -> String {
    let mut all = String::new();
    for api in [
        gitops_api(client, ns),
        databases_api(client, ns),
        ops_api(client, ns),
    ] {
        for object in api.list(&ListParams::default()).await.unwrap() {
            all.push_str(&serde_json::to_string(&object).unwrap());
        }
    }
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    for event in events.list(&ListParams::default()).await.unwrap() {
        all.push_str(&serde_json::to_string(&event).unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_status_events_metrics_or_the_cluster() {
    logs::capture();
    let sim = sim_namespace("secrets", Duration::from_millis(100)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let db = Db {
        auth_secret: Some("vault-auth".into()),
        ..Db::new("vault")
    };
    // The password lives in a Secret the database's authSecret names.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    let password: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "vault-auth"},
        "stringData": {"username": "postgres", "password": PASSWORD},
    }))
    .unwrap();
    secrets
        .create(&Default::default(), &password)
        .await
        .unwrap();
    let fleet = Fleet::new(&ns, &[&db]);
    let server =
        HttpGitServer::start(fleet.repo.temp.path().into(), "git", TOKEN, Duration::ZERO).await;
    let token_file = fleet.repo.temp.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let secret_file = fleet.repo.temp.path().join("webhook-secret");
    std::fs::write(&secret_file, WEBHOOK_SECRET).unwrap();
    let mut config = fleet.config("secrets");
    config.source.url = Some(server.url());
    config.source.auth.token_file = Some(token_file.clone());
    config.source.poll_interval = Seconds(Duration::from_secs(1));
    config.server.webhooks.generic_secret_file = Some(secret_file);
    for (provider, secret) in PROVIDER_SECRETS {
        let file = fleet
            .repo
            .temp
            .path()
            .join(format!("{}-secret", provider.name()));
        std::fs::write(&file, secret).unwrap();
        let hooks = &mut config.server.webhooks;
        let slot = match provider {
            Provider::GitHub => &mut hooks.github_secret_file,
            Provider::GitLab => &mut hooks.gitlab_token_file,
            Provider::Gitea => &mut hooks.gitea_secret_file,
            _ => &mut hooks.bitbucket_secret_file,
        };
        *slot = Some(file);
    }
    let service = Service::start(config, client.clone());
    service.ready().await;
    wait_current(&client, &ns, &db).await;

    // A change through an OpsRequest, announced by a signed webhook...
    let bigger = Db {
        storage: "2Gi".into(),
        ..db.clone()
    };
    let commit = fleet.push(&[&bigger], "grow the disk");
    let answer = deliver_over_tcp(service.listen, Provider::Generic, WEBHOOK_SECRET, &commit).await;
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    for (provider, secret) in PROVIDER_SECRETS {
        let answer = deliver_over_tcp(service.listen, provider, secret, &commit).await;
        assert!(answer.starts_with("HTTP/1.1 202"), "{provider:?}: {answer}");
    }
    wait_current(&client, &ns, &bigger).await;
    // ...a delivery signed with the wrong secret...
    let refused = deliver_over_tcp(service.listen, Provider::Generic, WRONG_TOKEN, &commit).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    // ...and a revoked token: the source fails and says so.
    std::fs::write(&token_file, WRONG_TOKEN).unwrap();
    fleet.push(
        &[&Db {
            replicas: 2,
            ..bigger.clone()
        }],
        "not fetched",
    );
    eventually("the source failure on /status", || async {
        let status = http_get(service.listen, "/status").await;
        if status.contains("authentication refused") {
            Ok(status)
        } else {
            Err(status)
        }
    })
    .await;

    assert_clean("the log", &logs::captured());
    assert_clean("/metrics", &http_get(service.listen, "/metrics").await);
    assert_clean("/status", &http_get(service.listen, "/status").await);
    assert_clean("the cluster", &everything_in(&client, &ns).await);
    let kubeconfig = test_support::cluster().await.kubeconfig_path();
    for output in ["text", "json"] {
        let plan = std::process::Command::new(env!("CARGO_BIN_EXE_pg-gitops"))
            .args(["plan", "--output", output, "--manifests"])
            .arg(fleet.repo.work.join("fleet"))
            .env("KUBECONFIG", kubeconfig)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&plan.stdout).into_owned()
            + &String::from_utf8_lossy(&plan.stderr);
        assert!(printed.contains("vault"), "plan {output}: {printed}");
        assert_clean(&format!("plan --output {output}"), &printed);
    }
    service.stop().await;
    sim.stop().await;
}

//! kill -9 trials (issue 13): the real `pg-gitops` binary drives three databases through a
//! five-step commit each (HorizontalScaling, VolumeExpansion, VerticalScaling, UpdateVersion,
//! Reconfigure) while it is killed with SIGKILL at random moments and started again. Every
//! trial must end with every database converged, each OpsRequest created once (no duplicate
//! under another name), no step skipped, and each created only after the one before it
//! succeeded. Each trial's seed is printed, so a failing one can be replayed:
//!
//!     PG_GITOPS_CRASH_TRIALS=20 cargo test --test cluster crash_trials -- --nocapture
//!     PG_GITOPS_CRASH_SEED=<seed> cargo test --test cluster crash_trials -- --nocapture
//!
//! `scripts/test` runs 2 trials; docs/reliability.md records the 20-trial run.

use std::time::Duration;

use test_support::e2e::*;

/// A small deterministic generator (xorshift64*): the seed alone replays a trial.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A duration in `[low, high)` milliseconds.
    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

async fn trial(seed: u64) {
    eprintln!("crash trial: seed {seed}");
    let mut rng = Rng(seed.max(1));
    let sim = sim_namespace("crash", Duration::from_millis(300)).await;
    let (client, ns) = (sim.client.clone(), sim.namespace.clone());
    let dbs: Vec<Db> = ["a", "b", "c"].iter().map(|n| Db::new(n)).collect();
    let fleet = Fleet::new(&ns, &dbs.iter().collect::<Vec<_>>());
    let kubeconfig = test_support::cluster()
        .await
        .kubeconfig_path()
        .to_path_buf();
    let config_file = fleet.repo.temp.path().join("config.toml");
    let mut config = fleet.config(&format!("crash-{seed}"));
    config.leader_election.enabled = true;
    config.leader_election.lease_name = format!("crash-{seed}");
    write_config(&config, &config_file);

    let start = || {
        ServiceProcess::start(
            env!("CARGO_BIN_EXE_pg-gitops"),
            &config_file,
            &kubeconfig,
            None,
        )
    };
    let mut service = start();
    for db in &dbs {
        wait_current(&client, &ns, db).await;
    }
    let changed: Vec<Db> = dbs.iter().map(Db::five_changes).collect();
    fleet.push(&changed.iter().collect::<Vec<_>>(), "five changes each");
    // Six kills at random moments of the sequences, each followed by a restart.
    for kill in 0..6 {
        tokio::time::sleep(rng.millis(300, 2_500)).await;
        service.kill_9();
        eprintln!("crash trial {seed}: kill {kill}");
        tokio::time::sleep(rng.millis(0, 1_000)).await;
        service = start();
    }
    for db in &changed {
        wait_current(&client, &ns, db).await;
        let ops = ops_of(&client, &ns, &db.name).await;
        assert_eq!(ops.len(), 5, "seed {seed}: {}: {ops:#?}", db.name);
        assert_one_after_another(&sim.timeline, &ops, &FIVE_STEPS).await;
        for o in &ops {
            assert_eq!(phase_of(o), "Successful", "seed {seed}: {o:#}");
        }
    }
    service.kill_9();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_never_duplicates_skips_or_reorders_a_step() {
    let seeds: Vec<u64> = match std::env::var("PG_GITOPS_CRASH_SEED") {
        Ok(seed) => vec![seed.parse().expect("a seed")],
        Err(_) => {
            let trials: u64 = std::env::var("PG_GITOPS_CRASH_TRIALS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(2);
            let base = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            (0..trials).map(|i| base * 1000 + i).collect()
        }
    };
    for seed in seeds {
        trial(seed).await;
    }
}

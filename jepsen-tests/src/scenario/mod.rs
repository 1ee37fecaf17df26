//! Runs: a fresh cluster (3 masters in namespaces) and stand-in slaves, the cron workload for
//! the whole run, fault windows injected repeatedly (install, hold a seeded few seconds, heal,
//! recover), then a final heal, final reads, a pause of everything, a convergence sample, and
//! the checkers. Each run writes `results.json`, `history.jsonl`, node logs and `report.html`.
//!
//! - here: [`run`] (one run, start to verdict) and [`smoke`] (the short set);
//! - [`plan`]: what a run is made of ([`RunConfig`]), scenario names, rounds, the smoke set;
//! - [`env`]: the system under test brought up and torn down, the observed leader;
//! - [`alerting`]: at the end, waiting for the failover mail owed so far (and the alerts
//!   honesty injection);
//! - [`inject`]: the fault windows (install, hold, heal; masters by the nemesis, slaves by
//!   the stand-ins);
//! - [`results`]: judging the history, `results.json` and `report.html`, re-judging a stored run.
//!
//! Imports go one way: `plan` ← `env` ← `inject` ← here, `env` ← `alerting` ← here, and
//! `plan` ← `results` ← here.

pub mod alerting;
pub mod env;
pub mod inject;
pub mod plan;
pub mod results;

use std::path::Path;
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use self::env::wait_stable;
use self::env::Env;
pub use self::plan::RunConfig;
pub use self::plan::Scenario;
pub use self::results::combine;
pub use self::results::recheck;
pub use self::results::results_json;
use crate::history::Event;
use crate::realslave;
use crate::workload;
use crate::workload::Rng;

/// The workload and the fault windows, until `cfg.time` has passed; then the final heal,
/// reads, pause of everything, convergence samples and the wait for owed alert mail.
async fn drive(env: &mut Env, cfg: &RunConfig, rng: &mut Rng) -> anyhow::Result<()> {
    wait_stable(&env.rec, env.net.hosts.len(), 0, Duration::from_secs(30)).await?;
    let pool = workload::setup(&env.api, &env.rec, &env.standins, env.real.as_ref(), env.mail.as_ref(), rng).await?;
    let began = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clients: Vec<_> = (1..=cfg.clients as u32)
        .map(|p| {
            let seed = rng.next_u64();
            tokio::spawn(workload::client(env.api.clone(), env.rec.clone(), pool.clone(), p, seed, stop_rx.clone()))
        })
        .collect();
    let result = inject::fault_windows(env, cfg, rng, began).await;
    let _ = stop_tx.send(true);
    for c in clients {
        let _ = c.await;
    }
    env.rec.push(Event::WorkloadEnd { at_ms: env.rec.now() });
    result?;
    inject::heal_everything(env).await?;
    let healed = env.rec.now();
    wait_stable(&env.rec, env.net.hosts.len(), healed, Duration::from_secs(30)).await?;
    env.rec.push(Event::FinalReads { at_ms: env.rec.now() });
    let deadline = Instant::now() + Duration::from_secs(30);
    workload::final_reads(&env.api, &env.rec, &pool, rng, deadline).await?;
    workload::pause_all(&env.api, &env.rec, rng, deadline).await?;
    workload::converge(&env.api, &env.rec, Instant::now() + Duration::from_secs(30)).await;
    alerting::settle(env, cfg, Instant::now() + Duration::from_secs(30)).await?;
    Ok(())
}

/// One run; writes its files into `cfg.out` and returns its results. A run that stops early
/// is still judged (with a `run` verdict that says why).
pub async fn run(cfg: &RunConfig) -> anyhow::Result<Value> {
    let mut env = Env::start(cfg).await?;
    let mut rng = Rng::new(cfg.seed);
    let outcome = drive(&mut env, cfg, &mut rng).await;
    let rec = env.finish(&cfg.out).await;
    if let Err(e) = &outcome {
        rec.push(Event::RunError { at_ms: rec.now(), message: format!("{e:#}") });
    }
    let mut h = rec.snapshot();
    h.events.sort_by_key(Event::at_ms);
    std::fs::write(cfg.out.join("history.jsonl"), h.to_jsonl())?;
    results::judge(&h, cfg, &cfg.out)
}

/// The smoke set ([`plan::smoke_runs`]): leader kill, leader pause, leader-in-minority, each
/// with the cron workload for a short run and one fault window. Writes `out/results.json` and
/// `out/report.html` over the three (each scenario's own files are in `out/<scenario>/`). The
/// real slave's Python is looked for once, for all three.
pub async fn smoke(out: &Path) -> anyhow::Result<Value> {
    let python = realslave::find_python().ok();
    let mut scenarios = Vec::new();
    for mut cfg in plan::smoke_runs(out) {
        cfg.python = python.clone();
        scenarios.push(run(&cfg).await?);
    }
    let results = combine(&scenarios);
    results::write_combined(out, &results)?;
    Ok(results)
}

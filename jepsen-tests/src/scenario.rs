//! Runs: a fresh cluster (3 masters in namespaces) and stand-in slaves, the cron workload for
//! the whole run, fault windows injected repeatedly (install, hold a seeded few seconds, heal,
//! recover), then a final heal, final reads, a pause of everything, a convergence sample, and
//! the checkers. Each run writes `results.json`, `history.jsonl`, node logs and `report.html`.
//!
//! Faults go through [`install`]/[`heal`] with an [`Installed`] record, the shape the
//! nemesis module's `Nemesis::install(kind) -> Installed` / `heal()` follows, so richer
//! nemeses slot in as more [`FaultKind`]s.

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

use serde_json::json;
use serde_json::Value;

use crate::checker;
use crate::checker::Bounds;
use crate::client::Api;
use crate::client::Recorder;
use crate::cluster::Cluster;
use crate::history::Event;
use crate::nemesis::Fault;
use crate::nemesis::Nemesis;
use crate::net::Net;
use crate::realslave;
use crate::realslave::RealSlave;
use crate::standin::FaultMode;
use crate::standin::StandIn;
use crate::workload;
use crate::workload::Rng;

/// Scenario families: the kinds of one nemesis, injected in seeded shuffled rounds, for long
/// runs per family (`run --scenario partition`).
pub const FAMILIES: [(&str, &[&str]); 6] = [
    ("process", &["kill-leader", "kill-random", "kill-all", "pause-leader", "pause-random"]),
    ("partition", &["isolate-leader", "leader-minority", "leader-majority", "majority-ring", "bridge", "one-way"]),
    ("proxy", &["proxy-delay", "proxy-stall", "proxy-drop-after"]),
    ("clock", &["clock-bump", "clock-strobe"]),
    ("membership", &["membership-re-add", "membership-re-add:leader"]),
    ("slave", &["slave-5xx", "slave-slow", "slave-ambiguous"]),
];

/// The faults a run can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// SIGKILL of the leader; restarted from its data dir at the heal.
    LeaderKill,
    /// SIGSTOP of the leader (longer than the election timeout); SIGCONT at the heal.
    LeaderPause,
    /// The leader cut off from both other masters (it is the minority).
    LeaderMinority,
    /// One stand-in answers `schedule.json` with 503.
    Slave5xx,
    /// One stand-in starts the job and answers after the master's dispatch timeout.
    SlaveSlow,
    /// One stand-in starts the job and drops the connection (ambiguous dispatch).
    SlaveAmbiguous,
    /// Any other master fault of the nemesis module (partition shapes, per-link proxy faults,
    /// clock bumps and strobes, kill/pause of a random master or of all, membership re-add).
    Master(Fault),
}

impl FaultKind {
    pub const BASIC: [FaultKind; 6] = [
        FaultKind::LeaderKill,
        FaultKind::LeaderPause,
        FaultKind::LeaderMinority,
        FaultKind::Slave5xx,
        FaultKind::SlaveSlow,
        FaultKind::SlaveAmbiguous,
    ];

    /// Every kind: the basic six and every other nemesis fault (with default parameters).
    pub fn all() -> Vec<FaultKind> {
        let basic = Self::BASIC.map(|k| k.name());
        Self::BASIC
            .into_iter()
            .chain(Fault::ALL.into_iter().filter(|f| !basic.contains(&f.name())).map(FaultKind::Master))
            .collect()
    }

    /// The name recorded in the history: the nemesis spelling, parameters included.
    pub fn label(self) -> String {
        match self {
            FaultKind::Master(f) => f.to_string(),
            other => other.name().to_string(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Master(f) => f.name(),
            FaultKind::LeaderKill => "kill-leader",
            FaultKind::LeaderPause => "pause-leader",
            FaultKind::LeaderMinority => "leader-minority",
            FaultKind::Slave5xx => "slave-5xx",
            FaultKind::SlaveSlow => "slave-slow",
            FaultKind::SlaveAmbiguous => "slave-ambiguous",
        }
    }

    /// The kinds a scenario name stands for: one kind by its name (nemesis parameters allowed,
    /// e.g. `proxy-delay:200`), a family of [`FAMILIES`], `mixed` for all, or `mixed-basic` for
    /// the basic six.
    pub fn for_scenario(name: &str) -> Option<Vec<FaultKind>> {
        match name {
            "mixed" => return Some(Self::all()),
            "mixed-basic" => return Some(Self::BASIC.to_vec()),
            _ => {}
        }
        if let Some((_, kinds)) = FAMILIES.iter().find(|(family, _)| *family == name) {
            return kinds.iter().map(|k| Self::for_scenario(k).and_then(|v| v.first().copied())).collect();
        }
        if let Some(k) = Self::BASIC.iter().find(|k| k.name() == name) {
            return Some(vec![*k]);
        }
        name.parse::<Fault>().ok().map(|f| vec![FaultKind::Master(f)])
    }

    fn needs_proxies(self) -> bool {
        matches!(self, FaultKind::Master(Fault::ProxyDelay { .. } | Fault::ProxyStall | Fault::ProxyDropAfter { .. }))
    }
}

/// What an install did: whether the fault is in place, and on which target (a master's index,
/// or a stand-in's index for slave faults).
#[derive(Debug, Clone)]
pub struct Installed {
    pub kind: FaultKind,
    pub installed: bool,
    pub targets: Vec<u8>,
    pub detail: String,
}

/// What a run is made of.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub scenario: String,
    pub seed: u64,
    /// How long the workload runs (fault windows included).
    pub time: Duration,
    pub out: PathBuf,
    pub faults: Vec<FaultKind>,
    /// Time before the first fault and after each heal, ms (seeded range).
    pub recover_ms: (u64, u64),
    /// How long each fault is held, ms (seeded range).
    pub hold_ms: (u64, u64),
    pub slaves: usize,
    pub clients: usize,
    pub bounds: Bounds,
    /// The honesty self-test: the harness records a duplicate start of its own.
    pub inject_duplicate: bool,
}

impl RunConfig {
    pub fn new(scenario: &str, faults: Vec<FaultKind>, seed: u64, time: Duration, out: &Path) -> Self {
        RunConfig {
            scenario: scenario.to_string(),
            seed,
            time,
            out: out.to_path_buf(),
            faults,
            recover_ms: (6_000, 10_000),
            hold_ms: (2_000, 6_000),
            slaves: 2,
            clients: 3,
            bounds: Bounds::default(),
            inject_duplicate: false,
        }
    }
}

/// The system under test and the harness around it.
struct Env {
    net: Net,
    cluster: Cluster,
    nemesis: Nemesis,
    /// The nemesis's random choices (targets, clock offsets), seeded from the run's seed.
    nemesis_rng: rand::rngs::StdRng,
    standins: Vec<StandIn>,
    /// A real spider-slave, when one could be started (see [`crate::realslave`]).
    real: Option<RealSlave>,
    rec: Recorder,
    api: Api,
}

/// Polls every master's `/healthz` into the history until `stop` turns true.
async fn observe(api: Api, rec: Recorder, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        for (i, _) in &api.masters {
            if let Some(v) = api.health(*i).await {
                rec.push(Event::Observed {
                    at_ms: rec.now(),
                    node: *i,
                    state: v["state"].as_str().unwrap_or_default().to_string(),
                    term: v["term"].as_u64().unwrap_or(0),
                    leader: v["leader_id"].as_u64(),
                    applied: v["last_applied"].as_u64(),
                });
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// The leader of the highest term among observations since `since_ms`.
fn leader_since(rec: &Recorder, since_ms: u64) -> Option<u8> {
    rec.read(|h| {
        h.events
            .iter()
            .filter_map(|e| match e {
                Event::Observed { at_ms, node, state, term, .. } if *at_ms >= since_ms && state == "Leader" => {
                    Some((*term, *node))
                }
                _ => None,
            })
            .max()
            .map(|(_, n)| n)
    })
}

/// Waits until every master, observed after `since_ms`, follows one leader in one term.
async fn wait_stable(rec: &Recorder, masters: usize, since_ms: u64, timeout: Duration) -> anyhow::Result<u8> {
    let deadline = Instant::now() + timeout;
    loop {
        let agreed = rec.read(|h| {
            let mut last = std::collections::BTreeMap::new();
            for e in &h.events {
                if let Event::Observed { at_ms, node, term, leader, .. } = e {
                    if *at_ms >= since_ms {
                        last.insert(*node, (*term, *leader));
                    }
                }
            }
            let first = last.values().next().copied();
            (last.len() == masters && last.values().all(|v| Some(*v) == first)).then_some(first).flatten()
        });
        if let Some((_, Some(l))) = agreed {
            return Ok(l as u8);
        }
        anyhow::ensure!(Instant::now() < deadline, "the masters did not agree on a leader within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Installs `kind`; records it (installed or skipped) in the history, one event per target.
async fn install(env: &mut Env, kind: FaultKind, rng: &mut Rng) -> Installed {
    let now = env.rec.now();
    let leader = leader_since(&env.rec, now.saturating_sub(500));
    if let FaultKind::Master(f) = kind {
        let i = env.nemesis.install(&f, &env.net, &mut env.cluster, leader, &mut env.nemesis_rng).await;
        let at_ms = env.rec.now();
        let targets = if i.targets.is_empty() { vec![0] } else { i.targets.clone() };
        for t in &targets {
            env.rec.push(Event::Fault { at_ms, kind: kind.label(), target: *t, installed: i.installed });
        }
        return Installed { kind, installed: i.installed, targets, detail: i.detail };
    }
    let slave = rng.range(1, env.standins.len().max(1) as u64) as u8;
    let (target, result) = match kind {
        FaultKind::LeaderKill | FaultKind::LeaderPause | FaultKind::LeaderMinority => match leader {
            None => (0, Err(anyhow::anyhow!("no leader observed in the last 500 ms"))),
            Some(l) => (
                l,
                match kind {
                    FaultKind::LeaderKill => env.cluster.kill(l),
                    FaultKind::LeaderPause => env.cluster.pause(l),
                    _ => env.net.isolate(l),
                },
            ),
        },
        // Installed by the nemesis above.
        FaultKind::Master(_) => (0, Err(anyhow::anyhow!("a nemesis fault reached the basic installer"))),
        FaultKind::Slave5xx | FaultKind::SlaveSlow | FaultKind::SlaveAmbiguous => {
            let mode = match kind {
                FaultKind::Slave5xx => FaultMode::Error5xx,
                FaultKind::SlaveSlow => FaultMode::Slow,
                _ => FaultMode::Ambiguous,
            };
            match env.standins.get(slave as usize - 1) {
                Some(s) => {
                    s.set_mode(mode);
                    (slave, Ok(()))
                }
                None => (slave, Err(anyhow::anyhow!("no stand-in {slave}"))),
            }
        }
    };
    let installed = result.is_ok();
    env.rec.push(Event::Fault { at_ms: env.rec.now(), kind: kind.label(), target, installed });
    Installed {
        kind,
        installed,
        targets: vec![target],
        detail: result.err().map(|e| e.to_string()).unwrap_or_default(),
    }
}

/// Removes an installed fault; records the heal.
async fn heal(env: &mut Env, i: &Installed) -> anyhow::Result<()> {
    if !i.installed {
        return Ok(());
    }
    if let FaultKind::Master(_) = i.kind {
        let healed = env.nemesis.heal(&env.net, &mut env.cluster).await;
        let failed: Vec<String> =
            healed.iter().filter(|h| !h.healed).map(|h| format!("{}: {}", h.fault, h.detail)).collect();
        anyhow::ensure!(failed.is_empty(), "could not heal {failed:?}");
        for t in &i.targets {
            env.rec.push(Event::Healed { at_ms: env.rec.now(), kind: i.kind.label(), target: *t });
        }
        return Ok(());
    }
    for t in &i.targets {
        match i.kind {
            FaultKind::LeaderKill => env.cluster.launch(&env.net, *t)?,
            FaultKind::LeaderPause => env.cluster.resume(*t)?,
            FaultKind::LeaderMinority => env.net.heal()?,
            // Healed by the nemesis above.
            FaultKind::Master(_) => {}
            FaultKind::Slave5xx | FaultKind::SlaveSlow | FaultKind::SlaveAmbiguous => {
                if let Some(s) = env.standins.get(*t as usize - 1) {
                    s.set_mode(FaultMode::Healthy);
                }
            }
        }
        env.rec.push(Event::Healed { at_ms: env.rec.now(), kind: i.kind.label(), target: *t });
    }
    Ok(())
}

/// Everything healed, whatever state the run was left in.
async fn heal_everything(env: &mut Env) -> anyhow::Result<()> {
    let _ = env.nemesis.heal(&env.net, &mut env.cluster).await;
    env.net.heal()?;
    for s in &env.standins {
        s.set_mode(FaultMode::Healthy);
    }
    for h in env.net.hosts.clone() {
        if env.cluster.procs.contains_key(&h.index) {
            let _ = env.cluster.resume(h.index);
        } else {
            env.cluster.launch(&env.net, h.index)?;
        }
    }
    Ok(())
}

/// The workload and the fault windows, until `cfg.time` has passed; then the final heal,
/// reads, pause of everything and convergence samples.
async fn drive(env: &mut Env, cfg: &RunConfig, rng: &mut Rng) -> anyhow::Result<()> {
    wait_stable(&env.rec, env.net.hosts.len(), 0, Duration::from_secs(30)).await?;
    let pool = workload::setup(&env.api, &env.rec, &env.standins, env.real.as_ref(), rng).await?;
    let began = Instant::now();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clients: Vec<_> = (1..=cfg.clients as u32)
        .map(|p| {
            let seed = rng.next_u64();
            tokio::spawn(workload::client(env.api.clone(), env.rec.clone(), pool.clone(), p, seed, stop_rx.clone()))
        })
        .collect();
    let mut duplicated = !cfg.inject_duplicate;
    let mut queue: Vec<FaultKind> = Vec::new();
    let result = async {
        loop {
            let recover = Duration::from_millis(rng.range(cfg.recover_ms.0, cfg.recover_ms.1));
            if began.elapsed() + recover > cfg.time {
                break;
            }
            tokio::time::sleep(recover).await;
            if !duplicated {
                duplicated = env.standins.iter().find_map(StandIn::inject_duplicate_start).is_some();
            }
            // Kinds come in seeded shuffled rounds, so every kind is installed once per round.
            if queue.is_empty() {
                queue = cfg.faults.clone();
                for i in (1..queue.len()).rev() {
                    queue.swap(i, rng.range(0, i as u64) as usize);
                }
            }
            let Some(kind) = queue.pop() else { continue };
            let hold = Duration::from_millis(rng.range(cfg.hold_ms.0, cfg.hold_ms.1));
            if began.elapsed() + hold + Duration::from_millis(cfg.recover_ms.0) > cfg.time {
                break;
            }
            let hold = match kind {
                FaultKind::Master(f) => hold.max(f.min_hold()),
                _ => hold,
            };
            let installed = install(env, kind, rng).await;
            tracing::info!(fault = %kind.label(), installed = installed.installed, detail = %installed.detail, "fault");
            tokio::time::sleep(hold).await;
            heal(env, &installed).await?;
        }
        if began.elapsed() < cfg.time {
            tokio::time::sleep(cfg.time - began.elapsed()).await;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = stop_tx.send(true);
    for c in clients {
        let _ = c.await;
    }
    env.rec.push(Event::WorkloadEnd { at_ms: env.rec.now() });
    result?;
    heal_everything(env).await?;
    let healed = env.rec.now();
    wait_stable(&env.rec, env.net.hosts.len(), healed, Duration::from_secs(30)).await?;
    env.rec.push(Event::FinalReads { at_ms: env.rec.now() });
    let deadline = Instant::now() + Duration::from_secs(30);
    workload::final_reads(&env.api, &env.rec, &pool, rng, deadline).await?;
    workload::pause_all(&env.api, &env.rec, rng, deadline).await?;
    workload::converge(&env.api, &env.rec, Instant::now() + Duration::from_secs(30)).await;
    Ok(())
}

/// Appends `panicked at` lines of the masters' logs to the history.
fn scan_logs(out: &Path, masters: u8, rec: &Recorder) {
    for i in 1..=masters {
        let text = std::fs::read_to_string(out.join(format!("n{i}.log"))).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("panicked at")) {
            rec.push(Event::Panic { node: i, line: line.chars().take(300).collect() });
        }
    }
}

/// One run; writes its files into `cfg.out` and returns its results.
pub async fn run(cfg: &RunConfig) -> anyhow::Result<Value> {
    std::fs::create_dir_all(&cfg.out)?;
    let net = Net::create(3)?;
    // Proxies only when a proxy fault is asked for: they add a hop to every Raft message.
    let nemesis =
        if cfg.faults.iter().any(|k| k.needs_proxies()) { Nemesis::with_proxies(&net).await? } else { Nemesis::new() };
    let cluster = Cluster::start(&net, &cfg.out)?;
    let mut standins = Vec::new();
    for i in 1..=cfg.slaves {
        standins.push(StandIn::start(&format!("s{i}"), &net.bridge_ip, cfg.bounds.job_ms).await?);
    }
    let real = match realslave::locate(&cluster.bin) {
        Ok((bin, python)) => Some(RealSlave::start(&bin, &python, &net.bridge_ip, &cfg.out.join("real-slave"))?),
        Err(why) => {
            tracing::warn!(%why, "no real spider-slave in this run");
            None
        }
    };
    let masters: Vec<(u8, String)> = net.hosts.iter().map(|h| (h.index, Cluster::url(&net, h.index))).collect();
    let api = Api::new(masters, Duration::from_secs(3))?;
    let rec = Recorder::new(cfg.seed, &cfg.scenario, cfg.faults.iter().map(|k| k.label()).collect());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let observer =
        tokio::spawn(observe(Api::new(api.masters.clone(), Duration::from_millis(300))?, rec.clone(), stop_rx));
    let nemesis_rng = rand::SeedableRng::seed_from_u64(cfg.seed ^ 0x006e_656d_6573_6973);
    let mut env = Env { net, cluster, nemesis, nemesis_rng, standins, real, rec: rec.clone(), api };
    let mut rng = Rng::new(cfg.seed);
    let outcome = drive(&mut env, cfg, &mut rng).await;
    let _ = stop_tx.send(true);
    let _ = observer.await;
    let start_unix = rec.read(|h| h.start_unix_ms());
    for s in &env.standins {
        for d in s.deliveries() {
            rec.push(Event::Delivery { at_ms: d.unix_ms.saturating_sub(start_unix), d });
        }
    }
    if let Some(r) = &env.real {
        match r.runs() {
            Ok(runs) => {
                for d in runs {
                    rec.push(Event::Delivery { at_ms: d.unix_ms.saturating_sub(start_unix), d });
                }
            }
            Err(e) => {
                rec.push(Event::RunError { at_ms: rec.now(), message: format!("the real slave's run log: {e:#}") })
            }
        }
    }
    let Env { net, cluster, nemesis, real, .. } = env;
    drop(real);
    drop(cluster);
    drop(nemesis);
    drop(net);
    scan_logs(&cfg.out, 3, &rec);

    if let Err(e) = &outcome {
        rec.push(Event::RunError { at_ms: rec.now(), message: format!("{e:#}") });
    }
    let mut h = rec.snapshot();
    h.events.sort_by_key(Event::at_ms);
    std::fs::write(cfg.out.join("history.jsonl"), h.to_jsonl())?;
    let checked = checker::check_all(&h, &cfg.bounds);
    let results = results_json(&checked, cfg);
    std::fs::write(cfg.out.join("results.json"), serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(cfg.out.join("report.html"), crate::report::html(&results, &h, &checked))?;
    Ok(results)
}

/// `results.json` of one run.
pub fn results_json(checked: &checker::Checked, cfg: &RunConfig) -> Value {
    let valid = checked.valid();
    json!({
        "valid": match valid { Some(v) => json!(v), None => json!("unknown") },
        "faults_injected": checked.faults_injected,
        "fires_checked": checked.fires_checked,
        "anomalies": checked.anomalies(),
        "checkers": checked.verdicts,
        "seed": cfg.seed,
        "scenario": cfg.scenario,
        "time_s": cfg.time.as_secs(),
        "time_to_new_leader_ms": checked.time_to_new_leader_ms,
        "lateness_ms": {"steady": checked.lateness.steady, "in_fault_windows": checked.lateness.after_faults},
        "per_fault": checked.per_fault,
        "by_kind": checked.by_kind,
        "bounds": cfg.bounds,
    })
}

/// Judges a stored run again (`history.jsonl` in `dir`), rewriting its results and report:
/// for checker changes, and to look at a run's verdicts without rerunning it.
pub fn recheck(dir: &Path) -> anyhow::Result<Value> {
    let h = crate::history::History::from_jsonl(&std::fs::read_to_string(dir.join("history.jsonl"))?)?;
    let (seed, scenario) = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::Start { seed, scenario, .. } => Some((*seed, scenario.clone())),
            _ => None,
        })
        .unwrap_or((0, "?".into()));
    let end = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::WorkloadEnd { at_ms } => Some(*at_ms),
            _ => None,
        })
        .next();
    let cfg = RunConfig::new(&scenario, vec![], seed, Duration::from_millis(end.unwrap_or(0)), dir);
    let checked = checker::check_all(&h, &cfg.bounds);
    let results = results_json(&checked, &cfg);
    std::fs::write(dir.join("results.json"), serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(dir.join("report.html"), crate::report::html(&results, &h, &checked))?;
    Ok(results)
}

/// The smoke set: leader kill, leader pause, leader-in-minority, each with the cron workload
/// for a short run and one fault window. Writes `out/results.json` and `out/report.html` over
/// the three (each scenario's own files are in `out/<scenario>/`).
pub async fn smoke(out: &Path) -> anyhow::Result<Value> {
    let mut scenarios = Vec::new();
    for kind in [FaultKind::LeaderKill, FaultKind::LeaderPause, FaultKind::LeaderMinority] {
        let mut cfg = RunConfig::new(kind.name(), vec![kind], 1, Duration::from_secs(24), &out.join(kind.name()));
        cfg.recover_ms = (8_000, 8_000);
        cfg.hold_ms = (4_000, 4_000);
        scenarios.push(run(&cfg).await?);
    }
    let results = combine(&scenarios);
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(out.join("report.html"), crate::report::summary_html(&results))?;
    Ok(results)
}

/// One results object over several runs: checkers named `<scenario>/<checker>`.
pub fn combine(scenarios: &[Value]) -> Value {
    let mut checkers = serde_json::Map::new();
    let mut verdicts = Vec::new();
    for s in scenarios {
        for (name, v) in s["checkers"].as_object().into_iter().flatten() {
            checkers.insert(format!("{}/{name}", s["scenario"].as_str().unwrap_or("?")), v.clone());
            verdicts.push(checker::Verdict {
                valid: v["valid"].as_bool(),
                details: v["details"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    let sum = |k: &str| scenarios.iter().map(|s| s[k].as_u64().unwrap_or(0)).sum::<u64>();
    json!({
        "valid": match checker::overall(&verdicts) { Some(v) => json!(v), None => json!("unknown") },
        "faults_injected": sum("faults_injected"),
        "fires_checked": sum("fires_checked"),
        "anomalies": sum("anomalies"),
        "checkers": checkers,
        "seed": scenarios.first().map(|s| s["seed"].clone()).unwrap_or(json!(0)),
        "scenarios": scenarios,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_cover_every_fault_kind_once() {
        let all = FaultKind::all();
        assert_eq!(
            all.len(),
            6 + Fault::ALL.len() - 3,
            "the nemesis spells kill-leader, pause-leader, leader-minority too"
        );
        let labels: std::collections::BTreeSet<String> = all.iter().map(|k| k.label()).collect();
        assert_eq!(labels.len(), all.len(), "no kind twice: {labels:?}");
        assert_eq!(FaultKind::for_scenario("kill-leader"), Some(vec![FaultKind::LeaderKill]));
        assert_eq!(
            FaultKind::for_scenario("proxy-delay:150"),
            Some(vec![FaultKind::Master(Fault::ProxyDelay { ms: 150 })])
        );
        assert!(FaultKind::for_scenario("proxy-delay:150").is_some_and(|k| k[0].needs_proxies()));
        assert_eq!(FaultKind::for_scenario("mixed-basic").map(|k| k.len()), Some(6));
        assert_eq!(FaultKind::for_scenario("earthquake"), None);
    }

    #[test]
    fn the_families_split_every_kind_between_them() {
        let mut labels = std::collections::BTreeSet::new();
        for (family, kinds) in FAMILIES {
            let got = FaultKind::for_scenario(family);
            assert_eq!(got.as_ref().map(Vec::len), Some(kinds.len()), "{family}");
            for k in got.into_iter().flatten() {
                assert!(labels.insert(k.label()), "{} in two families", k.label());
            }
        }
        let all: std::collections::BTreeSet<String> = FaultKind::all().iter().map(|k| k.label()).collect();
        assert!(all.is_subset(&labels), "kinds in no family: {:?}", all.difference(&labels).collect::<Vec<_>>());
    }
}

//! Scheduler benchmark (run by hand, not a test):
//!
//! ```text
//! cargo run --release -p cluster-harness --example sched_bench -- [--schedules 1000,10000] [--seconds 60] [--kills 20]
//! ```
//!
//! Starts the harness's in-process cluster of 3 masters on loopback ([`TestCluster`], with the
//! default Raft and slave timings instead of the tests' fast ones) and `--slaves` recording
//! stand-in slaves ([`cluster_harness::stand_in`]: a tiny Scrapyd-compatible axum server that
//! records when each `schedule.json` arrives), registered with a large `max_proc`.
//!
//! 1. **Fire lateness.** For each N of `--schedules`, on a fresh cluster: N schedules with a
//!    6-field cron, schedule i firing at second `i % 60` of every minute (N/60 fires per second),
//!    misfire `fire_once`. After `--seconds` of run it prints, over the ticks of the window,
//!    lateness = (time the stand-in received `schedule.json`) − tick, p50/p99/max, fires/s, ticks
//!    missed (expected vs received), duplicates and the ledger's view (fired / skipped / pending).
//! 2. **Failover lateness.** On a fresh cluster with `--failover-schedules` every-second schedules
//!    (misfire `fire_all`, so the first tick after a failover is fired, not covered): `--kills` times
//!    the leader is stopped abruptly (in-process: its `RunningMaster` shut down, sockets closed,
//!    no leadership hand-over) and restarted once a new leader delivered. Per failover: time to a
//!    new leader, and the lateness of the first tick after the kill (worst over the schedules).
//!
//! Each figure is printed with its ratio to the goal of issue 5 (p99 ≤ 20 ms at 10k schedules,
//! ≤ 200 ms at 100k; failover p99 ≤ 1 s).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::HashSet;
use std::time::Duration;
use std::time::Instant;

use clap::Parser;
use cluster_harness::now_ms;
use cluster_harness::stand_in;
use cluster_harness::stand_in::start_stand_in;
use cluster_harness::stand_in::Rec;
use cluster_harness::stand_in::Recorder;
use cluster_harness::TestCluster;
use futures::StreamExt;
use master::config::MasterConfig;
use master::propose::ProposeError;
use master::propose::Proposed;
use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::MisfirePolicy;
use raft_store::state::ScheduleSpec;
use raft_store::state::Trigger;
use raft_store::Applied;
use raft_store::Command;

#[derive(Parser, Debug)]
#[command(about = "Scheduler fire lateness and failover lateness on an in-process 3-master cluster")]
struct Args {
    /// Schedule counts to measure, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    schedules: Vec<usize>,
    /// Measured window per schedule count, seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Leader kills in the failover run (0 skips it).
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Every-second schedules running during the failover run.
    #[arg(long, default_value_t = 20)]
    failover_schedules: usize,
    /// Stand-in slaves.
    #[arg(long, default_value_t = 2)]
    slaves: usize,
    /// Schedule creations in flight.
    #[arg(long, default_value_t = 64)]
    create_concurrency: usize,
}

/// The bench runs the default (production) Raft and slave timings, not the tests' fast ones.
fn production_timings(c: &mut MasterConfig) {
    c.raft = Default::default();
    c.slaves = Default::default();
    c.max_egg_bytes = 32 * 1024 * 1024;
}

/// Starts a fresh 3-master cluster with [`production_timings`].
async fn start_cluster() -> TestCluster {
    TestCluster::start(3, production_timings).await
}

/// Creates the schedules, `concurrency` proposals in flight; returns their ids in order.
async fn create(cluster: &TestCluster, specs: Vec<ScheduleSpec>, concurrency: usize) -> Vec<String> {
    let leader = cluster.try_leader(Duration::from_secs(30)).await.expect("a leader");
    let node = cluster.master(leader).clone();
    let ids: Vec<(usize, String)> = futures::stream::iter(specs.into_iter().enumerate())
        .map(|(i, spec)| {
            let node = node.clone();
            async move {
                // An election under the creation load (3 masters share this process's
                // cores) answers NoLeader, which is never committed: wait and resend.
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    match node.proposer.propose(Command::CreateSchedule { spec: spec.clone() }).await {
                        Ok(Proposed { applied: Applied::Schedule { id, .. }, .. }) => return (i, id),
                        Err(ProposeError::NoLeader) if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(100)).await
                        }
                        other => panic!("create schedule: {other:?}"),
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut ids = ids;
    ids.sort();
    ids.into_iter().map(|(_, id)| id).collect()
}

// ---- figures ----------------------------------------------------------------------------------

fn spec(expr: String, misfire: MisfirePolicy) -> ScheduleSpec {
    ScheduleSpec {
        project: "bench".into(),
        spider: "noop".into(),
        egg_version: None,
        args: BTreeMap::new(),
        settings: BTreeMap::new(),
        priority: 0,
        node_selector: vec![],
        trigger: Trigger::Cron { expr, timezone: "UTC".into() },
        misfire,
        overlap: Default::default(),
    }
}

/// The tick a deterministic job id (`<schedule>-t<tick>`) stands for.
fn split_job(job: &str) -> Option<(&str, i64)> {
    let (sid, t) = job.rsplit_once("-t")?;
    Some((sid, t.parse().ok()?))
}

#[derive(Debug, Clone, Copy, Default)]
struct Pcts {
    p50: f64,
    p99: f64,
    max: f64,
}

fn pcts(mut v: Vec<f64>) -> Pcts {
    if v.is_empty() {
        return Pcts::default();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Pcts { p50: at(0.50), p99: at(0.99), max: *v.last().expect("non-empty") }
}

fn goal_p99_ms(n: usize) -> Option<f64> {
    match n {
        10_000 => Some(20.0),
        100_000 => Some(200.0),
        _ => None,
    }
}

struct SizeResult {
    n: usize,
    create_s: f64,
    lateness: Pcts,
    expected: usize,
    received: usize,
    missed: usize,
    duplicates: usize,
    fires_per_s: f64,
    ledger: String,
}

async fn run_size(args: &Args, n: usize) -> SizeResult {
    eprintln!("== {n} schedules: starting a 3-master cluster and {} stand-in slaves", args.slaves);
    let rec: Rec = Default::default();
    let cluster = start_cluster().await;
    let mut urls = Vec::new();
    for i in 0..args.slaves.max(1) {
        urls.push(start_stand_in(&format!("s{}", i + 1), rec.clone()).await);
    }
    stand_in::register(&cluster, &urls, 1_000_000).await;
    let started = Instant::now();
    let specs: Vec<ScheduleSpec> = (0..n)
        .map(|i| spec(format!("{} * * * * *", i % 60), MisfirePolicy::FireOnce { starting_deadline_ms: 60_000 }))
        .collect();
    let ids = create(&cluster, specs, args.create_concurrency).await;
    let create_s = started.elapsed().as_secs_f64();
    eprintln!("   created {n} schedules in {create_s:.1} s ({:.0}/s)", n as f64 / create_s);
    let second_of: HashMap<&str, i64> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), (i % 60) as i64)).collect();

    // Creating N schedules wrote N log entries, so every master builds snapshots meanwhile
    // (about 15 ms each at 10k schedules, more at 100k, on the cores the 3 masters share
    // here): the window starts once none is due, so it measures the steady state. A steady
    // cluster writes a few entries per second and builds one every `snapshot_after_logs`
    // (about every 20 minutes at 10k schedules); that cost is not in these figures.
    let settled = cluster.snapshots_built(Duration::from_secs(120)).await;
    eprintln!("   snapshots of the creation built after {settled:.1} s");
    // The window: whole seconds, starting 2 s after that.
    let t0 = (now_ms() / 1000 + 2) * 1000;
    let t1 = t0 + args.seconds as i64 * 1000;
    eprintln!("   measuring {} s", args.seconds);
    let before = leader_term(&cluster).await;
    let wait = |until: i64| async move {
        let d = until - now_ms();
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d as u64)).await;
        }
    };
    wait(t1).await;
    // Late deliveries of the window's last ticks: wait until no new ones for 2 s (at most 60 s).
    let in_window =
        |r: &Recorder| r.log.iter().filter(|(_, j)| split_job(j).is_some_and(|(_, t)| t >= t0 && t < t1)).count();
    // Expected ticks: schedule i at second i % 60 of every minute in [t0, t1).
    let mut per_second: HashMap<i64, usize> = HashMap::new();
    for i in 0..n {
        *per_second.entry((i % 60) as i64).or_default() += 1;
    }
    let expected: usize = (t0 / 1000..t1 / 1000).map(|s| per_second.get(&(s % 60)).copied().unwrap_or(0)).sum();
    // Late deliveries of the window's last ticks: wait until all arrived, or none arrived for
    // 10 s (at most 60 s).
    let mut last = in_window(&rec.lock().expect("lock"));
    let mut still = 0;
    let settle_deadline = Instant::now() + Duration::from_secs(60);
    while last < expected && still < 5 && Instant::now() < settle_deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = in_window(&rec.lock().expect("lock"));
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }

    let (lateness, received, duplicates, all_received) = {
        let r = rec.lock().expect("lock");
        // Job id → (tick, first arrival).
        let mut first: HashMap<&str, (i64, i64)> = HashMap::new();
        let mut dups = 0;
        for (at, job) in &r.log {
            let Some((sid, tick)) = split_job(job) else { continue };
            if tick < t0 || tick >= t1 || !second_of.contains_key(sid) {
                continue;
            }
            match first.entry(job.as_str()) {
                std::collections::hash_map::Entry::Occupied(_) => dups += 1,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert((tick, *at));
                }
            }
        }
        let late: Vec<f64> = first.values().map(|(tick, at)| (at - tick) as f64).collect();
        // Which seconds of the window had late fires (a stall shows as one or two seconds).
        let mut slow: BTreeMap<i64, (usize, i64)> = BTreeMap::new();
        for (tick, at) in first.values() {
            let (tick, at) = (*tick, *at);
            if at - tick > 100 {
                let e = slow.entry((tick - t0) / 1000).or_default();
                e.0 += 1;
                e.1 = e.1.max(at - tick);
            }
        }
        // Each tick's burst: lateness of its first arrival (≈ the decision's commit) and the
        // span to its last (≈ delivering the burst), to tell which half makes a tail.
        let mut bursts: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for (tick, at) in first.values() {
            let e = bursts.entry(*tick).or_insert((i64::MAX, i64::MIN));
            e.0 = e.0.min(at - tick);
            e.1 = e.1.max(at - tick);
        }
        let first_late = pcts(bursts.values().map(|(f, _)| *f as f64).collect());
        let span = pcts(bursts.values().map(|(f, l)| (l - f) as f64).collect());
        eprintln!(
            "   per tick ({} bursts): first arrival p50/p99/max {:.0}/{:.0}/{:.0} ms; first to last p50/p99/max {:.0}/{:.0}/{:.0} ms",
            bursts.len(),
            first_late.p50,
            first_late.p99,
            first_late.max,
            span.p50,
            span.p99,
            span.max
        );
        if !slow.is_empty() {
            eprintln!("   seconds of the window with fires >100 ms late (second: count, worst ms): {slow:?}");
        }
        (pcts(late), first.len(), dups, r.log.len())
    };
    let after = leader_term(&cluster).await;
    eprintln!("   leader and term at the window's start {before:?}, after it {after:?}");

    // The ledger's view of the window's ticks.
    let leader = cluster.try_leader(Duration::from_secs(30)).await.expect("a leader");
    let ledger = cluster.master(leader).state.read(|s| {
        let (mut fired, mut dispatched, mut pending, mut failed, mut cancelled, mut skipped) = (0, 0, 0, 0, 0, 0);
        for sid in &ids {
            for r in s.fires_of(sid).filter(|r| r.tick_ms >= t0 && r.tick_ms < t1) {
                match &r.decision {
                    FireDecision::Fired { dispatch, .. } => {
                        fired += 1;
                        match dispatch {
                            DispatchState::Pending => pending += 1,
                            DispatchState::Dispatched { .. } => dispatched += 1,
                            DispatchState::Failed { .. } => failed += 1,
                            DispatchState::Cancelled { .. } => cancelled += 1,
                        }
                    }
                    FireDecision::Skipped { .. } => skipped += 1,
                }
            }
        }
        let (mut all, mut newest) = (0usize, i64::MIN);
        for sid in &ids {
            for r in s.fires_of(sid) {
                all += 1;
                newest = newest.max(r.tick_ms);
            }
        }
        format!(
            "fired {fired} (dispatched {dispatched}, pending {pending}, failed {failed}, cancelled {cancelled}), skipped {skipped}; \
             whole run: {all} ledger records, newest tick {:.1} s after the window's end, {all_received} schedule.json received",
            if all == 0 { f64::NAN } else { newest.saturating_sub(t1) as f64 / 1000.0 }
        )
    });
    cluster.shutdown().await;
    SizeResult {
        n,
        create_s,
        lateness,
        expected,
        received,
        missed: expected.saturating_sub(received),
        duplicates,
        fires_per_s: received as f64 / args.seconds as f64,
        ledger,
    }
}

struct FailoverResult {
    to_leader_ms: Vec<f64>,
    first_tick_late_ms: Vec<f64>,
    lost: usize,
}

async fn run_failover(args: &Args) -> FailoverResult {
    let f = args.failover_schedules.max(1);
    eprintln!("== failover: {} kills, {f} every-second schedules", args.kills);
    let rec: Rec = Default::default();
    let mut cluster = start_cluster().await;
    let mut urls = Vec::new();
    for i in 0..args.slaves.max(1) {
        urls.push(start_stand_in(&format!("s{}", i + 1), rec.clone()).await);
    }
    stand_in::register(&cluster, &urls, 1_000_000).await;
    let specs = (0..f).map(|_| spec("* * * * * *".into(), MisfirePolicy::FireAll { cap: 100 })).collect();
    let ids = create(&cluster, specs, args.create_concurrency).await;
    let ids: HashSet<String> = ids.into_iter().collect();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut out = FailoverResult { to_leader_ms: vec![], first_tick_late_ms: vec![], lost: 0 };
    for k in 0..args.kills {
        // Spread the kill over the second's phases.
        let phase = (k as i64 * 370) % 1000;
        let now = now_ms();
        let target = (now / 1000 + 1) * 1000 + phase;
        tokio::time::sleep(Duration::from_millis((target - now).max(0) as u64)).await;
        let Some(old) = cluster.try_leader(Duration::from_secs(30)).await else {
            eprintln!("   kill {k}: no leader agreed; stopping");
            break;
        };
        let kill_ms = now_ms();
        let kill_at = Instant::now();
        cluster.stop(old).await;
        let stopped_ms = kill_at.elapsed().as_secs_f64() * 1000.0;
        let Some(new) = cluster.self_declared_leader(Duration::from_secs(30)).await else {
            eprintln!("   kill {k}: no new leader within 30 s");
            out.lost += 1;
            cluster.restart(old).await;
            continue;
        };
        let to_leader = kill_at.elapsed().as_secs_f64() * 1000.0;
        // The first whole-second tick after the kill: wait for all schedules' deliveries of it.
        let first_tick = (kill_ms / 1000 + 1) * 1000;
        let deadline = Instant::now() + Duration::from_secs(30);
        let late = loop {
            let worst = {
                let r = rec.lock().expect("lock");
                let mut first: HashMap<&str, i64> = HashMap::new();
                for (at, job) in &r.log {
                    if let Some((sid, tick)) = split_job(job) {
                        if tick == first_tick && ids.contains(sid) {
                            first.entry(sid).or_insert(*at);
                        }
                    }
                }
                (first.len() == ids.len()).then(|| first.values().max().copied().unwrap_or(0) - first_tick)
            };
            if let Some(w) = worst {
                break Some(w);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        match late {
            Some(l) => {
                eprintln!(
                    "   kill {k:2}: leader {old} stopped in {stopped_ms:.0} ms, new leader {new} after {to_leader:.0} ms, first tick after the kill delivered {l} ms late"
                );
                out.to_leader_ms.push(to_leader);
                out.first_tick_late_ms.push(l as f64);
            }
            None => {
                eprintln!("   kill {k:2}: the first tick after the kill was not delivered to all within 30 s");
                out.to_leader_ms.push(to_leader);
                out.lost += 1;
            }
        }
        cluster.restart(old).await;
        // Let the restarted master catch up and be agreed on before the next kill.
        if cluster.try_leader(Duration::from_secs(30)).await.is_none() {
            eprintln!("   no leader agreed after restarting {old}");
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let dups = {
        let r = rec.lock().expect("lock");
        let mut seen = HashSet::new();
        r.log.iter().filter(|(_, j)| !seen.insert(j.clone())).count()
    };
    eprintln!("   deliveries received twice (same job id, de-duplicated by the slave): {dups}");
    cluster.shutdown().await;
    out
}

fn ratio(value: f64, goal: f64) -> String {
    format!("{:.2}× goal ({})", value / goal, if value <= goal { "met" } else { "MISSED" })
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let mut sizes = Vec::new();
    for &n in &args.schedules {
        sizes.push(run_size(&args, n).await);
    }
    let failover = if args.kills > 0 { Some(run_failover(&args).await) } else { None };

    println!();
    println!(
        "Fire lateness (stand-in received schedule.json − tick), window {} s, {} stand-in slaves",
        args.seconds, args.slaves
    );
    println!(
        "{:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>5}  vs goal (p99)",
        "sched", "create s", "fires", "fires/s", "p50 ms", "p99 ms", "max ms", "missed", "dups"
    );
    for r in &sizes {
        let goal = match goal_p99_ms(r.n) {
            _ if r.received == 0 => "MISSED: no fire of the window arrived".to_string(),
            Some(g) if r.missed > 0 => format!("{}, and {} ticks missed", ratio(r.lateness.p99, g), r.missed),
            Some(g) => ratio(r.lateness.p99, g),
            None => "no goal".into(),
        };
        println!(
            "{:>8} {:>9.1} {:>8} {:>8.1} {:>8.0} {:>8.0} {:>9.0} {:>7} {:>5}  {goal}",
            r.n,
            r.create_s,
            r.received,
            r.fires_per_s,
            r.lateness.p50,
            r.lateness.p99,
            r.lateness.max,
            r.missed,
            r.duplicates
        );
        println!("{:>8} expected ticks {}, ledger: {}", "", r.expected, r.ledger);
    }
    if let Some(f) = failover {
        let leader = pcts(f.to_leader_ms.clone());
        let late = pcts(f.first_tick_late_ms.clone());
        println!();
        println!(
            "Failover ({} leader kills, {} every-second schedules; {} without a delivered first tick)",
            f.to_leader_ms.len(),
            args.failover_schedules,
            f.lost
        );
        println!("{:>32} {:>8} {:>8} {:>8}", "", "p50 ms", "p99 ms", "max ms");
        println!("{:>32} {:>8.0} {:>8.0} {:>8.0}", "time to a new leader", leader.p50, leader.p99, leader.max);
        println!(
            "{:>32} {:>8.0} {:>8.0} {:>8.0}  {}",
            "first tick after the kill late",
            late.p50,
            late.p99,
            late.max,
            ratio(late.p99, 1000.0)
        );
    }
}

/// The leader all masters agree on, and its term (a change across a window means an election).
async fn leader_term(c: &TestCluster) -> Option<(u64, u64)> {
    let l = c.try_leader(Duration::from_secs(30)).await?;
    Some((l, c.master(l).metrics().current_term))
}

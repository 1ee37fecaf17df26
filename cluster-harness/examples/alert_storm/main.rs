//! Alert-storm benchmark of issue 16 (run by hand; prints figures, asserts nothing):
//!
//! ```text
//! cargo run --release -p cluster-harness --example alert_storm -- [--schedules 10000] [--seconds 60] [--failing-jobs 10000] [--storm-schedules 100]
//! ```
//!
//! Two phases, each on a fresh in-process cluster of 3 masters ([`TestCluster`]) with the
//! default (production) Raft, slave and alerter timings, recording stand-in slaves
//! ([`cluster_harness::stand_in`]) and the alerting of a deployment: channel `ops` to a real
//! SMTP server ([`SmtpSink`], aiosmtpd) and one rule `jobs` for `spider_error` with the default
//! group timers (wait 30 s, interval 5 min) and grouping (kind, project).
//!
//! - **A, baseline.** `--schedules` schedules, schedule i firing at second `i % 60` of every
//!   minute (as `sched_bench`); fire lateness (stand-in received − tick) over `--seconds`.
//! - **B, storm.** The same, plus `--failing-jobs` jobs of `--storm-schedules` schedules failing
//!   during the window. The storm's jobs are real fires of the storm schedules (yearly cron;
//!   past ticks committed as `FireBatch`es and delivered to the stand-ins before the window), so
//!   each job record links to its schedule through the fire ledger. The stand-ins list them
//!   running, then, spread evenly over the window, finished with exit code 1 and finish reason
//!   `shutdown` (spider-slave's outcome fields); the masters' own collector commits the
//!   `ReportJob`s and the alerter judges each job as in production. The stand-ins serve no
//!   logs, so its log fetch fails fast (404) and an alert has the job record's facts only.
//!   After the window it watches one group interval more (`--after-seconds`) for the digests
//!   still due.
//!
//! In both phases the stand-ins list every bench job finished with exit code 0 (a clean run,
//! judged and not alerted), so the baseline carries the alerter's steady work too.
//!
//! Printed: the mails at the sink (when, how many alerts each digest counts and lists), alerts
//! in the ledger vs jobs fed, the process's CPU time per phase (the 3 masters share this
//! process; B − A is the alerting cost), Raft log growth, bytes written to disk, the alert
//! engine row's size, and B's fire lateness next to A's, with the goals of issue 16 (lateness
//! B/A < 1.10; ≤ 1 digest per rule per group interval).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use alerts::event::EventKind;
use alerts::route::GroupTimers;
use alerts::route::Rule;
use anyhow::Context;
use clap::Parser;
use cluster_harness::bench::pcts;
use cluster_harness::bench::propose_retrying;
use cluster_harness::bench::sample;
use cluster_harness::bench::sleep_until;
use cluster_harness::bench::span;
use cluster_harness::bench::split_job;
use cluster_harness::bench::Pcts;
use cluster_harness::bench::Span;
use cluster_harness::now_ms;
use cluster_harness::stand_in;
use cluster_harness::stand_in::start_stand_in;
use cluster_harness::stand_in::Planned;
use cluster_harness::stand_in::Rec;
use cluster_harness::stand_in::Recorder;
use cluster_harness::SmtpSink;
use cluster_harness::TestCluster;
use futures::StreamExt;
use master::config::MasterConfig;
use master::node::MasterNode;
use raft_store::state::fire_ledger::job_id_for;
use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::MisfirePolicy;
use raft_store::state::ScheduleSpec;
use raft_store::state::StoredChannel;
use raft_store::state::Trigger;
use raft_store::Applied;
use raft_store::Command;
use raft_store::Tick;
use serde_json::json;

mod report;

#[derive(Parser, Debug)]
#[command(about = "Alert storm: mails, alerter CPU and fire lateness with and without 10k failing jobs")]
struct Args {
    /// Schedules firing spread over each minute, in both phases.
    #[arg(long, default_value_t = 10_000)]
    schedules: usize,
    /// Measured window of each phase (the storm's duration), seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Jobs failing during the storm.
    #[arg(long, default_value_t = 10_000)]
    failing_jobs: usize,
    /// Schedules the failing jobs belong to.
    #[arg(long, default_value_t = 100)]
    storm_schedules: usize,
    /// Mail watched after the storm, seconds (default: the rule's group interval).
    #[arg(long)]
    after_seconds: Option<u64>,
    /// Stand-in slaves.
    #[arg(long, default_value_t = 2)]
    slaves: usize,
    /// Schedule creations in flight.
    #[arg(long, default_value_t = 64)]
    create_concurrency: usize,
}

const RULE: &str = "jobs";
const STORM_PROJECT: &str = "storm";
const STORM_SPIDER: &str = "failing";

/// Default (production) Raft, slave and alerter timings, not the tests' fast ones.
fn production_timings(c: &mut MasterConfig) {
    c.raft = Default::default();
    c.slaves = Default::default();
    c.alerts = Default::default();
    c.max_egg_bytes = 32 * 1024 * 1024;
}

fn rule() -> Rule {
    Rule::new(RULE, &[EventKind::SpiderError], &["ops"])
}

async fn leader_node(cluster: &TestCluster) -> anyhow::Result<Arc<MasterNode>> {
    let id = cluster.try_leader(Duration::from_secs(30)).await.context("no leader agreed")?;
    Ok(cluster.master(id).clone())
}

fn spec(project: &str, spider: &str, expr: String, deadline_ms: u64) -> ScheduleSpec {
    ScheduleSpec {
        project: project.into(),
        spider: spider.into(),
        egg_version: None,
        args: BTreeMap::new(),
        settings: BTreeMap::new(),
        priority: 0,
        node_selector: vec![],
        trigger: Trigger::Cron { expr, timezone: "UTC".into() },
        misfire: MisfirePolicy::FireOnce { starting_deadline_ms: deadline_ms },
        overlap: Default::default(),
    }
}

/// Creates the schedules, `concurrency` in flight; their ids in order.
async fn create(node: &Arc<MasterNode>, specs: Vec<ScheduleSpec>, concurrency: usize) -> anyhow::Result<Vec<String>> {
    let made: Vec<anyhow::Result<(usize, String)>> = futures::stream::iter(specs.into_iter().enumerate())
        .map(|(i, spec)| async move {
            match propose_retrying(node, Command::CreateSchedule { spec }).await? {
                Applied::Schedule { id, .. } => Ok((i, id)),
                other => anyhow::bail!("create schedule: {other:?}"),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut ids = made.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    ids.sort();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

// ---- measurements -----------------------------------------------------------------------------

/// Fire lateness of the bench schedules' ticks in `[from, to)`.
#[derive(Debug, Clone, Copy, Default)]
struct Lateness {
    p: Pcts,
    expected: usize,
    received: usize,
    duplicates: usize,
}

struct Bed {
    cluster: TestCluster,
    rec: Rec,
    /// Bench schedule id → its second of the minute.
    second_of: HashMap<String, i64>,
    /// Second of the minute → bench schedules firing then.
    per_second: HashMap<i64, usize>,
    create_s: f64,
}

impl Bed {
    fn expected(&self, from: i64, to: i64) -> usize {
        (from / 1000..to / 1000).map(|s| self.per_second.get(&(s % 60)).copied().unwrap_or(0)).sum()
    }

    fn lateness(&self, r: &Recorder, from: i64, to: i64) -> Lateness {
        let mut first: HashMap<&str, (i64, i64)> = HashMap::new();
        let mut duplicates = 0;
        for (at, job) in &r.log {
            let Some((sid, tick)) = split_job(job) else { continue };
            if tick < from || tick >= to || !self.second_of.contains_key(sid) {
                continue;
            }
            if first.insert(job.as_str(), (tick, *at)).is_some() {
                duplicates += 1;
            }
        }
        let late = first.values().map(|(tick, at)| (at - tick) as f64).collect();
        Lateness { p: pcts(late), expected: self.expected(from, to), received: first.len(), duplicates }
    }

    /// Waits for late deliveries of `[from, to)`: until all arrived or none for 10 s (≤ 60 s).
    async fn settle(&self, from: i64, to: i64) -> Lateness {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut last, mut still) = (0, 0);
        loop {
            let l = self.lateness(&self.rec.lock().expect("lock"), from, to);
            if l.received >= l.expected || still >= 5 || Instant::now() > deadline {
                return l;
            }
            still = if l.received == last { still + 1 } else { 0 };
            last = l.received;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

// ---- the two phases ---------------------------------------------------------------------------

/// A fresh cluster with stand-ins, the `ops` channel and the `jobs` rule, and N bench schedules.
async fn setup(args: &Args, sink: &SmtpSink) -> anyhow::Result<Bed> {
    let rec: Rec = Default::default();
    // The stand-ins list what they ran, as a slave does: without it the collector declares
    // every delivered job lost, and every one alerts.
    rec.lock().expect("lock").list_jobs = true;
    let cluster = TestCluster::start(3, production_timings).await;
    let mut urls = Vec::new();
    for i in 0..args.slaves.max(1) {
        urls.push(start_stand_in(&format!("s{}", i + 1), rec.clone()).await);
    }
    stand_in::register(&cluster, &urls, 1_000_000).await;
    let channel: StoredChannel = serde_json::from_value(json!({
        "type": "email", "host": "127.0.0.1", "port": sink.port(), "security": "none",
        "from": "spider-platform <alerts@spider.test>", "to": ["oncall@spider.test"], "timeout_ms": 5000
    }))?;
    let node = leader_node(&cluster).await?;
    for cmd in [Command::PutAlertChannel { name: "ops".into(), channel }, Command::PutAlertRule { rule: rule() }] {
        let r = propose_retrying(&node, cmd).await?;
        anyhow::ensure!(r == Applied::Done, "alert config: {r:?}");
    }
    let started = Instant::now();
    let n = args.schedules;
    let specs = (0..n).map(|i| spec("bench", "noop", format!("{} * * * * *", i % 60), 60_000)).collect();
    let ids = create(&node, specs, args.create_concurrency).await?;
    let create_s = started.elapsed().as_secs_f64();
    eprintln!("   created {n} schedules in {create_s:.1} s");
    let mut per_second: HashMap<i64, usize> = HashMap::new();
    let second_of = ids.into_iter().enumerate().map(|(i, id)| (id, (i % 60) as i64)).collect();
    for i in 0..n {
        *per_second.entry((i % 60) as i64).or_default() += 1;
    }
    Ok(Bed { cluster, rec, second_of, per_second, create_s })
}

/// Creates the storm schedules, fires `failing_jobs` past ticks of them round-robin and waits
/// until every one is delivered; the job ids in order. The stand-ins list them running until
/// their failure time, set once the window is chosen.
async fn stage_storm(args: &Args, bed: &Bed) -> anyhow::Result<Vec<String>> {
    let node = leader_node(&bed.cluster).await?;
    let s = args.storm_schedules.max(1);
    let f = args.failing_jobs;
    let specs = (0..s).map(|_| spec(STORM_PROJECT, STORM_SPIDER, "0 0 0 1 1 *".into(), 600_000));
    let ids = create(&node, specs.collect(), args.create_concurrency).await?;
    let versions: Vec<u64> =
        node.state.read(|st| ids.iter().map(|id| st.schedules.get(id).map(|x| x.version).unwrap_or(1)).collect());
    // Job j: schedule j % s, tick `base + j` ms (increasing per schedule, all in the past).
    let base = now_ms() - f as i64 - 1_000;
    let ticks: Vec<Tick> = (0..f)
        .map(|j| Tick { schedule_id: ids[j % s].clone(), tick_ms: base + j as i64, schedule_version: versions[j % s] })
        .collect();
    let job_ids: Vec<String> = ticks.iter().map(|t| job_id_for(&t.schedule_id, t.tick_ms)).collect();
    // Planned before the fires commit: a stand-in must never list a storm job as a success.
    {
        let mut r = bed.rec.lock().expect("lock");
        for j in &job_ids {
            let plan = Planned { finish_at_ms: i64::MAX, exit_code: 1, finish_reason: "shutdown".into() };
            r.planned.insert(j.clone(), plan);
        }
    }
    for chunk in ticks.chunks(1000) {
        match propose_retrying(&node, Command::FireBatch { ticks: chunk.to_vec() }).await? {
            Applied::FireBatch { results } => {
                if let Some(other) = results.iter().find(|r| !matches!(r, Applied::Fired { .. })) {
                    anyhow::bail!("storm fire: {other:?}");
                }
            }
            other => anyhow::bail!("storm fire batch: {other:?}"),
        }
    }
    let started = Instant::now();
    loop {
        let (pending, failed) = bed.cluster.master(bed.cluster.leader().await).state.read(|st| {
            let (mut pending, mut failed) = (0, 0);
            for j in &job_ids {
                match st.fire_of_job(j).map(|r| &r.decision) {
                    Some(FireDecision::Fired { dispatch: DispatchState::Dispatched { .. }, .. }) => {}
                    Some(FireDecision::Fired { dispatch: DispatchState::Pending, .. }) => pending += 1,
                    _ => failed += 1,
                }
            }
            (pending, failed)
        });
        anyhow::ensure!(failed == 0, "{failed} storm fires were not delivered");
        if pending == 0 {
            let took = started.elapsed().as_secs_f64();
            eprintln!("   {f} storm jobs of {s} schedules fired and delivered in {took:.1} s");
            return Ok(job_ids);
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "storm fires still undelivered after 300 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The alert engine row as stored (its JSON encoding), bytes; cloned under the state lock,
/// encoded outside it.
fn engine_bytes(node: &MasterNode) -> usize {
    let engine = node.state.read(|s| s.alert_engine().cloned());
    engine.and_then(|e| serde_json::to_vec(&e).ok()).map(|v| v.len()).unwrap_or(0)
}

struct PhaseA {
    create_s: f64,
    window: Span,
    late: Lateness,
}

async fn phase_a(args: &Args, sink: &SmtpSink) -> anyhow::Result<PhaseA> {
    eprintln!("== A (baseline): {} schedules, {} s", args.schedules, args.seconds);
    let bed = setup(args, sink).await?;
    let settled = bed.cluster.snapshots_built(Duration::from_secs(120)).await;
    eprintln!("   snapshots of the set-up built after {settled:.1} s");
    let t0 = (now_ms() / 1000 + 2) * 1000;
    let t1 = t0 + args.seconds as i64 * 1000;
    sleep_until(t0).await;
    let s0 = sample(&bed.cluster).await;
    sleep_until(t1).await;
    let s1 = sample(&bed.cluster).await;
    let late = bed.settle(t0, t1).await;
    let out = PhaseA { create_s: bed.create_s, window: span(&s0, &s1), late };
    bed.cluster.shutdown().await;
    Ok(out)
}

struct PhaseB {
    create_s: f64,
    window: Span,
    after: Span,
    late: Lateness,
    late_after: Lateness,
    t0: i64,
    t2: i64,
    fed: usize,
    ledger: String,
    engine_kb: (f64, f64),
}

async fn phase_b(args: &Args, sink: &SmtpSink, group_interval_ms: u64) -> anyhow::Result<PhaseB> {
    eprintln!(
        "== B (storm): {} schedules, {} failing jobs of {} schedules over {} s",
        args.schedules, args.failing_jobs, args.storm_schedules, args.seconds
    );
    let bed = setup(args, sink).await?;
    let jobs = stage_storm(args, &bed).await?;
    let settled = bed.cluster.snapshots_built(Duration::from_secs(120)).await;
    eprintln!("   snapshots of the set-up built after {settled:.1} s");
    let t0 = (now_ms() / 1000 + 2) * 1000;
    let t1 = t0 + args.seconds as i64 * 1000;
    let after_ms = args.after_seconds.map(|s| s * 1000).unwrap_or(group_interval_ms) as i64;
    let t2 = t1 + after_ms;
    // Job k fails at t0 + k·window/F: the stand-ins list it finished (exit 1) from then on.
    let fed = jobs.len();
    let fail_at: HashMap<String, i64> =
        jobs.into_iter().enumerate().map(|(k, j)| (j, t0 + (t1 - t0) * k as i64 / fed.max(1) as i64)).collect();
    {
        let mut r = bed.rec.lock().expect("lock");
        for (j, at) in &fail_at {
            if let Some(p) = r.planned.get_mut(j) {
                p.finish_at_ms = *at;
            }
        }
    }
    sleep_until(t0).await;
    let s0 = sample(&bed.cluster).await;
    sleep_until(t1).await;
    let s1 = sample(&bed.cluster).await;
    let leader = leader_node(&bed.cluster).await?;
    let engine_end = engine_bytes(&leader);
    eprintln!("   storm over; watching mail for {} s more", after_ms / 1000);
    sleep_until(t2).await;
    let s2 = sample(&bed.cluster).await;
    let late = bed.settle(t0, t1).await;
    let late_after = bed.settle(t1, t2).await;
    let leader = leader_node(&bed.cluster).await?;
    let engine_after = engine_bytes(&leader);
    let ledger = leader.state.read(|s| report::ledger(s, &fail_at));
    let out = PhaseB {
        create_s: bed.create_s,
        window: span(&s0, &s1),
        after: span(&s1, &s2),
        late,
        late_after,
        t0,
        t2,
        fed,
        ledger,
        engine_kb: (engine_end as f64 / 1e3, engine_after as f64 / 1e3),
    };
    bed.cluster.shutdown().await;
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let timers = GroupTimers::default();
    anyhow::ensure!(rule().timers == timers, "the rule keeps the default group timers");
    let sink = SmtpSink::start(&cluster_harness::venv_python()?).await?;

    let a = phase_a(&args, &sink).await?;
    let mails_a = sink.messages().len();
    let b = phase_b(&args, &sink, timers.group_interval_ms).await?;
    let mails: Vec<report::MailFig> =
        sink.messages().iter().map(report::mail_fig).filter(|m| m.at_ms >= b.t0 && m.at_ms <= b.t2).collect();

    report::print(&args, &timers, &a, &b, mails_a, &mails);
    Ok(())
}

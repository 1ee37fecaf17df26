//! Small helpers of the benches in `examples/`: percentiles, the process's CPU and disk
//! counters, samples of the leader's log, proposals that wait out an election, and the job id
//! rule they read stand-in arrivals by.

use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

use master::node::MasterNode;
use master::propose::ProposeError;
use master::propose::Proposed;
use raft_store::Applied;
use raft_store::Command;

use crate::cluster::now_ms;
use crate::cluster::TestCluster;

#[derive(Debug, Clone, Copy, Default)]
pub struct Pcts {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// p50, p99 and max (nearest rank) of `v`; zeros when it is empty.
pub fn pcts(mut v: Vec<f64>) -> Pcts {
    if v.is_empty() {
        return Pcts::default();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Pcts { p50: at(0.50), p99: at(0.99), max: v[v.len() - 1] }
}

/// The schedule and tick a deterministic job id (`<schedule>-t<tick>`) stands for.
pub fn split_job(job: &str) -> Option<(&str, i64)> {
    let (sid, t) = job.rsplit_once("-t")?;
    Some((sid, t.parse().ok()?))
}

/// This process's user + system CPU seconds (`/proc/self/stat` fields 14 and 15, in USER_HZ,
/// which Linux fixes at 100 for `/proc`); NaN where there is no `/proc`.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name in parentheses, starting at field 3.
    let fields: Vec<&str> = stat.rsplit_once(") ").map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes this process caused to be written to storage (`/proc/self/io` `write_bytes`).
pub fn disk_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes:"))?.trim().parse().ok()
}

/// The machine's 1-minute load average (`/proc/loadavg`): other processes share the cores.
pub fn load_1m() -> f64 {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    l.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// The process's counters and the cluster's log at one moment.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub cpu_s: f64,
    pub disk: Option<u64>,
    /// The leader's last applied index.
    pub applied: u64,
    /// Each running master's newest snapshot index.
    pub snapshots: BTreeMap<u64, u64>,
    pub load: f64,
}

pub async fn sample(cluster: &TestCluster) -> Sample {
    let applied = match cluster.try_leader(Duration::from_secs(30)).await {
        Some(l) => cluster.master(l).metrics().last_applied.map(|l| l.index).unwrap_or(0),
        None => 0,
    };
    let snapshots = cluster
        .running_ids()
        .into_iter()
        .map(|id| (id, cluster.master(id).metrics().snapshot.map(|l| l.index).unwrap_or(0)))
        .collect();
    Sample { at: Instant::now(), cpu_s: cpu_seconds(), disk: disk_write_bytes(), applied, snapshots, load: load_1m() }
}

/// What one stretch between two samples cost.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub secs: f64,
    pub cpu_s: f64,
    pub disk_mb: Option<f64>,
    pub log_entries: u64,
    /// Snapshots built meanwhile (masters whose newest snapshot moved).
    pub snapshots: usize,
    /// The machine's load average at its end.
    pub load: f64,
}

pub fn span(a: &Sample, b: &Sample) -> Span {
    Span {
        secs: b.at.duration_since(a.at).as_secs_f64(),
        cpu_s: b.cpu_s - a.cpu_s,
        disk_mb: a.disk.zip(b.disk).map(|(x, y)| y.saturating_sub(x) as f64 / 1e6),
        log_entries: b.applied.saturating_sub(a.applied),
        snapshots: b.snapshots.iter().filter(|(id, i)| a.snapshots.get(id).is_some_and(|j| j != *i)).count(),
        load: b.load,
    }
}

/// Sleeps until wall-clock `ms` (Unix ms), if it is ahead.
pub async fn sleep_until(ms: i64) {
    let d = ms - now_ms();
    if d > 0 {
        tokio::time::sleep(Duration::from_millis(d as u64)).await;
    }
}

/// Proposes through `node` (forwarded to the leader), waiting out an election for up to 60 s:
/// `NoLeader` is never committed, so resending is safe.
pub async fn propose_retrying(node: &MasterNode, cmd: Command) -> anyhow::Result<Applied> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match node.proposer.propose(cmd.clone()).await {
            Ok(Proposed { applied, .. }) => return Ok(applied),
            Err(ProposeError::NoLeader) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => anyhow::bail!("propose {cmd}: {e}"),
        }
    }
}

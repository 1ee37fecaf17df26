//! Delivering a committed fire to a slave, and committing what became of it.
//!
//! [`rank_nodes`] (pure) picks the candidates: registered, committed `up`, carrying every tag
//! of the schedule's `node_selector`; ranked by free slots (`max_proc` − pending − running in
//! the replicated job table; a slave without `max_proc` is assumed to have Scrapyd's default of
//! 4 per CPU, its CPU count from this master's metrics, else 4), then by lower CPU use (metrics),
//! then by id.
//!
//! [`deliver`] sends `schedule.json` with `jobid` = the fire's job id and the same value as
//! `Idempotency-Key` (spider-slave de-duplicates a repeated delivery; the reconciler asks real
//! Scrapyd first). On failure it moves to the next node, with backoff, until the starting
//! deadline; before trying a new node it asks the nodes whose earlier attempt had an unknown
//! fate (timeout) whether they took the job after all, so a slow slave does not lead to a second
//! run elsewhere. The outcome is committed as `Dispatched` or `DispatchFailed` with a reason an
//! operator can act on. The leader's token is checked before every call to a slave.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use openraft::type_config::async_runtime::WatchReceiver;
use openraft::Instant as _;
use raft_store::state::FireRecord;
use raft_store::state::Node;
use raft_store::state::NodeStatus;
use raft_store::state::ScheduleSpec;
use raft_store::state::State;
use raft_store::Applied;
use raft_store::Command;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::outcomes::Committer;
use crate::node::MasterNode;
use crate::slave_client::ScheduleRequest;
use crate::slave_client::SlaveClient;
use crate::slave_client::SlaveError;

/// Scrapyd's default process slots per CPU (`max_proc_per_cpu`).
const SLOTS_PER_CPU: i64 = 4;
/// First and largest pause between two delivery attempts.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// A slave as the ranking sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub node: Node,
    pub free_slots: i64,
    pub cpu_percent: Option<f64>,
}

/// What this master knows of a slave's host (from `/metrics.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostLoad {
    pub cpu_percent: Option<f64>,
    pub cpu_count: Option<u64>,
}

/// Pending + running jobs per node in the replicated job table (kept by an index: no scan).
pub fn active_per_node(state: &State) -> BTreeMap<String, i64> {
    state.active_jobs_per_node().clone()
}

/// The nodes a job of `selector` may go to, best first; `Err` says why there is none.
pub fn rank_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    selector: &[String],
    active: &BTreeMap<String, i64>,
    load: impl Fn(&str) -> HostLoad,
) -> Result<Vec<Candidate>, String> {
    let mut out: Vec<Candidate> = nodes
        .into_iter()
        .filter(|n| matches!(n.status, NodeStatus::Up { .. }))
        .filter(|n| selector.iter().all(|t| n.spec.tags.contains(t)))
        .map(|n| {
            let host = load(&n.id);
            let slots = match n.spec.max_proc {
                Some(m) => i64::from(m),
                None => SLOTS_PER_CPU * host.cpu_count.map(|c| c.max(1) as i64).unwrap_or(1),
            };
            let busy = active.get(&n.id).copied().unwrap_or(0);
            Candidate { node: n.clone(), free_slots: slots - busy, cpu_percent: host.cpu_percent }
        })
        .collect();
    if out.is_empty() {
        return Err(if selector.is_empty() {
            "no node is up".to_string()
        } else {
            format!("no node is up that carries tags [{}]", selector.join(", "))
        });
    }
    out.sort_by(|a, b| {
        b.free_slots
            .cmp(&a.free_slots)
            .then(a.cpu_percent.unwrap_or(f64::MAX).total_cmp(&b.cpu_percent.unwrap_or(f64::MAX)))
            .then(a.node.id.cmp(&b.node.id))
    });
    Ok(out)
}

/// This master's latest view of a slave's host load.
pub fn host_load(node: &MasterNode, id: &str) -> HostLoad {
    let Some(sample) = node.slave_metrics.latest(id) else { return HostLoad::default() };
    HostLoad {
        cpu_percent: sample.metrics.get("cpu_percent").and_then(|v| v.as_f64()),
        cpu_count: sample.metrics.get("cpu_count").and_then(|v| v.as_u64()),
    }
}

/// One fire to deliver: the ledger record and the spec to run it with.
#[derive(Debug, Clone)]
pub struct Job {
    pub job_id: String,
    pub schedule_id: String,
    pub tick_ms: i64,
    pub spec: ScheduleSpec,
    /// Unix ms (scheduler clock) after which no new attempt starts.
    pub give_up_at_ms: i64,
}

impl Job {
    /// A job for a ledger record, run with `spec` (the schedule's spec, or the record's
    /// project/spider alone if the schedule is gone).
    pub fn new(record: &FireRecord, job_id: &str, spec: ScheduleSpec, give_up_at_ms: i64) -> Self {
        Self {
            job_id: job_id.to_string(),
            schedule_id: record.schedule_id.clone(),
            tick_ms: record.tick_ms,
            spec,
            give_up_at_ms,
        }
    }
}

/// How a delivery ended (after its outcome was committed, or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Dispatched(String),
    Failed(String),
    /// The leader's term ended (or a commit failed): the next leader reconciles.
    Abandoned,
}

/// This leader's term ended (or it could not commit): stop, the next leader reconciles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermEnded;

/// What a delivery needs from the leader.
pub struct Ctx<'a> {
    pub node: &'a MasterNode,
    pub token: &'a CancellationToken,
    pub clock: &'a dyn super::clock::Clock,
    pub term: u64,
    /// Batches delivery outcomes into few log entries.
    pub committer: &'a Committer,
    /// Bounds the calls to slaves in flight (held only around a call, never across a commit).
    pub slave_calls: &'a Semaphore,
}

impl Ctx<'_> {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.node.config.slaves.request_timeout_ms)
    }

    /// Commits `cmd`; `TermEnded` if this node could not (deposed, stopping).
    pub async fn commit(&self, cmd: Command) -> Result<Applied, TermEnded> {
        if self.token.is_cancelled() {
            return Err(TermEnded);
        }
        let what = cmd.to_string();
        match self.node.proposer.propose_local(cmd).await {
            Ok(p) => Ok(p.applied),
            Err(e) => {
                tracing::warn!(term = self.term, change = %what, cause = %e, "could not commit a scheduler decision");
                Err(TermEnded)
            }
        }
    }

    /// Commits a delivery outcome through the batching committer.
    async fn commit_outcome(&self, cmd: Command) -> Result<Applied, TermEnded> {
        if self.token.is_cancelled() {
            return Err(TermEnded);
        }
        self.committer.commit(cmd).await
    }

    /// Commits that `node_id` took the job; a refusal (node removed meanwhile) becomes a failure.
    pub async fn commit_dispatched(&self, job_id: &str, node_id: &str) -> Outcome {
        let cmd = Command::Dispatched { job_id: job_id.to_string(), node_id: node_id.to_string() };
        match self.commit_outcome(cmd).await {
            Ok(Applied::Rejected(r)) => {
                tracing::warn!(job = job_id, node = node_id, rejection = ?r, "Dispatched refused");
                Outcome::Failed(format!("accepted by {node_id}, but recording it was refused: {r:?}"))
            }
            Ok(_) => Outcome::Dispatched(node_id.to_string()),
            Err(TermEnded) => Outcome::Abandoned,
        }
    }

    pub async fn commit_failed(&self, job_id: &str, reason: String) -> Outcome {
        match self.commit_outcome(Command::DispatchFailed { job_id: job_id.to_string(), reason: reason.clone() }).await
        {
            Ok(Applied::Rejected(r)) => {
                tracing::warn!(job = job_id, rejection = ?r, "DispatchFailed refused");
                Outcome::Abandoned
            }
            Ok(_) => Outcome::Failed(reason),
            Err(TermEnded) => Outcome::Abandoned,
        }
    }

    /// Whether this leader may still talk to slaves: its term goes on and its Raft lease holds —
    /// a quorum acknowledged something it sent less than `election_timeout_max` ago. Voters
    /// refuse to elect anyone while the lease they granted holds, so once a new leader exists
    /// this old one has stopped sending (bar requests already on the wire, which the job id
    /// de-duplicates); a frozen or cut-off leader notices on its next check.
    pub fn may_send(&self) -> bool {
        if self.token.is_cancelled() {
            return false;
        }
        let lease = Duration::from_millis(self.node.config.raft.election_timeout_max_ms);
        let metrics = self.node.raft.metrics();
        let m = metrics.borrow_watched();
        match &m.last_quorum_acked {
            Some(acked) => acked.elapsed() < lease,
            // No quorum ack yet: only a single-voter cluster is its own quorum.
            None => m.membership_config.membership().voter_ids().count() <= 1,
        }
    }

    /// Waits `d` (or less if the term ends); false if the term ended.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.token.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// Whether any of `nodes` already has `job_id` (asked by `status.json`/`listjobs.json`).
pub async fn find_on(ctx: &Ctx<'_>, nodes: &[Node], project: &str, job_id: &str) -> Result<Option<String>, TermEnded> {
    for n in nodes {
        if !ctx.may_send() {
            return Err(TermEnded);
        }
        let client = SlaveClient::new(ctx.node.http.clone(), n, ctx.timeout());
        let Ok(_permit) = ctx.slave_calls.acquire().await else { return Err(TermEnded) };
        match client.job_state(project, job_id).await {
            Ok(Some(state)) => {
                tracing::info!(job = job_id, node = %n.id, %state, "the slave already has the job");
                return Ok(Some(n.id.clone()));
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(job = job_id, node = %n.id, cause = %e, "could not ask the slave about a job"),
        }
    }
    Ok(None)
}

fn brief(e: &SlaveError) -> String {
    let s = e.to_string();
    match s.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Delivers `job` and commits the outcome. Returns once the outcome is committed, the
/// deadline passed (then `DispatchFailed` is committed), or the term ended.
pub async fn deliver(ctx: &Ctx<'_>, job: &Job) -> Outcome {
    let mut tried: Vec<(String, String)> = Vec::new();
    let mut unsure: Vec<Node> = Vec::new();
    let mut backoff = BACKOFF_FIRST;
    let mut last_reason = String::new();
    loop {
        if ctx.token.is_cancelled() {
            return Outcome::Abandoned;
        }
        let ranked = ctx.node.state.read(|s| {
            let active = active_per_node(s);
            rank_nodes(s.nodes.values(), &job.spec.node_selector, &active, |id| host_load(ctx.node, id))
        });
        match ranked {
            Err(reason) => last_reason = reason,
            Ok(candidates) => {
                for c in candidates {
                    if ctx.clock.now_ms() > job.give_up_at_ms && !tried.is_empty() {
                        break;
                    }
                    // A node whose earlier attempt may have landed is asked before another is tried.
                    let others: Vec<Node> = unsure.iter().filter(|n| n.id != c.node.id).cloned().collect();
                    match find_on(ctx, &others, &job.spec.project, &job.job_id).await {
                        Err(TermEnded) => return Outcome::Abandoned,
                        Ok(Some(node_id)) => return ctx.commit_dispatched(&job.job_id, &node_id).await,
                        Ok(None) => {}
                    }
                    if !ctx.may_send() {
                        return Outcome::Abandoned;
                    }
                    let sent = match ctx.slave_calls.acquire().await {
                        Ok(_permit) => send(ctx, &c.node, job).await,
                        Err(_) => return Outcome::Abandoned,
                    };
                    match sent {
                        Ok(()) => return ctx.commit_dispatched(&job.job_id, &c.node.id).await,
                        Err(e) => {
                            tracing::info!(term = ctx.term, job = %job.job_id, node = %c.node.id, cause = %e, "dispatch attempt failed");
                            if matches!(e, SlaveError::Unreachable(_)) && !unsure.iter().any(|n| n.id == c.node.id) {
                                unsure.push(c.node.clone());
                            }
                            tried.retain(|(id, _)| id != &c.node.id);
                            tried.push((c.node.id.clone(), brief(&e)));
                        }
                    }
                    if !ctx.pause(backoff).await {
                        return Outcome::Abandoned;
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        let now = ctx.clock.now_ms();
        if now > job.give_up_at_ms {
            let mut reason = String::new();
            if tried.is_empty() {
                reason.push_str(&last_reason);
            } else {
                reason.push_str("tried ");
                for (i, (id, why)) in tried.iter().enumerate() {
                    let _ = write!(reason, "{}{id} ({why})", if i > 0 { ", " } else { "" });
                }
                if !last_reason.is_empty() {
                    let _ = write!(reason, "; then {last_reason}");
                }
            }
            return ctx.commit_failed(&job.job_id, reason).await;
        }
        let wait = backoff.min(Duration::from_millis((job.give_up_at_ms - now).max(1) as u64));
        if !ctx.pause(wait).await {
            return Outcome::Abandoned;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One `schedule.json` to one slave.
async fn send(ctx: &Ctx<'_>, node: &Node, job: &Job) -> Result<(), SlaveError> {
    let client = SlaveClient::new(ctx.node.http.clone(), node, ctx.timeout());
    let s = &job.spec;
    let req = ScheduleRequest {
        project: &s.project,
        spider: &s.spider,
        job_id: Some(&job.job_id),
        version: s.egg_version.as_deref(),
        priority: (s.priority != 0).then_some(s.priority),
        args: (!s.args.is_empty()).then_some(&s.args),
        settings: (!s.settings.is_empty()).then_some(&s.settings),
        idempotency_key: Some(&job.job_id),
    };
    let got = client.schedule(&req).await?;
    if got != job.job_id {
        // A Scrapyd that ignores `jobid` would break de-duplication: say so loudly.
        tracing::warn!(job = %job.job_id, node = %node.id, slave_job = %got, "the slave renamed the job");
    }
    Ok(())
}

#[cfg(test)]
#[path = "dispatch_test.rs"]
mod dispatch_test;

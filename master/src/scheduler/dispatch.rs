//! Everything the leader tells a slave about a job, and committing what became of it:
//! delivering committed fires, cancelling the previous run for overlap `replace`, and carrying
//! out committed cancel requests. [`Deliveries`] is the term's set of such tasks.
//!
//! [`deliver`] sends `schedule.json` with `jobid` = the fire's job id and the same value as
//! `Idempotency-Key` (spider-slave de-duplicates a repeated delivery; the reconciler asks real
//! Scrapyd first). Candidates come from `placement::rank_nodes`. On failure it moves to the next
//! node, with backoff, until the starting deadline; before trying a new node it asks the nodes
//! whose earlier attempt had an unknown fate (timeout) whether they took the job after all, so a
//! slow slave does not lead to a second run elsewhere. Before every attempt it checks that the
//! fire still waits for a delivery (a `CancelJob` may have dropped it). The outcome is committed
//! as `Dispatched` or `DispatchFailed` with a reason an operator can act on.
//!
//! [`carry_out_cancel`] calls `cancel.json` on the job's slave for a committed `CancelJob` and
//! commits `Cancelled` (what the slave answered) or `CancelFailed`.
//!
//! Every call to a slave is preceded by `TermCtx::may_send` (term and Raft lease) and holds a
//! permit of `[scheduler] dispatches_in_flight` only around the call, never across a commit.
//! Outcomes go through the term's batching committer.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use raft_store::state::CancelState;
use raft_store::state::FireRecord;
use raft_store::state::MisfirePolicy;
use raft_store::state::Node;
use raft_store::state::Schedule;
use raft_store::state::ScheduleSpec;
use raft_store::Applied;
use raft_store::Command;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::clock::Clock;
use super::ledger;
use super::placement;
use crate::leader::term::TermCtx;
use crate::leader::TermEnded;
use crate::node::MasterNode;
use crate::slaves::client::ScheduleRequest;
use crate::slaves::client::SlaveClient;
use crate::slaves::client::SlaveError;

/// First and largest pause between two delivery attempts.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Starting deadline of a delivery when the misfire policy names none.
pub const DEFAULT_STARTING_DEADLINE_MS: u64 = 60_000;
/// Bounds of a delivery's window: at least this long after it starts, at most this after the tick.
pub const MIN_DELIVERY_WINDOW_MS: i64 = 1_000;
pub const MAX_STARTING_DEADLINE_MS: u64 = 600_000;

/// What every delivery and cancel of a term shares (cheap to clone: one per task).
#[derive(Clone)]
pub struct DispatchCtx {
    /// The term's capability: commit, may-send, pause.
    pub term: TermCtx,
    /// The scheduler's clock (deadlines are in its time).
    pub clock: Arc<dyn Clock>,
    /// Bounds the calls to slaves in flight (held only around a call, never across a commit).
    pub slave_calls: Arc<Semaphore>,
}

impl DispatchCtx {
    pub fn node(&self) -> &MasterNode {
        &self.term.node
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.node().config.slaves.request_timeout_ms)
    }

    /// Commits that `node_id` took the job; a refusal (node removed meanwhile) becomes a failure.
    pub async fn commit_dispatched(&self, job_id: &str, node_id: &str) -> Outcome {
        let cmd = Command::Dispatched { job_id: job_id.to_string(), node_id: node_id.to_string() };
        match self.term.commit_batched(cmd).await {
            Ok(Applied::Rejected(r)) => {
                tracing::warn!(job = job_id, node = node_id, rejection = ?r, "Dispatched refused");
                Outcome::Failed(format!("accepted by {node_id}, but recording it was refused: {r:?}"))
            }
            Ok(_) => Outcome::Dispatched(node_id.to_string()),
            Err(TermEnded) => Outcome::Abandoned,
        }
    }

    pub async fn commit_failed(&self, job_id: &str, reason: String) -> Outcome {
        let cmd = Command::DispatchFailed { job_id: job_id.to_string(), reason: reason.clone() };
        match self.term.commit_batched(cmd).await {
            Ok(Applied::Rejected(r)) => {
                tracing::warn!(job = job_id, rejection = ?r, "DispatchFailed refused");
                Outcome::Abandoned
            }
            Ok(Applied::Unchanged) => Outcome::Dropped,
            Ok(_) => Outcome::Failed(reason),
            Err(TermEnded) => Outcome::Abandoned,
        }
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
    /// A job for a ledger record, run with `spec` (the schedule's spec in force now).
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

/// When a tick's delivery gives up: its starting deadline after the tick, bounded.
pub fn give_up_at(schedule: &Schedule, tick_ms: i64, now_ms: i64) -> i64 {
    let deadline = match schedule.spec.misfire {
        MisfirePolicy::FireOnce { starting_deadline_ms } => starting_deadline_ms,
        _ => DEFAULT_STARTING_DEADLINE_MS,
    }
    .min(MAX_STARTING_DEADLINE_MS);
    (tick_ms.saturating_add(deadline as i64)).max(now_ms.saturating_add(MIN_DELIVERY_WINDOW_MS))
}

/// How a delivery ended (after its outcome was committed, or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Dispatched(String),
    Failed(String),
    /// The fire no longer waits for a delivery (dropped by `CancelJob`, or settled meanwhile).
    Dropped,
    /// The leader's term ended (or a commit failed): the next leader reconciles.
    Abandoned,
}

/// Whether any of `nodes` already has `job_id` (asked by `status.json`/`listjobs.json`).
pub async fn find_on(
    ctx: &DispatchCtx,
    nodes: &[Node],
    project: &str,
    job_id: &str,
) -> Result<Option<String>, TermEnded> {
    for n in nodes {
        if !ctx.term.may_send() {
            return Err(TermEnded);
        }
        let client = SlaveClient::new(ctx.node().http.clone(), n, ctx.timeout());
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
/// deadline passed (then `DispatchFailed` is committed), the fire was dropped, or the term ended.
pub async fn deliver(ctx: &DispatchCtx, job: &Job) -> Outcome {
    let node = ctx.node();
    let mut tried: Vec<(String, String)> = Vec::new();
    let mut unsure: Vec<Node> = Vec::new();
    let mut backoff = BACKOFF_FIRST;
    let mut last_reason = String::new();
    loop {
        if ctx.term.ended() {
            return Outcome::Abandoned;
        }
        if !node.state.read(|s| ledger::still_pending(s, &job.job_id)) {
            return Outcome::Dropped;
        }
        let ranked = node.state.read(|s| {
            let active = placement::active_per_node(s);
            placement::rank_nodes(s.nodes.values(), &job.spec.node_selector, &active, |id| {
                placement::host_load(node, id)
            })
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
                    if !node.state.read(|s| ledger::still_pending(s, &job.job_id)) {
                        return Outcome::Dropped;
                    }
                    if !ctx.term.may_send() {
                        return Outcome::Abandoned;
                    }
                    let sent = match ctx.slave_calls.acquire().await {
                        Ok(_permit) => send(ctx, &c.node, job).await,
                        Err(_) => return Outcome::Abandoned,
                    };
                    match sent {
                        Ok(()) => return ctx.commit_dispatched(&job.job_id, &c.node.id).await,
                        Err(e) => {
                            tracing::info!(term = ctx.term.term, job = %job.job_id, node = %c.node.id, cause = %e, "dispatch attempt failed");
                            if matches!(e, SlaveError::Unreachable(_)) && !unsure.iter().any(|n| n.id == c.node.id) {
                                unsure.push(c.node.clone());
                            }
                            tried.retain(|(id, _)| id != &c.node.id);
                            tried.push((c.node.id.clone(), brief(&e)));
                        }
                    }
                    if !ctx.term.pause(backoff).await {
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
        if !ctx.term.pause(wait).await {
            return Outcome::Abandoned;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One `schedule.json` to one slave.
async fn send(ctx: &DispatchCtx, node: &Node, job: &Job) -> Result<(), SlaveError> {
    let client = SlaveClient::new(ctx.node().http.clone(), node, ctx.timeout());
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

/// One delivery of fire `job_id`: builds the job from the replicated state, optionally asks
/// the slaves first (`ask_first`: an earlier attempt may have landed), cancels what `replace`
/// wants cancelled (`cancel_first`), delivers and commits the outcome.
pub async fn deliver_one(ctx: &DispatchCtx, job_id: &str, ask_first: bool, cancel_first: Option<String>) {
    let node = ctx.node();
    let now = ctx.clock.now_ms();
    // `None`: nothing to deliver (unknown, dropped, or it has an outcome already).
    let built = node.state.read(|s| {
        let record = s.fire_of_job(job_id).filter(|r| ledger::unsettled_record(r))?;
        // The spec in force now (a pause or an edit after the fire does not undo the fire).
        Some(match s.schedules.get(&record.schedule_id) {
            Some(sch) => Ok(Job::new(record, job_id, sch.spec.clone(), give_up_at(sch, record.tick_ms, now))),
            None => Err(format!("schedule {} was deleted before the job was delivered", record.schedule_id)),
        })
    });
    let job = match built {
        None => return,
        Some(Err(reason)) => {
            ctx.commit_failed(job_id, reason).await;
            return;
        }
        Some(Ok(job)) => job,
    };
    if ask_first {
        let nodes = node.state.read(placement::up_nodes);
        match find_on(ctx, &nodes, &job.spec.project, job_id).await {
            Err(TermEnded) => return,
            Ok(Some(node_id)) => {
                ctx.commit_dispatched(job_id, &node_id).await;
                return;
            }
            Ok(None) => {}
        }
    }
    if let Some(old) = cancel_first {
        cancel_previous(ctx, &old).await;
    }
    let outcome = deliver(ctx, &job).await;
    let late_ms = ctx.clock.now_ms() - job.tick_ms;
    tracing::info!(term = ctx.term.term, job = job_id, outcome = ?outcome, late_ms, "delivery ended");
}

/// Cancels `job_id` on the slave the job table has it on (overlap `replace`: the decision is
/// the committed fire of the next tick; nothing more is recorded).
async fn cancel_previous(ctx: &DispatchCtx, job_id: &str) {
    let node = ctx.node();
    let target = node.state.read(|s| {
        let j = s.jobs.get(&job_id.to_string()).filter(|j| !j.state.is_terminal())?;
        let n = s.nodes.get(&j.node_id)?.clone();
        Some((n, j.project.clone()))
    });
    let Some((n, project)) = target else {
        tracing::info!(job = job_id, "nothing to cancel: the job is not pending or running on a known slave");
        return;
    };
    if !ctx.term.may_send() {
        return;
    }
    let client = SlaveClient::new(node.http.clone(), &n, ctx.timeout());
    let answer = match ctx.slave_calls.acquire().await {
        Ok(_permit) => client.cancel(&project, job_id).await,
        Err(_) => return,
    };
    match answer {
        Ok(prev) => {
            tracing::info!(job = job_id, node = %n.id, prevstate = %prev, "cancelled the previous run (replace)")
        }
        Err(e) => tracing::warn!(job = job_id, node = %n.id, cause = %e, "could not cancel the previous run"),
    }
}

/// Carries out the committed cancel request of `job_id`: `cancel.json` on the job's slave,
/// then commits `Cancelled` with what the slave answered, or `CancelFailed` with why not. Does
/// nothing if the request was settled meanwhile; leaves it open if the term ends first (the
/// next leader carries it out).
pub async fn carry_out_cancel(ctx: &DispatchCtx, job_id: &str) {
    let node = ctx.node();
    let target = node.state.read(|s| {
        let j = s.jobs.get(&job_id.to_string()).filter(|j| matches!(j.cancel, Some(CancelState::Requested { .. })))?;
        Some((j.node_id.clone(), j.project.clone(), s.nodes.get(&j.node_id).cloned()))
    });
    let Some((node_id, project, slave)) = target else { return };
    let job = job_id.to_string();
    let cmd = match slave {
        None => Command::CancelFailed { job_id: job, reason: format!("{node_id} is no longer registered") },
        Some(n) => {
            if !ctx.term.may_send() {
                return;
            }
            let client = SlaveClient::new(node.http.clone(), &n, ctx.timeout());
            let answer = match ctx.slave_calls.acquire().await {
                Ok(_permit) => client.cancel(&project, job_id).await,
                Err(_) => return,
            };
            match answer {
                Ok(prevstate) => Command::Cancelled { job_id: job, node_id, prevstate },
                Err(SlaveError::Api(m)) => {
                    Command::CancelFailed { job_id: job, reason: format!("{node_id} refused: {m}") }
                }
                Err(e) => Command::CancelFailed { job_id: job, reason: format!("{node_id}: {e}") },
            }
        }
    };
    let what = cmd.to_string();
    match ctx.term.commit_batched(cmd).await {
        Ok(Applied::Rejected(r)) => tracing::warn!(job = job_id, rejection = ?r, "cancel outcome refused"),
        Ok(_) => tracing::info!(term = ctx.term.term, job = job_id, outcome = %what, "cancel carried out"),
        Err(TermEnded) => {}
    }
}

/// What one task of [`Deliveries`] works on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    Deliver(String),
    Cancel(String),
}

/// The deliveries and cancels of this term: one task each, at most one per job and kind, and
/// none restarted within `[scheduler] retry_cooldown_ms` of the last one ending without an
/// outcome. Dropping it aborts them all (the term ended).
pub struct Deliveries {
    ctx: DispatchCtx,
    tasks: JoinSet<()>,
    by_task: BTreeMap<tokio::task::Id, Work>,
    delivering: BTreeSet<String>,
    cancelling: BTreeSet<String>,
    cooldown: BTreeMap<Work, Instant>,
    retry_cooldown: Duration,
}

impl Deliveries {
    pub fn new(ctx: DispatchCtx) -> Self {
        let retry_cooldown = Duration::from_millis(ctx.node().config.scheduler.retry_cooldown_ms);
        Self {
            ctx,
            tasks: JoinSet::new(),
            by_task: BTreeMap::new(),
            delivering: BTreeSet::new(),
            cancelling: BTreeSet::new(),
            cooldown: BTreeMap::new(),
            retry_cooldown,
        }
    }

    pub fn ctx(&self) -> &DispatchCtx {
        &self.ctx
    }

    /// Starts a delivery of fire `job_id` unless one is running: `ask_first` asks the slaves
    /// whether one has it already; `cancel_first` is a job to cancel first (overlap `replace`).
    pub fn deliver(&mut self, job_id: String, ask_first: bool, cancel_first: Option<String>) {
        if !self.delivering.insert(job_id.clone()) {
            return;
        }
        let ctx = self.ctx.clone();
        let id = job_id.clone();
        let handle = self.tasks.spawn(async move { deliver_one(&ctx, &id, ask_first, cancel_first).await });
        self.by_task.insert(handle.id(), Work::Deliver(job_id));
    }

    /// Whether a delivery of `job_id` runs in this term.
    pub fn is_delivering(&self, job_id: &str) -> bool {
        self.delivering.contains(job_id)
    }

    /// Whether a delivery of `job_id` may start again: none runs, and none ended recently.
    pub fn may_retry(&mut self, job_id: &str) -> bool {
        !self.is_delivering(job_id) && !self.cooling(Work::Deliver(job_id.to_string()))
    }

    /// Starts carrying out the cancel request of `job_id`, unless that runs or ended recently.
    pub fn cancel(&mut self, job_id: String) {
        if self.cancelling.contains(&job_id) || self.cooling(Work::Cancel(job_id.clone())) {
            return;
        }
        self.cancelling.insert(job_id.clone());
        let ctx = self.ctx.clone();
        let id = job_id.clone();
        let handle = self.tasks.spawn(async move { carry_out_cancel(&ctx, &id).await });
        self.by_task.insert(handle.id(), Work::Cancel(job_id));
    }

    fn cooling(&mut self, work: Work) -> bool {
        let now = Instant::now();
        self.cooldown.retain(|_, until| *until > now);
        self.cooldown.contains_key(&work)
    }

    /// Whether no task runs.
    pub fn is_idle(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Waits for the next task to end and does its bookkeeping (forever while none runs).
    pub async fn next_finished(&mut self) {
        let id = match self.tasks.join_next_with_id().await {
            Some(Ok((id, ()))) => id,
            Some(Err(e)) => {
                tracing::warn!(cause = %e, "a delivery task failed");
                e.id()
            }
            None => return std::future::pending().await,
        };
        let Some(work) = self.by_task.remove(&id) else { return };
        match &work {
            Work::Deliver(job) => self.delivering.remove(job),
            Work::Cancel(job) => self.cancelling.remove(job),
        };
        self.cooldown.insert(work, Instant::now() + self.retry_cooldown);
    }
}

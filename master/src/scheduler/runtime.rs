//! The leader service "scheduler": the thin runtime around the pure planner.
//!
//! For each term this master leads: [`super::reconcile`] first, then rounds of
//!
//! 1. plan: the schedules the [`super::agenda`] lists as due (each schedule's next tick after
//!    its cursor, kept incrementally), with their active jobs, and the scheduler clock →
//!    actions ([`super::plan`]), under the state's read lock — schedules with nothing due cost
//!    nothing;
//! 2. decide: the round's `Skip`s as one `SkipBatch` entry, then its `Fire`s as ONE `FireBatch`
//!    entry (a single `SkipTick`/`Fire` when alone) — committed before anything is dispatched;
//! 3. dispatch only what `apply` accepted (read back from the `Applied` answer), each delivery a
//!    task (at most [`DISPATCHES_IN_FLIGHT`] talking to slaves at once) that commits its
//!    outcome; a `Cancel` (overlap `replace`) runs in the task of its schedule's fire, before it;
//! 4. sleep until the agenda's next tick, a change of the replicated state (the applied index
//!    in Raft's metrics), a finished delivery, or the end of the term — at most [`MAX_SLEEP`],
//!    so a clock jump is noticed.
//!
//! A fired tick without an outcome that no task of this term is delivering (a commit whose fate
//! was unknown, a delivery whose outcome could not be committed) is picked up again: the slaves
//! are asked first, as in reconciliation. The term's token ends everything at once: the loop
//! returns, dropping the task set aborts every delivery, and each delivery checks the token
//! before each call to a slave.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use openraft::type_config::async_runtime::WatchReceiver;
use raft_store::state::FireDecision;
use raft_store::state::MisfirePolicy;
use raft_store::state::OverlapPolicy;
use raft_store::state::Schedule;
use raft_store::state::SkipReason;
use raft_store::state::State;
use raft_store::state::Trigger;
use raft_store::typ::LogId;
use raft_store::Applied;
use raft_store::Command;
use raft_store::Tick;
use raft_store::TickSkip;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::agenda::Agenda;
use super::clock::Clock;
use super::clock_guard::ClockGuard;
use super::dispatch;
use super::dispatch::Ctx;
use super::dispatch::Job;
use super::outcomes::Committer;
use super::plan;
use super::plan::Action;
use super::plan::Ticks;
use super::reconcile;
use super::reconcile::Unsettled;
use crate::leader::LeaderContext;
use crate::slave_client::SlaveClient;

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Calls to slaves in flight at once (a delivery holds one only while it talks to a slave).
pub const DISPATCHES_IN_FLIGHT: usize = 32;
/// Longest sleep between two rounds.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Fires per `FireBatch` entry (a huge round is split to keep entries small).
pub const FIRES_PER_ENTRY: usize = 1000;
/// Starting deadline of a delivery when the misfire policy names none.
pub const DEFAULT_STARTING_DEADLINE_MS: u64 = 60_000;
/// Bounds of a delivery's window: at least this long after it starts, at most this after the tick.
pub const MIN_DELIVERY_WINDOW_MS: i64 = 1_000;
pub const MAX_STARTING_DEADLINE_MS: u64 = 600_000;
/// A delivery that ended without an outcome is not retried before this.
const RETRY_COOLDOWN: Duration = Duration::from_secs(5);

/// The ticks of `Trigger::Once` only (a cron trigger has none): a minimal `Ticks` for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnceTicks;

impl Ticks for OnceTicks {
    fn next_after(&self, schedule: &Schedule, after_ms: i64) -> Option<i64> {
        match schedule.spec.trigger {
            Trigger::Once { at_ms } if at_ms > after_ms => Some(at_ms),
            _ => None,
        }
    }
}

/// The leader service (see `leader::services`).
pub async fn run(ctx: LeaderContext) {
    let clock: Arc<dyn Clock> = ctx.node.clock.clone();
    // One cache of compiled triggers per term (so deleted schedules' entries end with it).
    run_with(ctx, clock, crate::cron_eval::CronTicks::new()).await
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

/// What one round decided to do.
#[derive(Debug, Default)]
struct Round {
    fires: Vec<Tick>,
    skips: Vec<(Tick, SkipReason)>,
    /// Schedule id → the job to cancel before its fire is delivered.
    cancels: BTreeMap<String, String>,
    applied: Option<LogId>,
}

/// Newest active job (pending/running, or fired and not yet delivered) of each of `schedules`.
fn active_jobs_of(s: &State, schedules: &[&Schedule]) -> BTreeMap<String, (i64, String)> {
    let mut out: BTreeMap<String, (i64, String)> = BTreeMap::new();
    if schedules.is_empty() {
        return out;
    }
    let wanted: BTreeSet<&str> = schedules.iter().map(|sch| sch.id.as_str()).collect();
    let mut offer = |sid: &str, tick: i64, job: &str| {
        let e = out.entry(sid.to_string()).or_insert((i64::MIN, String::new()));
        if tick >= e.0 {
            *e = (tick, job.to_string());
        }
    };
    for j in s.active_jobs() {
        if let (Some(sid), Some(tick)) = (&j.schedule_id, j.tick_ms) {
            if wanted.contains(sid.as_str()) {
                offer(sid, tick, &j.job_id);
            }
        }
    }
    // A fire not yet delivered is the schedule's newest record (ticks only move forward).
    for sid in wanted {
        if let Some(r) = s.fires_of(sid).next_back().filter(|r| reconcile::unsettled_record(r)) {
            if let FireDecision::Fired { job_id, .. } = &r.decision {
                offer(sid, r.tick_ms, job_id);
            }
        }
    }
    out
}

/// Plans the schedules the agenda lists as due.
fn plan_round(s: &State, due: &[String], now_ms: i64, live_since_ms: i64, ticks: &impl Ticks) -> Round {
    let schedules: Vec<&Schedule> = due.iter().filter_map(|id| s.schedules.get(id)).collect();
    // Only `forbid` and `replace` look at the running job.
    let judged: Vec<&Schedule> =
        schedules.iter().copied().filter(|sch| !matches!(sch.spec.overlap, OverlapPolicy::Allow)).collect();
    let active = active_jobs_of(s, &judged);
    let inputs = schedules.iter().map(|sch| plan::Input {
        schedule: sch,
        active_job: active.get(&sch.id).map(|(_, j)| j.as_str()),
        live_since_ms,
    });
    let mut round = Round::default();
    for action in plan::plan(inputs, now_ms, ticks) {
        match action {
            Action::Fire(t) => round.fires.push(t),
            Action::Skip { tick, reason } => round.skips.push((tick, reason)),
            Action::Cancel { job_id } => {
                if let Some(sid) = s.fire_of_job(&job_id).map(|r| r.schedule_id.clone()) {
                    round.cancels.insert(sid, job_id);
                }
            }
        }
    }
    round
}

/// What every delivery task shares.
#[derive(Clone)]
struct Shared {
    ctx: LeaderContext,
    clock: Arc<dyn Clock>,
    slave_calls: Arc<Semaphore>,
    committer: Committer,
}

impl Shared {
    fn dctx(&self) -> Ctx<'_> {
        Ctx {
            node: &self.ctx.node,
            token: &self.ctx.token,
            clock: self.clock.as_ref(),
            term: self.ctx.term,
            committer: &self.committer,
            slave_calls: &self.slave_calls,
        }
    }
}

/// The deliveries of this term.
struct Deliveries {
    tasks: JoinSet<()>,
    by_task: BTreeMap<tokio::task::Id, String>,
    in_flight: BTreeSet<String>,
    cooldown: BTreeMap<String, Instant>,
}

impl Deliveries {
    fn new() -> Self {
        Self { tasks: JoinSet::new(), by_task: BTreeMap::new(), in_flight: BTreeSet::new(), cooldown: BTreeMap::new() }
    }

    /// Starts a delivery of `job_id`: `ask_first` asks the slaves whether one has it already;
    /// `cancel` is a job to cancel first (overlap `replace`).
    fn spawn(&mut self, shared: &Shared, job_id: String, ask_first: bool, cancel: Option<String>) {
        if !self.in_flight.insert(job_id.clone()) {
            return;
        }
        let shared = shared.clone();
        let id = job_id.clone();
        let handle = self.tasks.spawn(async move {
            deliver_one(&shared, &id, ask_first, cancel).await;
        });
        self.by_task.insert(handle.id(), job_id);
    }

    /// Bookkeeping for a finished task.
    fn finished(&mut self, id: tokio::task::Id) {
        if let Some(job) = self.by_task.remove(&id) {
            self.in_flight.remove(&job);
            self.cooldown.insert(job, Instant::now() + RETRY_COOLDOWN);
        }
    }

    fn may_retry(&mut self, job_id: &str) -> bool {
        let now = Instant::now();
        self.cooldown.retain(|_, until| *until > now);
        !self.in_flight.contains(job_id) && !self.cooldown.contains_key(job_id)
    }
}

/// One delivery: builds the job from the replicated state, optionally asks the slaves first,
/// cancels what `replace` wants cancelled, delivers and commits the outcome.
async fn deliver_one(shared: &Shared, job_id: &str, ask_first: bool, cancel: Option<String>) {
    let dctx = shared.dctx();
    let node = &shared.ctx.node;
    let now = shared.clock.now_ms();
    // `None`: nothing to deliver (unknown, or it has an outcome already).
    let built = node.state.read(|s| {
        let record = s.fire_of_job(job_id).filter(|r| reconcile::unsettled_record(r))?;
        // The spec in force now (a pause or an edit after the fire does not undo the fire).
        Some(match s.schedules.get(&record.schedule_id) {
            Some(sch) => Ok(Job::new(record, job_id, sch.spec.clone(), give_up_at(sch, record.tick_ms, now))),
            None => Err(format!("schedule {} was deleted before the job was delivered", record.schedule_id)),
        })
    });
    let job = match built {
        None => return,
        Some(Err(reason)) => {
            dctx.commit_failed(job_id, reason).await;
            return;
        }
        Some(Ok(job)) => job,
    };
    if ask_first {
        let nodes = node.state.read(reconcile::up_nodes);
        match dispatch::find_on(&dctx, &nodes, &job.spec.project, job_id).await {
            Err(dispatch::TermEnded) => return,
            Ok(Some(node_id)) => {
                dctx.commit_dispatched(job_id, &node_id).await;
                return;
            }
            Ok(None) => {}
        }
    }
    if let Some(old) = cancel {
        cancel_job(&dctx, &old).await;
    }
    let outcome = dispatch::deliver(&dctx, &job).await;
    let late_ms = shared.clock.now_ms() - job.tick_ms;
    tracing::info!(term = shared.ctx.term, job = job_id, outcome = ?outcome, late_ms, "delivery ended");
}

/// Cancels `job_id` on the slave the job table has it on (overlap `replace`).
async fn cancel_job(dctx: &Ctx<'_>, job_id: &str) {
    let target = dctx.node.state.read(|s| {
        let j = s.jobs.get(&job_id.to_string()).filter(|j| !j.state.is_terminal())?;
        let n = s.nodes.get(&j.node_id)?.clone();
        Some((n, j.project.clone()))
    });
    let Some((n, project)) = target else {
        tracing::info!(job = job_id, "nothing to cancel: the job is not pending or running on a known slave");
        return;
    };
    if !dctx.may_send() {
        return;
    }
    let client =
        SlaveClient::new(dctx.node.http.clone(), &n, Duration::from_millis(dctx.node.config.slaves.request_timeout_ms));
    match client.cancel(&project, job_id).await {
        Ok(prev) => {
            tracing::info!(job = job_id, node = %n.id, prevstate = %prev, "cancelled the previous run (replace)")
        }
        Err(e) => tracing::warn!(job = job_id, node = %n.id, cause = %e, "could not cancel the previous run"),
    }
}

/// Commits a round's decisions; returns the job ids `apply` accepted as fired (with the
/// schedule each belongs to), or `None` if this node could not commit (deposed).
async fn decide(shared: &Shared, round: &Round) -> Option<Vec<(String, String)>> {
    let dctx = shared.dctx();
    for chunk in round.skips.chunks(FIRES_PER_ENTRY) {
        let cmd = match chunk {
            [(tick, reason)] => Command::SkipTick { tick: tick.clone(), reason: reason.clone() },
            many => Command::SkipBatch {
                skips: many
                    .iter()
                    .map(|(tick, reason)| TickSkip { tick: tick.clone(), reason: reason.clone() })
                    .collect(),
            },
        };
        let results = match dctx.commit(cmd).await {
            Ok(Applied::FireBatch { results }) => results,
            Ok(one) => vec![one],
            Err(dispatch::TermEnded) => return None,
        };
        for ((tick, reason), result) in chunk.iter().zip(results) {
            match result {
                Applied::Skipped => tracing::info!(term = dctx.term, tick = %tick, ?reason, "tick skipped"),
                other => tracing::debug!(tick = %tick, answer = ?other, "skip not recorded"),
            }
        }
    }
    let mut accepted = Vec::new();
    for chunk in round.fires.chunks(FIRES_PER_ENTRY) {
        let cmd = match chunk {
            [one] => Command::Fire(one.clone()),
            many => Command::FireBatch { ticks: many.to_vec() },
        };
        let results = match dctx.commit(cmd).await {
            Ok(Applied::FireBatch { results }) => results,
            Ok(one) => vec![one],
            Err(dispatch::TermEnded) => return None,
        };
        for (tick, result) in chunk.iter().zip(results) {
            match result {
                Applied::Fired { job_id } => accepted.push((tick.schedule_id.clone(), job_id)),
                other => tracing::debug!(tick = %tick, answer = ?other, "fire not accepted"),
            }
        }
    }
    Some(accepted)
}

type MetricsReceiver =
    openraft::type_config::alias::WatchReceiverOf<raft_store::TypeConfig, raft_store::typ::RaftMetrics>;

/// Waits until the applied log id differs from `seen` (forever if Raft stopped).
async fn applied_changed(rx: &mut MetricsReceiver, seen: Option<LogId>) {
    loop {
        let changed = rx.borrow_watched().last_applied != seen;
        if changed {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The runtime with an explicit clock and tick source (tests use their own).
pub async fn run_with<T: Ticks + Send + Sync + 'static>(ctx: LeaderContext, clock: Arc<dyn Clock>, ticks: T) {
    let (committer, committer_task) = Committer::start(ctx.node.clone(), ctx.token.clone(), ctx.term);
    // The committer ends with the term's token; aborting it too covers an early return.
    let _committer_task = AbortOnDrop(committer_task);
    let shared =
        Shared { ctx: ctx.clone(), clock, slave_calls: Arc::new(Semaphore::new(DISPATCHES_IN_FLIGHT)), committer };
    let mut deliveries = Deliveries::new();
    let Some(again) = reconcile::reconcile(&shared.dctx()).await else { return };
    for Unsettled { job_id, .. } in again {
        deliveries.spawn(&shared, job_id, false, None);
    }
    tracing::info!(term = ctx.term, "scheduler running");
    let mut metrics = ctx.node.raft.metrics();
    let mut last_orphan_scan = Instant::now();
    let mut agenda = Agenda::new();
    let guard = ClockGuard::new();
    // Since when this leader has planned without a break (see `plan::Input::live_since_ms`).
    let mut live_since: Option<i64> = None;
    let _guard_task =
        AbortOnDrop(tokio::spawn(guard.clone().run(ctx.node.clone(), shared.clock.clone(), ctx.token.clone())));
    loop {
        if ctx.token.is_cancelled() {
            return;
        }
        if !guard.may_plan(shared.clock.as_ref()) {
            // Ticks due until planning resumes were missed, not merely late.
            live_since = None;
            tokio::select! {
                _ = ctx.token.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
            continue;
        }
        // Read the applied id first: any change after it wakes the sleep below.
        let applied = ctx.node.state.last_applied();
        let now = shared.clock.now_ms();
        let since = *live_since.get_or_insert(now);
        // Only schedules with a due tick are planned; the agenda follows the table cheaply.
        let (mut round, due) = ctx.node.state.read(|s| {
            agenda.sync(s, &ticks);
            let due = agenda.due(now);
            (plan_round(s, &due, now, since, &ticks), due)
        });
        let due = agenda.stamps(&due);
        round.applied = applied;
        if !round.fires.is_empty() || !round.skips.is_empty() {
            // Committing changes the applied id, so the sleep below ends at once: the next
            // round plans from the moved cursors.
            let Some(accepted) = decide(&shared, &round).await else { return };
            for (sid, job_id) in accepted {
                let cancel = round.cancels.remove(&sid);
                deliveries.spawn(&shared, job_id, false, cancel);
            }
        }
        if !due.is_empty() {
            // A due schedule whose decision did not commit and whose row did not change (a lost
            // commit) waits a little instead of being planned again at once; one whose row
            // changed (an update refused the fire as stale) is planned again right away.
            ctx.node.state.read(|s| agenda.sync(s, &ticks));
            for (id, stamp) in due {
                agenda.postpone_if_unchanged(&id, stamp, now, now.saturating_add(MAX_SLEEP.as_millis() as i64));
            }
        }
        // Fired ticks nobody is delivering (an unknown commit fate, an outcome not committed).
        // A scan of the whole ledger, so only now and then.
        if last_orphan_scan.elapsed() >= RETRY_COOLDOWN {
            last_orphan_scan = Instant::now();
            let orphans: Vec<String> =
                ctx.node.state.read(|s| reconcile::unsettled(s).into_iter().map(|u| u.job_id).collect());
            for job_id in orphans {
                if deliveries.may_retry(&job_id) {
                    tracing::info!(term = ctx.term, job = %job_id, "a fire without an outcome: delivering it again");
                    deliveries.spawn(&shared, job_id, true, None);
                }
            }
        }
        let sleep = match agenda.next_wakeup().map(|at| shared.clock.until(at)) {
            // Due already but not planned (postponed, or held): look again shortly.
            Some(d) if d.is_zero() => Duration::from_millis(1),
            Some(d) => d.min(MAX_SLEEP),
            None => MAX_SLEEP,
        };
        tokio::select! {
            _ = ctx.token.cancelled() => return,
            _ = tokio::time::sleep(sleep) => {}
            _ = applied_changed(&mut metrics, round.applied) => {}
            Some(done) = deliveries.tasks.join_next_with_id(), if !deliveries.tasks.is_empty() => {
                match done {
                    Ok((id, ())) => deliveries.finished(id),
                    Err(e) => {
                        tracing::warn!(cause = %e, "a delivery task failed");
                        deliveries.finished(e.id());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "runtime_test.rs"]
mod runtime_test;

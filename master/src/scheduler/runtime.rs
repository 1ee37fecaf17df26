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
//! 3. dispatch what `apply` accepted (read back from the `Applied` answer), each delivery a task
//!    of [`Deliveries`] (at most `[scheduler] dispatches_in_flight` talking to slaves at once)
//!    that commits its outcome; a `Cancel` (overlap `replace`) runs in the task of its
//!    schedule's fire, before it;
//! 4. deliver every other fire applied since the last round ([`NewFires`], the ledger's
//!    journal): a run-now committed through any master's API, later the Scrapyd facade's
//!    `schedule.json` — at once, without asking the slaves first (nobody has sent them);
//! 5. carry out the cancel requests committed since ([`ledger::cancels_requested`]);
//! 6. sleep until the agenda's next tick, a change of the replicated state (the applied index
//!    in Raft's metrics), a finished task, or the end of the term — at most [`MAX_SLEEP`], so
//!    a clock jump is noticed.
//!
//! Recovery: a fired tick without an outcome that no task of this term is delivering (a
//! delivery whose outcome could not be committed; a fire the journal could not name, after a
//! snapshot or an overflowing burst) is found by a scan of the whole ledger every
//! `[scheduler] orphan_scan_ms` and delivered again — the slaves are asked first, as in
//! reconciliation. The term's token ends everything at once: the loop returns, dropping
//! [`Deliveries`] aborts every task, and each checks the token before each call to a slave.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use openraft::type_config::async_runtime::WatchReceiver;
use raft_store::state::OverlapPolicy;
use raft_store::state::Schedule;
use raft_store::state::SkipReason;
use raft_store::state::State;
use raft_store::typ::LogId;
use raft_store::Applied;
use raft_store::Command;
use raft_store::Tick;
use raft_store::TickSkip;
use tokio::sync::Semaphore;

use super::agenda::Agenda;
use super::clock::Clock;
use super::clock_guard::ClockGuard;
use super::cron::CronTicks;
use super::dispatch::Deliveries;
use super::dispatch::DispatchCtx;
use super::ledger;
use super::ledger::NewFires;
use super::ledger::Unsettled;
use super::plan;
use super::plan::Action;
use super::plan::Ticks;
use super::reconcile;
use crate::leader::term::TermCtx;
use crate::leader::AbortOnDrop;
use crate::leader::LeaderContext;
use crate::leader::TermEnded;

/// Longest sleep between two rounds.
pub const MAX_SLEEP: Duration = Duration::from_secs(1);
/// Fires per `FireBatch` entry (a huge round is split to keep entries small).
pub const FIRES_PER_ENTRY: usize = 1000;

/// The leader service (one of `boot::leader_services`).
pub async fn run(ctx: LeaderContext) {
    let clock: Arc<dyn Clock> = ctx.node.clock.clone();
    // One cache of compiled triggers per term (so deleted schedules' entries end with it).
    run_with(ctx, clock, CronTicks::new()).await
}

/// What one round decided to do.
#[derive(Debug, Default)]
struct Round {
    fires: Vec<Tick>,
    skips: Vec<(Tick, SkipReason)>,
    /// Schedule id → the job to cancel before its fire is delivered.
    cancels: BTreeMap<String, String>,
}

/// Plans the schedules the agenda lists as due.
fn plan_round(
    s: &State,
    due: &[String],
    now_ms: i64,
    live_since_ms: i64,
    on_time_ms: u64,
    ticks: &impl Ticks,
) -> Round {
    let schedules: Vec<&Schedule> = due.iter().filter_map(|id| s.schedules.get(id)).collect();
    // Only `forbid` and `replace` look at the running job.
    let judged: Vec<&Schedule> =
        schedules.iter().copied().filter(|sch| !matches!(sch.spec.overlap, OverlapPolicy::Allow)).collect();
    let active = ledger::active_jobs_of(s, &judged);
    let inputs = schedules.iter().map(|sch| plan::Input {
        schedule: sch,
        active_job: active.get(&sch.id).map(|(_, j)| j.as_str()),
        live_since_ms,
        on_time_ms,
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

/// Commits a round's decisions; returns the job ids `apply` accepted as fired (with the
/// schedule each belongs to), or `None` if this node could not commit (deposed).
async fn decide(term: &TermCtx, round: &Round) -> Option<Vec<(String, String)>> {
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
        let results = match term.commit(cmd).await {
            Ok(Applied::SkipBatch { results }) => results,
            Ok(one) => vec![one],
            Err(TermEnded) => return None,
        };
        for ((tick, reason), result) in chunk.iter().zip(results) {
            match result {
                Applied::Skipped => tracing::info!(term = term.term, tick = %tick, ?reason, "tick skipped"),
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
        let results = match term.commit(cmd).await {
            Ok(Applied::FireBatch { results }) => results,
            Ok(one) => vec![one],
            Err(TermEnded) => return None,
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
    let config = ctx.node.config.scheduler.clone();
    // The term's capability; its committer ends with the term (and with this function).
    let (term, _committer) = TermCtx::start(&ctx);
    let slave_calls = Arc::new(Semaphore::new(config.dispatches_in_flight));
    let mut deliveries = Deliveries::new(DispatchCtx { term: term.clone(), clock: clock.clone(), slave_calls });
    // Fires applied from here on are new to this term's deliveries: those applied before the
    // reconciliation's barrier are its business, and the rest are this term's own.
    let mut new_fires = ctx.node.state.read(NewFires::new);
    let Some(again) = reconcile::reconcile(deliveries.ctx()).await else { return };
    for Unsettled { job_id, .. } in again {
        deliveries.deliver(job_id, false, None);
    }
    tracing::info!(term = ctx.term, "scheduler running");
    let mut metrics = ctx.node.raft.metrics();
    let orphan_scan_every = Duration::from_millis(config.orphan_scan_ms);
    let mut last_orphan_scan = Instant::now();
    let mut agenda = Agenda::new();
    let guard = ClockGuard::new();
    // Since when this leader has planned without a break (see `plan::Input::live_since_ms`).
    let mut live_since: Option<i64> = None;
    let _guard_task = AbortOnDrop(tokio::spawn(guard.clone().run(ctx.node.clone(), clock.clone(), ctx.token.clone())));
    loop {
        if ctx.token.is_cancelled() {
            return;
        }
        // Read the applied id first: any change after it wakes the sleep below.
        let applied = ctx.node.state.last_applied();
        let planning = guard.may_plan(clock.as_ref());
        if planning {
            let now = clock.now_ms();
            let since = *live_since.get_or_insert(now);
            // Only schedules with a due tick are planned; the agenda follows the table cheaply.
            let (mut round, due) = ctx.node.state.read(|s| {
                agenda.sync(s, &ticks);
                let due = agenda.due(now);
                (plan_round(s, &due, now, since, config.on_time_ms, &ticks), due)
            });
            let due = agenda.stamps(&due);
            if !round.fires.is_empty() || !round.skips.is_empty() {
                // Committing changes the applied id, so the sleep below ends at once: the next
                // round plans from the moved cursors.
                let Some(accepted) = decide(&term, &round).await else { return };
                for (sid, job_id) in accepted {
                    let cancel = round.cancels.remove(&sid);
                    deliveries.deliver(job_id, false, cancel);
                }
            }
            if !due.is_empty() {
                // A due schedule whose decision did not commit and whose row did not change (a
                // lost commit) waits a little instead of being planned again at once; one whose
                // row changed (an update refused the fire as stale) is planned again right away.
                ctx.node.state.read(|s| agenda.sync(s, &ticks));
                for (id, stamp) in due {
                    agenda.postpone_if_unchanged(&id, stamp, now, now.saturating_add(MAX_SLEEP.as_millis() as i64));
                }
            }
        } else {
            // Ticks due until planning resumes were missed, not merely late. Decided fires are
            // still delivered and cancels carried out.
            live_since = None;
        }
        // Every other fire applied since the last look (a run-now through any master, the
        // facade later): delivered now, not by the recovery scan.
        let fresh = ctx.node.state.read(|s| new_fires.take(s, |job| deliveries.is_delivering(job)));
        match fresh {
            Some(jobs) => {
                for job_id in jobs {
                    tracing::info!(term = ctx.term, job = %job_id, "a newly committed fire: delivering it");
                    deliveries.deliver(job_id, false, None);
                }
            }
            // The journal could not tell (a snapshot was installed, or a burst outran it).
            None => last_orphan_scan = Instant::now() - orphan_scan_every,
        }
        for job_id in ctx.node.state.read(ledger::cancels_requested) {
            deliveries.cancel(job_id);
        }
        // Fired ticks nobody is delivering (an outcome not committed, a fire the journal could
        // not name). A scan of the whole ledger, so only now and then.
        if last_orphan_scan.elapsed() >= orphan_scan_every {
            last_orphan_scan = Instant::now();
            let orphans: Vec<String> =
                ctx.node.state.read(|s| ledger::unsettled(s).into_iter().map(|u| u.job_id).collect());
            for job_id in orphans {
                if deliveries.may_retry(&job_id) {
                    tracing::info!(term = ctx.term, job = %job_id, "a fire without an outcome: delivering it again");
                    deliveries.deliver(job_id, true, None);
                }
            }
        }
        let sleep = if !planning {
            // Planning is held by the clock guard: look again shortly.
            HELD_RECHECK
        } else {
            match agenda.next_wakeup().map(|at| clock.until(at)) {
                // Due already but not planned (postponed): look again shortly.
                Some(d) if d.is_zero() => Duration::from_millis(1),
                Some(d) => d.min(MAX_SLEEP),
                None => MAX_SLEEP,
            }
        };
        tokio::select! {
            _ = ctx.token.cancelled() => return,
            _ = tokio::time::sleep(sleep) => {}
            _ = applied_changed(&mut metrics, applied) => {}
            _ = deliveries.next_finished(), if !deliveries.is_idle() => {}
        }
    }
}

/// How often planning is retried while the clock guard holds it.
const HELD_RECHECK: Duration = Duration::from_millis(200);

#[cfg(test)]
#[path = "runtime_test.rs"]
mod runtime_test;

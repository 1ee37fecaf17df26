//! The scheduler's planner: `(schedules, now) → actions`. Pure: no clock, no I/O.
//!
//! For every active schedule it enumerates the ticks due since the schedule's cursor
//! (`last_decided_tick`, or its creation) up to `now`, and decides per the policies:
//!
//! - **Misfire.** A tick is *on time* if it is at most [`Input::on_time_ms`] late
//!   (`[scheduler] on_time_ms`, 10 s by default: scheduler loop latency and a leader failover). A tick that came
//!   due while this leader was planning ([`Input::live_since_ms`]) and is on time was not
//!   missed, only decided late (a round held up by a slow quorum): it fires, under every
//!   policy. For missed ticks (due while no leader planned): `skip` fires only an on-time
//!   newest tick; `fire_once{starting_deadline}` fires the newest due tick if it is at most the
//!   deadline late; `fire_all{cap}` fires the newest `cap` due ticks, oldest first.
//!   When nothing may fire, the newest due tick is recorded as `Skip(Misfire{late_ms})`, so the
//!   history shows a deliberate miss. Due ticks older than everything fired or recorded are
//!   passed over with ONE `Skip(PassedOver{ticks, since_ms})` record at the newest of them (not
//!   one record per tick: a week-long outage of an every-second schedule is one record).
//! - **Overlap**, judged on the replicated job table (`active_job`): `allow` fires; `forbid`
//!   records `Skip(Overlap)` instead; `replace` emits `Cancel` of the running job, then fires.
//!   Under `forbid`/`replace` at most one tick fires per plan.
//!
//! Every action carries the schedule version it was planned from, so `apply` refuses it if the
//! schedule changed (or was paused) in between, and refuses any tick already decided.

use raft_store::state::MisfirePolicy;
use raft_store::state::OverlapPolicy;
use raft_store::state::Schedule;
use raft_store::state::SkipReason;
use raft_store::state::Trigger;
use raft_store::Tick;

/// Upper bound on the ticks enumerated for one schedule in one plan.
pub const MAX_ENUMERATED: usize = 10_000;

/// Where a schedule's ticks fall. Implemented with cron expressions and time zones by the
/// runtime, and by simple arithmetic in tests.
pub trait Ticks {
    /// The first tick strictly after `after_ms` (Unix ms), if any.
    fn next_after(&self, schedule: &Schedule, after_ms: i64) -> Option<i64>;
}

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

/// What the planner wants done, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Fire(Tick),
    Skip {
        tick: Tick,
        reason: SkipReason,
    },
    /// Cancel the schedule's running job before firing (overlap policy `replace`).
    Cancel {
        job_id: String,
    },
}

/// One schedule as the planner sees it.
pub struct Input<'a> {
    pub schedule: &'a Schedule,
    /// The schedule's newest pending or running job, if any.
    pub active_job: Option<&'a str>,
    /// Since when (scheduler clock, Unix ms) this leader has been planning without a break:
    /// ticks due from then on were not missed, only decided late (a slow quorum, a burst), so
    /// each on-time one fires whatever the misfire policy. `i64::MAX`: treat every due tick by
    /// the misfire policy.
    pub live_since_ms: i64,
    /// How late a tick may be and still count as on time (`[scheduler] on_time_ms`).
    pub on_time_ms: u64,
}

fn tick(s: &Schedule, tick_ms: i64) -> Tick {
    Tick { schedule_id: s.id.clone(), tick_ms, schedule_version: s.version }
}

/// The cursor after which ticks are due: the last decided tick, or just before creation.
pub fn cursor(s: &Schedule) -> i64 {
    s.last_decided_tick.unwrap_or(s.created_at_ms as i64 - 1)
}

/// Due ticks of `s` in `(cursor, now]`: the newest `MAX_ENUMERATED` of them, oldest first, and
/// how many there are in all with the oldest one (more than the list holds after a long outage).
struct Due {
    newest: Vec<i64>,
    total: u64,
    first: Option<i64>,
}

fn due_ticks(s: &Schedule, now_ms: i64, ticks: &impl Ticks) -> Due {
    let mut out = std::collections::VecDeque::new();
    let (mut total, mut first) = (0u64, None);
    let mut at = cursor(s);
    while let Some(t) = ticks.next_after(s, at) {
        if t > now_ms || t <= at {
            break;
        }
        if out.len() == MAX_ENUMERATED {
            out.pop_front();
        }
        out.push_back(t);
        first.get_or_insert(t);
        total += 1;
        at = t;
    }
    Due { newest: out.into(), total, first }
}

/// Plans one schedule.
pub fn plan_one(input: &Input<'_>, now_ms: i64, ticks: &impl Ticks) -> Vec<Action> {
    let s = input.schedule;
    if s.paused {
        return vec![];
    }
    let Due { newest: due, total, first } = due_ticks(s, now_ms, ticks);
    let (Some(&newest), Some(first)) = (due.last(), first) else { return vec![] };
    let late = |t: i64| now_ms.saturating_sub(t).max(0) as u64;
    // The on-time ticks that came due while this leader was planning: a suffix of `due`.
    let on_time = input.on_time_ms;
    let live: Vec<i64> = due.iter().copied().filter(|t| *t >= input.live_since_ms && late(*t) <= on_time).collect();
    let fire: Vec<i64> = match &s.spec.misfire {
        MisfirePolicy::Skip | MisfirePolicy::FireOnce { .. } if !live.is_empty() => live,
        MisfirePolicy::Skip if late(newest) <= on_time => vec![newest],
        MisfirePolicy::Skip => vec![],
        MisfirePolicy::FireOnce { starting_deadline_ms } if late(newest) <= (*starting_deadline_ms).max(on_time) => {
            vec![newest]
        }
        MisfirePolicy::FireOnce { .. } => vec![],
        MisfirePolicy::FireAll { cap } => {
            let cap = (*cap).max(1) as usize;
            due[due.len().saturating_sub(cap)..].to_vec()
        }
    };
    // Under `forbid`/`replace` only the newest due tick can run.
    let fire = match (s.spec.overlap, fire.last()) {
        (OverlapPolicy::Allow, _) | (_, None) => fire,
        (_, Some(&last)) => vec![last],
    };
    // Due ticks before the first one this plan fires or records are passed over: one record
    // stands for them, so the history never has a silent gap.
    let decided_from = if fire.is_empty() { due.len() - 1 } else { due.len() - fire.len() };
    let mut actions = Vec::new();
    if decided_from > 0 {
        let passed = total - (due.len() - decided_from) as u64;
        let reason = SkipReason::PassedOver { ticks: passed, since_ms: first };
        actions.push(Action::Skip { tick: tick(s, due[decided_from - 1]), reason });
    }
    if fire.is_empty() {
        actions.push(Action::Skip { tick: tick(s, newest), reason: SkipReason::Misfire { late_ms: late(newest) } });
        return actions;
    }
    match (s.spec.overlap, input.active_job) {
        (OverlapPolicy::Allow, _) | (OverlapPolicy::Forbid | OverlapPolicy::Replace, None) => {
            actions.extend(fire.into_iter().map(|t| Action::Fire(tick(s, t))))
        }
        (OverlapPolicy::Forbid, Some(job)) => actions
            .push(Action::Skip { tick: tick(s, newest), reason: SkipReason::Overlap { job_id: job.to_string() } }),
        (OverlapPolicy::Replace, Some(job)) => {
            actions.push(Action::Cancel { job_id: job.to_string() });
            actions.push(Action::Fire(tick(s, newest)));
        }
    }
    actions
}

/// Plans every schedule, in the order given.
pub fn plan<'a>(inputs: impl IntoIterator<Item = Input<'a>>, now_ms: i64, ticks: &impl Ticks) -> Vec<Action> {
    inputs.into_iter().flat_map(|i| plan_one(&i, now_ms, ticks)).collect()
}

#[cfg(test)]
#[path = "plan_test.rs"]
mod plan_test;

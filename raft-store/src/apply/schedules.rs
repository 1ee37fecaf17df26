//! Schedules and the fire ledger: the exactly-once cursor lives here.

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::command::Tick;
use crate::state::fire_ledger::job_id_for;
use crate::state::fire_ledger::FIRES_KEPT_PER_SCHEDULE;
use crate::state::CancelState;
use crate::state::DispatchState;
use crate::state::FireDecision;
use crate::state::FireRecord;
use crate::state::JobRecord;
use crate::state::JobState;
use crate::state::Schedule;
use crate::state::ScheduleSpec;
use crate::state::SkipReason;
use crate::state::State;

pub(super) fn create(state: &mut State, log_index: u64, now: u64, spec: &ScheduleSpec) -> Applied {
    let id = format!("sch-{log_index}");
    if state.schedules.contains(&id) {
        return Applied::rejected(Rejection::AlreadyExists);
    }
    state.schedules.insert(
        id.clone(),
        Schedule {
            id: id.clone(),
            version: 1,
            spec: spec.clone(),
            paused: false,
            created_at_ms: now,
            updated_at_ms: now,
            last_decided_tick: None,
        },
    );
    Applied::Schedule { id, version: 1 }
}

fn check_version(s: &Schedule, expected: Option<u64>) -> Result<(), Rejection> {
    match expected {
        Some(v) if v != s.version => Err(Rejection::VersionConflict { current_version: s.version }),
        _ => Ok(()),
    }
}

pub(super) fn update(state: &mut State, now: u64, id: &str, expected: Option<u64>, spec: &ScheduleSpec) -> Applied {
    let Some(s) = state.schedules.get(&id.to_string()) else {
        return Applied::rejected(Rejection::UnknownSchedule);
    };
    if let Err(r) = check_version(s, expected) {
        return Applied::rejected(r);
    }
    let Some(s) = state.schedules.get_mut(&id.to_string()) else {
        return Applied::rejected(Rejection::UnknownSchedule);
    };
    s.version += 1;
    s.spec = spec.clone();
    s.updated_at_ms = now;
    Applied::Schedule { id: id.to_string(), version: s.version }
}

pub(super) fn set_paused(state: &mut State, now: u64, id: &str, paused: bool) -> Applied {
    let key = id.to_string();
    match state.schedules.get(&key) {
        None => return Applied::rejected(Rejection::UnknownSchedule),
        Some(s) if s.paused == paused => return Applied::Unchanged,
        Some(_) => {}
    }
    let Some(s) = state.schedules.get_mut(&key) else {
        return Applied::rejected(Rejection::UnknownSchedule);
    };
    s.paused = paused;
    s.version += 1;
    s.updated_at_ms = now;
    Applied::Schedule { id: key, version: s.version }
}

pub(super) fn delete(state: &mut State, id: &str, expected: Option<u64>) -> Applied {
    let key = id.to_string();
    let Some(s) = state.schedules.get(&key) else {
        return Applied::rejected(Rejection::UnknownSchedule);
    };
    if let Err(r) = check_version(s, expected) {
        return Applied::rejected(r);
    }
    state.schedules.remove(&key);
    Applied::Done
}

/// The exactly-once rule: may `tick` be decided now? On success, the project and spider its
/// schedule runs (what the ledger record copies).
fn judge(state: &State, tick: &Tick) -> Result<(String, String), Rejection> {
    let Some(s) = state.schedules.get(&tick.schedule_id) else {
        return Err(Rejection::UnknownSchedule);
    };
    if let Some(last) = s.last_decided_tick {
        if tick.tick_ms <= last {
            return Err(Rejection::AlreadyFired { last_decided_tick: last });
        }
    }
    if s.paused || s.version != tick.schedule_version {
        return Err(Rejection::Stale { current_version: s.version, paused: s.paused });
    }
    // Not the whole schedule: a batch judges hundreds.
    Ok((s.spec.project.clone(), s.spec.spider.clone()))
}

/// Moves the cursor and writes the ledger record of an accepted decision.
fn decide(state: &mut State, now: u64, tick: &Tick, (project, spider): (String, String), decision: FireDecision) {
    if let Some(s) = state.schedules.get_mut(&tick.schedule_id) {
        s.last_decided_tick = Some(tick.tick_ms);
    }
    let key = (tick.schedule_id.clone(), tick.tick_ms);
    if let FireDecision::Fired { job_id, .. } = &decision {
        state.fire_by_job.insert(job_id.clone(), key.clone());
    }
    state.fires.insert(
        key,
        FireRecord {
            schedule_id: tick.schedule_id.clone(),
            tick_ms: tick.tick_ms,
            project,
            spider,
            schedule_version: tick.schedule_version,
            decided_at_ms: now,
            decision,
        },
    );
    prune_ledger(state, &tick.schedule_id);
}

/// Keeps at most `FIRES_KEPT_PER_SCHEDULE` records per schedule, dropping the oldest whose
/// dispatch is settled (a pending dispatch is never forgotten: a new leader must reconcile it).
fn prune_ledger(state: &mut State, schedule_id: &str) {
    let count = state.fires_of(schedule_id).count();
    if count <= FIRES_KEPT_PER_SCHEDULE {
        return;
    }
    let victims: Vec<(String, i64, Option<String>)> = state
        .fires_of(schedule_id)
        .filter(|r| !matches!(r.decision, FireDecision::Fired { dispatch: DispatchState::Pending, .. }))
        .take(count - FIRES_KEPT_PER_SCHEDULE)
        .map(|r| {
            let job = match &r.decision {
                FireDecision::Fired { job_id, .. } => Some(job_id.clone()),
                FireDecision::Skipped { .. } => None,
            };
            (r.schedule_id.clone(), r.tick_ms, job)
        })
        .collect();
    for (sid, tick, job) in victims {
        state.fires.remove(&(sid, tick));
        if let Some(job) = job {
            state.fire_by_job.remove(&job);
        }
    }
}

pub(super) fn fire(state: &mut State, now: u64, tick: &Tick) -> Applied {
    let what = match judge(state, tick) {
        Ok(w) => w,
        Err(r) => return Applied::rejected(r),
    };
    let job_id = job_id_for(&tick.schedule_id, tick.tick_ms);
    let decision = FireDecision::Fired { job_id: job_id.clone(), dispatch: DispatchState::Pending };
    decide(state, now, tick, what, decision);
    Applied::Fired { job_id }
}

pub(super) fn skip(state: &mut State, now: u64, tick: &Tick, reason: &SkipReason) -> Applied {
    let what = match judge(state, tick) {
        Ok(w) => w,
        Err(r) => return Applied::rejected(r),
    };
    decide(state, now, tick, what, FireDecision::Skipped { reason: reason.clone() });
    Applied::Skipped
}

/// The ledger key of fired job `job_id`, or why there is none.
fn fired_key(state: &State, job_id: &str) -> Result<(String, i64), Rejection> {
    let key = state.fire_by_job.get(job_id).ok_or(Rejection::UnknownJob)?;
    match state.fires.get(key).map(|r| &r.decision) {
        Some(FireDecision::Fired { .. }) => Ok(key.clone()),
        Some(FireDecision::Skipped { .. }) => {
            Err(Rejection::Conflict { detail: format!("{job_id} was skipped, not fired") })
        }
        None => Err(Rejection::UnknownJob),
    }
}

pub(super) fn dispatched(state: &mut State, now: u64, job_id: &str, node_id: &str) -> Applied {
    let key = match fired_key(state, job_id) {
        Ok(k) => k,
        Err(r) => return Applied::rejected(r),
    };
    if !state.nodes.contains(&node_id.to_string()) {
        return Applied::rejected(Rejection::UnknownNode);
    }
    let Some(record) = state.fires.get_mut(&key) else {
        return Applied::rejected(Rejection::UnknownJob);
    };
    let (project, spider) = (record.project.clone(), record.spider.clone());
    // A fire dropped by `CancelJob` while this delivery was on the wire: the slave has it now,
    // so the drop becomes a cancel request the leader carries out there.
    let mut dropped = false;
    if let FireDecision::Fired { dispatch, .. } = &mut record.decision {
        dropped = matches!(dispatch, DispatchState::Cancelled { .. });
        let attempts = match dispatch {
            DispatchState::Dispatched { attempts, .. } => *attempts + 1,
            _ => 1,
        };
        *dispatch = DispatchState::Dispatched { node_id: node_id.to_string(), at_ms: now, attempts };
    }
    let requested = dropped.then_some(CancelState::Requested { at_ms: now });
    let job_key = job_id.to_string();
    match state.jobs.get(&job_key) {
        Some(job) => {
            let cancel = match &job.cancel {
                None => requested,
                kept => kept.clone(),
            };
            let moved = JobRecord { node_id: node_id.to_string(), updated_at_ms: now, cancel, ..job.clone() };
            state.put_job(moved);
        }
        None => {
            state.put_job(JobRecord {
                job_id: job_id.to_string(),
                node_id: node_id.to_string(),
                project,
                spider,
                state: JobState::Pending,
                schedule_id: Some(key.0.clone()),
                tick_ms: Some(key.1),
                start_ms: None,
                end_ms: None,
                outcome: None,
                created_at_ms: now,
                updated_at_ms: now,
                cancel: requested,
            });
            super::jobs::prune(state);
        }
    }
    Applied::Done
}

pub(super) fn dispatch_failed(state: &mut State, now: u64, job_id: &str, reason: &str) -> Applied {
    let key = match fired_key(state, job_id) {
        Ok(k) => k,
        Err(r) => return Applied::rejected(r),
    };
    let Some(FireRecord { decision: FireDecision::Fired { dispatch, .. }, .. }) = state.fires.get(&key) else {
        return Applied::rejected(Rejection::UnknownJob);
    };
    if let DispatchState::Dispatched { node_id, .. } = dispatch {
        return Applied::rejected(Rejection::Conflict {
            detail: format!("{job_id} was already accepted by {node_id}"),
        });
    }
    // Dropped by `CancelJob` meanwhile: it stays dropped (a delivery gave up on it anyway).
    if matches!(dispatch, DispatchState::Cancelled { .. }) {
        return Applied::Unchanged;
    }
    if let Some(FireRecord { decision: FireDecision::Fired { dispatch, .. }, .. }) = state.fires.get_mut(&key) {
        *dispatch = DispatchState::Failed { reason: reason.to_string(), at_ms: now };
    }
    Applied::Done
}

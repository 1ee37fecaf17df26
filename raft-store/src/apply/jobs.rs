//! Job records merged from the slaves' reports, and cancel requests with their outcomes.

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::state::jobs::JOBS_KEPT;
use crate::state::CancelState;
use crate::state::DispatchState;
use crate::state::FireDecision;
use crate::state::FireRecord;
use crate::state::JobRecord;
use crate::state::JobReport;
use crate::state::State;

pub(super) fn report(state: &mut State, now: u64, r: &JobReport) -> Applied {
    let key = r.job_id.clone();
    let Some(existing) = state.jobs.get(&key) else {
        let fire = state.fire_of_job(&r.job_id);
        let (schedule_id, tick_ms) = match fire {
            Some(f) => (Some(f.schedule_id.clone()), Some(f.tick_ms)),
            None => (None, None),
        };
        // A fire dropped by `CancelJob` that a slave took after all (a delivery on the wire
        // when the cancel was applied): cancel it there.
        let cancel = fire.filter(|f| dropped(f)).map(|_| CancelState::Requested { at_ms: now });
        state.put_job(JobRecord {
            job_id: r.job_id.clone(),
            node_id: r.node_id.clone(),
            project: r.project.clone(),
            spider: r.spider.clone(),
            state: r.state,
            schedule_id,
            tick_ms,
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            outcome: r.outcome.clone(),
            created_at_ms: now,
            updated_at_ms: now,
            cancel,
        });
        prune(state);
        return Applied::Done;
    };
    if existing.node_id != r.node_id {
        return Applied::rejected(Rejection::Conflict {
            detail: format!("job {} is on {}, reported by {}", r.job_id, existing.node_id, r.node_id),
        });
    }
    // States only move forward; an older observation arriving late changes nothing.
    let mut merged = existing.clone();
    merged.state = existing.state.max(r.state);
    merged.start_ms = existing.start_ms.or(r.start_ms);
    merged.end_ms = r.end_ms.or(existing.end_ms);
    if r.outcome.is_some() {
        merged.outcome = r.outcome.clone();
    }
    if &merged == existing {
        return Applied::Unchanged;
    }
    merged.updated_at_ms = now;
    state.put_job(merged);
    Applied::Done
}

/// Keeps at most `JOBS_KEPT` records by dropping the oldest finished ones.
pub(super) fn prune(state: &mut State) {
    let excess = state.jobs.len().saturating_sub(JOBS_KEPT);
    if excess == 0 {
        return;
    }
    let oldest: Vec<String> = state.terminal_job_ids().take(excess).map(str::to_string).collect();
    for id in oldest {
        state.remove_job(&id);
    }
}

/// Whether a ledger record is a fire dropped before delivery.
pub(super) fn dropped(f: &FireRecord) -> bool {
    matches!(f.decision, FireDecision::Fired { dispatch: DispatchState::Cancelled { .. }, .. })
}

/// `CancelJob`: drop a fire no slave has, or record a cancel request of a job a slave has.
pub(super) fn cancel(state: &mut State, now: u64, job_id: &str) -> Applied {
    let key = job_id.to_string();
    // The job table first: a job a slave reported is on that slave, whatever the fire's record
    // says (its `Dispatched` may not be committed yet).
    if let Some(job) = state.jobs.get(&key) {
        if job.state.is_terminal() {
            return Applied::rejected(Rejection::Conflict {
                detail: format!("job {job_id} already ended ({:?})", job.state),
            });
        }
        let node_id = job.node_id.clone();
        if !matches!(job.cancel, Some(CancelState::Requested { .. })) {
            let requested =
                JobRecord { cancel: Some(CancelState::Requested { at_ms: now }), updated_at_ms: now, ..job.clone() };
            state.put_job(requested);
        }
        return Applied::CancelRequested { node_id };
    }
    let Some(fire) = state.fire_of_job(job_id) else {
        return Applied::rejected(Rejection::UnknownJob);
    };
    let detail = match &fire.decision {
        FireDecision::Fired { dispatch: DispatchState::Pending, .. } => None,
        FireDecision::Fired { dispatch: DispatchState::Failed { .. }, .. } => {
            Some(format!("job {job_id} was never delivered (its dispatch failed)"))
        }
        FireDecision::Fired { dispatch: DispatchState::Cancelled { .. }, .. } => {
            Some(format!("job {job_id} was already dropped before delivery"))
        }
        // Delivered, and its job record pruned: it ended long ago.
        FireDecision::Fired { dispatch: DispatchState::Dispatched { .. }, .. } => {
            Some(format!("job {job_id} already ended"))
        }
        FireDecision::Skipped { .. } => return Applied::rejected(Rejection::UnknownJob),
    };
    if let Some(detail) = detail {
        return Applied::rejected(Rejection::Conflict { detail });
    }
    let Some(key) = state.fire_by_job.get(job_id).cloned() else {
        return Applied::rejected(Rejection::UnknownJob);
    };
    if let Some(FireRecord { decision: FireDecision::Fired { dispatch, .. }, .. }) = state.fires.get_mut(&key) {
        *dispatch = DispatchState::Cancelled { at_ms: now };
    }
    Applied::FireDropped
}

/// `Cancelled` / `CancelFailed`: the leader's outcome of an open cancel request.
fn settle(state: &mut State, now: u64, job_id: &str, node_id: Option<&str>, outcome: CancelState) -> Applied {
    let Some(job) = state.jobs.get(&job_id.to_string()) else {
        return Applied::rejected(Rejection::UnknownJob);
    };
    if let Some(n) = node_id.filter(|n| *n != job.node_id) {
        return Applied::rejected(Rejection::Conflict {
            detail: format!("job {job_id} is on {}, not {n}", job.node_id),
        });
    }
    if !matches!(job.cancel, Some(CancelState::Requested { .. })) {
        return Applied::rejected(Rejection::Conflict { detail: format!("job {job_id} has no open cancel request") });
    }
    let settled = JobRecord { cancel: Some(outcome), updated_at_ms: now, ..job.clone() };
    state.put_job(settled);
    Applied::Done
}

pub(super) fn cancelled(state: &mut State, now: u64, job_id: &str, node_id: &str, prevstate: &str) -> Applied {
    let outcome = CancelState::Cancelled { prevstate: prevstate.to_string(), at_ms: now };
    settle(state, now, job_id, Some(node_id), outcome)
}

pub(super) fn cancel_failed(state: &mut State, now: u64, job_id: &str, reason: &str) -> Applied {
    settle(state, now, job_id, None, CancelState::Failed { reason: reason.to_string(), at_ms: now })
}

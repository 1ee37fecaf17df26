//! Job records merged from the slaves' reports.

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::state::jobs::JOBS_KEPT;
use crate::state::JobRecord;
use crate::state::JobReport;
use crate::state::State;

pub(super) fn report(state: &mut State, now: u64, r: &JobReport) -> Applied {
    let key = r.job_id.clone();
    let Some(existing) = state.jobs.get(&key) else {
        let (schedule_id, tick_ms) = match state.fire_of_job(&r.job_id) {
            Some(f) => (Some(f.schedule_id.clone()), Some(f.tick_ms)),
            None => (None, None),
        };
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

//! `apply` of cancel requests and their outcomes, and the batch answers' own variants.

use super::apply_test::report;
use super::apply_test::tick;
use super::apply_test::Log;
use crate::applied::Applied;
use crate::applied::Rejection;
use crate::command::Command;
use crate::command::TickSkip;
use crate::state::*;

fn cancel(job: &str) -> Command {
    Command::CancelJob { job_id: job.into() }
}

fn dispatch_of(log: &Log, job: &str) -> DispatchState {
    match log.state.fire_of_job(job).map(|r| &r.decision) {
        Some(FireDecision::Fired { dispatch, .. }) => dispatch.clone(),
        other => panic!("{job}: {other:?}"),
    }
}

fn cancel_of(log: &Log, job: &str) -> Option<CancelState> {
    log.state.jobs.get(&job.to_string()).and_then(|j| j.cancel.clone())
}

#[test]
fn a_fire_not_yet_delivered_is_dropped_and_never_pending_again() {
    let mut log = Log::new();
    let id = log.create_schedule();
    log.run(Command::Fire(tick(&id, 1_000, 1)));
    let job = format!("{id}-t1000");
    assert_eq!(log.state.pending_dispatches().count(), 1);
    assert_eq!(log.run(cancel(&job)), Applied::FireDropped);
    assert!(matches!(dispatch_of(&log, &job), DispatchState::Cancelled { .. }));
    assert_eq!(log.state.pending_dispatches().count(), 0, "nobody delivers a dropped fire");
    // Dropping it again, or a late failure of a delivery that gave up, changes nothing.
    assert!(matches!(log.rejected(cancel(&job)), Rejection::Conflict { detail } if detail.contains("dropped")));
    let failed = Command::DispatchFailed { job_id: job.clone(), reason: "gave up".into() };
    assert_eq!(log.run(failed), Applied::Unchanged);
    assert!(matches!(dispatch_of(&log, &job), DispatchState::Cancelled { .. }));
}

#[test]
fn a_dropped_fire_that_a_slave_took_after_all_gets_a_cancel_request() {
    let mut log = Log::new();
    log.register_node("s1");
    let id = log.create_schedule();
    log.run(Command::Fire(tick(&id, 1_000, 1)));
    log.run(Command::Fire(tick(&id, 2_000, 1)));
    let (a, b) = (format!("{id}-t1000"), format!("{id}-t2000"));
    assert_eq!(log.run(cancel(&a)), Applied::FireDropped);
    assert_eq!(log.run(cancel(&b)), Applied::FireDropped);
    // a: the delivery on the wire lands and is committed.
    assert_eq!(log.run(Command::Dispatched { job_id: a.clone(), node_id: "s1".into() }), Applied::Done);
    assert!(matches!(dispatch_of(&log, &a), DispatchState::Dispatched { .. }));
    assert!(matches!(cancel_of(&log, &a), Some(CancelState::Requested { .. })));
    // b: the collector sees it on the slave before (or without) its `Dispatched`.
    assert_eq!(log.run(Command::ReportJob(report(&b, "s1", JobState::Running))), Applied::Done);
    assert!(matches!(cancel_of(&log, &b), Some(CancelState::Requested { .. })));
    let open: Vec<&str> = log.state.cancels_requested().collect();
    assert_eq!(open, [a.as_str(), b.as_str()]);
}

#[test]
fn a_job_on_a_slave_gets_one_open_request_until_the_leader_settles_it() {
    let mut log = Log::new();
    log.register_node("s1");
    let id = log.create_schedule();
    log.run(Command::Fire(tick(&id, 1_000, 1)));
    let job = format!("{id}-t1000");
    log.run(Command::Dispatched { job_id: job.clone(), node_id: "s1".into() });
    assert_eq!(log.run(cancel(&job)), Applied::CancelRequested { node_id: "s1".into() });
    let Some(CancelState::Requested { at_ms }) = cancel_of(&log, &job) else { panic!("requested") };
    // Asked again while open: the same answer, the same request.
    assert_eq!(log.run(cancel(&job)), Applied::CancelRequested { node_id: "s1".into() });
    assert_eq!(cancel_of(&log, &job), Some(CancelState::Requested { at_ms }));
    assert_eq!(log.state.cancels_requested().count(), 1);
    // The outcome must name the job's node and an open request.
    let elsewhere = Command::Cancelled { job_id: job.clone(), node_id: "s2".into(), prevstate: "running".into() };
    assert!(matches!(log.rejected(elsewhere), Rejection::Conflict { .. }));
    let done = Command::Cancelled { job_id: job.clone(), node_id: "s1".into(), prevstate: "running".into() };
    assert_eq!(log.run(done.clone()), Applied::Done);
    assert!(matches!(cancel_of(&log, &job), Some(CancelState::Cancelled { prevstate, .. }) if prevstate == "running"));
    assert_eq!(log.state.cancels_requested().count(), 0);
    assert!(matches!(log.rejected(done), Rejection::Conflict { detail } if detail.contains("no open cancel")));
    // A failed cancel can be asked again.
    assert_eq!(log.run(cancel(&job)), Applied::CancelRequested { node_id: "s1".into() });
    let failed = Command::CancelFailed { job_id: job.clone(), reason: "s1: unreachable".into() };
    assert_eq!(log.run(failed), Applied::Done);
    assert!(
        matches!(cancel_of(&log, &job), Some(CancelState::Failed { reason, .. }) if reason.contains("unreachable"))
    );
    // The job ending: no cancel any more.
    log.run(Command::ReportJob(report(&job, "s1", JobState::Finished)));
    assert!(matches!(log.rejected(cancel(&job)), Rejection::Conflict { detail } if detail.contains("already ended")));
}

#[test]
fn unknown_or_never_delivered_jobs_cannot_be_cancelled() {
    let mut log = Log::new();
    let id = log.create_schedule();
    assert_eq!(log.rejected(cancel("nope")), Rejection::UnknownJob);
    assert_eq!(
        log.rejected(Command::Cancelled { job_id: "nope".into(), node_id: "s1".into(), prevstate: String::new() }),
        Rejection::UnknownJob
    );
    log.run(Command::Fire(tick(&id, 1_000, 1)));
    let job = format!("{id}-t1000");
    log.run(Command::DispatchFailed { job_id: job.clone(), reason: "no node is up".into() });
    assert!(matches!(log.rejected(cancel(&job)), Rejection::Conflict { detail } if detail.contains("never delivered")));
    // No cancel request on a job that has none.
    log.run(Command::ReportJob(report("direct", "s1", JobState::Running)));
    let failed = Command::CancelFailed { job_id: "direct".into(), reason: "x".into() };
    assert!(matches!(log.rejected(failed), Rejection::Conflict { .. }));
}

#[test]
fn each_batch_kind_answers_with_its_own_variant() {
    let mut log = Log::new();
    log.register_node("s1");
    let id = log.create_schedule();
    let fired = log.run(Command::FireBatch { ticks: vec![tick(&id, 1_000, 1), tick(&id, 2_000, 1)] });
    assert!(matches!(&fired, Applied::FireBatch { results } if results.len() == 2), "{fired:?}");
    let skips = vec![
        TickSkip { tick: tick(&id, 3_000, 1), reason: SkipReason::Misfire { late_ms: 1 } },
        TickSkip { tick: tick(&id, 3_000, 1), reason: SkipReason::Misfire { late_ms: 1 } },
    ];
    let skipped = log.run(Command::SkipBatch { skips });
    assert_eq!(
        skipped,
        Applied::SkipBatch {
            results: vec![Applied::Skipped, Applied::Rejected(Rejection::AlreadyFired { last_decided_tick: 3_000 })]
        }
    );
    let batch = log.run(Command::Batch { commands: vec![cancel(&format!("{id}-t1000")), cancel("nope")] });
    assert_eq!(batch, Applied::Batch { results: vec![Applied::FireDropped, Applied::Rejected(Rejection::UnknownJob)] });
}

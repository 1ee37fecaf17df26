//! Unit tests of `apply`: every command, every rejection, and that a rejection changes nothing.

use std::collections::BTreeMap;

use super::apply;
use crate::applied::Applied;
use crate::applied::Rejection;
use crate::command::Command;
use crate::command::Tick;
use crate::log_entry::LogEntry;
use crate::state::*;

pub(crate) fn spec() -> ScheduleSpec {
    ScheduleSpec {
        project: "demo".into(),
        spider: "quotes".into(),
        egg_version: None,
        args: BTreeMap::from([("a".into(), "1".into())]),
        settings: BTreeMap::new(),
        priority: 0,
        node_selector: vec![],
        trigger: Trigger::Cron { expr: "*/5 * * * * *".into(), timezone: "UTC".into() },
        misfire: MisfirePolicy::default(),
        overlap: OverlapPolicy::Allow,
    }
}

pub(super) fn node_spec() -> NodeSpec {
    NodeSpec {
        url: "http://127.0.0.1:6800".into(),
        username: Some("u".into()),
        password: Some(Secret("hunter2-secret".into())),
        tags: vec!["eu".into()],
        max_proc: Some(4),
    }
}

/// A tiny log driver: applies commands at increasing indexes with a fixed clock.
pub(super) struct Log {
    pub(super) state: State,
    index: u64,
    now: u64,
}

impl Log {
    pub(super) fn new() -> Self {
        Self { state: State::default(), index: 0, now: 1_000 }
    }

    pub(super) fn run(&mut self, command: Command) -> Applied {
        self.index += 1;
        self.now += 10;
        apply(&mut self.state, self.index, &LogEntry::new(self.now, command))
    }

    /// Runs a command that must be rejected and checks the state did not change.
    pub(super) fn rejected(&mut self, command: Command) -> Rejection {
        let before = self.state.clone();
        let digest = before.digest();
        match self.run(command) {
            Applied::Rejected(r) => {
                assert!(self.state == before, "a rejected command changed the state");
                assert_eq!(self.state.digest(), digest);
                r
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    pub(super) fn create_schedule(&mut self) -> String {
        match self.run(Command::CreateSchedule { spec: spec() }) {
            Applied::Schedule { id, version: 1 } => id,
            other => panic!("create failed: {other:?}"),
        }
    }

    pub(super) fn register_node(&mut self, id: &str) {
        assert_eq!(self.run(Command::RegisterNode { id: id.into(), spec: node_spec() }), Applied::Done);
    }
}

pub(super) fn tick(id: &str, tick_ms: i64, version: u64) -> Tick {
    Tick { schedule_id: id.into(), tick_ms, schedule_version: version }
}

#[test]
fn create_schedule_derives_id_from_log_index() {
    let mut log = Log::new();
    let id = log.create_schedule();
    assert_eq!(id, "sch-1");
    let s = log.state.schedules.get(&id).unwrap();
    assert_eq!(s.version, 1);
    assert_eq!(s.created_at_ms, 1_010);
    assert_eq!(s.last_decided_tick, None);
}

#[test]
fn update_bumps_version_and_checks_expected_version() {
    let mut log = Log::new();
    let id = log.create_schedule();
    let mut s2 = spec();
    s2.spider = "other".into();
    assert_eq!(
        log.run(Command::UpdateSchedule { id: id.clone(), expected_version: Some(1), spec: s2.clone() }),
        Applied::Schedule { id: id.clone(), version: 2 }
    );
    assert_eq!(log.state.schedules.get(&id).unwrap().spec.spider, "other");
    assert_eq!(
        log.rejected(Command::UpdateSchedule { id: id.clone(), expected_version: Some(1), spec: spec() }),
        Rejection::VersionConflict { current_version: 2 }
    );
    assert_eq!(
        log.rejected(Command::UpdateSchedule { id: "sch-99".into(), expected_version: None, spec: spec() }),
        Rejection::UnknownSchedule
    );
    // Without an expected version the update always applies.
    assert_eq!(
        log.run(Command::UpdateSchedule { id: id.clone(), expected_version: None, spec: spec() }),
        Applied::Schedule { id, version: 3 }
    );
}

#[test]
fn pause_and_resume_bump_version_and_are_idempotent() {
    let mut log = Log::new();
    let id = log.create_schedule();
    assert_eq!(log.run(Command::PauseSchedule { id: id.clone() }), Applied::Schedule { id: id.clone(), version: 2 });
    assert_eq!(log.run(Command::PauseSchedule { id: id.clone() }), Applied::Unchanged);
    assert_eq!(log.run(Command::ResumeSchedule { id: id.clone() }), Applied::Schedule { id: id.clone(), version: 3 });
    assert_eq!(log.run(Command::ResumeSchedule { id: id.clone() }), Applied::Unchanged);
    assert_eq!(log.rejected(Command::PauseSchedule { id: "nope".into() }), Rejection::UnknownSchedule);
    assert_eq!(log.rejected(Command::ResumeSchedule { id: "nope".into() }), Rejection::UnknownSchedule);
}

#[test]
fn delete_schedule_checks_existence_and_version() {
    let mut log = Log::new();
    let id = log.create_schedule();
    assert_eq!(
        log.rejected(Command::DeleteSchedule { id: id.clone(), expected_version: Some(7) }),
        Rejection::VersionConflict { current_version: 1 }
    );
    assert_eq!(log.run(Command::DeleteSchedule { id: id.clone(), expected_version: Some(1) }), Applied::Done);
    assert!(log.state.schedules.is_empty());
    assert_eq!(log.rejected(Command::DeleteSchedule { id, expected_version: None }), Rejection::UnknownSchedule);
}

#[test]
fn fire_accepts_each_tick_once_with_a_deterministic_job_id() {
    let mut log = Log::new();
    let id = log.create_schedule();
    let t = tick(&id, 5_000, 1);
    assert_eq!(log.run(Command::Fire(t.clone())), Applied::Fired { job_id: "sch-1-t5000".into() });
    assert_eq!(log.state.schedules.get(&id).unwrap().last_decided_tick, Some(5_000));
    let rec = log.state.fires.get(&(id.clone(), 5_000)).unwrap();
    assert_eq!(rec.project, "demo");
    assert!(matches!(
        &rec.decision,
        FireDecision::Fired { job_id, dispatch: DispatchState::Pending } if job_id == "sch-1-t5000"
    ));
    assert_eq!(log.rejected(Command::Fire(t)), Rejection::AlreadyFired { last_decided_tick: 5_000 });
    // An earlier tick is also refused: the cursor only moves forward.
    assert_eq!(log.rejected(Command::Fire(tick(&id, 4_000, 1))), Rejection::AlreadyFired { last_decided_tick: 5_000 });
    assert_eq!(log.run(Command::Fire(tick(&id, 10_000, 1))), Applied::Fired { job_id: "sch-1-t10000".into() });
    assert_eq!(log.state.pending_dispatches().count(), 2);
}

#[test]
fn fire_is_refused_for_unknown_stale_or_paused_schedules() {
    let mut log = Log::new();
    assert_eq!(log.rejected(Command::Fire(tick("sch-9", 1, 1))), Rejection::UnknownSchedule);
    let id = log.create_schedule();
    assert_eq!(log.rejected(Command::Fire(tick(&id, 1, 2))), Rejection::Stale { current_version: 1, paused: false });
    log.run(Command::PauseSchedule { id: id.clone() });
    // Planned from the version before the pause: stale.
    assert_eq!(log.rejected(Command::Fire(tick(&id, 1, 1))), Rejection::Stale { current_version: 2, paused: true });
    // Even with the paused version itself: a paused schedule fires nothing.
    assert_eq!(log.rejected(Command::Fire(tick(&id, 1, 2))), Rejection::Stale { current_version: 2, paused: true });
    log.run(Command::DeleteSchedule { id: id.clone(), expected_version: None });
    assert_eq!(log.rejected(Command::Fire(tick(&id, 1, 2))), Rejection::UnknownSchedule);
}

#[test]
fn fire_batch_judges_each_tick_alone() {
    let mut log = Log::new();
    let a = log.create_schedule();
    let b = log.create_schedule();
    let r = log.run(Command::FireBatch {
        ticks: vec![tick(&a, 1_000, 1), tick(&a, 1_000, 1), tick(&b, 1_000, 5), tick(&b, 2_000, 1)],
    });
    assert_eq!(
        r,
        Applied::FireBatch {
            results: vec![
                Applied::Fired { job_id: format!("{a}-t1000") },
                Applied::Rejected(Rejection::AlreadyFired { last_decided_tick: 1_000 }),
                Applied::Rejected(Rejection::Stale { current_version: 1, paused: false }),
                Applied::Fired { job_id: format!("{b}-t2000") },
            ]
        }
    );
}

#[test]
fn skip_tick_moves_the_cursor_and_records_the_reason() {
    let mut log = Log::new();
    let id = log.create_schedule();
    let reason = SkipReason::Overlap { job_id: "x".into() };
    assert_eq!(log.run(Command::SkipTick { tick: tick(&id, 3_000, 1), reason: reason.clone() }), Applied::Skipped);
    assert_eq!(log.state.schedules.get(&id).unwrap().last_decided_tick, Some(3_000));
    assert_eq!(log.state.fires.get(&(id.clone(), 3_000)).unwrap().decision, FireDecision::Skipped { reason });
    assert_eq!(log.rejected(Command::Fire(tick(&id, 3_000, 1))), Rejection::AlreadyFired { last_decided_tick: 3_000 });
    assert_eq!(
        log.rejected(Command::SkipTick { tick: tick(&id, 2_000, 1), reason: SkipReason::Misfire { late_ms: 1 } }),
        Rejection::AlreadyFired { last_decided_tick: 3_000 }
    );
}

#[test]
fn dispatch_outcomes_update_the_ledger_and_create_the_job() {
    let mut log = Log::new();
    let id = log.create_schedule();
    log.register_node("s1");
    log.run(Command::Fire(tick(&id, 1_000, 1)));
    let job = format!("{id}-t1000");
    assert_eq!(
        log.rejected(Command::Dispatched { job_id: "nope".into(), node_id: "s1".into() }),
        Rejection::UnknownJob
    );
    assert_eq!(log.rejected(Command::Dispatched { job_id: job.clone(), node_id: "s9".into() }), Rejection::UnknownNode);
    assert_eq!(log.run(Command::DispatchFailed { job_id: job.clone(), reason: "all down".into() }), Applied::Done);
    assert!(matches!(
        log.state.fire_of_job(&job).unwrap().decision,
        FireDecision::Fired { dispatch: DispatchState::Failed { .. }, .. }
    ));
    assert_eq!(log.run(Command::Dispatched { job_id: job.clone(), node_id: "s1".into() }), Applied::Done);
    assert!(matches!(
        &log.state.fire_of_job(&job).unwrap().decision,
        FireDecision::Fired { dispatch: DispatchState::Dispatched { node_id, attempts: 1, .. }, .. } if node_id == "s1"
    ));
    let j = log.state.jobs.get(&job).unwrap();
    assert_eq!((j.state, j.schedule_id.as_deref(), j.tick_ms), (JobState::Pending, Some(id.as_str()), Some(1_000)));
    assert!(matches!(
        log.rejected(Command::DispatchFailed { job_id: job.clone(), reason: "late".into() }),
        Rejection::Conflict { .. }
    ));
    // A re-dispatch after reconciliation counts attempts.
    log.run(Command::Dispatched { job_id: job.clone(), node_id: "s1".into() });
    assert!(matches!(
        log.state.fire_of_job(&job).unwrap().decision,
        FireDecision::Fired { dispatch: DispatchState::Dispatched { attempts: 2, .. }, .. }
    ));
    assert_eq!(log.state.pending_dispatches().count(), 0);
}

#[test]
fn dispatch_outcome_for_a_skipped_tick_is_a_conflict() {
    let mut log = Log::new();
    let id = log.create_schedule();
    log.register_node("s1");
    log.run(Command::SkipTick { tick: tick(&id, 1_000, 1), reason: SkipReason::Misfire { late_ms: 5 } });
    // A skipped tick has no job id in the index at all.
    assert_eq!(
        log.rejected(Command::Dispatched { job_id: format!("{id}-t1000"), node_id: "s1".into() }),
        Rejection::UnknownJob
    );
}

#[test]
fn ledger_keeps_a_bounded_history_per_schedule() {
    let mut log = Log::new();
    let id = log.create_schedule();
    log.register_node("s1");
    let n = fire_ledger::FIRES_KEPT_PER_SCHEDULE as i64 + 5;
    for t in 1..=n {
        log.run(Command::Fire(tick(&id, t, 1)));
        log.run(Command::Dispatched { job_id: format!("{id}-t{t}"), node_id: "s1".into() });
    }
    assert_eq!(log.state.fires_of(&id).count(), fire_ledger::FIRES_KEPT_PER_SCHEDULE);
    assert_eq!(log.state.fires_of(&id).next().unwrap().tick_ms, 6);
    // Pruning forgets history, never the cursor.
    assert_eq!(log.rejected(Command::Fire(tick(&id, 1, 1))), Rejection::AlreadyFired { last_decided_tick: n });
}

#[test]
fn nodes_register_update_remove_and_transition() {
    let mut log = Log::new();
    log.register_node("s1");
    assert_eq!(log.rejected(Command::RegisterNode { id: "s1".into(), spec: node_spec() }), Rejection::AlreadyExists);
    assert_eq!(log.state.nodes.get(&"s1".to_string()).unwrap().status, NodeStatus::Unknown);
    assert_eq!(log.run(Command::MarkNodeUp { id: "s1".into() }), Applied::Done);
    assert_eq!(log.run(Command::MarkNodeUp { id: "s1".into() }), Applied::Unchanged);
    assert_eq!(log.run(Command::MarkNodeDown { id: "s1".into(), reason: "refused".into() }), Applied::Done);
    assert_eq!(log.run(Command::MarkNodeDown { id: "s1".into(), reason: "again".into() }), Applied::Unchanged);
    assert!(
        matches!(&log.state.nodes.get(&"s1".to_string()).unwrap().status, NodeStatus::Down { reason, .. } if reason == "refused")
    );
    let mut spec2 = node_spec();
    spec2.tags = vec!["us".into()];
    assert_eq!(log.run(Command::UpdateNode { id: "s1".into(), spec: spec2.clone() }), Applied::Done);
    assert_eq!(log.state.nodes.get(&"s1".to_string()).unwrap().spec, spec2);
    assert_eq!(log.rejected(Command::UpdateNode { id: "s2".into(), spec: spec2 }), Rejection::UnknownNode);
    assert_eq!(log.rejected(Command::MarkNodeUp { id: "s2".into() }), Rejection::UnknownNode);
    assert_eq!(log.rejected(Command::MarkNodeDown { id: "s2".into(), reason: String::new() }), Rejection::UnknownNode);
    assert_eq!(log.run(Command::RemoveNode { id: "s1".into() }), Applied::Done);
    assert_eq!(log.rejected(Command::RemoveNode { id: "s1".into() }), Rejection::UnknownNode);
}

#[test]
fn egg_versions_store_blobs_once_and_release_them() {
    let mut log = Log::new();
    let egg = b"PK\x03\x04 egg one".to_vec();
    let r = log.run(Command::AddVersion { project: "p".into(), version: "1".into(), egg: egg.clone() });
    let Applied::VersionStored { sha256, size } = r else { panic!("{r:?}") };
    assert_eq!(size, egg.len() as u64);
    assert_eq!(log.state.blobs.puts.get(&sha256), Some(&egg));
    log.state.blobs = BlobChanges::default();
    // The same bytes under a second version share the blob.
    log.run(Command::AddVersion { project: "p".into(), version: "2".into(), egg: egg.clone() });
    assert!(log.state.blobs.is_empty());
    assert_eq!(log.run(Command::DeleteVersion { project: "p".into(), version: "1".into() }), Applied::Done);
    assert!(log.state.blobs.is_empty(), "blob still used by version 2");
    assert_eq!(
        log.rejected(Command::DeleteVersion { project: "p".into(), version: "1".into() }),
        Rejection::UnknownVersion
    );
    assert_eq!(
        log.rejected(Command::DeleteVersion { project: "q".into(), version: "1".into() }),
        Rejection::UnknownProject
    );
    // Deleting the last version deletes the project and the blob.
    assert_eq!(log.run(Command::DeleteVersion { project: "p".into(), version: "2".into() }), Applied::Done);
    assert!(log.state.projects.is_empty());
    assert!(log.state.blobs.deletes.contains(&sha256));
}

#[test]
fn replacing_a_version_drops_its_deployments_and_old_blob() {
    let mut log = Log::new();
    log.register_node("s1");
    log.run(Command::AddVersion { project: "p".into(), version: "1".into(), egg: b"one".to_vec() });
    let dep = Deployment::Deployed { spiders: vec!["a".into()], at_ms: 5 };
    let rec = Command::RecordDeployment {
        project: "p".into(),
        version: "1".into(),
        node_id: "s1".into(),
        deployment: dep.clone(),
    };
    assert_eq!(log.run(rec.clone()), Applied::Done);
    assert_eq!(log.run(rec), Applied::Unchanged);
    let old_sha = log.state.projects.get(&"p".to_string()).unwrap().versions["1"].sha256.clone();
    log.run(Command::AddVersion { project: "p".into(), version: "1".into(), egg: b"two".to_vec() });
    let v = &log.state.projects.get(&"p".to_string()).unwrap().versions["1"];
    assert!(v.deployments.is_empty());
    assert!(log.state.blobs.deletes.contains(&old_sha));
}

#[test]
fn deployments_and_project_deletion_check_their_targets() {
    let mut log = Log::new();
    log.register_node("s1");
    let dep = Deployment::Failed { reason: "timeout".into(), at_ms: 1 };
    let rd = |p: &str, v: &str, n: &str| Command::RecordDeployment {
        project: p.into(),
        version: v.into(),
        node_id: n.into(),
        deployment: dep.clone(),
    };
    assert_eq!(log.rejected(rd("p", "1", "s1")), Rejection::UnknownProject);
    log.run(Command::AddVersion { project: "p".into(), version: "1".into(), egg: b"x".to_vec() });
    assert_eq!(log.rejected(rd("p", "2", "s1")), Rejection::UnknownVersion);
    assert_eq!(log.rejected(rd("p", "1", "s9")), Rejection::UnknownNode);
    assert_eq!(log.run(rd("p", "1", "s1")), Applied::Done);
    assert_eq!(log.rejected(Command::DeleteProject { project: "q".into() }), Rejection::UnknownProject);
    assert_eq!(log.run(Command::DeleteProject { project: "p".into() }), Applied::Done);
    assert!(log.state.projects.is_empty());
}

#[test]
fn oversized_egg_is_rejected() {
    let mut log = Log::new();
    let egg = vec![0u8; projects::MAX_EGG_BYTES + 1];
    assert_eq!(
        log.rejected(Command::AddVersion { project: "p".into(), version: "1".into(), egg }),
        Rejection::TooLarge { size: projects::MAX_EGG_BYTES as u64 + 1, limit: projects::MAX_EGG_BYTES as u64 }
    );
}

pub(super) fn report(job: &str, node: &str, state: JobState) -> JobReport {
    JobReport {
        job_id: job.into(),
        node_id: node.into(),
        project: "p".into(),
        spider: "s".into(),
        state,
        start_ms: None,
        end_ms: None,
        outcome: None,
    }
}

#[test]
fn job_reports_merge_forward_only() {
    let mut log = Log::new();
    assert_eq!(log.run(Command::ReportJob(report("j1", "s1", JobState::Running))), Applied::Done);
    assert_eq!(log.run(Command::ReportJob(report("j1", "s1", JobState::Running))), Applied::Unchanged);
    // A late "pending" observation does not move the job back.
    assert_eq!(log.run(Command::ReportJob(report("j1", "s1", JobState::Pending))), Applied::Unchanged);
    let mut fin = report("j1", "s1", JobState::Finished);
    fin.end_ms = Some(99);
    fin.outcome = Some(JobOutcome {
        exit_code: Some(0),
        finish_reason: Some("finished".into()),
        items: Some(3),
        ..Default::default()
    });
    assert_eq!(log.run(Command::ReportJob(fin)), Applied::Done);
    let j = log.state.jobs.get(&"j1".to_string()).unwrap();
    assert_eq!((j.state, j.end_ms, j.outcome.as_ref().unwrap().items), (JobState::Finished, Some(99), Some(3)));
    assert_eq!(log.run(Command::ReportJob(report("j1", "s1", JobState::Running))), Applied::Unchanged);
    assert!(matches!(
        log.rejected(Command::ReportJob(report("j1", "s2", JobState::Running))),
        Rejection::Conflict { .. }
    ));
}

#[test]
fn users_and_tokens() {
    let mut log = Log::new();
    let create =
        || Command::CreateUser { username: "ann".into(), password_hash: "$argon2id$x".into(), role: Role::Admin };
    assert_eq!(log.run(create()), Applied::Done);
    assert_eq!(log.rejected(create()), Rejection::AlreadyExists);
    assert_eq!(
        log.run(Command::UpdateUser { username: "ann".into(), password_hash: None, role: Some(Role::Viewer) }),
        Applied::Done
    );
    assert_eq!(log.state.users.get(&"ann".to_string()).unwrap().role, Role::Viewer);
    assert_eq!(
        log.rejected(Command::UpdateUser { username: "bob".into(), password_hash: None, role: None }),
        Rejection::UnknownUser
    );
    let token = |id: &str, user: &str| Command::CreateToken {
        token_id: id.into(),
        username: user.into(),
        secret_sha256: "ab".into(),
        name: "ci".into(),
    };
    assert_eq!(log.rejected(token("t1", "bob")), Rejection::UnknownUser);
    assert_eq!(log.run(token("t1", "ann")), Applied::Done);
    assert_eq!(log.rejected(token("t1", "ann")), Rejection::AlreadyExists);
    assert_eq!(log.run(token("t2", "ann")), Applied::Done);
    assert_eq!(log.run(Command::RevokeToken { token_id: "t1".into() }), Applied::Done);
    assert_eq!(log.rejected(Command::RevokeToken { token_id: "t1".into() }), Rejection::UnknownToken);
    // Deleting the user takes their tokens with them.
    assert_eq!(log.run(Command::DeleteUser { username: "ann".into() }), Applied::Done);
    assert!(log.state.tokens.is_empty());
    assert_eq!(log.rejected(Command::DeleteUser { username: "ann".into() }), Rejection::UnknownUser);
}

#[test]
fn secrets_never_reach_debug_or_display() {
    let cmd = Command::RegisterNode { id: "s1".into(), spec: node_spec() };
    assert!(!format!("{cmd:?}").contains("hunter2"));
    assert!(format!("{cmd:?}").contains("redacted"));
    assert!(!cmd.to_string().contains("hunter2"));
    let user =
        Command::CreateUser { username: "ann".into(), password_hash: "$argon2id$secret".into(), role: Role::Admin };
    assert!(!user.to_string().contains("argon2id"));
}

#[test]
fn a_batch_applies_its_items_in_order_and_refuses_index_derived_ones() {
    let mut log = Log::new();
    log.register_node("s1");
    let id = log.create_schedule();
    let fired = log.run(Command::FireBatch { ticks: vec![tick(&id, 5_000, 1), tick(&id, 6_000, 1)] });
    assert!(matches!(fired, Applied::FireBatch { .. }), "{fired:?}");
    let batch = Command::Batch {
        commands: vec![
            Command::Dispatched { job_id: format!("{id}-t5000"), node_id: "s1".into() },
            Command::CreateSchedule { spec: spec() },
            Command::Dispatched { job_id: "nope".into(), node_id: "s1".into() },
            Command::DispatchFailed { job_id: format!("{id}-t6000"), reason: "no live node".into() },
        ],
    };
    let Applied::Batch { results } = log.run(batch) else { panic!("batch answers per item") };
    assert_eq!(results[0], Applied::Done);
    assert!(matches!(&results[1], Applied::Rejected(Rejection::Conflict { detail }) if detail.contains("batch")));
    assert_eq!(results[2], Applied::Rejected(Rejection::UnknownJob));
    assert_eq!(log.state.schedules.len(), 1, "the batched create did nothing");
    assert_eq!(log.state.active_jobs().count(), 1, "one job dispatched (pending on s1)");
    assert_eq!(log.state.active_jobs_per_node().get("s1"), Some(&1));
    // The job finishing leaves no active job on s1.
    let done = JobReport {
        job_id: format!("{id}-t5000"),
        node_id: "s1".into(),
        project: "demo".into(),
        spider: "quotes".into(),
        state: JobState::Finished,
        start_ms: Some(1),
        end_ms: Some(2),
        outcome: None,
    };
    assert_eq!(log.run(Command::ReportJob(done)), Applied::Done);
    assert_eq!(log.state.active_jobs().count(), 0);
    assert_eq!(log.state.active_jobs_per_node().get("s1"), None);
    assert!(matches!(
        log.state.fire_of_job(&format!("{id}-t6000")).map(|r| &r.decision),
        Some(FireDecision::Fired { dispatch: DispatchState::Failed { .. }, .. })
    ));
}

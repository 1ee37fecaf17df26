//! Property tests of the pure `apply`: random command sequences.

use std::collections::BTreeSet;

use proptest::prelude::*;
use raft_store::apply::apply;
use raft_store::command::Command;
use raft_store::state::*;
use raft_store::Applied;
use raft_store::LogEntry;
use raft_store::Tick;

use crate::fixtures::node_spec;
use crate::fixtures::spec;

fn sched_id() -> impl Strategy<Value = String> {
    (1u64..8).prop_map(|i| format!("sch-{i}"))
}

fn tick() -> impl Strategy<Value = Tick> {
    (sched_id(), 0i64..24, 1u64..5).prop_map(|(schedule_id, tick_ms, schedule_version)| Tick {
        schedule_id,
        tick_ms: tick_ms * 1000,
        schedule_version,
    })
}

fn job_report() -> impl Strategy<Value = JobReport> {
    (sched_id(), 0i64..24, prop_oneof![Just("n1"), Just("n2")], 0u8..4).prop_map(|(s, t, n, st)| JobReport {
        job_id: format!("{s}-t{}", t * 1000),
        node_id: n.into(),
        project: "demo".into(),
        spider: "quotes".into(),
        state: [JobState::Pending, JobState::Running, JobState::Finished, JobState::Lost][st as usize],
        start_ms: Some(1),
        end_ms: if st >= 2 { Some(2) } else { None },
        outcome: None,
    })
}

/// Commands over a small universe of ids so that sequences collide often.
pub fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        3 => Just(Command::CreateSchedule { spec: spec("demo") }),
        1 => (sched_id(), proptest::option::of(1u64..5))
            .prop_map(|(id, expected_version)| Command::UpdateSchedule { id, expected_version, spec: spec("other") }),
        1 => sched_id().prop_map(|id| Command::PauseSchedule { id }),
        1 => sched_id().prop_map(|id| Command::ResumeSchedule { id }),
        1 => sched_id().prop_map(|id| Command::DeleteSchedule { id, expected_version: None }),
        8 => tick().prop_map(Command::Fire),
        2 => proptest::collection::vec(tick(), 1..5).prop_map(|ticks| Command::FireBatch { ticks }),
        2 => tick().prop_map(|t| Command::SkipTick { tick: t, reason: SkipReason::Misfire { late_ms: 1 } }),
        1 => prop_oneof![Just("n1"), Just("n2")]
            .prop_map(|n| Command::RegisterNode { id: n.into(), spec: node_spec() }),
        1 => prop_oneof![Just("n1"), Just("n2")].prop_map(|n| Command::MarkNodeDown { id: n.into(), reason: "x".into() }),
        1 => prop_oneof![Just("n1"), Just("n2")].prop_map(|n| Command::MarkNodeUp { id: n.into() }),
        3 => (sched_id(), 0i64..24, prop_oneof![Just("n1"), Just("n2")])
            .prop_map(|(s, t, n)| Command::Dispatched { job_id: format!("{s}-t{}", t * 1000), node_id: n.into() }),
        1 => (sched_id(), 0i64..24)
            .prop_map(|(s, t)| Command::DispatchFailed { job_id: format!("{s}-t{}", t * 1000), reason: "down".into() }),
        2 => job_report().prop_map(Command::ReportJob),
        1 => (0u8..3, proptest::collection::vec(any::<u8>(), 0..16)).prop_map(|(v, egg)| Command::AddVersion {
            project: "demo".into(),
            version: v.to_string(),
            egg,
        }),
        1 => (0u8..3).prop_map(|v| Command::DeleteVersion { project: "demo".into(), version: v.to_string() }),
        1 => Just(Command::DeleteProject { project: "demo".into() }),
    ]
}

pub fn log() -> impl Strategy<Value = Vec<LogEntry>> {
    proptest::collection::vec(command(), 1..120)
        .prop_map(|cmds| cmds.into_iter().enumerate().map(|(i, c)| LogEntry::new(1_000 + i as u64 * 7, c)).collect())
}

/// The (schedule, tick) pairs a command names, in the order its results come back.
fn ticks_of(cmd: &Command) -> Vec<(String, i64)> {
    match cmd {
        Command::Fire(t) | Command::SkipTick { tick: t, .. } => vec![(t.schedule_id.clone(), t.tick_ms)],
        Command::FireBatch { ticks } => ticks.iter().map(|t| (t.schedule_id.clone(), t.tick_ms)).collect(),
        _ => vec![],
    }
}

fn results_of(r: &Applied) -> Vec<&Applied> {
    match r {
        Applied::FireBatch { results } => results.iter().collect(),
        other => vec![other],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// No (schedule, tick) is ever decided twice, and a schedule's cursor never moves back.
    #[test]
    fn no_tick_is_decided_twice(entries in log()) {
        let mut state = State::default();
        let mut decided = BTreeSet::new();
        for (i, e) in entries.iter().enumerate() {
            let cursors: Vec<(String, Option<i64>)> =
                state.schedules.values().map(|s| (s.id.clone(), s.last_decided_tick)).collect();
            let r = apply(&mut state, i as u64 + 1, e);
            for (key, res) in ticks_of(&e.command).into_iter().zip(results_of(&r)) {
                if matches!(res, Applied::Fired { .. } | Applied::Skipped) {
                    prop_assert!(decided.insert(key.clone()), "{key:?} decided twice");
                }
            }
            for (id, before) in cursors {
                if let Some(s) = state.schedules.get(&id) {
                    prop_assert!(s.last_decided_tick >= before, "cursor of {id} moved back");
                }
            }
        }
    }

    /// Two replicas applying the same log end in equal states with equal digests.
    #[test]
    fn replicas_converge(entries in log()) {
        let mut a = State::default();
        let mut b = State::default();
        let mut ra = Vec::new();
        let mut rb = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            ra.push(apply(&mut a, i as u64 + 1, e));
        }
        for (i, e) in entries.iter().enumerate() {
            rb.push(apply(&mut b, i as u64 + 1, e));
        }
        prop_assert_eq!(ra, rb);
        prop_assert!(a == b);
        prop_assert_eq!(a.digest(), b.digest());
    }

    /// A rejected command leaves the state exactly as it was.
    #[test]
    fn rejections_change_nothing(entries in log()) {
        let mut state = State::default();
        for (i, e) in entries.iter().enumerate() {
            let before = state.digest();
            let r = apply(&mut state, i as u64 + 1, e);
            if r.is_rejected() {
                prop_assert_eq!(before, state.digest(), "rejected {} changed the state", e.command);
            }
        }
    }
}

//! The runtime's pure parts: planning a round from a real state, deadlines, `OnceTicks`.

use std::collections::BTreeMap;

use raft_store::apply::apply;
use raft_store::state::*;
use raft_store::LogEntry;

use super::*;
use crate::scheduler::dispatch::give_up_at;
use crate::scheduler::dispatch::DEFAULT_STARTING_DEADLINE_MS;
use crate::scheduler::dispatch::MAX_STARTING_DEADLINE_MS;
use crate::scheduler::dispatch::MIN_DELIVERY_WINDOW_MS;
use crate::scheduler::plan::OnceTicks;

fn spec(at_ms: i64, overlap: OverlapPolicy) -> ScheduleSpec {
    ScheduleSpec {
        project: "p".into(),
        spider: "s".into(),
        egg_version: None,
        args: BTreeMap::new(),
        settings: BTreeMap::new(),
        priority: 0,
        node_selector: vec![],
        trigger: Trigger::Once { at_ms },
        misfire: MisfirePolicy::default(),
        overlap,
    }
}

/// A state built by the real `apply`: `cmds` at log indexes 1, 2, … stamped at `now`.
fn state(cmds: Vec<Command>, now: u64) -> State {
    let mut s = State::default();
    for (i, c) in cmds.into_iter().enumerate() {
        let r = apply(&mut s, i as u64 + 1, &LogEntry::new(now, c));
        assert!(!r.is_rejected(), "{r:?}");
    }
    s
}

fn tick(id: &str, at: i64, version: u64) -> Tick {
    Tick { schedule_id: id.into(), tick_ms: at, schedule_version: version }
}

/// Plans a round at `now` the way the runtime does: only the schedules the agenda lists as due.
fn round_at(s: &State, now: i64) -> Round {
    let mut agenda = Agenda::new();
    agenda.sync(s, &OnceTicks);
    plan_round(s, &agenda.due(now), now, now, 10_000, &OnceTicks)
}

#[test]
fn a_due_once_schedule_fires_and_a_future_one_sets_the_wakeup() {
    let s = state(
        vec![
            Command::CreateSchedule { spec: spec(2_000, OverlapPolicy::Allow) },
            Command::CreateSchedule { spec: spec(9_000, OverlapPolicy::Allow) },
        ],
        1_000,
    );
    let mut s = s;
    let r = round_at(&s, 2_500);
    assert_eq!(r.fires, [tick("sch-1", 2_000, 1)]);
    assert!(r.skips.is_empty());
    // Once the fire is decided, the agenda wakes the runtime for the future one-off.
    assert!(!apply(&mut s, 3, &LogEntry::new(2_500, Command::Fire(tick("sch-1", 2_000, 1)))).is_rejected());
    let mut agenda = Agenda::new();
    agenda.sync(&s, &OnceTicks);
    assert_eq!(agenda.due(2_500), Vec::<String>::new());
    assert_eq!(agenda.next_wakeup(), Some(9_000));
}

#[test]
fn a_fire_not_yet_delivered_counts_as_the_running_job_for_forbid_and_replace() {
    let mut s = state(
        vec![
            Command::CreateSchedule { spec: spec(2_000, OverlapPolicy::Forbid) },
            Command::Fire(tick("sch-1", 2_000, 1)),
        ],
        1_000,
    );
    // A second tick of the same schedule (as a cron schedule would have).
    let more = Command::UpdateSchedule {
        id: "sch-1".into(),
        expected_version: None,
        spec: spec(3_000, OverlapPolicy::Forbid),
    };
    assert!(!apply(&mut s, 10, &LogEntry::new(2_100, more)).is_rejected());
    let r = round_at(&s, 3_100);
    assert!(r.fires.is_empty(), "{r:?}");
    assert_eq!(r.skips, [(tick("sch-1", 3_000, 2), SkipReason::Overlap { job_id: "sch-1-t2000".into() })]);

    let replace = Command::UpdateSchedule {
        id: "sch-1".into(),
        expected_version: None,
        spec: spec(3_000, OverlapPolicy::Replace),
    };
    assert!(!apply(&mut s, 11, &LogEntry::new(2_200, replace)).is_rejected());
    let r = round_at(&s, 3_100);
    assert_eq!(r.fires, [tick("sch-1", 3_000, 3)]);
    assert_eq!(r.cancels.get("sch-1").map(String::as_str), Some("sch-1-t2000"));
}

#[test]
fn unsettled_fires_are_listed_oldest_first_until_an_outcome_is_committed() {
    let mut s = state(
        vec![
            Command::CreateSchedule { spec: spec(5_000, OverlapPolicy::Allow) },
            Command::CreateSchedule { spec: spec(4_000, OverlapPolicy::Allow) },
            Command::Fire(tick("sch-1", 5_000, 1)),
            Command::Fire(tick("sch-2", 4_000, 1)),
            Command::RegisterNode {
                id: "n1".into(),
                spec: NodeSpec {
                    url: "http://n1".into(),
                    username: None,
                    password: None,
                    tags: vec![],
                    max_proc: None,
                },
            },
        ],
        1_000,
    );
    let ids = |s: &State| ledger::unsettled(s).into_iter().map(|u| u.job_id).collect::<Vec<_>>();
    assert_eq!(ids(&s), ["sch-2-t4000", "sch-1-t5000"]);
    let done = Command::Dispatched { job_id: "sch-2-t4000".into(), node_id: "n1".into() };
    assert!(!apply(&mut s, 20, &LogEntry::new(6_000, done)).is_rejected());
    let failed = Command::DispatchFailed { job_id: "sch-1-t5000".into(), reason: "no node is up".into() };
    assert!(!apply(&mut s, 21, &LogEntry::new(6_000, failed)).is_rejected());
    assert!(ids(&s).is_empty());
}

#[test]
fn the_delivery_window_is_the_starting_deadline_bounded() {
    let mut sch = Schedule {
        id: "sch-1".into(),
        version: 1,
        spec: spec(0, OverlapPolicy::Allow),
        paused: false,
        created_at_ms: 0,
        updated_at_ms: 0,
        last_decided_tick: None,
    };
    sch.spec.misfire = MisfirePolicy::FireOnce { starting_deadline_ms: 5_000 };
    assert_eq!(give_up_at(&sch, 10_000, 10_100), 15_000);
    // Already past the deadline (a redelivery after failover): one short window still.
    assert_eq!(give_up_at(&sch, 10_000, 20_000), 20_000 + MIN_DELIVERY_WINDOW_MS);
    sch.spec.misfire = MisfirePolicy::FireOnce { starting_deadline_ms: u64::MAX };
    assert_eq!(give_up_at(&sch, 0, 0), MAX_STARTING_DEADLINE_MS as i64);
    sch.spec.misfire = MisfirePolicy::Skip;
    assert_eq!(give_up_at(&sch, 0, 0), DEFAULT_STARTING_DEADLINE_MS as i64);
}

#[test]
fn once_ticks_have_one_tick_and_cron_none() {
    let mut sch = Schedule {
        id: "sch-1".into(),
        version: 1,
        spec: spec(7, OverlapPolicy::Allow),
        paused: false,
        created_at_ms: 0,
        updated_at_ms: 0,
        last_decided_tick: None,
    };
    assert_eq!(OnceTicks.next_after(&sch, 6), Some(7));
    assert_eq!(OnceTicks.next_after(&sch, 7), None);
    sch.spec.trigger = Trigger::Cron { expr: "* * * * *".into(), timezone: "UTC".into() };
    assert_eq!(OnceTicks.next_after(&sch, 0), None);
}

//! Planner tests: action lists for each policy, and properties checked against the real
//! `raft_store::apply` across random clocks, lost proposals and duplicate leaders.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use proptest::prelude::*;
use raft_store::apply::apply;
use raft_store::command::Command;
use raft_store::state::*;
use raft_store::Applied;
use raft_store::LogEntry;

use super::*;

/// `[scheduler] on_time_ms` by default.
const ON_TIME_MS: u64 = 10_000;

/// Ticks every `period` ms from the epoch (cron triggers), or once (`Trigger::Once`).
struct Every(i64);

impl Ticks for Every {
    fn next_after(&self, s: &Schedule, after_ms: i64) -> Option<i64> {
        match &s.spec.trigger {
            Trigger::Once { at_ms } => (*at_ms > after_ms).then_some(*at_ms),
            Trigger::Cron { .. } => Some((after_ms.div_euclid(self.0) + 1) * self.0),
        }
    }
}

fn schedule(misfire: MisfirePolicy, overlap: OverlapPolicy) -> Schedule {
    Schedule {
        id: "sch-1".into(),
        version: 1,
        spec: ScheduleSpec {
            project: "p".into(),
            spider: "s".into(),
            egg_version: None,
            args: BTreeMap::new(),
            settings: BTreeMap::new(),
            priority: 0,
            node_selector: vec![],
            trigger: Trigger::Cron { expr: "* * * * * *".into(), timezone: "UTC".into() },
            misfire,
            overlap,
        },
        paused: false,
        created_at_ms: 500,
        updated_at_ms: 500,
        last_decided_tick: None,
    }
}

fn fire(t: i64) -> Action {
    Action::Fire(Tick { schedule_id: "sch-1".into(), tick_ms: t, schedule_version: 1 })
}

/// The record standing for `n` passed-over ticks from `since` up to `t`.
fn passed(t: i64, n: u64, since: i64) -> Action {
    Action::Skip {
        tick: Tick { schedule_id: "sch-1".into(), tick_ms: t, schedule_version: 1 },
        reason: SkipReason::PassedOver { ticks: n, since_ms: since },
    }
}

fn run(s: &Schedule, active: Option<&str>, now: i64) -> Vec<Action> {
    plan_one(
        &Input { schedule: s, active_job: active, live_since_ms: i64::MAX, on_time_ms: ON_TIME_MS },
        now,
        &Every(1000),
    )
}

#[test]
fn an_on_time_tick_fires_once_and_nothing_before_creation() {
    let s = schedule(MisfirePolicy::Skip, OverlapPolicy::Allow);
    assert_eq!(run(&s, None, 999), vec![]);
    assert_eq!(run(&s, None, 1000), vec![fire(1000)]);
    assert_eq!(run(&s, None, 1500), vec![fire(1000)]);
    let mut s2 = s.clone();
    s2.last_decided_tick = Some(1000);
    assert_eq!(run(&s2, None, 1999), vec![]);
}

#[test]
fn ticks_due_while_the_leader_planned_fire_each_even_when_a_round_was_late() {
    // Every second since 1000; the last round decided 1000 and the next one ran only at 3600
    // (its commit was slow). Ticks 2000 and 3000 came due while this leader was planning.
    let live = |misfire: MisfirePolicy, overlap: OverlapPolicy, since: i64| {
        let mut s = schedule(misfire, overlap);
        s.last_decided_tick = Some(1000);
        plan_one(
            &Input { schedule: &s, active_job: None, live_since_ms: since, on_time_ms: ON_TIME_MS },
            3600,
            &Every(1000),
        )
    };
    let fire_once = MisfirePolicy::FireOnce { starting_deadline_ms: 60_000 };
    for m in [MisfirePolicy::Skip, fire_once.clone(), MisfirePolicy::FireAll { cap: 100 }] {
        assert_eq!(live(m.clone(), OverlapPolicy::Allow, 900), vec![fire(2000), fire(3000)], "{m:?}");
    }
    // Ticks due before this leader planned were missed: the policy decides (newest only).
    assert_eq!(live(fire_once.clone(), OverlapPolicy::Allow, 2500), vec![passed(2000, 1, 2000), fire(3000)]);
    assert_eq!(live(fire_once.clone(), OverlapPolicy::Allow, i64::MAX), vec![passed(2000, 1, 2000), fire(3000)]);
    // Only one run at a time under `forbid`.
    assert_eq!(live(MisfirePolicy::Skip, OverlapPolicy::Forbid, 900), vec![passed(2000, 1, 2000), fire(3000)]);
    // A live tick more than ON_TIME_MS late counts as missed.
    let mut s = schedule(MisfirePolicy::Skip, OverlapPolicy::Allow);
    s.last_decided_tick = Some(1000);
    let now = 2000 + ON_TIME_MS as i64 + 500;
    let got = plan_one(
        &Input { schedule: &s, active_job: None, live_since_ms: 900, on_time_ms: ON_TIME_MS },
        now,
        &Every(1000),
    );
    assert!(!got.contains(&fire(2000)), "{got:?}");
    assert!(got.contains(&fire(12000)), "{got:?}");
}

#[test]
fn paused_schedules_plan_nothing() {
    let mut s = schedule(MisfirePolicy::FireAll { cap: 10 }, OverlapPolicy::Allow);
    s.paused = true;
    assert_eq!(run(&s, None, 100_000), vec![]);
}

#[test]
fn misfire_skip_fires_on_time_ticks_and_records_a_missed_one() {
    let s = schedule(MisfirePolicy::Skip, OverlapPolicy::Allow);
    // A periodic schedule's newest tick is always less than a period late: on time.
    assert_eq!(run(&s, None, 70_001), vec![passed(69_000, 69, 1_000), fire(70_000)]);
    let mut once = s.clone();
    once.spec.trigger = Trigger::Once { at_ms: 2_000 };
    let now = 2_000 + ON_TIME_MS as i64 + 1;
    assert_eq!(
        run(&once, None, now),
        vec![Action::Skip {
            tick: Tick { schedule_id: "sch-1".into(), tick_ms: 2_000, schedule_version: 1 },
            reason: SkipReason::Misfire { late_ms: ON_TIME_MS + 1 }
        }]
    );
}

#[test]
fn misfire_fire_once_respects_the_starting_deadline() {
    let s = schedule(MisfirePolicy::FireOnce { starting_deadline_ms: 30_000 }, OverlapPolicy::Allow);
    // The newest due tick is on time: it fires, the older ones are passed over.
    assert_eq!(run(&s, None, 20_000), vec![passed(19_000, 19, 1_000), fire(20_000)]);
    // A single one-off tick missed by more than the deadline is skipped, with its lateness.
    let mut once = s.clone();
    once.spec.trigger = Trigger::Once { at_ms: 2_000 };
    assert_eq!(run(&once, None, 20_000), vec![fire(2_000)]);
    assert_eq!(
        run(&once, None, 40_000),
        vec![Action::Skip {
            tick: Tick { schedule_id: "sch-1".into(), tick_ms: 2_000, schedule_version: 1 },
            reason: SkipReason::Misfire { late_ms: 38_000 }
        }]
    );
}

#[test]
fn misfire_fire_all_fires_the_newest_cap_oldest_first() {
    let s = schedule(MisfirePolicy::FireAll { cap: 3 }, OverlapPolicy::Allow);
    assert_eq!(run(&s, None, 10_500), vec![passed(7_000, 7, 1_000), fire(8_000), fire(9_000), fire(10_000)]);
}

#[test]
fn overlap_forbid_skips_and_replace_cancels_first() {
    let s = schedule(MisfirePolicy::FireAll { cap: 5 }, OverlapPolicy::Forbid);
    assert_eq!(
        run(&s, Some("sch-1-t1000"), 2_100),
        vec![
            passed(1_000, 1, 1_000),
            Action::Skip {
                tick: Tick { schedule_id: "sch-1".into(), tick_ms: 2_000, schedule_version: 1 },
                reason: SkipReason::Overlap { job_id: "sch-1-t1000".into() }
            }
        ]
    );
    assert_eq!(
        run(&s, None, 3_100),
        vec![passed(2_000, 2, 1_000), fire(3_000)],
        "forbid fires at most one tick per plan"
    );
    let r = schedule(MisfirePolicy::Skip, OverlapPolicy::Replace);
    assert_eq!(
        run(&r, Some("sch-1-t1000"), 2_100),
        vec![passed(1_000, 1, 1_000), Action::Cancel { job_id: "sch-1-t1000".into() }, fire(2_000)]
    );
}

// ---- properties against the real apply ---------------------------------------------------

/// A replicated state driven through `apply`, as the cluster would.
struct Cluster {
    state: State,
    index: u64,
}

impl Cluster {
    fn commit(&mut self, now: i64, cmd: Command) -> Applied {
        self.index += 1;
        apply(&mut self.state, self.index, &LogEntry::new(now.max(0) as u64, cmd))
    }

    fn inputs(&self) -> Vec<Schedule> {
        self.state.schedules.values().cloned().collect()
    }

    /// Proposes a plan's actions; returns the accepted (schedule, tick) fires.
    fn propose(&mut self, now: i64, actions: Vec<Action>) -> Vec<(String, i64)> {
        let mut fired = Vec::new();
        for a in actions {
            let (cmd, key) = match a {
                Action::Fire(t) => ((Command::Fire(t.clone())), Some((t.schedule_id.clone(), t.tick_ms))),
                Action::Skip { tick, reason } => (Command::SkipTick { tick, reason }, None),
                Action::Cancel { .. } => continue,
            };
            if let (Applied::Fired { .. }, Some(k)) = (self.commit(now, cmd), key) {
                fired.push(k);
            }
        }
        fired
    }
}

#[derive(Debug, Clone)]
enum Event {
    /// Move the leader's clock (negative = a clock step back).
    Clock(i64),
    /// A leader plans and commits.
    Plan,
    /// A leader plans but dies before proposing (the plan is lost).
    LostPlan,
    /// Two leaders plan from the same state; both proposals reach the log.
    DuplicatePlan,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => (-3_000i64..25_000).prop_map(Event::Clock),
        4 => Just(Event::Plan),
        1 => Just(Event::LostPlan),
        1 => Just(Event::DuplicatePlan),
    ]
}

fn policy() -> impl Strategy<Value = MisfirePolicy> {
    prop_oneof![
        Just(MisfirePolicy::Skip),
        (1_000u64..20_000).prop_map(|d| MisfirePolicy::FireOnce { starting_deadline_ms: d }),
        Just(MisfirePolicy::FireAll { cap: 1_000_000 }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Across clock jumps, lost plans and duplicate leaders: no tick is fired twice; fire_all
    /// (uncapped) fires every tick up to the last plan exactly once; skip and fire_once fire only
    /// within their lateness bounds.
    #[test]
    fn ticks_fire_exactly_once_per_policy(policies in proptest::collection::vec(policy(), 1..4),
                                          events in proptest::collection::vec(event(), 1..60)) {
        let ticks = Every(1000);
        let mut c = Cluster { state: State::default(), index: 0 };
        let mut now: i64 = 10_000;
        for p in &policies {
            let mut s = schedule(p.clone(), OverlapPolicy::Allow).spec;
            s.misfire = p.clone();
            c.commit(now, Command::CreateSchedule { spec: s });
        }
        let mut fired: BTreeSet<(String, i64)> = BTreeSet::new();
        let mut last_plan_now = i64::MIN;
        let mut check = |c: &mut Cluster, now: i64, actions: Vec<Action>| -> Result<(), TestCaseError> {
            let snapshot: BTreeMap<String, Schedule> = c.state.schedules.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (sid, t) in c.propose(now, actions) {
                prop_assert!(t <= now, "fired a future tick {t} at {now}");
                let late = (now - t) as u64;
                match &snapshot[&sid].spec.misfire {
                    MisfirePolicy::Skip => prop_assert!(late <= ON_TIME_MS, "skip fired a tick {late} ms late"),
                    MisfirePolicy::FireOnce { starting_deadline_ms } => {
                        prop_assert!(late <= (*starting_deadline_ms).max(ON_TIME_MS))
                    }
                    MisfirePolicy::FireAll { .. } => {}
                }
                prop_assert!(fired.insert((sid.clone(), t)), "({sid}, {t}) fired twice");
            }
            Ok(())
        };
        for e in events {
            match e {
                Event::Clock(d) => now += d,
                Event::Plan => {
                    let s = c.inputs();
                    let actions = plan(s.iter().map(|s| Input { schedule: s, active_job: None, live_since_ms: i64::MAX, on_time_ms: ON_TIME_MS }), now, &ticks);
                    check(&mut c, now, actions)?;
                    last_plan_now = last_plan_now.max(now);
                }
                Event::LostPlan => {
                    let s = c.inputs();
                    let _ = plan(s.iter().map(|s| Input { schedule: s, active_job: None, live_since_ms: i64::MAX, on_time_ms: ON_TIME_MS }), now, &ticks);
                }
                Event::DuplicatePlan => {
                    let s = c.inputs();
                    let a1 = plan(s.iter().map(|s| Input { schedule: s, active_job: None, live_since_ms: i64::MAX, on_time_ms: ON_TIME_MS }), now, &ticks);
                    let a2 = a1.clone();
                    check(&mut c, now, a1)?;
                    check(&mut c, now, a2)?;
                    last_plan_now = last_plan_now.max(now);
                }
            }
        }
        // No silent gap: every tick up to a schedule's cursor has a ledger record of its own or
        // lies in the range a `PassedOver` record stands for.
        for s in c.state.schedules.values() {
            let records: Vec<&FireRecord> = c.state.fires_of(&s.id).collect();
            let covered = |t: i64| {
                records.iter().any(|r| {
                    r.tick_ms == t
                        || matches!(&r.decision, FireDecision::Skipped { reason: SkipReason::PassedOver { since_ms, .. } }
                            if *since_ms <= t && t <= r.tick_ms)
                })
            };
            let mut t = ticks.next_after(s, s.created_at_ms as i64 - 1);
            while let Some(tick) = t.filter(|t| *t <= s.last_decided_tick.unwrap_or(i64::MIN)) {
                prop_assert!(covered(tick), "tick {tick} of {} has no record: a silent miss", s.id);
                t = ticks.next_after(s, tick);
            }
        }
        // fire_all without a cap: every tick from creation to the furthest plan fired once.
        for s in c.state.schedules.values() {
            if matches!(s.spec.misfire, MisfirePolicy::FireAll { .. }) && last_plan_now > i64::MIN {
                let mut t = ticks.next_after(s, s.created_at_ms as i64 - 1);
                while let Some(tick) = t.filter(|t| *t <= s.last_decided_tick.unwrap_or(i64::MIN)) {
                    prop_assert!(fired.contains(&(s.id.clone(), tick)), "fire_all lost tick {tick} of {}", s.id);
                    t = ticks.next_after(s, tick);
                }
            }
        }
    }
}

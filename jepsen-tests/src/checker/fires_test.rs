//! The fire checkers on small hand-made histories, valid and invalid.

use super::fires::*;
use super::lateness::*;
use super::windows::*;
use crate::fault::Fault;
use crate::history::Event;
use crate::history::History;
use crate::history::OpKind;
use crate::history::Phase;
use crate::standin::Delivery;
use crate::standin::FaultMode;

const START: u64 = 1_000_000;

fn start() -> Event {
    Event::Start { unix_ms: START, seed: 1, scenario: "test".into(), requested: vec![] }
}

fn sched(id: &str, period_ms: u64, misfire: &str, overlap: &str, steady: bool) -> Event {
    Event::Schedule {
        at_ms: 0,
        id: id.into(),
        period_ms,
        misfire: misfire.into(),
        overlap: overlap.into(),
        created_at_ms: START,
        steady,
    }
}

/// A start of `schedule`'s tick (Unix ms) received `late` ms after it.
fn fire(schedule: &str, tick: u64, late: u64, slave: &str, started: bool) -> Event {
    Event::Delivery {
        at_ms: tick + late - START,
        d: Delivery {
            unix_ms: tick + late,
            slave: slave.into(),
            job_id: job_id_for(schedule, tick),
            project: "p".into(),
            spider: "jt".into(),
            peer: "10.0.0.1:1".into(),
            idempotency_key: Some(job_id_for(schedule, tick)),
            started,
            mode: FaultMode::Healthy,
        },
    }
}

fn op(at_ms: u64, process: u32, phase: Phase, f: OpKind, key: &str) -> Event {
    Event::Op { at_ms, process, phase, f, key: Some(key.into()), node: 1, version: None, paused: None, error: None }
}

/// Steady schedule `a` every second, fired at every tick from 1 s to `n` s, 20 ms late.
fn steady(n: u64, misfire: &str, skip: &[u64]) -> Vec<Event> {
    let mut ev = vec![start(), sched("a", 1000, misfire, "allow", true)];
    for s in 1..=n {
        if !skip.contains(&s) {
            ev.push(fire("a", START + s * 1000, 20, "s1", true));
        }
    }
    ev.push(Event::WorkloadEnd { at_ms: n * 1000 + 1000 });
    ev
}

#[test]
fn job_ids_round_trip() {
    assert_eq!(split_job_id(&job_id_for("sc-12", 1700000000000)), Some(("sc-12", 1700000000000)));
    assert_eq!(split_job_id("nonsense"), None);
}

#[test]
fn a_job_started_twice_is_a_duplicate_named_by_its_id() {
    let mut ev = steady(3, "skip", &[]);
    assert_eq!(no_duplicate_start(&History { events: ev.clone() }).valid, Some(true));
    // A repeated delivery that did not start is fine.
    ev.push(fire("a", START + 2000, 900, "s1", false));
    assert_eq!(no_duplicate_start(&History { events: ev.clone() }).valid, Some(true));
    ev.push(fire("a", START + 2000, 950, "s2", true));
    let v = no_duplicate_start(&History { events: ev });
    assert_eq!(v.valid, Some(false));
    assert!(v.details.contains(&job_id_for("a", START + 2000)), "{}", v.details);
    assert_eq!(no_duplicate_start(&History { events: vec![start()] }).valid, None);
}

#[test]
fn a_tick_after_an_acknowledged_delete_must_not_fire() {
    let mut ev = vec![start(), sched("c", 1000, "fire_all", "allow", false)];
    ev.push(fire("c", START + 1000, 10, "s1", true));
    ev.push(op(1500, 7, Phase::Invoke, OpKind::Delete, "c"));
    ev.push(op(1600, 7, Phase::Ok, OpKind::Delete, "c"));
    // Tick 2000 is after the ack (1600 ms in): it must not fire.
    assert_eq!(no_fire_after_pause_or_delete(&History { events: ev.clone() }).valid, Some(true));
    ev.push(fire("c", START + 2000, 10, "s1", true));
    let v = no_fire_after_pause_or_delete(&History { events: ev });
    assert_eq!(v.valid, Some(false), "{}", v.details);
}

#[test]
fn a_paused_schedule_may_catch_up_after_a_resume_but_not_before() {
    let mut ev = vec![start(), sched("c", 1000, "fire_all", "allow", false)];
    ev.push(op(1100, 7, Phase::Invoke, OpKind::Pause, "c"));
    ev.push(op(1200, 7, Phase::Ok, OpKind::Pause, "c"));
    ev.push(op(4000, 7, Phase::Invoke, OpKind::Resume, "c"));
    ev.push(op(4100, 7, Phase::Ok, OpKind::Resume, "c"));
    let mut after = ev.clone();
    // Tick 3 s (paused time) fired after the resume: the misfire policy's catch-up.
    after.push(fire("c", START + 3000, 1200, "s1", true));
    assert_eq!(no_fire_after_pause_or_delete(&History { events: after }).valid, Some(true));
    // The same tick fired while paused.
    ev.push(fire("c", START + 3000, 100, "s1", true));
    assert_eq!(no_fire_after_pause_or_delete(&History { events: ev }).valid, Some(false));
    // Nothing acknowledged: nothing to judge.
    assert_eq!(no_fire_after_pause_or_delete(&History { events: vec![start()] }).valid, None);
}

#[test]
fn lost_ticks_follow_the_misfire_policy() {
    let h = History { events: steady(10, "fire_all", &[]) };
    assert_eq!(no_lost_tick(&h, 2000).0.valid, Some(true));
    // Outside any fault window, even skip may not lose a tick.
    let h = History { events: steady(10, "skip", &[4]) };
    let v = no_lost_tick(&h, 2000).0;
    assert_eq!(v.valid, Some(false));
    assert!(v.details.contains(&(START + 4000).to_string()), "{}", v.details);
    // Inside a fault window, skip may; fire_all may not.
    let fault = |mut ev: Vec<Event>| {
        ev.push(Event::Fault { at_ms: 3500, kind: Fault::KillLeader, target: 1, installed: true });
        ev.push(Event::Healed { at_ms: 4500, kind: Fault::KillLeader, target: 1 });
        History { events: ev }
    };
    assert_eq!(no_lost_tick(&fault(steady(20, "skip", &[4, 5])), 1000).0.valid, Some(true));
    assert_eq!(no_lost_tick(&fault(steady(20, "fire_all", &[4])), 1000).0.valid, Some(false));
    assert_eq!(no_lost_tick(&fault(steady(20, "fire_once", &[4])), 1000).0.valid, Some(true));
    // A slave fault leaves a healthy slave: no tick may go missing, whatever the policy.
    let mut ev = steady(20, "skip", &[4]);
    ev.push(Event::Fault { at_ms: 3500, kind: Fault::Slave5xx, target: 1, installed: true });
    ev.push(Event::Healed { at_ms: 4500, kind: Fault::Slave5xx, target: 1 });
    assert_eq!(no_lost_tick(&History { events: ev }, 1000).0.valid, Some(false));
}

fn observed(at_ms: u64, node: u8, state: &str, term: u64) -> Event {
    Event::Observed { at_ms, node, state: state.into(), term, leader: None, applied: None }
}

#[test]
fn only_a_fault_that_cost_the_leader_excuses_a_missed_tick() {
    // Master 2 leads term 3; a fault hits master `target` from 3.5 s to 4.5 s; tick 4 s is missed.
    let run = |name: &str, target: u8, later_term: Option<u64>| {
        let kind: Fault = name.parse().expect("a fault name");
        let mut ev = steady(20, "skip", &[4]);
        ev.push(observed(1000, 2, "Leader", 3));
        ev.push(Event::Fault { at_ms: 3500, kind, target, installed: true });
        if let Some(term) = later_term {
            ev.push(observed(4200, 1, "Leader", term));
        }
        ev.push(Event::Healed { at_ms: 4500, kind, target });
        no_lost_tick(&History { events: ev }, 1000).0
    };
    // A follower killed, cut off or re-added, the leader still in the majority: the leader kept
    // its quorum, so the miss is a lost tick.
    for kind in ["kill-random", "pause-random", "leader-majority", "membership-re-add", "proxy-delay:200"] {
        let v = run(kind, 1, None);
        assert_eq!(v.valid, Some(false), "{kind}: {}", v.details);
    }
    // An election happened meanwhile (a higher term was seen): the leader was lost.
    assert_eq!(run("kill-random", 2, Some(4)).valid, Some(true));
    assert_eq!(run("proxy-drop-after:4096", 2, Some(4)).valid, Some(true));
    // The leader's clock is distrusted, so it plans nothing; a follower's clock changes nothing.
    assert_eq!(run("clock-bump:240000", 2, None).valid, Some(true));
    assert_eq!(run("clock-bump:240000", 1, None).valid, Some(false));
    // Kinds that always take the leader away.
    assert_eq!(run("pause-leader", 2, None).valid, Some(true));
    assert_eq!(run("kill-all", 0, None).valid, Some(true));
    // The leader's links cut short: it may keep its role without being able to commit.
    assert_eq!(run("proxy-drop-after:4096", 2, None).valid, Some(true));
    assert_eq!(run("membership-re-add:leader", 2, None).valid, Some(true));
    assert_eq!(run("proxy-stall", 2, None).valid, Some(false));
}

#[test]
fn forbid_means_no_run_starts_while_another_runs() {
    let mut ev = vec![start(), sched("f", 1000, "skip", "forbid", true)];
    ev.push(fire("f", START + 1000, 10, "s1", true));
    ev.push(fire("f", START + 3000, 10, "s1", true));
    assert_eq!(no_overlap_when_forbidden(&History { events: ev.clone() }, 1500).valid, Some(true));
    ev.push(fire("f", START + 4000, 10, "s2", true));
    assert_eq!(no_overlap_when_forbidden(&History { events: ev }, 1500).valid, Some(false));
}

#[test]
fn lateness_is_judged_outside_fault_windows() {
    let h = History { events: steady(50, "skip", &[]) };
    let (v, l) = lateness(&h, 2000, 100);
    assert_eq!(v.valid, Some(true), "{}", v.details);
    assert_eq!((l.steady.n, l.steady.p99, l.steady.max), (50, 20, 20));
    let mut ev = steady(50, "skip", &[]);
    ev.push(fire("a", START + 51_000, 3000, "s1", true));
    ev.push(fire("a", START + 52_000, 3000, "s1", true));
    let (v, l) = lateness(&History { events: ev }, 20_000, 100);
    assert_eq!(v.valid, Some(false), "{}", v.details);
    assert_eq!(l.steady.max, 3000);
}

#[test]
fn percentiles() {
    assert_eq!(pcts(vec![]), Pcts::default());
    let p = pcts((1..=100).collect());
    assert_eq!((p.n, p.p50, p.p99, p.max), (100, 51, 99, 100));
}

#[test]
fn real_slave_crawls_are_judged_apart_from_the_stand_ins() {
    let real = crate::realslave::NAME;
    // No crawl on a real slave: unknown, never valid.
    assert_eq!(real_slave(&History { events: steady(5, "fire_all", &[]) }).valid, None);
    let mut ev = steady(20, "fire_all", &[]);
    ev.push(sched("r", 10_000, "fire_all", "allow", true));
    ev.push(fire("r", START + 10_000, 2_500, real, true));
    let v = real_slave(&History { events: ev.clone() });
    assert_eq!(v.valid, Some(true), "{}", v.details);
    assert!(v.details.contains("2500/2500/2500"), "{}", v.details);
    // Scrapy's start-up does not count against the stand-ins' steady lateness.
    let (l, lat) = lateness(&History { events: ev.clone() }, 2000, 100);
    assert_eq!(l.valid, Some(true), "{}", l.details);
    assert_eq!(lat.steady.max, 20);
    // A job id that ran twice on the real slave is a duplicate start.
    ev.push(fire("r", START + 10_000, 3_000, real, true));
    assert_eq!(real_slave(&History { events: ev.clone() }).valid, Some(false));
    assert_eq!(no_duplicate_start(&History { events: ev }).valid, Some(false));
}

#[test]
fn faults_are_summed_up_per_kind_one_install_once() {
    let mut ev = steady(30, "fire_all", &[]);
    ev.push(observed(500, 2, "Leader", 3));
    for t in 1..=3 {
        ev.push(Event::Fault { at_ms: 3500, kind: Fault::KillAll, target: t, installed: true });
    }
    ev.push(observed(7000, 1, "Leader", 4));
    for t in 1..=3 {
        ev.push(Event::Healed { at_ms: 6000, kind: Fault::KillAll, target: t });
    }
    ev.push(Event::Fault { at_ms: 12_000, kind: Fault::ProxyDelay { ms: 200 }, target: 0, installed: true });
    ev.push(Event::Healed { at_ms: 14_000, kind: Fault::ProxyDelay { ms: 200 }, target: 0 });
    let h = History { events: ev };
    let (_, l) = lateness(&h, 1000, 100);
    let faults = per_fault(&h, 1000, &l.points);
    assert_eq!(faults.len(), 4, "one record per target");
    let kinds = by_kind(&h, 1000, &faults, &l.points);
    let all = &kinds["kill-all"];
    assert_eq!((all.faults, all.lost_leader, all.time_to_new_leader_ms.n), (1, 1, 1));
    assert_eq!(all.time_to_new_leader_ms.p50, 3500);
    let delay = &kinds["proxy-delay"];
    assert_eq!((delay.faults, delay.lost_leader, delay.time_to_new_leader_ms.n), (1, 0, 0));
    assert!(delay.lateness.n > 0);
}

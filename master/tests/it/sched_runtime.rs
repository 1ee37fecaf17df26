//! The leader's scheduler end to end: 3 in-process masters, 2 real in-process spider-slaves
//! running the demo project. Every fire's job id must reach exactly one slave exactly once, also
//! across a leader failover; undeliverable fires are recorded with a reason.

use std::collections::BTreeMap;
use std::time::Duration;

use master::propose::Proposed;
use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::MisfirePolicy;
use raft_store::state::ScheduleSpec;
use raft_store::state::Trigger;
use raft_store::Applied;
use raft_store::Command;
use serde_json::json;
use serde_json::Value;

use crate::fixtures::*;
use crate::workers::*;

const WAIT: Duration = Duration::from_secs(90);

/// A URL nothing listens on: the demo spider fails to connect and finishes at once.
pub(crate) fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}/", l.local_addr().expect("addr"))
}

pub(crate) fn once(at_ms: i64, selector: &[&str], deadline_ms: u64) -> ScheduleSpec {
    ScheduleSpec {
        project: "demo".into(),
        spider: "quotes".into(),
        egg_version: None,
        args: [("url".to_string(), refused_url())].into(),
        settings: BTreeMap::new(),
        priority: 0,
        node_selector: selector.iter().map(|s| s.to_string()).collect(),
        trigger: Trigger::Once { at_ms },
        misfire: MisfirePolicy::FireOnce { starting_deadline_ms: deadline_ms },
        overlap: Default::default(),
    }
}

pub(crate) async fn create(c: &TestCluster, spec: ScheduleSpec) -> String {
    let id = c.running_ids()[0];
    match c.node(id).node.proposer.propose(Command::CreateSchedule { spec }).await {
        Ok(Proposed { applied: Applied::Schedule { id, .. }, .. }) => id,
        other => panic!("create schedule: {other:?}"),
    }
}

fn cron(expr: &str, selector: &[&str], misfire: MisfirePolicy) -> ScheduleSpec {
    let mut spec = once(0, selector, 0);
    spec.trigger = Trigger::Cron { expr: expr.into(), timezone: "UTC".into() };
    spec.misfire = misfire;
    spec
}

async fn pause(c: &TestCluster, sid: &str) {
    let id = c.running_ids()[0];
    let r = c.node(id).node.proposer.propose(Command::PauseSchedule { id: sid.to_string() }).await;
    assert!(matches!(r, Ok(Proposed { applied: Applied::Schedule { .. }, .. })), "pause {sid}: {r:?}");
}

/// One ledger record: (schedule, tick, decision).
pub(crate) type Rec = (String, i64, FireDecision);

/// The ledger records of `schedules` as master `id` has them, oldest tick first per schedule.
pub(crate) fn ledger(c: &TestCluster, id: u64, schedules: &[String]) -> Vec<Rec> {
    c.node(id).node.state.read(|s| {
        schedules
            .iter()
            .flat_map(|sid| s.fires_of(sid).map(|r| (sid.clone(), r.tick_ms, r.decision.clone())).collect::<Vec<_>>())
            .collect()
    })
}

fn fired_ticks(recs: &[Rec], sid: &str) -> Vec<i64> {
    recs.iter().filter(|(s, _, d)| s == sid && matches!(d, FireDecision::Fired { .. })).map(|(_, t, _)| *t).collect()
}

/// Waits until `sid` has at least `n` fired ticks (after `after_ms`, if given).
async fn fired_at_least(c: &TestCluster, sid: &str, n: usize, after_ms: i64) {
    eventually(&format!("{n} fires of {sid}"), WAIT, || async {
        let id = c.leader().await;
        let t = fired_ticks(&ledger(c, id, &[sid.to_string()]), sid);
        if t.iter().filter(|t| **t > after_ms).count() >= n {
            Ok(())
        } else {
            Err(format!("{t:?}"))
        }
    })
    .await
}

/// Waits until every fired tick of `schedules` has a dispatch outcome; returns the ledger.
async fn settled(c: &TestCluster, schedules: &[String]) -> Vec<Rec> {
    eventually("every fired tick settled", WAIT, || async {
        let id = c.leader().await;
        let recs = ledger(c, id, schedules);
        let pending: Vec<&Rec> = recs
            .iter()
            .filter(|(_, _, d)| matches!(d, FireDecision::Fired { dispatch: DispatchState::Pending, .. }))
            .collect();
        if pending.is_empty() && !recs.is_empty() {
            Ok(recs.clone())
        } else {
            Err(format!("pending: {pending:?}"))
        }
    })
    .await
}

/// Job id → the slaves listing it, one entry per listing (pending, running or finished).
pub(crate) async fn listings(c: &TestCluster, slaves: &[(&str, &InProcessSlave)]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, s) in slaves {
        let v: Value =
            c.http.get(format!("{}/listjobs.json", s.url)).send().await.expect("listjobs").json().await.expect("json");
        for list in ["pending", "running", "finished"] {
            for j in v[list].as_array().cloned().unwrap_or_default() {
                if let Some(id) = j["id"].as_str() {
                    out.entry(id.to_string()).or_default().push(name.to_string());
                }
            }
        }
    }
    out
}

async fn wait_up(c: &TestCluster, node: &str) {
    eventually(&format!("{node} up"), WAIT, || async {
        let id = c.leader().await;
        let (_, v) = api(c, id, reqwest::Method::GET, &format!("/nodes/{node}"), None).await;
        if v["status"]["kind"] == "up" {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await
}

/// Two slaves `a` (tag `ta`) and `b` (tag `tb`) registered, up, holding the demo egg.
pub(crate) async fn two_slaves(c: &TestCluster) -> (InProcessSlave, InProcessSlave) {
    let a = InProcessSlave::start("a").await;
    let b = InProcessSlave::start("b").await;
    let leader = c.leader().await;
    for (id, s, tag) in [("a", &a, "ta"), ("b", &b, "tb")] {
        let body = json!({"id": id, "url": s.url, "tags": [tag]});
        let (st, v) = api(c, leader, reqwest::Method::POST, "/nodes", Some(body)).await;
        assert_eq!(st, 201, "{v}");
    }
    wait_up(c, "a").await;
    wait_up(c, "b").await;
    let form = reqwest::multipart::Form::new()
        .text("version", "1")
        .part("egg", reqwest::multipart::Part::bytes(demo_egg().to_vec()).file_name("x.egg"));
    let r = c
        .http
        .post(format!("{}/api/v1/projects/demo/versions", c.url(leader)))
        .bearer_auth(ADMIN)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status().as_u16(), 201);
    eventually("the demo egg deployed on a and b", WAIT, || async {
        let id = c.leader().await;
        let (_, p) = api(c, id, reqwest::Method::GET, "/projects", None).await;
        let deployed = |node: &str| {
            p.as_array().into_iter().flatten().any(|p| {
                p["name"] == "demo"
                    && p["versions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| v["deployments"][node]["kind"] == "deployed")
            })
        };
        if deployed("a") && deployed("b") {
            Ok(())
        } else {
            Err(p.to_string())
        }
    })
    .await;
    (a, b)
}

pub(crate) fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Checks that each fired job id is on exactly one slave, exactly once, the one the ledger names,
/// and that the slaves ran nothing else; returns each fire's lateness (dispatch commit − tick),
/// sorted.
pub(crate) async fn check_delivery(c: &TestCluster, slaves: &[(&str, &InProcessSlave)], recs: &[Rec]) -> Vec<i64> {
    let mut late = Vec::new();
    let seen = listings(c, slaves).await;
    let mut fired = 0;
    for (sid, tick, dec) in recs {
        let FireDecision::Fired { job_id, dispatch } = dec else { continue };
        fired += 1;
        let DispatchState::Dispatched { node_id, at_ms, .. } = dispatch else {
            panic!("{job_id}: not dispatched: {dispatch:?}");
        };
        assert_eq!(job_id, &format!("{sid}-t{tick}"));
        assert_eq!(
            seen.get(job_id),
            Some(&vec![node_id.clone()]),
            "{job_id} must be listed once, by {node_id}: {seen:?}"
        );
        late.push(*at_ms as i64 - tick);
    }
    assert_eq!(seen.len(), fired, "the slaves ran exactly the fired jobs: {seen:?}");
    late.sort();
    late
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fire_reaches_exactly_one_slave_once_and_selectors_are_honoured() {
    let c = TestCluster::start(3, |_| {}).await;
    let (a, b) = two_slaves(&c).await;
    let every = create(&c, cron("* * * * * *", &[], MisfirePolicy::default())).await;
    let on_b = create(&c, cron("*/2 * * * * *", &["tb"], MisfirePolicy::default())).await;
    fired_at_least(&c, &every, 6, 0).await;
    pause(&c, &every).await;
    pause(&c, &on_b).await;
    let schedules = [every.clone(), on_b.clone()];
    let recs = settled(&c, &schedules).await;
    let late = check_delivery(&c, &[("a", &a), ("b", &b)], &recs).await;
    for (sid, tick, dec) in &recs {
        if sid == &on_b {
            assert!(
                matches!(dec, FireDecision::Fired { dispatch: DispatchState::Dispatched { node_id, .. }, .. } if node_id == "b"),
                "{sid}@{tick}: the selector wants b: {dec:?}"
            );
        }
    }
    let ticks = fired_ticks(&recs, &every);
    let missed: i64 = ticks.windows(2).map(|w| (w[1] - w[0]) / 1000 - 1).sum();
    assert!(ticks.windows(2).all(|w| w[1] > w[0] && (w[1] - w[0]) % 1000 == 0), "{ticks:?}");
    eprintln!(
        "steady state: {} fires; lateness (tick -> Dispatched committed) p50 {} ms, max {} ms; every-second ticks missed: {missed}",
        late.len(),
        percentile(&late, 0.5),
        percentile(&late, 1.0)
    );
    // Every master holds the same ledger.
    c.converged(0).await;
    let (mut a, mut b) = (a, b);
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_continues_after_the_leader_stops_and_nothing_runs_twice() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let (a, b) = two_slaves(&c).await;
    // fire_all: the ticks missed during the failover must fire too, so there is no gap at all.
    let every = create(&c, cron("* * * * * *", &[], MisfirePolicy::FireAll { cap: 100 })).await;
    fired_at_least(&c, &every, 3, 0).await;
    let old = c.leader().await;
    let stopped_at = now_ms();
    c.stop(old).await;
    let new = c.leader().await;
    assert_ne!(new, old);
    fired_at_least(&c, &every, 3, stopped_at).await;
    pause(&c, &every).await;
    let recs = settled(&c, std::slice::from_ref(&every)).await;
    let late = check_delivery(&c, &[("a", &a), ("b", &b)], &recs).await;
    let ticks = fired_ticks(&recs, &every);
    assert!(ticks.windows(2).all(|w| w[1] - w[0] == 1000), "no tick missed or repeated: {ticks:?}");
    let after: Vec<i64> = recs
        .iter()
        .filter(|(_, tick, _)| *tick >= stopped_at)
        .map(|(_, tick, dec)| match dec {
            FireDecision::Fired { dispatch: DispatchState::Dispatched { at_ms, .. }, .. } => *at_ms as i64 - tick,
            _ => i64::MAX,
        })
        .collect();
    eprintln!(
        "failover: leader {old} stopped, {new} leads; {} fires, lateness p50 {} ms, max {} ms; ticks after the stop, lateness: {after:?}",
        late.len(),
        percentile(&late, 0.5),
        percentile(&late, 1.0)
    );
    let (mut a, mut b) = (a, b);
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_every_slave_down_each_tick_records_dispatch_failed_with_the_reason() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let dead = refused_url();
    let (st, v) =
        api(&c, leader, reqwest::Method::POST, "/nodes", Some(json!({"id": "gone", "url": dead, "tags": ["t"]}))).await;
    assert_eq!(st, 201, "{v}");
    let start = now_ms() + 1_000;
    let any = create(&c, once(start, &[], 1_000)).await;
    let any2 = create(&c, once(start + 300, &[], 1_000)).await;
    let gpu = create(&c, once(start + 600, &["gpu"], 1_000)).await;
    let schedules = vec![any.clone(), any2.clone(), gpu.clone()];
    let recs = eventually("three ticks settled", WAIT, || async {
        let r = settled(&c, &schedules).await;
        if r.len() == 3 {
            Ok(r)
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    for (sid, want) in
        [(&any, "no node is up"), (&any2, "no node is up"), (&gpu, "no node is up that carries tags [gpu]")]
    {
        let (_, _, dec) = recs.iter().find(|(s, _, _)| s == sid).expect("record");
        match dec {
            FireDecision::Fired { dispatch: DispatchState::Failed { reason, .. }, .. } => {
                assert!(reason.contains(want), "{sid}: {reason:?} should say {want:?}")
            }
            other => panic!("{sid}: {other:?}"),
        }
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_debug_clock_is_settable_only_where_enabled_and_with_a_token() {
    use master::scheduler::clock::Clock;
    let c = TestCluster::start(3, |cfg| cfg.scheduler.debug_clock = cfg.node_id == 1).await;
    let post = |id: u64, body: Value, token: &'static str| {
        let r = c.http.post(format!("{}/api/v1/debug/clock", c.url(id))).bearer_auth(token).json(&body);
        async move {
            let resp = r.send().await.expect("request");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Disabled: as if the route did not exist.
    assert_eq!(post(2, json!({"offset_ms": 1000}), ADMIN).await.0, 404);
    // No token: 401 before anything else.
    assert_eq!(post(1, json!({"offset_ms": 1000}), "wrong").await.0, 401);
    let (st, v) = post(1, json!({"offset_ms": "soon"}), ADMIN).await;
    assert_eq!((st, v["field"].as_str()), (400, Some("offset_ms")), "{v}");
    let (st, v) = post(1, json!({"offset_ms": 3_600_000}), ADMIN).await;
    assert_eq!((st, v["offset_ms"].as_i64()), (200, Some(3_600_000)), "{v}");
    let skew = c.node(1).node.clock.now_ms() - now_ms();
    assert!((3_590_000..3_610_000).contains(&skew), "{skew}");
    assert_eq!(c.node(2).node.clock.offset_ms(), 0);
    assert_eq!(post(1, json!({"offset_ms": 0}), ADMIN).await.0, 200);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_reconciles_fires_left_without_an_outcome() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let (a, b) = two_slaves(&c).await;
    // Two schedules whose own tick is far away; fires are committed by hand, as a leader that
    // died right after committing them (one after also reaching slave a) would leave them. A
    // leader delivers the fires it applies at once, so they are committed while their
    // schedules want a tag no slave has (the committing leader cannot deliver them, as one that
    // died could not), and the tag is dropped before that leader stops.
    let far = now_ms() + 3_600_000;
    let taken = create(&c, once(far, &["nowhere"], 60_000)).await;
    let lost = create(&c, once(far, &["nowhere"], 60_000)).await;
    let tick = now_ms() - 500;
    let taken_job = format!("{taken}-t{tick}");
    let form =
        [("project", "demo"), ("spider", "quotes"), ("jobid", taken_job.as_str()), ("url", "http://127.0.0.1:9/")];
    let v: Value = c
        .http
        .post(format!("{}/schedule.json", a.url))
        .form(&form)
        .send()
        .await
        .expect("schedule")
        .json()
        .await
        .expect("json");
    assert_eq!(v["jobid"], taken_job.as_str(), "{v}");
    let old = c.leader().await;
    for sid in [&taken, &lost] {
        let fire = Command::Fire(raft_store::Tick { schedule_id: sid.clone(), tick_ms: tick, schedule_version: 1 });
        let r = c.node(old).node.proposer.propose(fire).await;
        assert!(matches!(r, Ok(Proposed { applied: Applied::Fired { .. }, .. })), "{r:?}");
    }
    for sid in [&taken, &lost] {
        let spec = once(far, &[], 60_000);
        let update = Command::UpdateSchedule { id: sid.clone(), expected_version: Some(1), spec };
        let r = c.node(old).node.proposer.propose(update).await;
        assert!(matches!(r, Ok(Proposed { applied: Applied::Schedule { .. }, .. })), "{r:?}");
    }
    c.stop(old).await;
    let recs = settled(&c, &[taken.clone(), lost.clone()]).await;
    check_delivery(&c, &[("a", &a), ("b", &b)], &recs).await;
    let node_of = |sid: &str| {
        recs.iter().find_map(|(s, _, d)| match d {
            FireDecision::Fired { dispatch: DispatchState::Dispatched { node_id, attempts, .. }, .. } if s == sid => {
                Some((node_id.clone(), *attempts))
            }
            _ => None,
        })
    };
    // Found on a, recorded there once, not run again.
    assert_eq!(node_of(&taken), Some(("a".to_string(), 1)));
    assert!(node_of(&lost).is_some());
    let (mut a, mut b) = (a, b);
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_clock_jumps_fires_nothing_ahead_of_time_and_hands_leadership_over() {
    let c = TestCluster::start(3, |cfg| cfg.scheduler.debug_clock = true).await;
    let (a, b) = two_slaves(&c).await;
    let every = create(&c, cron("* * * * * *", &[], MisfirePolicy::FireOnce { starting_deadline_ms: 60_000 })).await;
    fired_at_least(&c, &every, 2, 0).await;
    let leader = c.leader().await;
    let set_offset = |ms: i64| {
        let r = c
            .http
            .post(format!("{}/api/v1/debug/clock", c.url(leader)))
            .bearer_auth(ADMIN)
            .json(&json!({ "offset_ms": ms }));
        async move { assert_eq!(r.send().await.expect("request").status().as_u16(), 200) }
    };
    // Ten minutes ahead: without the guard the leader would fire the tick ten minutes from now
    // at once (and pass over everything in between).
    set_offset(600_000).await;
    let bumped = now_ms();
    // Watched for 3 s: no tick from the future is decided while the clock is off.
    let watch_until = bumped + 3_000;
    while now_ms() < watch_until {
        let ahead: Vec<i64> = ledger(&c, leader, std::slice::from_ref(&every))
            .iter()
            .map(|(_, t, _)| *t)
            .filter(|t| *t > now_ms() + 2_000)
            .collect();
        assert!(ahead.is_empty(), "ticks from the future decided by a leader whose clock is 10 min ahead: {ahead:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Left off: the other two masters agree on the time, so the leader hands over to one of
    // them, and the new leader fires while the old one's clock is still wrong.
    let new_leader = eventually("leadership handed over", WAIT, || async {
        let l = c.leader().await;
        if l != leader {
            Ok(l)
        } else {
            Err("the skewed master still leads".to_string())
        }
    })
    .await;
    fired_at_least(&c, &every, 2, now_ms()).await;
    let recs = ledger(&c, new_leader, std::slice::from_ref(&every));
    let ahead: Vec<i64> = recs.iter().map(|(_, t, _)| *t).filter(|t| *t > now_ms() + 2_000).collect();
    assert!(ahead.is_empty(), "{ahead:?}");
    set_offset(0).await;
    // Firing goes on after the heal, and nothing decided is from the future.
    fired_at_least(&c, &every, 2, now_ms()).await;
    let id = c.leader().await;
    let recs = ledger(&c, id, std::slice::from_ref(&every));
    let ahead: Vec<i64> = recs.iter().map(|(_, t, _)| *t).filter(|t| *t > now_ms() + 2_000).collect();
    assert!(ahead.is_empty(), "{ahead:?}");
    let (mut a, mut b) = (a, b);
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

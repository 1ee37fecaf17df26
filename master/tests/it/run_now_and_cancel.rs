//! Run-now and cancel go through the leader after commit (issue 15): a run-now fire committed
//! through any master is delivered by the leader at once, not by its recovery scan; a cancel is
//! a committed request the leader carries out — or, for a fire no slave has yet, drops.

use std::time::Duration;
use std::time::Instant;

use raft_store::state::CancelState;
use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use serde_json::json;
use serde_json::Value;

use crate::fixtures::*;
use crate::sched_runtime::*;
use crate::workers::*;

const WAIT: Duration = Duration::from_secs(60);

/// The recovery scan an hour apart: only the leader's follow-up of newly applied fires can
/// deliver a run-now within these tests.
fn no_recovery_scan(c: &mut master::config::MasterConfig) {
    c.scheduler.orphan_scan_ms = 3_600_000;
}

async fn run_now(c: &TestCluster, via: u64, sid: &str) -> String {
    let (st, v) = api(c, via, reqwest::Method::POST, &format!("/schedules/{sid}/run"), None).await;
    assert_eq!(st, 202, "{v}");
    v["job_id"].as_str().expect("a job id").to_string()
}

/// The fire record of `job` as the leader has it, once `done` holds for it.
async fn fire_where(c: &TestCluster, job: &str, what: &str, done: impl Fn(&DispatchState) -> bool) -> DispatchState {
    eventually(what, WAIT, || async {
        let id = c.leader().await;
        let d = c.node(id).node.state.read(|s| match s.fire_of_job(job).map(|r| &r.decision) {
            Some(FireDecision::Fired { dispatch, .. }) => Some(dispatch.clone()),
            _ => None,
        });
        match d {
            Some(d) if done(&d) => Ok(d),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_now_through_a_follower_is_delivered_at_once_not_by_the_recovery_scan() {
    let c = TestCluster::start(3, no_recovery_scan).await;
    let (a, b) = two_slaves(&c).await;
    let sid = create(&c, once(now_ms() + 3_600_000, &[], 60_000)).await;
    let f = c.follower(c.leader().await);
    let sent = Instant::now();
    let job = run_now(&c, f, &sid).await;
    let d =
        fire_where(&c, &job, "the run-now fire dispatched", |d| matches!(d, DispatchState::Dispatched { .. })).await;
    let took = sent.elapsed();
    eprintln!("run-now through a follower: Dispatched committed {} ms after the request ({d:?})", took.as_millis());
    let recs = ledger(&c, c.leader().await, std::slice::from_ref(&sid));
    check_delivery(&c, &[("a", &a), ("b", &b)], &recs).await;
    let (mut a, mut b) = (a, b);
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fired_job_cancelled_through_a_follower_is_cancelled_by_the_leader_on_its_slave() {
    let c = TestCluster::start(3, no_recovery_scan).await;
    let (a, b) = two_slaves(&c).await;
    let mut spec = once(now_ms() + 3_600_000, &[], 60_000);
    spec.args.insert("url".into(), hanging_site().await);
    let sid = create(&c, spec).await;
    let leader = c.leader().await;
    let job = run_now(&c, leader, &sid).await;
    let f = c.follower(leader);
    eventually("the job running in the job table", WAIT, || async {
        let (st, j) = api(&c, f, reqwest::Method::GET, &format!("/jobs/{job}"), None).await;
        if st == 200 && j["state"] == "running" {
            Ok(())
        } else {
            Err(format!("{st} {j}"))
        }
    })
    .await;
    let on = c.node(f).node.state.read(|s| s.jobs.get(&job).map(|j| j.node_id.clone())).expect("a job record");
    let (st, v) = api(&c, f, reqwest::Method::POST, &format!("/jobs/{job}/cancel"), None).await;
    assert_eq!((st, v["prevstate"].as_str(), v["node_id"].as_str()), (200, Some("running"), Some(on.as_str())), "{v}");
    // The decision and its outcome are in the log, on every master.
    c.converged(0).await;
    for id in c.running_ids() {
        let cancel = c.node(id).node.state.read(|s| s.jobs.get(&job).and_then(|j| j.cancel.clone()));
        assert!(
            matches!(&cancel, Some(CancelState::Cancelled { prevstate, .. }) if prevstate == "running"),
            "master {id}: {cancel:?}"
        );
    }
    eventually("the cancelled crawl ended", WAIT, || async {
        let (st, j) = api(&c, f, reqwest::Method::GET, &format!("/jobs/{job}"), None).await;
        if st == 200 && j["state"] == "finished" {
            Ok(())
        } else {
            Err(format!("{st} {j}"))
        }
    })
    .await;
    assert_eq!(api(&c, f, reqwest::Method::POST, &format!("/jobs/{job}/cancel"), None).await.0, 409);
    let (mut a, mut b) = (a, b);
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fired_job_not_yet_delivered_is_dropped_before_any_slave_sees_it() {
    let c = TestCluster::start(3, no_recovery_scan).await;
    let (a, b) = two_slaves(&c).await;
    // No slave carries `tc`: the fire waits for a node (until its deadline, a minute).
    let far = now_ms() + 3_600_000;
    let waiting = create(&c, once(far, &["tc"], 60_000)).await;
    let later = create(&c, once(far, &["tc"], 60_000)).await;
    let leader = c.leader().await;
    let job = run_now(&c, leader, &waiting).await;
    fire_where(&c, &job, "the fire committed, not delivered", |d| matches!(d, DispatchState::Pending)).await;
    let f = c.follower(leader);
    let (st, v) = api(&c, f, reqwest::Method::POST, &format!("/jobs/{job}/cancel"), None).await;
    assert_eq!((st, v["job_id"].as_str(), v["prevstate"].as_str()), (200, Some(job.as_str()), Some("pending")), "{v}");
    assert!(v["node_id"].is_null(), "no slave had it: {v}");
    fire_where(&c, &job, "the fire dropped", |d| matches!(d, DispatchState::Cancelled { .. })).await;
    assert_eq!(api(&c, f, reqwest::Method::POST, &format!("/jobs/{job}/cancel"), None).await.0, 409);
    // Now slave a carries `tc`: a later fire of the same selector reaches it; the dropped one never.
    let (st, v) = api(&c, leader, reqwest::Method::PATCH, "/nodes/a", Some(json!({"tags": ["ta", "tc"]}))).await;
    assert_eq!(st, 200, "{v}");
    let next = run_now(&c, f, &later).await;
    let d = fire_where(&c, &next, "the later fire dispatched", |d| matches!(d, DispatchState::Dispatched { .. })).await;
    assert!(matches!(&d, DispatchState::Dispatched { node_id, .. } if node_id == "a"), "{d:?}");
    let seen = listings(&c, &[("a", &a), ("b", &b)]).await;
    assert_eq!(seen.get(&next), Some(&vec!["a".to_string()]), "{seen:?}");
    assert!(!seen.contains_key(&job), "the dropped job reached a slave: {seen:?}");
    assert!(c.node(leader).node.state.read(|s| !s.jobs.contains(&job)), "no job record for a dropped fire");
    let (mut a, mut b) = (a, b);
    a.stop().await;
    b.stop().await;
    c.shutdown().await;
}

/// Every master's last applied index, once they all agree and the leader's log is applied.
async fn settled_index(c: &TestCluster) -> u64 {
    eventually("every master applied the whole log", WAIT, || async {
        let leader = c.leader().await;
        let last_log = c.node(leader).node.metrics().last_log_index.unwrap_or(0);
        let applied: Vec<u64> = c
            .running_ids()
            .iter()
            .map(|id| c.node(*id).node.state.last_applied().map(|l| l.index()).unwrap_or(0))
            .collect();
        if last_log > 0 && applied.iter().all(|a| *a == last_log) {
            Ok(last_log)
        } else {
            Err(format!("log {last_log}, applied {applied:?}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_an_unknown_job_is_404_and_commits_nothing() {
    // No slaves: nothing else writes to the log.
    let c = TestCluster::start(3, |_| {}).await;
    let before = settled_index(&c).await;
    let leader = c.leader().await;
    for id in [leader, c.follower(leader)] {
        let (st, v): (u16, Value) = api(&c, id, reqwest::Method::POST, "/jobs/no-such-job/cancel", None).await;
        assert_eq!(st, 404, "via master {id}: {v}");
    }
    assert_eq!(settled_index(&c).await, before, "a cancel of an unknown job committed something");
    c.shutdown().await;
}

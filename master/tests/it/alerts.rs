//! Alerts end to end: a real 3-master cluster in this process, a real SMTP server (aiosmtpd,
//! `cluster_harness::SmtpSink`) receiving every mail, real spider-slaves running real Scrapy.
//! Leaders are stopped at chosen points of a delivery (`MasterNode::alerter_stall`) to prove
//! the decision is made once and a resend carries the same `Message-ID`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use alerts::delivery::Delivery;
use alerts::delivery::DeliveryState;
use alerts::event::AlertEvent;
use alerts::event::EventKind;
use alerts::event::NodeEvent;
use alerts::group::Input;
use alerts::route::GroupTimers;
use alerts::route::Rule;
use cluster_harness::venv_python;
use cluster_harness::SmtpSink;
use master::alerter::Stall;
use raft_store::state::StoredChannel;
use raft_store::Applied;
use raft_store::Command;
use serde_json::json;

use crate::fixtures::eventually;
use crate::fixtures::TestCluster;

const WAIT: Duration = Duration::from_secs(60);

async fn sink() -> SmtpSink {
    SmtpSink::start(&venv_python().expect("venv python")).await.expect("SMTP sink")
}

/// The e-mail channel `ops` to `sink`, retrying after `backoff_ms`.
fn channel(sink: &SmtpSink, backoff_ms: &[u64]) -> StoredChannel {
    serde_json::from_value(json!({
        "type": "email", "host": "127.0.0.1", "port": sink.port(), "security": "none",
        "from": "spider-platform <alerts@spider.test>", "to": ["oncall@spider.test"], "timeout_ms": 5000,
        "retry": {"backoff_ms": backoff_ms}
    }))
    .expect("channel")
}

/// A rule with timers short enough for a test (group wait 200 ms, interval 300 ms).
fn rule(name: &str, kinds: &[EventKind]) -> Rule {
    Rule {
        timers: GroupTimers { group_wait_ms: 200, group_interval_ms: 300, repeat_interval_ms: 3_600_000 },
        ..Rule::new(name, kinds, &["ops"])
    }
}

async fn configure(c: &TestCluster, ch: StoredChannel, rules: Vec<Rule>) {
    assert_eq!(c.propose(Command::PutAlertChannel { name: "ops".into(), channel: ch }).await, Applied::Done);
    for r in rules {
        assert_eq!(c.propose(Command::PutAlertRule { rule: r }).await, Applied::Done);
    }
}

fn delivery(c: &TestCluster, on: u64, id: &str) -> Option<Delivery> {
    c.master(on).state.read(|s| s.alert_engine().and_then(|e| e.state.deliveries.items.get(&id_of(id)).cloned()))
}

fn id_of(id: &str) -> alerts::delivery::DeliveryId {
    alerts::delivery::DeliveryId(id.to_string())
}

async fn wait_delivery(c: &TestCluster, on: u64, id: &str, what: &str, ok: impl Fn(&Delivery) -> bool) -> Delivery {
    eventually(what, WAIT, || {
        let d = delivery(c, on, id);
        let r = match d {
            Some(d) if ok(&d) => Ok(d),
            other => Err(format!("{other:?}")),
        };
        async move { r }
    })
    .await
}

fn delivered(d: &Delivery) -> bool {
    matches!(d.state, DeliveryState::Delivered { .. })
}

/// Waits until `leader`'s alerter has announced its term in the replicated state.
async fn alerter_running(c: &TestCluster, leader: u64) -> u64 {
    eventually("the leader's alerter announced its term", WAIT, || {
        let mark = c.master(leader).state.read(|s| s.alert_engine().and_then(|e| e.leader.clone()));
        async move {
            match mark {
                Some(m) if m.node_id == leader => Ok(m.term),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

async fn new_leader(c: &TestCluster, old: u64) -> u64 {
    eventually("a new leader", WAIT, || async {
        match c.try_leader(Duration::from_secs(2)).await {
            Some(l) if l != old => Ok(l),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

fn node_down(node: &str, since: u64) -> Command {
    let event = AlertEvent::NodeDown(NodeEvent {
        node: node.into(),
        down_since_ms: since,
        up_since_ms: None,
        failed_checks: 3,
        last_error: Some("connection refused".into()),
        lost_jobs: vec![],
    });
    Command::AlertStep { leader: None, inputs: vec![Input::Event { event }] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failover_is_mailed_once_by_the_new_leader_naming_both_leaders() {
    let sink = sink().await;
    let mut c = TestCluster::start(3, |_| {}).await;
    configure(&c, channel(&sink, &[500]), vec![rule("failover", &[EventKind::Failover])]).await;
    let old = c.leader().await;
    alerter_running(&c, old).await;
    assert!(sink.messages().is_empty(), "the cluster's first leader is no failover");
    c.stop(old).await;
    let new = new_leader(&c, old).await;
    let term = alerter_running(&c, new).await;
    let d = wait_delivery(&c, new, &format!("failover:term-{term}@ops"), "failover alert delivered", delivered).await;
    assert_eq!((d.attempts, d.uncertain), (1, false), "{d:?}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "exactly one failover mail: {:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let m = &mails[0];
    assert!(
        m.text_body.contains(&format!("master-{old}")) && m.text_body.contains(&format!("master-{new}")),
        "{}",
        m.text_body
    );
    assert!(m.text_body.contains("Leaderless for"), "{}", m.text_body);
    assert_eq!(
        m.message_id.as_deref().map(|id| id.starts_with(&format!("failover=3Aterm-{term}@"))),
        Some(true),
        "{:?}",
        m.message_id
    );
    let alert =
        c.master(new).state.read(|s| s.alerts.get(&format!("failover:term-{term}")).cloned()).expect("ledger record");
    let AlertEvent::Failover(f) = &alert.event else { panic!("{:?}", alert.event) };
    assert!(f.leaderless_ms > 0, "a leaderless time was measured: {f:?}");
    c.shutdown().await;
}

/// (a) The leader commits the decision and dies before sending: the next leader sends it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_killed_after_the_decision_and_before_the_send_costs_nothing() {
    let sink = sink().await;
    let mut c = TestCluster::start(3, |_| {}).await;
    configure(&c, channel(&sink, &[500]), vec![rule("nodes", &[EventKind::NodeDown])]).await;
    let old = c.leader().await;
    alerter_running(&c, old).await;
    c.master(old).alerter_stall.store(Stall::AfterCommit as u8, Ordering::Relaxed);
    c.propose(node_down("s9", 1_000)).await;
    let id = "node:s9:down:1000@ops";
    wait_delivery(&c, old, id, "the attempt committed in flight", |d| {
        matches!(d.state, DeliveryState::InFlight { .. })
    })
    .await;
    assert!(sink.messages().is_empty(), "stalled before sending");
    c.stop(old).await;
    let new = new_leader(&c, old).await;
    let d = wait_delivery(&c, new, id, "delivered by the new leader", delivered).await;
    assert_eq!(d.attempts, 2, "the dead leader's attempt counts: {d:?}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "sent once");
    assert!(mails[0].subject.contains("s9"), "{}", mails[0].subject);
    c.shutdown().await;
}

/// (b) The leader sends and dies before committing the outcome: the next leader resends,
/// marked uncertain, with the same `Message-ID` — at most two copies, deduplicable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_killed_after_the_send_and_before_the_outcome_resends_with_the_same_message_id() {
    let sink = sink().await;
    let mut c = TestCluster::start(3, |_| {}).await;
    configure(&c, channel(&sink, &[500]), vec![rule("nodes", &[EventKind::NodeDown])]).await;
    let old = c.leader().await;
    alerter_running(&c, old).await;
    c.master(old).alerter_stall.store(Stall::AfterSend as u8, Ordering::Relaxed);
    c.propose(node_down("s8", 2_000)).await;
    let first = sink.wait_for(1, WAIT).await;
    let id = "node:s8:down:2000@ops";
    assert!(matches!(delivery(&c, old, id).map(|d| d.state), Some(DeliveryState::InFlight { .. })));
    c.stop(old).await;
    let new = new_leader(&c, old).await;
    let d = wait_delivery(&c, new, id, "settled by the new leader", delivered).await;
    assert!(!d.uncertain && d.attempts == 2, "{d:?}");
    let mails = sink.messages();
    assert_eq!(mails.len(), 2, "one resend");
    assert_eq!(mails[1].message_id, first[0].message_id, "the resend carries the same Message-ID");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_smtp_server_that_is_down_leaves_the_alert_pending_with_its_error_until_it_is_back() {
    let mut sink = sink().await;
    let c = TestCluster::start(3, |_| {}).await;
    configure(&c, channel(&sink, &[1000; 30]), vec![rule("nodes", &[EventKind::NodeDown])]).await;
    let leader = c.leader().await;
    alerter_running(&c, leader).await;
    sink.stop();
    c.propose(node_down("s7", 3_000)).await;
    let id = "node:s7:down:3000@ops";
    let d = wait_delivery(&c, leader, id, "a failed attempt with its error", |d| d.last_error.is_some()).await;
    let error = d.last_error.clone().unwrap_or_default();
    assert!(error.contains("cannot reach SMTP server 127.0.0.1"), "the transport's error verbatim: {error}");
    assert!(!delivered(&d));
    sink.start_again().await.expect("sink back");
    let d = wait_delivery(&c, leader, id, "delivered once the server is back", delivered).await;
    assert!(d.attempts >= 2, "{d:?}");
    assert_eq!(sink.messages().len(), 1);
    let counters = c.master(leader).state.read(|s| s.alert_engine().and_then(|e| e.channels.get("ops").cloned()));
    let counters = counters.expect("counters");
    assert!(counters.failed >= 1 && counters.delivered == 1, "{counters:?}");
    c.shutdown().await;
}

use super::*;
use crate::spider_error::TrippedCondition;

fn node_down() -> AlertEvent {
    AlertEvent::NodeDown(NodeEvent {
        node: "slave-2".into(),
        down_since_ms: 1_700_000_000_000,
        up_since_ms: None,
        failed_checks: 3,
        last_error: Some("connection refused".into()),
        lost_jobs: vec!["j9".into()],
    })
}

#[test]
fn alert_ids_are_derived_from_the_event() {
    let failover = AlertEvent::Failover(FailoverEvent {
        old_leader: Some("m1".into()),
        new_leader: "m2".into(),
        term: 7,
        leaderless_ms: 1200,
        elected_at_ms: 5,
        affected_fires: vec![],
    });
    assert_eq!(failover.alert_id().as_str(), "failover:term-7");
    assert_eq!(node_down().alert_id().as_str(), "node:slave-2:down:1700000000000");
    assert_eq!(node_down().condition_key().as_deref(), Some("node:slave-2"));
    assert!(node_down().is_stateful());
    assert!(!failover.is_stateful());
    assert_eq!(failover.condition_key(), None);
    assert!(EventKind::NodeDown.bypasses_group_wait() && EventKind::Failover.bypasses_group_wait());
    assert!(!EventKind::SpiderError.bypasses_group_wait());
}

#[test]
fn header_token_is_injective_and_header_safe() {
    let a = AlertId("job:a.b:error".into()).header_token();
    let b = AlertId("job:a=2Eb:error".into()).header_token();
    assert_eq!(a, "job=3Aa=2Eb=3Aerror");
    assert_ne!(a, b);
    assert!(AlertId("job:ü <x>@y".into())
        .header_token()
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"=-_".contains(&c)));
}

#[test]
fn serde_encoding_is_tagged_by_kind_and_round_trips() {
    let ev = AlertEvent::SpiderError(SpiderErrorEvent {
        project: "shop".into(),
        spider: "books".into(),
        job_id: "j1".into(),
        node: "slave-1".into(),
        schedule_id: None,
        tags: vec!["nightly".into()],
        started_ms: 0,
        finished_ms: 1000,
        exit_code: Some(1),
        finish_reason: Some("finished".into()),
        error_lines: 2,
        item_count: Some(0),
        stats: Default::default(),
        last_log_lines: vec!["x".into()],
        tripped: vec![TrippedCondition::NonZeroExit { code: Some(1) }],
    });
    let json = serde_json::to_value(&ev).unwrap_or_default();
    assert_eq!(json["kind"], "spider_error");
    assert_eq!(json["tripped"][0]["condition"], "non_zero_exit");
    let back: AlertEvent = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, ev);
    let nd: AlertEvent =
        serde_json::from_value(serde_json::to_value(node_down()).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(nd, node_down());
}

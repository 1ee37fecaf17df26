use std::collections::BTreeMap;

use alerts::delivery::DeliveryId;
use alerts::event::AlertId;
use alerts::event::NodeEvent;
use alerts::sample::single;
use raft_store::state::alerts::ChannelCounters;

use super::*;

fn node_down() -> AlertEvent {
    AlertEvent::NodeDown(NodeEvent {
        node: "s1".into(),
        down_since_ms: 1_000,
        up_since_ms: None,
        failed_checks: 3,
        last_error: Some("connection refused".into()),
        lost_jobs: vec![],
    })
}

fn record() -> AlertRecord {
    AlertRecord {
        id: "node:s1:down:1000".into(),
        event: node_down(),
        status: AlertStatus::Firing,
        resolved_by: None,
        first_seen_ms: 1_100,
        updated_ms: 1_200,
        routes: BTreeMap::from([
            (
                "nodes".to_string(),
                RouteOutcome::Notified {
                    notifications: vec!["node:s1:down:1000".into()],
                    channels: vec!["ops".into()],
                },
            ),
            (
                "quiet".to_string(),
                RouteOutcome::Suppressed { why: Suppression::Silenced { silence_id: "sil-4".into() } },
            ),
            ("slow".to_string(), RouteOutcome::Pending),
        ]),
        acked: Some(ByHand { by: "ana".into(), at_ms: 1_300, comment: "on it".into() }),
        resolved_by_hand: None,
        seq: 17,
    }
}

#[test]
fn an_alert_keeps_the_wire_shape_clients_read() {
    let text = serde_json::to_string(&AlertView::from(&record())).expect("encode");
    assert_eq!(
        text,
        concat!(
            r#"{"id":"node:s1:down:1000","kind":"node_down","severity":"critical","status":"firing","#,
            r#""summary":"node s1 is down (3 failed checks)","#,
            r#""event":{"kind":"node_down","node":"s1","down_since_ms":1000,"up_since_ms":null,"failed_checks":3,"#,
            r#""last_error":"connection refused","lost_jobs":[]},"#,
            r#""labels":{"project":null,"spider":null,"node":"s1","tags":[]},"first_seen_ms":1100,"updated_ms":1200,"#,
            r#""routes":{"nodes":{"outcome":"notified","notifications":["node:s1:down:1000"],"channels":["ops"]},"#,
            r#""quiet":{"outcome":"suppressed","why":{"reason":"silenced","silence_id":"sil-4"}},"#,
            r#""slow":{"outcome":"pending"}},"#,
            r#""acked":{"by":"ana","at_ms":1300,"comment":"on it"},"resolved_by_hand":null,"resolved_by":null,"seq":17}"#
        )
    );
}

fn delivery(state: DeliveryState) -> Delivery {
    let n = single(node_down(), 1_100);
    Delivery {
        id: DeliveryId::new(&n.id, "ops"),
        channel: "ops".into(),
        notification: n,
        attempts: 2,
        state,
        last_error: Some("421 try later".into()),
        uncertain: true,
        seq: 3,
    }
}

#[test]
fn a_delivery_names_its_state_and_the_time_that_goes_with_it() {
    let text =
        serde_json::to_string(&DeliveryView::from(&delivery(DeliveryState::Queued { due_ms: 9 }))).expect("encode");
    assert_eq!(
        text,
        concat!(
            r#"{"id":"node:s1:down:1000@ops","channel":"ops","notification_id":"node:s1:down:1000","rule":"sample","#,
            r#""alert_ids":["node:s1:down:1000"],"state":"queued","due_ms":9,"attempts":2,"uncertain":true,"#,
            r#""last_error":"421 try later"}"#
        )
    );
    for (state, tail) in [
        (DeliveryState::InFlight { since_ms: 5 }, r#""state":"in_flight","since_ms":5,"#),
        (DeliveryState::Delivered { at_ms: 6 }, r#""state":"delivered","at_ms":6,"#),
        (DeliveryState::GaveUp { at_ms: 7 }, r#""state":"gave_up","at_ms":7,"#),
    ] {
        let text = serde_json::to_string(&DeliveryView::from(&delivery(state))).expect("encode");
        assert!(text.contains(tail), "{text}");
    }
}

#[test]
fn the_detail_is_the_alert_with_its_deliveries() {
    let d = AlertDetail { alert: record(), deliveries: vec![delivery(DeliveryState::Delivered { at_ms: 6 })] };
    let v = serde_json::to_value(AlertDetailView::from(&d)).expect("encode");
    assert_eq!(v["id"], "node:s1:down:1000");
    assert_eq!(v["deliveries"][0]["state"], "delivered");
    let every_suppression = [
        (Suppression::Duplicate, r#"{"reason":"duplicate"}"#),
        (
            Suppression::BelowFailureThreshold { count: 1, needed: 3 },
            r#"{"reason":"below_failure_threshold","count":1,"needed":3}"#,
        ),
        (Suppression::RecoveryNotNotified, r#"{"reason":"recovery_not_notified"}"#),
        (Suppression::ResolvedBeforeNotified, r#"{"reason":"resolved_before_notified"}"#),
        (
            Suppression::Inhibited { by: AlertId("node:s1:down:1000".into()) },
            r#"{"reason":"inhibited","by":"node:s1:down:1000"}"#,
        ),
    ];
    for (s, json) in every_suppression {
        assert_eq!(serde_json::to_string(&SuppressionView::from(&s)).expect("encode"), json);
    }
}

#[test]
fn the_cluster_summary_counts_per_channel() {
    let s = AlertSummary {
        recorded: 4,
        firing: 2,
        pending_deliveries: 1,
        uncertain_deliveries: 0,
        channels: BTreeMap::from([(
            "ops".to_string(),
            ChannelCounters { decided: 3, attempts: 4, delivered: 2, failed: 2, gave_up: 1 },
        )]),
    };
    assert_eq!(
        serde_json::to_string(&AlertsSummaryView::from(&s)).expect("encode"),
        concat!(
            r#"{"recorded":4,"firing":2,"pending_deliveries":1,"uncertain_deliveries":0,"#,
            r#""channels":{"ops":{"decided":3,"attempts":4,"delivered":2,"failed":2,"gave_up":1}}}"#
        )
    );
}

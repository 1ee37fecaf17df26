//! `apply` of the alerting commands: config validation, silences, engine steps and the ledger.

use ::alerts::delivery::DeliveryId;
use ::alerts::delivery::DeliveryOutcome;
use ::alerts::delivery::DeliveryState;
use ::alerts::event::AlertEvent;
use ::alerts::event::AlertStatus;
use ::alerts::event::EventKind;
use ::alerts::event::NodeEvent;
use ::alerts::group::Input;
use ::alerts::route::Rule;
use ::alerts::silence::MatchLabel;
use ::alerts::silence::Matcher;
use ::alerts::silence::Silence;

use super::apply_test::Log;
use crate::applied::Applied;
use crate::applied::Rejection;
use crate::command::Command;
use crate::state::alerts::LeaderMark;
use crate::state::alerts::RouteOutcome;
use crate::state::StoredChannel;

fn mail(to: &str) -> StoredChannel {
    serde_json::from_value(serde_json::json!({
        "type": "email", "host": "127.0.0.1", "port": 2525, "security": "none",
        "username": "alerts", "password": "p4ss-word", "from": "spider@example.org", "to": [to]
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn node(id: &str, since: u64, up: bool) -> AlertEvent {
    let e = NodeEvent {
        node: id.into(),
        down_since_ms: since,
        up_since_ms: up.then_some(since + 5_000),
        failed_checks: 3,
        last_error: Some("connection refused".into()),
        lost_jobs: vec![],
    };
    if up {
        AlertEvent::NodeUp(e)
    } else {
        AlertEvent::NodeDown(e)
    }
}

fn step(inputs: Vec<Input>) -> Command {
    Command::AlertStep { leader: None, inputs }
}

fn event(ev: AlertEvent) -> Input {
    Input::Event { event: ev }
}

/// A log with channel `ops` and rule `nodes` (node down/up → ops).
fn configured() -> Log {
    let mut log = Log::new();
    assert_eq!(
        log.run(Command::PutAlertChannel { name: "ops".into(), channel: mail("oncall@example.org") }),
        Applied::Done
    );
    let rule = Rule::new("nodes", &[EventKind::NodeDown], &["ops"]);
    assert_eq!(log.run(Command::PutAlertRule { rule }), Applied::Done);
    log
}

fn delivery_state(log: &Log, id: &str) -> Option<DeliveryState> {
    let engine = log.state.alert_engine()?;
    engine.state.deliveries.items.get(&DeliveryId(id.into())).map(|d| d.state)
}

#[test]
fn bad_channels_and_rules_are_refused_naming_the_field() {
    let mut log = configured();
    let r = log.rejected(Command::PutAlertChannel { name: "bad name".into(), channel: mail("oncall@example.org") });
    assert!(matches!(&r, Rejection::Invalid { field, .. } if field == "channels.bad name"), "{r:?}");
    let r = log.rejected(Command::PutAlertChannel { name: "ops2".into(), channel: mail("not-an-address") });
    assert!(matches!(&r, Rejection::Invalid { field, .. } if field.starts_with("channels.ops2.smtp.to")), "{r:?}");
    let rule = Rule::new("jobs", &[EventKind::SpiderError], &["ops", "pager"]);
    let r = log.rejected(Command::PutAlertRule { rule });
    assert!(
        matches!(&r, Rejection::Invalid { field, message } if field == "channels[1]" && message.contains("pager")),
        "{r:?}"
    );
    let r = log.rejected(Command::DeleteAlertChannel { name: "ops".into() });
    assert!(matches!(&r, Rejection::Conflict { detail } if detail.contains("nodes")), "{r:?}");
    assert_eq!(log.rejected(Command::DeleteAlertRule { name: "nope".into() }), Rejection::UnknownRule);
    assert_eq!(log.run(Command::DeleteAlertRule { name: "nodes".into() }), Applied::Done);
    assert_eq!(log.run(Command::DeleteAlertChannel { name: "ops".into() }), Applied::Done);
    assert_eq!(log.rejected(Command::DeleteAlertChannel { name: "ops".into() }), Rejection::UnknownChannel);
}

#[test]
fn a_stored_channel_keeps_its_secret_but_never_prints_it() {
    let ch = mail("oncall@example.org");
    let stored = serde_json::to_string(&ch).unwrap_or_default();
    assert!(stored.contains("p4ss-word"), "{stored}");
    let back: StoredChannel = serde_json::from_str(&stored).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, ch);
    let cmd = Command::PutAlertChannel { name: "ops".into(), channel: ch.clone() };
    assert!(!format!("{cmd:?}").contains("p4ss-word") && !cmd.to_string().contains("p4ss-word"));
    let view = serde_json::to_string(&ch.0).unwrap_or_default();
    assert!(!view.contains("p4ss-word") && view.contains("***"), "{view}");
}

#[test]
fn silences_get_an_id_from_the_log_and_expire_by_hand() {
    let mut log = configured();
    let silence = Silence {
        id: "ignored".into(),
        matchers: vec![Matcher::eq(MatchLabel::Node, "slave-1")],
        starts_at_ms: 0,
        ends_at_ms: 10_000_000,
        created_by: "ann".into(),
        comment: "maintenance".into(),
    };
    let Applied::SilenceCreated { id } = log.run(Command::CreateSilence { silence: silence.clone() }) else {
        panic!("no id")
    };
    assert_eq!(id, "sil-3");
    let r = log.rejected(Command::CreateSilence { silence: Silence { comment: " ".into(), ..silence } });
    assert!(matches!(&r, Rejection::Invalid { field, .. } if field == "comment"), "{r:?}");
    // Silenced: the node-down alert is recorded, suppressed, nothing is queued.
    log.run(step(vec![event(node("slave-1", 5, false))]));
    let a = log.state.alerts.get(&"node:slave-1:down:5".to_string()).cloned().unwrap_or_else(|| panic!("no record"));
    assert!(matches!(a.routes.get("nodes"), Some(RouteOutcome::Suppressed { .. })), "{:?}", a.routes);
    assert_eq!(log.state.alert_engine().map(|e| e.state.deliveries.items.len()), Some(0));
    assert_eq!(log.run(Command::ExpireSilence { id: id.clone() }), Applied::Done);
    assert_eq!(log.run(Command::ExpireSilence { id }), Applied::Unchanged);
    assert_eq!(log.rejected(Command::ExpireSilence { id: "sil-99".into() }), Rejection::UnknownSilence);
    // Expired: the next outage goes out.
    log.run(step(vec![event(node("slave-1", 900, false))]));
    assert!(matches!(delivery_state(&log, "node:slave-1:down:900@ops"), Some(DeliveryState::InFlight { .. })));
}

#[test]
fn a_decision_is_in_flight_when_applied_and_settled_by_its_outcome() {
    let mut log = configured();
    log.run(step(vec![event(node("slave-1", 5, false))]));
    let id = "node:slave-1:down:5@ops";
    assert!(matches!(delivery_state(&log, id), Some(DeliveryState::InFlight { .. })), "node down skips group wait");
    // The same event fed again (a new leader re-deriving it) decides nothing new.
    log.run(step(vec![event(node("slave-1", 5, false))]));
    let engine = log.state.alert_engine().cloned().unwrap_or_default();
    assert_eq!(engine.state.deliveries.items.len(), 1);
    assert_eq!(engine.channels.get("ops").map(|c| (c.decided, c.attempts)), Some((1, 1)));
    assert_eq!(engine.alerts_recorded, 1);
    let outcome = Input::DeliveryOutcome { delivery_id: DeliveryId(id.into()), outcome: DeliveryOutcome::Delivered };
    log.run(step(vec![outcome]));
    assert!(matches!(delivery_state(&log, id), Some(DeliveryState::Delivered { .. })));
    assert_eq!(log.state.alert_engine().and_then(|e| e.channels.get("ops")).map(|c| c.delivered), Some(1));
    // The node comes back: the ledger record is resolved by that event, and a resolved notice is queued.
    log.run(step(vec![event(node("slave-1", 5, true))]));
    let a = log.state.alerts.get(&"node:slave-1:down:5".to_string()).cloned().unwrap_or_else(|| panic!("no record"));
    assert_eq!(a.status, AlertStatus::Resolved);
    assert!(matches!(a.resolved_by, Some(AlertEvent::NodeUp(_))));
    assert_eq!(log.state.alerts.len(), 1, "a resolving event has no record of its own");
}

#[test]
fn a_new_leader_resends_what_was_in_flight_marked_uncertain() {
    let mut log = configured();
    log.run(step(vec![event(node("slave-2", 7, false))]));
    let id = "node:slave-2:down:7@ops";
    let leader = Some(LeaderMark { term: 9, node_id: 3, since_ms: 2_000 });
    log.run(Command::AlertStep { leader: leader.clone(), inputs: vec![] });
    let engine = log.state.alert_engine().cloned().unwrap_or_default();
    assert_eq!(engine.leader, leader);
    assert_eq!(engine.leaders.last(), leader.as_ref(), "the term is remembered");
    let d = engine.state.deliveries.items.get(&DeliveryId(id.into())).cloned().unwrap_or_else(|| panic!("gone"));
    assert!(matches!(d.state, DeliveryState::InFlight { .. }), "{:?}", d.state);
    assert!(d.uncertain && d.attempts == 2, "{d:?}");
}

#[test]
fn ack_and_resolve_by_hand() {
    let mut log = configured();
    assert_eq!(
        log.rejected(Command::AckAlert { id: "nope".into(), by: "ann".into(), comment: String::new() }),
        Rejection::UnknownAlert
    );
    log.run(step(vec![event(node("slave-1", 5, false))]));
    let id = "node:slave-1:down:5".to_string();
    assert_eq!(log.run(Command::AckAlert { id: id.clone(), by: "ann".into(), comment: "on it".into() }), Applied::Done);
    assert_eq!(log.state.alerts.get(&id).and_then(|a| a.acked.as_ref()).map(|a| a.by.as_str()), Some("ann"));
    let resolve = || Command::ResolveAlert { id: id.clone(), by: "ann".into(), comment: "replaced".into() };
    assert_eq!(log.run(resolve()), Applied::Done);
    assert_eq!(log.run(resolve()), Applied::Unchanged);
    assert!(log.state.alert_engine().is_some_and(|e| e.state.firing.is_empty()), "no longer inhibits");
}

use std::collections::BTreeMap;

use super::*;
use crate::config::ChannelConfig;
use crate::config::ChannelKind;
use crate::config::RateLimit;
use crate::config::RetryPolicy;
use crate::delivery::DeliveryState;
use crate::event::EventKind;
use crate::event::NodeEvent;
use crate::sample::sample_events;
use crate::silence::MatchLabel;
use crate::silence::Matcher;
use crate::smtp::SmtpConfig;
use crate::smtp::SmtpSecurity;

const T0: u64 = 1_700_000_000_000;

fn channel() -> ChannelConfig {
    ChannelConfig {
        kind: ChannelKind::Email(SmtpConfig {
            host: "127.0.0.1".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "a@example.org".into(),
            to: vec!["b@example.org".into()],
            cc: vec![],
            message_id_domain: None,
            timeout_ms: 1000,
        }),
        rate_limit: None,
        retry: RetryPolicy { backoff_ms: vec![10_000, 30_000] },
        send_resolved: true,
    }
}

fn cfg(rules: Vec<Rule>) -> AlertConfig {
    AlertConfig { channels: BTreeMap::from([("mail".to_string(), channel())]), rules, inhibit_rules: None }
}

fn spider_error(job: &str) -> AlertEvent {
    let mut e = sample_events(T0).remove(1);
    if let AlertEvent::SpiderError(s) = &mut e {
        s.job_id = job.into();
    }
    e
}

fn spider_ok(job: &str) -> AlertEvent {
    let mut e = sample_events(T0).remove(2);
    if let AlertEvent::SpiderRecovered(s) = &mut e {
        s.job_id = job.into();
    }
    e
}

fn node(up: bool, since: u64) -> AlertEvent {
    let e = NodeEvent {
        node: "slave-1".into(),
        down_since_ms: since,
        up_since_ms: up.then_some(since + 1),
        failed_checks: 3,
        last_error: None,
        lost_jobs: vec![],
    };
    if up {
        AlertEvent::NodeUp(e)
    } else {
        AlertEvent::NodeDown(e)
    }
}

fn ev(e: AlertEvent) -> Input {
    Input::Event { event: e }
}

fn notifications(d: &[Decision]) -> Vec<&Notification> {
    d.iter()
        .filter_map(|d| if let Decision::Notify { notification, .. } = d { Some(notification) } else { None })
        .collect()
}

fn sends(d: &[Decision]) -> Vec<(DeliveryId, u32, bool)> {
    d.iter()
        .filter_map(|d| match d {
            Decision::Send { delivery_id, attempt, uncertain, .. } => Some((delivery_id.clone(), *attempt, *uncertain)),
            _ => None,
        })
        .collect()
}

#[test]
fn spider_errors_wait_for_group_wait_then_go_out_as_one_digest() {
    let c = cfg(vec![Rule::new("jobs", &[EventKind::SpiderError], &["mail"])]);
    let mut s = AlertState::default();
    let inputs: Vec<Input> = (0..500).map(|i| ev(spider_error(&format!("j{i}")))).collect();
    let d = s.step(T0, &c, &[], inputs);
    assert!(notifications(&d).is_empty(), "nothing before group_wait");
    assert_eq!(s.next_wakeup_ms(), Some(T0 + 30_000));
    assert!(notifications(&s.step(T0 + 29_999, &c, &[], vec![])).is_empty());
    let d = s.step(T0 + 30_000, &c, &[], vec![]);
    let n = notifications(&d);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].alerts.len(), 500);
    assert!(n[0].id.starts_with("digest:jobs|spider_error|shop:"), "{}", n[0].id);
    assert_eq!(sends(&d).len(), 1);
    // One-off alerts leave the group once notified: nothing repeats.
    assert!(s.groups.is_empty());
}

#[test]
fn failover_and_node_down_bypass_group_wait_and_use_the_alert_id() {
    let c = cfg(vec![Rule::new("all", &[], &["mail"])]);
    let mut s = AlertState::default();
    let failover = sample_events(T0).remove(0);
    let d = s.step(T0, &c, &[], vec![ev(failover), ev(node(false, T0))]);
    let ids: Vec<&str> = notifications(&d).iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, vec!["failover:term-7", &format!("node:slave-1:down:{T0}")]);
    assert_eq!(sends(&d)[0].0 .0, "failover:term-7@mail");
}

#[test]
fn node_down_repeats_every_repeat_interval_and_resolves_once() {
    let c = cfg(vec![Rule::new("nodes", &[EventKind::NodeDown], &["mail"])]);
    let mut s = AlertState::default();
    assert_eq!(notifications(&s.step(T0, &c, &[], vec![ev(node(false, T0))])).len(), 1);
    // Each group_interval tick before repeat_interval: nothing.
    let mut t = T0;
    let mut repeats = 0;
    while t < T0 + 4 * 3_600_000 + 300_000 {
        t += 300_000;
        for n in notifications(&s.step(t, &c, &[], vec![])) {
            assert!(n.repeat && n.id.contains(":repeat-"), "{n:?}");
            repeats += 1;
        }
    }
    assert_eq!(repeats, 1, "one reminder after 4 h");
    let d = s.step(t + 1, &c, &[], vec![ev(node(true, T0))]);
    assert!(notifications(&d).is_empty(), "resolution waits for the group tick");
    let d = s.step(t + 300_000, &c, &[], vec![]);
    let n = notifications(&d);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].id, format!("node:slave-1:up:{T0}"));
    assert_eq!(n[0].alerts[0].status, AlertStatus::Resolved);
    assert!(s.groups.is_empty() && s.firing.is_empty());
}

#[test]
fn after_n_consecutive_failures_and_recovered_only_after_notified() {
    let mut rule = Rule::new("jobs", &[EventKind::SpiderError], &["mail"]);
    rule.after_consecutive_failures = 3;
    rule.timers.group_wait_ms = 0;
    let c = cfg(vec![rule]);
    let mut s = AlertState::default();
    let d = s.step(T0, &c, &[], vec![ev(spider_error("j1")), ev(spider_error("j2"))]);
    assert!(matches!(
        d[1],
        Decision::Suppressed { why: Suppression::BelowFailureThreshold { count: 2, needed: 3 }, .. }
    ));
    // A success resets the streak, and is not announced (no failure was notified).
    let d = s.step(T0 + 1, &c, &[], vec![ev(spider_ok("j3"))]);
    assert!(matches!(d[0], Decision::Suppressed { why: Suppression::RecoveryNotNotified, .. }), "{d:?}");
    let d = s.step(T0 + 2, &c, &[], (4..7).map(|i| ev(spider_error(&format!("j{i}")))).collect());
    assert_eq!(notifications(&d).len(), 1);
    assert_eq!(notifications(&d)[0].id, "job:j6:error");
    let d = s.step(T0 + 400_000, &c, &[], vec![ev(spider_ok("j7"))]);
    assert_eq!(notifications(&d).iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), vec!["job:j7:recovered"]);
}

#[test]
fn node_down_inhibits_its_spider_errors_and_silences_mute_with_a_reason() {
    let c = cfg(vec![Rule::new("all", &[], &["mail"])]);
    let mut s = AlertState::default();
    s.step(T0, &c, &[], vec![ev(node(false, T0))]);
    let d = s.step(T0 + 1, &c, &[], vec![ev(spider_error("j1"))]);
    assert!(
        matches!(&d[0], Decision::Suppressed { why: Suppression::Inhibited { by }, .. } if by.as_str() == format!("node:slave-1:down:{T0}")),
        "{d:?}"
    );
    let silence = Silence {
        id: "maint".into(),
        matchers: vec![Matcher::eq(MatchLabel::Project, "shop")],
        starts_at_ms: T0,
        ends_at_ms: T0 + 3_600_000,
        created_by: "ana".into(),
        comment: "migration".into(),
    };
    let mut other = spider_error("j2");
    if let AlertEvent::SpiderError(e) = &mut other {
        e.node = "slave-9".into();
    }
    let d = s.step(T0 + 2, &c, std::slice::from_ref(&silence), vec![ev(other.clone())]);
    assert!(
        matches!(&d[0], Decision::Suppressed { why: Suppression::Silenced { silence_id }, .. } if silence_id == "maint")
    );
    // The same alert id fed again (a new leader re-reading events) is a duplicate, even after expiry.
    let d = s.step(T0 + 3_600_001, &c, &[silence], vec![ev(other)]);
    assert!(matches!(&d[0], Decision::Suppressed { why: Suppression::Duplicate, .. }));
}

#[test]
fn retries_follow_the_backoff_then_give_up_and_failover_resends_uncertain() {
    let c = cfg(vec![Rule::new("all", &[], &["mail"])]);
    let mut s = AlertState::default();
    let d = s.step(T0, &c, &[], vec![ev(node(false, T0))]);
    let (id, attempt, _) = sends(&d)[0].clone();
    assert_eq!(attempt, 1);
    let fail = |id: &DeliveryId| Input::DeliveryOutcome {
        delivery_id: id.clone(),
        outcome: DeliveryOutcome::Failed { error: "421 try later".into(), retryable: true },
    };
    let d = s.step(T0 + 5, &c, &[], vec![fail(&id)]);
    assert!(matches!(d[0], Decision::RetryScheduled { attempt: 2, due_ms, .. } if due_ms == T0 + 10_005));
    assert!(sends(&s.step(T0 + 10_004, &c, &[], vec![])).is_empty());
    assert_eq!(sends(&s.step(T0 + 10_005, &c, &[], vec![]))[0].1, 2);
    // The leader dies mid-attempt: the next one resends with the same id, marked uncertain.
    s.resume_after_failover(T0 + 20_000);
    let d = s.step(T0 + 20_000, &c, &[], vec![]);
    assert_eq!(sends(&d), vec![(id.clone(), 3, true)]);
    let d = s.step(T0 + 20_001, &c, &[], vec![fail(&id)]);
    assert!(matches!(d[0], Decision::GaveUp { attempts: 3, .. }), "{d:?}");
}

#[test]
fn rate_limit_defers_instead_of_dropping() {
    let mut c = cfg(vec![Rule::new("all", &[EventKind::NodeDown], &["mail"])]);
    if let Some(ch) = c.channels.get_mut("mail") {
        ch.rate_limit = Some(RateLimit { max_notifications: 2, per_ms: 60_000 });
    }
    let mut s = AlertState::default();
    let mut rule_by_node = c.rules[0].clone();
    rule_by_node.group_by = vec![crate::route::GroupLabel::Node];
    c.rules = vec![rule_by_node];
    let inputs = (0..3)
        .map(|i| {
            let mut e = node(false, T0);
            if let AlertEvent::NodeDown(n) = &mut e {
                n.node = format!("slave-{i}");
            }
            ev(e)
        })
        .collect();
    let d = s.step(T0, &c, &[], inputs);
    assert_eq!(notifications(&d).len(), 3);
    assert_eq!(sends(&d).len(), 2);
    assert_eq!(s.deliveries.pending().filter(|d| matches!(d.state, DeliveryState::Queued { .. })).count(), 1);
    assert_eq!(s.next_wakeup_ms(), Some(T0 + 60_000));
    assert_eq!(sends(&s.step(T0 + 60_000, &c, &[], vec![])).len(), 1);
}

proptest::proptest! {
    /// Two replicas fed the same steps end equal, and no delivery id is ever sent as attempt 1 twice.
    #[test]
    fn step_is_deterministic(events in proptest::collection::vec((0u8..4, 0u32..5, 0u64..400_000), 1..60)) {
        let c = cfg(vec![Rule::new("all", &[], &["mail"])]);
        let (mut a, mut b) = (AlertState::default(), AlertState::default());
        let mut first_sends = std::collections::BTreeSet::new();
        let mut t = T0;
        for (kind, n, dt) in events {
            t += dt;
            let e = match kind {
                0 => spider_error(&format!("j{n}")),
                1 => spider_ok(&format!("ok{n}")),
                2 => node(false, T0 + u64::from(n)),
                _ => node(true, T0 + u64::from(n)),
            };
            let da = a.step(t, &c, &[], vec![ev(e.clone())]);
            let db = b.step(t, &c, &[], vec![ev(e)]);
            proptest::prop_assert_eq!(&da, &db);
            for (id, attempt, _) in sends(&da) {
                if attempt == 1 {
                    proptest::prop_assert!(first_sends.insert(id));
                }
            }
        }
        proptest::prop_assert_eq!(a, b);
    }
}

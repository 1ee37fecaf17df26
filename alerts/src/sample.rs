//! Sample events and notifications of every kind, with plausible facts.
//!
//! This module owns the data that template validation renders against (every override is tried on each
//! sample before it is accepted) and that a "send test" or a template preview can push through the real
//! pipeline. It is ordinary library code, not a test helper: nothing here is random or reads a clock.

use std::collections::BTreeMap;

use crate::event::*;
use crate::group::Notification;
use crate::group::NotifiedAlert;
use crate::scrapy_log::StatValue;
use crate::spider_error::TrippedCondition;

/// One sample event per [`EventKind`], stamped around `now_ms`.
pub fn sample_events(now_ms: u64) -> Vec<AlertEvent> {
    let node = |up: bool| NodeEvent {
        node: "slave-2".into(),
        down_since_ms: now_ms.saturating_sub(120_000),
        up_since_ms: up.then_some(now_ms),
        failed_checks: 3,
        last_error: Some("connection refused (os error 111)".into()),
        lost_jobs: vec!["shop.books.1700000000".into()],
    };
    let metric = MetricEvent {
        node: "slave-1".into(),
        metric: Metric::Disk,
        value: 93.5,
        threshold: 90.0,
        duration_ms: 300_000,
        since_ms: now_ms.saturating_sub(300_000),
    };
    let mut stats = BTreeMap::new();
    stats.insert("finish_reason".to_string(), StatValue::Text("finished".into()));
    stats.insert("item_scraped_count".to_string(), StatValue::Int(0));
    stats.insert("log_count/ERROR".to_string(), StatValue::Int(3));
    vec![
        AlertEvent::Failover(FailoverEvent {
            old_leader: Some("master-1".into()),
            new_leader: "master-2".into(),
            term: 7,
            leaderless_ms: 1_850,
            elected_at_ms: now_ms,
            affected_fires: vec![
                AffectedFire {
                    schedule_id: "books-hourly".into(),
                    tick_ms: now_ms - 1_000,
                    late_by_ms: Some(1_900),
                    policy: "fire_once".into(),
                },
                AffectedFire {
                    schedule_id: "prices-every-second".into(),
                    tick_ms: now_ms - 500,
                    late_by_ms: None,
                    policy: "skip".into(),
                },
            ],
        }),
        AlertEvent::SpiderError(SpiderErrorEvent {
            project: "shop".into(),
            spider: "books".into(),
            job_id: "shop.books.1700000000".into(),
            node: "slave-1".into(),
            schedule_id: Some("books-hourly".into()),
            tags: vec!["nightly".into()],
            started_ms: now_ms.saturating_sub(65_000),
            finished_ms: now_ms,
            exit_code: Some(1),
            finish_reason: Some("finished".into()),
            error_lines: 3,
            item_count: Some(0),
            stats,
            last_log_lines: vec![
                "2024-01-02 03:04:05 [scrapy.core.scraper] ERROR: Spider error processing <GET https://example.org/>"
                    .into(),
                "ValueError: no books on page".into(),
            ],
            tripped: vec![
                TrippedCondition::NonZeroExit { code: Some(1) },
                TrippedCondition::ErrorLines { count: 3, threshold: 1 },
                TrippedCondition::TooFewItems { items: 0, min: 1 },
            ],
        }),
        AlertEvent::SpiderRecovered(SpiderRecoveredEvent {
            project: "shop".into(),
            spider: "books".into(),
            job_id: "shop.books.1700003600".into(),
            node: "slave-1".into(),
            schedule_id: Some("books-hourly".into()),
            tags: vec![],
            finished_ms: now_ms,
        }),
        AlertEvent::NodeDown(node(false)),
        AlertEvent::NodeUp(node(true)),
        AlertEvent::MetricThreshold(metric.clone()),
        AlertEvent::MetricRecovered(MetricEvent { value: 70.0, ..metric }),
        AlertEvent::DeployFailed(DeployFailedEvent {
            project: "shop".into(),
            version: "r42".into(),
            node: "slave-3".into(),
            at_ms: now_ms,
            error: "addversion: egg is not valid".into(),
        }),
        AlertEvent::DispatchFailed(DispatchFailedEvent {
            project: "shop".into(),
            spider: "books".into(),
            job_id: "shop.books.1700007200".into(),
            schedule_id: Some("books-hourly".into()),
            tags: vec![],
            node: Some("slave-1".into()),
            attempts: 3,
            at_ms: now_ms,
            error: "HTTP 503 from slave-1".into(),
        }),
        AlertEvent::TickPassedOver(TickPassedOverEvent {
            schedule_id: "prices-every-second".into(),
            project: "shop".into(),
            spider: "prices".into(),
            tags: vec![],
            tick_ms: now_ms,
            reason: "missed".into(),
            policy: "skip".into(),
        }),
    ]
}

/// A single-alert notification for `ev`.
pub fn single(ev: AlertEvent, now_ms: u64) -> Notification {
    let status = ev.status();
    let id = ev.alert_id();
    Notification {
        id: id.0.clone(),
        rule: "sample".into(),
        group_key: format!("sample|{}", ev.kind()),
        group_labels: BTreeMap::from([("kind".to_string(), ev.kind().as_str().to_string())]),
        alerts: vec![NotifiedAlert { alert_id: id, status, event: ev, resolved_by: None, first_seen_ms: now_ms }],
        created_ms: now_ms,
        repeat: false,
    }
}

/// One single notification per sample event, a resolved node-down, and a digest of all of them.
pub fn sample_notifications(now_ms: u64) -> Vec<Notification> {
    let events = sample_events(now_ms);
    let mut out: Vec<Notification> = events.iter().cloned().map(|e| single(e, now_ms)).collect();
    if let (Some(down), Some(up)) = (events.get(3), events.get(4)) {
        let mut n = single(down.clone(), now_ms);
        n.id = up.alert_id().0;
        if let Some(a) = n.alerts.first_mut() {
            a.status = AlertStatus::Resolved;
            a.resolved_by = Some(up.clone());
        }
        out.push(n);
    }
    let mut digest = single(events[0].clone(), now_ms);
    digest.id = "digest:sample:1".into();
    digest.alerts = out.iter().flat_map(|n| n.alerts.clone()).collect();
    out.push(digest);
    out
}

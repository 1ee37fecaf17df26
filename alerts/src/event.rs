//! Alert events: the facts an on-call person needs, one variant per kind of trouble.
//!
//! This module owns the closed [`AlertEvent`] enum, its [`Severity`], its [`Labels`] (what rules, silences
//! and inhibitions match on) and the **deterministic alert id** derived from the event alone
//! ([`AlertEvent::alert_id`]). The id is the dedupe key of the whole pipeline: the master commits the
//! decision under it, the mail's `Message-ID` and the webhook's `webhook-id` are derived from it, so a
//! resend after a failover carries the same key. Nothing here reads a clock: every time is a Unix-ms field
//! filled in by whoever observed the event.
//!
//! Every type is `Serialize`/`Deserialize` because the master stores events in the replicated state; field
//! names are part of that encoding (and of the template context in `render`), so rename with care.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::scrapy_log::StatValue;
use crate::spider_error::TrippedCondition;
use serde::Serialize;

/// How urgent an alert is. Ordered: `Info < Warning < Error < Critical`, so rules can say "at least".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        })
    }
}

/// The kind of an event, without its facts: what rules route on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Failover,
    SpiderError,
    SpiderRecovered,
    NodeDown,
    NodeUp,
    MetricThreshold,
    MetricRecovered,
    DeployFailed,
    DispatchFailed,
    TickPassedOver,
}

impl EventKind {
    /// Every kind, for validation messages and exhaustive tests.
    pub const ALL: [EventKind; 10] = [
        EventKind::Failover,
        EventKind::SpiderError,
        EventKind::SpiderRecovered,
        EventKind::NodeDown,
        EventKind::NodeUp,
        EventKind::MetricThreshold,
        EventKind::MetricRecovered,
        EventKind::DeployFailed,
        EventKind::DispatchFailed,
        EventKind::TickPassedOver,
    ];

    /// The snake_case name used in configs, labels and templates.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Failover => "failover",
            EventKind::SpiderError => "spider_error",
            EventKind::SpiderRecovered => "spider_recovered",
            EventKind::NodeDown => "node_down",
            EventKind::NodeUp => "node_up",
            EventKind::MetricThreshold => "metric_threshold",
            EventKind::MetricRecovered => "metric_recovered",
            EventKind::DeployFailed => "deploy_failed",
            EventKind::DispatchFailed => "dispatch_failed",
            EventKind::TickPassedOver => "tick_passed_over",
        }
    }

    /// Whether a new group holding this kind is notified at once instead of after `group_wait`
    /// (a failover or a node going down is worth waking someone for immediately).
    pub fn bypasses_group_wait(self) -> bool {
        matches!(self, EventKind::Failover | EventKind::NodeDown)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an event reports trouble or the end of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// What an event is about: the values rules, silences and inhibitions match on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    pub project: Option<String>,
    pub spider: Option<String>,
    pub node: Option<String>,
    /// Tags of the schedule the job came from (empty for cluster events).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A fire that a leaderless period delayed or skipped, as recorded by the fire ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedFire {
    pub schedule_id: String,
    pub tick_ms: u64,
    /// How late the fire went out, or `None` if it was passed over.
    pub late_by_ms: Option<u64>,
    /// The misfire policy that handled it (e.g. `fire_once`, `skip`).
    pub policy: String,
}

/// The leader changed. One alert per term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverEvent {
    /// The last leader seen before the change, if any (`None` at cluster start).
    pub old_leader: Option<String>,
    pub new_leader: String,
    pub term: u64,
    /// How long the cluster had no leader.
    pub leaderless_ms: u64,
    pub elected_at_ms: u64,
    /// Fires that went out late or were passed over because of the leaderless period.
    #[serde(default)]
    pub affected_fires: Vec<AffectedFire>,
}

/// A finished job that tripped at least one spider-error condition (see `spider_error::decide`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpiderErrorEvent {
    pub project: String,
    pub spider: String,
    pub job_id: String,
    pub node: String,
    pub schedule_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub started_ms: u64,
    pub finished_ms: u64,
    pub exit_code: Option<i32>,
    pub finish_reason: Option<String>,
    pub error_lines: u64,
    pub item_count: Option<u64>,
    /// The final `Dumping Scrapy stats:` dict, key → value.
    #[serde(default)]
    pub stats: BTreeMap<String, StatValue>,
    /// The last lines of the job's log, oldest first.
    #[serde(default)]
    pub last_log_lines: Vec<String>,
    /// Every condition that tripped, in a fixed order. Never empty.
    pub tripped: Vec<TrippedCondition>,
}

impl SpiderErrorEvent {
    pub fn duration_ms(&self) -> u64 {
        self.finished_ms.saturating_sub(self.started_ms)
    }
}

/// A job of a schedule (or spider) that failed before finished cleanly again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpiderRecoveredEvent {
    pub project: String,
    pub spider: String,
    pub job_id: String,
    pub node: String,
    pub schedule_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub finished_ms: u64,
}

/// The health checker declared a node down (after its consecutive-failure threshold) or up again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEvent {
    pub node: String,
    /// When the node went down: also part of the id, so each outage is its own alert.
    pub down_since_ms: u64,
    /// For `NodeUp`: when it came back.
    pub up_since_ms: Option<u64>,
    /// Consecutive failed health checks that led to the decision.
    pub failed_checks: u32,
    /// The last health-check error, verbatim.
    pub last_error: Option<String>,
    /// Jobs that were running on the node when it went down.
    #[serde(default)]
    pub lost_jobs: Vec<String>,
}

/// A node resource that a threshold rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Cpu,
    Memory,
    Disk,
    Load,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Disk => "disk",
            Metric::Load => "load",
        }
    }
}

/// A metric stayed at or above its threshold for the configured duration (or fell back below it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEvent {
    pub node: String,
    pub metric: Metric,
    pub value: f64,
    pub threshold: f64,
    /// How long the value had been at or above the threshold when the alert fired.
    pub duration_ms: u64,
    /// When the breach began: part of the id.
    pub since_ms: u64,
}

/// Deploying a project version to a node failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployFailedEvent {
    pub project: String,
    pub version: String,
    pub node: String,
    pub at_ms: u64,
    /// The slave's or transport's error, verbatim.
    pub error: String,
}

/// A fired job could not be handed to any slave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchFailedEvent {
    pub project: String,
    pub spider: String,
    pub job_id: String,
    pub schedule_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The node tried last, if any.
    pub node: Option<String>,
    pub attempts: u32,
    pub at_ms: u64,
    pub error: String,
}

/// A tick that never fired (missed while leaderless beyond the policy, or skipped for overlap).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickPassedOverEvent {
    pub schedule_id: String,
    pub project: String,
    pub spider: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub tick_ms: u64,
    /// Why: e.g. `missed`, `skipped_overlap`.
    pub reason: String,
    pub policy: String,
}

/// One event the alerter may notify about. Closed: adding a variant is a change to the replicated encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertEvent {
    Failover(FailoverEvent),
    SpiderError(SpiderErrorEvent),
    SpiderRecovered(SpiderRecoveredEvent),
    NodeDown(NodeEvent),
    NodeUp(NodeEvent),
    MetricThreshold(MetricEvent),
    MetricRecovered(MetricEvent),
    DeployFailed(DeployFailedEvent),
    DispatchFailed(DispatchFailedEvent),
    TickPassedOver(TickPassedOverEvent),
}

impl AlertEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            AlertEvent::Failover(_) => EventKind::Failover,
            AlertEvent::SpiderError(_) => EventKind::SpiderError,
            AlertEvent::SpiderRecovered(_) => EventKind::SpiderRecovered,
            AlertEvent::NodeDown(_) => EventKind::NodeDown,
            AlertEvent::NodeUp(_) => EventKind::NodeUp,
            AlertEvent::MetricThreshold(_) => EventKind::MetricThreshold,
            AlertEvent::MetricRecovered(_) => EventKind::MetricRecovered,
            AlertEvent::DeployFailed(_) => EventKind::DeployFailed,
            AlertEvent::DispatchFailed(_) => EventKind::DispatchFailed,
            AlertEvent::TickPassedOver(_) => EventKind::TickPassedOver,
        }
    }

    /// The deterministic id of the alert this event raises. Same event → same id, on every master.
    pub fn alert_id(&self) -> AlertId {
        AlertId(match self {
            AlertEvent::Failover(e) => format!("failover:term-{}", e.term),
            AlertEvent::SpiderError(e) => format!("job:{}:error", e.job_id),
            AlertEvent::SpiderRecovered(e) => format!("job:{}:recovered", e.job_id),
            AlertEvent::NodeDown(e) => format!("node:{}:down:{}", e.node, e.down_since_ms),
            AlertEvent::NodeUp(e) => format!("node:{}:up:{}", e.node, e.down_since_ms),
            AlertEvent::MetricThreshold(e) => format!("metric:{}:{}:{}", e.node, e.metric.as_str(), e.since_ms),
            AlertEvent::MetricRecovered(e) => {
                format!("metric:{}:{}:{}:recovered", e.node, e.metric.as_str(), e.since_ms)
            }
            AlertEvent::DeployFailed(e) => format!("deploy:{}:{}:{}:failed", e.project, e.version, e.node),
            AlertEvent::DispatchFailed(e) => format!("job:{}:dispatch-failed", e.job_id),
            AlertEvent::TickPassedOver(e) => format!("tick:{}:{}:passed-over", e.schedule_id, e.tick_ms),
        })
    }

    /// Firing for trouble, resolved for its end (`SpiderRecovered`, `NodeUp`, `MetricRecovered`).
    pub fn status(&self) -> AlertStatus {
        match self.kind() {
            EventKind::SpiderRecovered | EventKind::NodeUp | EventKind::MetricRecovered => AlertStatus::Resolved,
            _ => AlertStatus::Firing,
        }
    }

    /// The condition a firing/resolved pair shares: failures of a schedule (or spider), one node's health,
    /// one node metric. `None` for one-off events (failover, deploy failed, tick passed over).
    /// "Only after N consecutive failures" and "recovered only after a notified failure" count per key.
    pub fn condition_key(&self) -> Option<String> {
        fn spider_key(schedule: &Option<String>, project: &str, spider: &str) -> String {
            match schedule {
                Some(s) => format!("schedule:{s}"),
                None => format!("spider:{project}/{spider}"),
            }
        }
        match self {
            AlertEvent::SpiderError(e) => Some(spider_key(&e.schedule_id, &e.project, &e.spider)),
            AlertEvent::SpiderRecovered(e) => Some(spider_key(&e.schedule_id, &e.project, &e.spider)),
            AlertEvent::NodeDown(e) | AlertEvent::NodeUp(e) => Some(format!("node:{}", e.node)),
            AlertEvent::MetricThreshold(e) | AlertEvent::MetricRecovered(e) => {
                Some(format!("metric:{}:{}", e.node, e.metric.as_str()))
            }
            AlertEvent::DispatchFailed(e) => Some(spider_key(&e.schedule_id, &e.project, &e.spider)),
            AlertEvent::Failover(_) | AlertEvent::DeployFailed(_) | AlertEvent::TickPassedOver(_) => None,
        }
    }

    /// Whether the alert stays firing until a resolving event arrives (and so is repeated every
    /// `repeat_interval` while it does). One-off alerts are notified once and then forgotten.
    pub fn is_stateful(&self) -> bool {
        matches!(self, AlertEvent::NodeDown(_) | AlertEvent::MetricThreshold(_))
    }

    pub fn severity(&self) -> Severity {
        match self {
            AlertEvent::Failover(e) if e.affected_fires.iter().any(|f| f.late_by_ms.is_none()) => Severity::Critical,
            AlertEvent::Failover(_) => Severity::Warning,
            AlertEvent::SpiderError(_) => Severity::Error,
            AlertEvent::NodeDown(_) => Severity::Critical,
            AlertEvent::MetricThreshold(_) => Severity::Warning,
            AlertEvent::DeployFailed(_) | AlertEvent::DispatchFailed(_) => Severity::Error,
            AlertEvent::TickPassedOver(_) => Severity::Warning,
            AlertEvent::SpiderRecovered(_) | AlertEvent::NodeUp(_) | AlertEvent::MetricRecovered(_) => Severity::Info,
        }
    }

    pub fn labels(&self) -> Labels {
        let s = |v: &str| Some(v.to_string());
        match self {
            AlertEvent::Failover(e) => Labels { node: s(&e.new_leader), ..Labels::default() },
            AlertEvent::SpiderError(e) => {
                Labels { project: s(&e.project), spider: s(&e.spider), node: s(&e.node), tags: e.tags.clone() }
            }
            AlertEvent::SpiderRecovered(e) => {
                Labels { project: s(&e.project), spider: s(&e.spider), node: s(&e.node), tags: e.tags.clone() }
            }
            AlertEvent::NodeDown(e) | AlertEvent::NodeUp(e) => Labels { node: s(&e.node), ..Labels::default() },
            AlertEvent::MetricThreshold(e) | AlertEvent::MetricRecovered(e) => {
                Labels { node: s(&e.node), ..Labels::default() }
            }
            AlertEvent::DeployFailed(e) => Labels { project: s(&e.project), node: s(&e.node), ..Labels::default() },
            AlertEvent::DispatchFailed(e) => {
                Labels { project: s(&e.project), spider: s(&e.spider), node: e.node.clone(), tags: e.tags.clone() }
            }
            AlertEvent::TickPassedOver(e) => {
                Labels { project: s(&e.project), spider: s(&e.spider), node: None, tags: e.tags.clone() }
            }
        }
    }

    /// One line for subjects and digest lists.
    pub fn summary(&self) -> String {
        match self {
            AlertEvent::Failover(e) => format!(
                "leader changed {} -> {} (term {}, {} ms without leader)",
                e.old_leader.as_deref().unwrap_or("none"),
                e.new_leader,
                e.term,
                e.leaderless_ms
            ),
            AlertEvent::SpiderError(e) => {
                let why: Vec<String> = e.tripped.iter().map(|t| t.to_string()).collect();
                format!("{}/{} job {} failed on {}: {}", e.project, e.spider, e.job_id, e.node, why.join(", "))
            }
            AlertEvent::SpiderRecovered(e) => {
                format!("{}/{} recovered: job {} finished cleanly on {}", e.project, e.spider, e.job_id, e.node)
            }
            AlertEvent::NodeDown(e) => format!("node {} is down ({} failed checks)", e.node, e.failed_checks),
            AlertEvent::NodeUp(e) => format!("node {} is up again", e.node),
            AlertEvent::MetricThreshold(e) => format!(
                "node {} {} at {} (threshold {}) for {} s",
                e.node,
                e.metric.as_str(),
                e.value,
                e.threshold,
                e.duration_ms / 1000
            ),
            AlertEvent::MetricRecovered(e) => {
                format!("node {} {} back below {} (now {})", e.node, e.metric.as_str(), e.threshold, e.value)
            }
            AlertEvent::DeployFailed(e) => {
                format!("deploy of {} {} to {} failed: {}", e.project, e.version, e.node, e.error)
            }
            AlertEvent::DispatchFailed(e) => format!(
                "dispatch of {}/{} job {} failed after {} attempts: {}",
                e.project, e.spider, e.job_id, e.attempts, e.error
            ),
            AlertEvent::TickPassedOver(e) => {
                format!("schedule {} tick {} passed over ({}, policy {})", e.schedule_id, e.tick_ms, e.reason, e.policy)
            }
        }
    }

    /// When the event happened (Unix ms), for `startsAt`-style fields.
    pub fn at_ms(&self) -> u64 {
        match self {
            AlertEvent::Failover(e) => e.elected_at_ms,
            AlertEvent::SpiderError(e) => e.finished_ms,
            AlertEvent::SpiderRecovered(e) => e.finished_ms,
            AlertEvent::NodeDown(e) => e.down_since_ms,
            AlertEvent::NodeUp(e) => e.up_since_ms.unwrap_or(e.down_since_ms),
            AlertEvent::MetricThreshold(e) | AlertEvent::MetricRecovered(e) => e.since_ms,
            AlertEvent::DeployFailed(e) => e.at_ms,
            AlertEvent::DispatchFailed(e) => e.at_ms,
            AlertEvent::TickPassedOver(e) => e.tick_ms,
        }
    }

    /// The job this event is about, if any (used for dashboard links).
    pub fn job_id(&self) -> Option<&str> {
        match self {
            AlertEvent::SpiderError(e) => Some(&e.job_id),
            AlertEvent::SpiderRecovered(e) => Some(&e.job_id),
            AlertEvent::DispatchFailed(e) => Some(&e.job_id),
            _ => None,
        }
    }
}

/// A deterministic alert id such as `failover:term-7` or `job:<job_id>:error`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(pub String);

impl AlertId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id made safe for a header token or a mail `Message-ID` local part: `[A-Za-z0-9_-]` stay, every
    /// other byte becomes `=XX`. Injective, so two alert ids never share an encoded form.
    pub fn header_token(&self) -> String {
        header_token(&self.0)
    }
}

impl fmt::Display for AlertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// See [`AlertId::header_token`].
pub(crate) fn header_token(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[path = "event_test.rs"]
mod event_test;

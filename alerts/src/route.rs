//! Routing rules: which events go to which channels, and how they are grouped.
//!
//! This module owns [`Rule`] (event kinds + a label [`Filter`] → channel names, the consecutive-failure
//! and recovery policy, group-by labels and [`GroupTimers`]) and the pure matching functions. It keeps no
//! state; the per-condition failure streaks live in `group::AlertState`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::validate_name;
use serde::Serialize;

use crate::config::ConfigError;
use crate::event::AlertEvent;
use crate::event::EventKind;
use crate::event::Labels;
use crate::event::Severity;

/// Alertmanager's timers, in milliseconds. Defaults: wait 30 s, interval 5 min, repeat 4 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupTimers {
    /// How long a new group collects alerts before its first notification (skipped for failover and
    /// node-down, see `EventKind::bypasses_group_wait`).
    pub group_wait_ms: u64,
    /// Minimum gap between two notifications of the same group about *changes* (new or resolved alerts).
    pub group_interval_ms: u64,
    /// Minimum gap before an unchanged group with still-firing alerts is notified again.
    pub repeat_interval_ms: u64,
}

impl Default for GroupTimers {
    fn default() -> Self {
        GroupTimers { group_wait_ms: 30_000, group_interval_ms: 300_000, repeat_interval_ms: 4 * 3_600_000 }
    }
}

/// A label alerts can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupLabel {
    Kind,
    Project,
    Spider,
    Node,
    Severity,
}

impl GroupLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupLabel::Kind => "kind",
            GroupLabel::Project => "project",
            GroupLabel::Spider => "spider",
            GroupLabel::Node => "node",
            GroupLabel::Severity => "severity",
        }
    }

    /// The value of this label for an event (empty string when the event has none).
    pub fn value_of(self, ev: &AlertEvent) -> String {
        let labels = ev.labels();
        match self {
            GroupLabel::Kind => ev.kind().as_str().to_string(),
            GroupLabel::Project => labels.project.unwrap_or_default(),
            GroupLabel::Spider => labels.spider.unwrap_or_default(),
            GroupLabel::Node => labels.node.unwrap_or_default(),
            GroupLabel::Severity => ev.severity().to_string(),
        }
    }
}

/// Which events a rule takes. An empty list means "any value".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub projects: Vec<String>,
    pub spiders: Vec<String>,
    pub nodes: Vec<String>,
    /// The event must carry at least one of these tags.
    pub tags: Vec<String>,
    pub min_severity: Option<Severity>,
}

impl Filter {
    /// Resolving events (`NodeUp`, `SpiderRecovered`) are Info; the severity floor applies to what they
    /// resolve, so it is skipped for them: a rule for "critical node trouble" still says "node is up".
    pub fn matches(&self, ev: &AlertEvent) -> bool {
        let Labels { project, spider, node, tags } = ev.labels();
        fn any_of(list: &[String], v: &Option<String>) -> bool {
            list.is_empty() || v.as_ref().is_some_and(|v| list.iter().any(|x| x == v))
        }
        any_of(&self.projects, &project)
            && any_of(&self.spiders, &spider)
            && any_of(&self.nodes, &node)
            && (self.tags.is_empty() || tags.iter().any(|t| self.tags.contains(t)))
            && match self.min_severity {
                None => true,
                Some(_) if ev.status() == crate::event::AlertStatus::Resolved => true,
                Some(min) => ev.severity() >= min,
            }
    }
}

/// A routing rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Unique name; part of group keys and notification ids.
    pub name: String,
    /// Event kinds this rule takes; empty means all. A resolving kind (`node_up`) is implied by its
    /// firing kind (`node_down`), so routing `node_down` also routes its recovery.
    #[serde(default)]
    pub kinds: Vec<EventKind>,
    #[serde(default)]
    pub filter: Filter,
    /// Channel names (keys of `AlertConfig::channels`).
    pub channels: Vec<String>,
    /// Notify a condition (a schedule's job failures, a node's health) only once it failed this many
    /// times in a row. Default 1.
    #[serde(default = "one")]
    pub after_consecutive_failures: u32,
    /// Send "recovered" notifications, and only for conditions whose failure was notified. Default true.
    #[serde(default = "yes")]
    pub notify_recovered: bool,
    /// Labels that split alerts into groups; each group is notified as one message (a digest when it
    /// holds several alerts). Default: kind and project.
    #[serde(default = "default_group_by")]
    pub group_by: Vec<GroupLabel>,
    #[serde(default)]
    pub timers: GroupTimers,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_group_by() -> Vec<GroupLabel> {
    vec![GroupLabel::Kind, GroupLabel::Project]
}

/// The firing kind a resolving kind belongs to.
pub fn firing_kind_of(kind: EventKind) -> EventKind {
    match kind {
        EventKind::SpiderRecovered => EventKind::SpiderError,
        EventKind::NodeUp => EventKind::NodeDown,
        EventKind::MetricRecovered => EventKind::MetricThreshold,
        k => k,
    }
}

impl Rule {
    /// A rule with the defaults, for `kinds` to `channels`.
    pub fn new(name: &str, kinds: &[EventKind], channels: &[&str]) -> Self {
        Rule {
            name: name.to_string(),
            kinds: kinds.to_vec(),
            filter: Filter::default(),
            channels: channels.iter().map(|c| c.to_string()).collect(),
            after_consecutive_failures: 1,
            notify_recovered: true,
            group_by: default_group_by(),
            timers: GroupTimers::default(),
        }
    }

    /// Whether this rule takes the event (kind and filter; streaks, silences and inhibition come later).
    pub fn matches(&self, ev: &AlertEvent) -> bool {
        let kind = ev.kind();
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| *k == kind || *k == firing_kind_of(kind));
        kind_ok && self.filter.matches(ev)
    }

    /// The group an event falls into under this rule: a stable key and the label values behind it.
    pub fn group_of(&self, ev: &AlertEvent) -> (String, BTreeMap<String, String>) {
        let mut labels = BTreeMap::new();
        let mut key = self.name.clone();
        for l in &self.group_by {
            // A resolving event joins the group of what it resolves: group on the firing kind.
            let v = match l {
                GroupLabel::Kind => firing_kind_of(ev.kind()).as_str().to_string(),
                other => other.value_of(ev),
            };
            key.push('|');
            key.push_str(&v);
            labels.insert(l.as_str().to_string(), v);
        }
        (key, labels)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name(&self.name).map_err(|m| ConfigError::new("name", m))?;
        if self.channels.is_empty() {
            return Err(ConfigError::new("channels", "a rule needs at least one channel"));
        }
        if self.after_consecutive_failures == 0 {
            return Err(ConfigError::new("after_consecutive_failures", "must be at least 1"));
        }
        let t = &self.timers;
        if t.group_interval_ms == 0 {
            return Err(ConfigError::new("timers.group_interval_ms", "must be positive"));
        }
        if t.repeat_interval_ms < t.group_interval_ms {
            return Err(ConfigError::new(
                "timers.repeat_interval_ms",
                format!("must be at least group_interval_ms ({})", t.group_interval_ms),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NodeEvent;

    fn node(kind_up: bool, node: &str) -> AlertEvent {
        let e = NodeEvent {
            node: node.into(),
            down_since_ms: 10,
            up_since_ms: kind_up.then_some(20),
            failed_checks: 3,
            last_error: None,
            lost_jobs: vec![],
        };
        if kind_up {
            AlertEvent::NodeUp(e)
        } else {
            AlertEvent::NodeDown(e)
        }
    }

    #[test]
    fn routing_a_firing_kind_routes_its_recovery_into_the_same_group() {
        let r = Rule::new("nodes", &[EventKind::NodeDown], &["mail"]);
        assert!(r.matches(&node(false, "n1")) && r.matches(&node(true, "n1")));
        assert_eq!(r.group_of(&node(false, "n1")).0, r.group_of(&node(true, "n1")).0);
        let other = Rule::new("x", &[EventKind::SpiderError], &["mail"]);
        assert!(!other.matches(&node(false, "n1")));
    }

    #[test]
    fn filter_by_node_and_severity() {
        let mut r = Rule::new("n", &[], &["mail"]);
        r.filter.nodes = vec!["n2".into()];
        assert!(!r.matches(&node(false, "n1")));
        assert!(r.matches(&node(false, "n2")));
        r.filter.min_severity = Some(Severity::Critical);
        assert!(r.matches(&node(false, "n2")), "node down is critical");
        assert!(r.matches(&node(true, "n2")), "its recovery passes the severity floor");
    }

    #[test]
    fn validation_names_the_field() {
        let mut r = Rule::new("n", &[], &[]);
        assert_eq!(r.validate().map_err(|e| e.field), Err("channels".to_string()));
        r.channels = vec!["m".into()];
        r.after_consecutive_failures = 0;
        assert_eq!(r.validate().map_err(|e| e.field), Err("after_consecutive_failures".to_string()));
        r.after_consecutive_failures = 1;
        r.timers.repeat_interval_ms = 1;
        assert_eq!(r.validate().map_err(|e| e.field), Err("timers.repeat_interval_ms".to_string()));
    }
}

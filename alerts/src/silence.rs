//! Silences and inhibition: the two ways an alert that matched a rule is still not sent.
//!
//! This module owns [`Matcher`], [`Silence`] (matchers with a start, an end, an author and a comment, as in
//! Alertmanager) and [`InhibitRule`] (a firing *source* alert mutes *target* alerts that share the `equal`
//! labels). Both are pure predicates over events; `group::AlertState` records which alerts are firing and
//! reports every suppression as a decision, so nothing is muted invisibly.

use serde::Deserialize;

use crate::config::ConfigError;
use crate::event::AlertEvent;
use crate::event::EventKind;
use serde::Serialize;

/// A label a matcher can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchLabel {
    Kind,
    Severity,
    Project,
    Spider,
    Node,
    /// Matches if any of the event's tags matches.
    Tag,
    AlertId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    Equal,
    NotEqual,
}

/// `label op value`, e.g. `project = shop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matcher {
    pub label: MatchLabel,
    pub op: MatchOp,
    pub value: String,
}

impl Matcher {
    pub fn eq(label: MatchLabel, value: &str) -> Self {
        Matcher { label, op: MatchOp::Equal, value: value.to_string() }
    }

    pub fn matches(&self, ev: &AlertEvent) -> bool {
        let values = label_values(ev, self.label);
        let hit = values.contains(&self.value);
        match self.op {
            MatchOp::Equal => hit,
            MatchOp::NotEqual => !hit,
        }
    }
}

/// The values an event has for a label (several only for `Tag`).
pub fn label_values(ev: &AlertEvent, label: MatchLabel) -> Vec<String> {
    let l = ev.labels();
    match label {
        MatchLabel::Kind => vec![ev.kind().as_str().to_string()],
        MatchLabel::Severity => vec![ev.severity().to_string()],
        MatchLabel::Project => l.project.into_iter().collect(),
        MatchLabel::Spider => l.spider.into_iter().collect(),
        MatchLabel::Node => l.node.into_iter().collect(),
        MatchLabel::Tag => l.tags,
        MatchLabel::AlertId => vec![ev.alert_id().0],
    }
}

/// A one-off mute: alerts matching every matcher between `starts_at_ms` and `ends_at_ms` are not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<Matcher>,
    pub starts_at_ms: u64,
    pub ends_at_ms: u64,
    pub created_by: String,
    pub comment: String,
}

impl Silence {
    /// Active at `now_ms`: `starts_at_ms <= now < ends_at_ms`.
    pub fn is_active(&self, now_ms: u64) -> bool {
        self.starts_at_ms <= now_ms && now_ms < self.ends_at_ms
    }

    pub fn silences(&self, ev: &AlertEvent, now_ms: u64) -> bool {
        self.is_active(now_ms) && self.matchers.iter().all(|m| m.matches(ev))
    }

    /// Validate a silence being created at `now_ms`.
    pub fn validate(&self, now_ms: u64) -> Result<(), ConfigError> {
        if self.id.trim().is_empty() {
            return Err(ConfigError::new("id", "must not be empty"));
        }
        if self.matchers.is_empty() {
            return Err(ConfigError::new(
                "matchers",
                "a silence needs at least one matcher (it would mute everything)",
            ));
        }
        if let Some(i) = self.matchers.iter().position(|m| m.value.is_empty() && m.op == MatchOp::Equal) {
            return Err(ConfigError::new(format!("matchers[{i}].value"), "must not be empty"));
        }
        if self.ends_at_ms <= self.starts_at_ms {
            return Err(ConfigError::new("ends_at_ms", "must be after starts_at_ms"));
        }
        if self.ends_at_ms <= now_ms {
            return Err(ConfigError::new(
                "ends_at_ms",
                format!("silence already expired ({} ms ago)", now_ms - self.ends_at_ms),
            ));
        }
        if self.created_by.trim().is_empty() {
            return Err(ConfigError::new("created_by", "a silence needs an author"));
        }
        if self.comment.trim().is_empty() {
            return Err(ConfigError::new("comment", "say why the alerts are silenced"));
        }
        Ok(())
    }
}

/// A firing alert matching `source` mutes alerts matching `target` whose `equal` labels have the same values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    #[serde(default)]
    pub equal: Vec<MatchLabel>,
}

impl InhibitRule {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.source.is_empty() {
            return Err(ConfigError::new("source", "needs at least one matcher"));
        }
        if self.target.is_empty() {
            return Err(ConfigError::new("target", "needs at least one matcher"));
        }
        Ok(())
    }

    /// Whether `source` (a firing alert) inhibits `target`. An alert never inhibits itself.
    pub fn inhibits(&self, source: &AlertEvent, target: &AlertEvent) -> bool {
        source.alert_id() != target.alert_id()
            && self.source.iter().all(|m| m.matches(source))
            && self.target.iter().all(|m| m.matches(target))
            && self.equal.iter().all(|l| {
                let s = label_values(source, *l);
                !s.is_empty() && s == label_values(target, *l)
            })
    }
}

/// The default: a node that is down mutes the spider errors (and dispatch failures) of its own jobs; the
/// node-down alert already says those jobs were lost.
pub fn default_inhibit_rules() -> Vec<InhibitRule> {
    [EventKind::SpiderError, EventKind::DispatchFailed]
        .into_iter()
        .map(|target| InhibitRule {
            source: vec![Matcher::eq(MatchLabel::Kind, EventKind::NodeDown.as_str())],
            target: vec![Matcher::eq(MatchLabel::Kind, target.as_str())],
            equal: vec![MatchLabel::Node],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(ends: u64) -> Silence {
        Silence {
            id: "s1".into(),
            matchers: vec![Matcher::eq(MatchLabel::Project, "shop")],
            starts_at_ms: 100,
            ends_at_ms: ends,
            created_by: "ana".into(),
            comment: "site migration".into(),
        }
    }

    #[test]
    fn expired_silence_is_rejected_with_its_field() {
        let e = silence(500).validate(600).err();
        assert_eq!(e.as_ref().map(|e| e.field.as_str()), Some("ends_at_ms"));
        assert!(e.map(|e| e.message).unwrap_or_default().contains("already expired"));
        assert!(silence(500).validate(400).is_ok());
        let mut no_author = silence(500);
        no_author.created_by = " ".into();
        assert_eq!(no_author.validate(0).err().map(|e| e.field), Some("created_by".into()));
    }

    #[test]
    fn active_window_is_half_open() {
        let s = silence(500);
        assert!(!s.is_active(99) && s.is_active(100) && s.is_active(499) && !s.is_active(500));
    }
}

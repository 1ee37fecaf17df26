//! Wire shapes of the alerting configuration: channels (secrets as `***`), rules, silences,
//! spider-error thresholds, and a test send's answer.

use alerts::config::ChannelConfig;
use alerts::route::Rule;
use alerts::silence::MatchLabel;
use alerts::silence::MatchOp;
use alerts::silence::Matcher;
use alerts::silence::Silence;
use alerts::spider_error::SpiderErrorThresholds;
use serde::Deserialize;
use serde::Serialize;

use super::CountersView;
use crate::ops::alerts::channels::ChannelInfo;
use crate::ops::alerts::channels::TestSend;
use crate::ops::alerts::thresholds::ScopedThresholds;

/// A channel, its secret redacted, with its delivery counters.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelView {
    pub name: String,
    /// `{"type": "email", "host", "port", "security": "none"|"starttls"|"implicit_tls",
    /// "username"?, "password"?, "from", "to": [...], "cc"?, "message_id_domain"?,
    /// "timeout_ms"?, …}` or `{"type": "webhook", "url", "format": "generic"|"alertmanager"|
    /// "slack"|"dingtalk"|"feishu"|"wecom", "secret"?, "timeout_ms"?, …}`, both with
    /// `"rate_limit"?: {"max_notifications", "per_ms"}`, `"retry"?: {"backoff_ms": [...]}`,
    /// `"send_resolved"?`. A stored password or secret reads `"***"`.
    #[schema(value_type = Object)]
    pub channel: ChannelConfig,
    pub counters: CountersView,
}

impl From<&ChannelInfo> for ChannelView {
    fn from(c: &ChannelInfo) -> Self {
        ChannelView { name: c.name.clone(), channel: c.channel.clone(), counters: (&c.counters).into() }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelListView {
    pub channels: Vec<ChannelView>,
}

/// The routing rules, by name: each `{"name", "kinds": [...], "filter": {"projects", "spiders",
/// "nodes", "tags", "min_severity"}, "channels": [...], "after_consecutive_failures",
/// "notify_recovered", "group_by": [...], "timers": {"group_wait_ms", "group_interval_ms",
/// "repeat_interval_ms"}}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleListView {
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<Rule>,
}

/// A label a silence matcher looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchLabelView {
    Kind,
    Severity,
    Project,
    Spider,
    Node,
    /// Matches if any of the alert's tags does.
    Tag,
    AlertId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchOpView {
    Equal,
    NotEqual,
}

/// `label op value`, e.g. `{"label": "node", "op": "equal", "value": "s1"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherView {
    pub label: MatchLabelView,
    pub op: MatchOpView,
    pub value: String,
}

impl From<&Matcher> for MatcherView {
    fn from(m: &Matcher) -> Self {
        let label = match m.label {
            MatchLabel::Kind => MatchLabelView::Kind,
            MatchLabel::Severity => MatchLabelView::Severity,
            MatchLabel::Project => MatchLabelView::Project,
            MatchLabel::Spider => MatchLabelView::Spider,
            MatchLabel::Node => MatchLabelView::Node,
            MatchLabel::Tag => MatchLabelView::Tag,
            MatchLabel::AlertId => MatchLabelView::AlertId,
        };
        let op = match m.op {
            MatchOp::Equal => MatchOpView::Equal,
            MatchOp::NotEqual => MatchOpView::NotEqual,
        };
        MatcherView { label, op, value: m.value.clone() }
    }
}

impl From<MatcherView> for Matcher {
    fn from(m: MatcherView) -> Self {
        let label = match m.label {
            MatchLabelView::Kind => MatchLabel::Kind,
            MatchLabelView::Severity => MatchLabel::Severity,
            MatchLabelView::Project => MatchLabel::Project,
            MatchLabelView::Spider => MatchLabel::Spider,
            MatchLabelView::Node => MatchLabel::Node,
            MatchLabelView::Tag => MatchLabel::Tag,
            MatchLabelView::AlertId => MatchLabel::AlertId,
        };
        let op = match m.op {
            MatchOpView::Equal => MatchOp::Equal,
            MatchOpView::NotEqual => MatchOp::NotEqual,
        };
        Matcher { label, op, value: m.value }
    }
}

/// A silence: alerts matching every matcher in `[starts_at_ms, ends_at_ms)` are not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SilenceView {
    /// `sil-<log index>`.
    pub id: String,
    pub matchers: Vec<MatcherView>,
    pub starts_at_ms: u64,
    pub ends_at_ms: u64,
    pub created_by: String,
    pub comment: String,
    /// Whether it mutes alerts now (on this master's clock).
    pub active: bool,
}

/// `s` as the API shows it at `now_ms`.
pub fn silence_view(s: &Silence, now_ms: u64) -> SilenceView {
    SilenceView {
        id: s.id.clone(),
        matchers: s.matchers.iter().map(Into::into).collect(),
        starts_at_ms: s.starts_at_ms,
        ends_at_ms: s.ends_at_ms,
        created_by: s.created_by.clone(),
        comment: s.comment.clone(),
        active: s.is_active(now_ms),
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SilenceListView {
    pub silences: Vec<SilenceView>,
}

/// The spider-error thresholds of a scope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThresholdsView {
    /// `project:<name>` or `schedule:<id>`.
    pub scope: String,
    /// `{"max_error_lines": n|null, "min_items": n|null, "max_runtime_ms": n|null,
    /// "ok_finish_reasons": [...]}`.
    #[schema(value_type = Object)]
    pub thresholds: SpiderErrorThresholds,
}

impl From<&ScopedThresholds> for ThresholdsView {
    fn from(t: &ScopedThresholds) -> Self {
        ThresholdsView { scope: t.scope.clone(), thresholds: t.thresholds.clone() }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThresholdsListView {
    pub thresholds: Vec<ThresholdsView>,
}

/// A test send the server took (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestSentView {
    /// Always `true`.
    pub ok: bool,
    /// The server's reply, verbatim (`250 …`, `HTTP 200`).
    pub detail: String,
    /// The sample notification's id (its Message-ID / webhook-id derive from it).
    pub notification_id: String,
}

/// A test send the server refused or that could not reach it (502).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestFailedView {
    /// Always `false`.
    pub ok: bool,
    /// The server's refusal or the connection error, verbatim.
    pub error: String,
    /// Whether the alerter would retry such a failure.
    pub retryable: bool,
    pub notification_id: String,
}

/// A test send's answer: what it was sent as, or why not.
pub fn test_send_view(t: &TestSend) -> Result<TestSentView, TestFailedView> {
    if t.ok {
        Ok(TestSentView { ok: true, detail: t.detail.clone(), notification_id: t.notification_id.clone() })
    } else {
        Err(TestFailedView {
            ok: false,
            error: t.detail.clone(),
            retryable: t.retryable,
            notification_id: t.notification_id.clone(),
        })
    }
}

#[cfg(test)]
#[path = "config_test.rs"]
mod tests;

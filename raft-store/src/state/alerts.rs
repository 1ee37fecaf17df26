//! Alerting state: the configured channels, rules and silences, the decision engine
//! (`alerts::group::AlertState`, stepped only by `apply`), and the alert ledger the API shows.
//!
//! The engine decides; this module only stores. A channel keeps its secrets (SMTP password,
//! webhook signing key) in the replicated state and the log, through [`StoredChannel`]'s own
//! serde; everything else that serializes a channel (API views, logs) gets `***`.

use std::collections::BTreeMap;

use alerts::config::ChannelConfig;
use alerts::config::ChannelKind;
use alerts::event::AlertEvent;
use alerts::event::AlertStatus;
use alerts::group::AlertState;
use alerts::group::Suppression;
use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde::Serializer;

/// How many alert records the ledger keeps; the oldest (by first record) are pruned by `apply`.
pub const ALERTS_KEPT: usize = 10_000;

/// How many announced terms the engine row remembers.
pub const LEADERS_KEPT: usize = 32;

/// The key of the one row of the `alert_engine` table.
pub const ENGINE_KEY: &str = "engine";

/// A channel as stored: the config with its secrets in clear (for the replicated state only).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChannel(pub ChannelConfig);

impl Serialize for StoredChannel {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        let secret = match &self.0.kind {
            ChannelKind::Email(c) => c.password.as_ref().map(|p| ("password", p)),
            ChannelKind::Webhook(c) => c.secret.as_ref().map(|p| ("secret", p)),
        };
        if let (Some((field, value)), Some(obj)) = (secret, v.as_object_mut()) {
            obj.insert(field.to_string(), serde_json::Value::String(value.expose().to_string()));
        }
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for StoredChannel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ChannelConfig::deserialize(d).map(StoredChannel)
    }
}

/// Who led which term, as the alerter announced it (the previous leader of a failover alert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderMark {
    pub term: u64,
    pub node_id: u64,
    pub since_ms: u64,
}

/// Per-channel totals, for `/api/v1/cluster` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCounters {
    /// Notifications queued on the channel.
    pub decided: u64,
    /// Attempts started (resends included).
    pub attempts: u64,
    pub delivered: u64,
    /// Attempts that failed (each retry counts).
    pub failed: u64,
    pub gave_up: u64,
}

/// The decision engine and what the master keeps around it: one row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertEngine {
    pub state: AlertState,
    pub leader: Option<LeaderMark>,
    /// The last [`LEADERS_KEPT`] announced terms, oldest first: a leader that died before it
    /// decided its failover alert leaves its term here, and the next one decides it.
    #[serde(default)]
    pub leaders: Vec<LeaderMark>,
    /// Alerts that entered the ledger.
    pub alerts_recorded: u64,
    pub channels: BTreeMap<String, ChannelCounters>,
}

/// What one rule did with an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RouteOutcome {
    /// Waiting in its group (group wait) or for its rule's consecutive-failure threshold.
    Pending,
    Suppressed {
        why: Suppression,
    },
    /// Sent in these notifications (a first notice, a digest, a reminder, a resolution).
    Notified {
        notifications: Vec<String>,
        channels: Vec<String>,
    },
}

/// Someone acknowledged or resolved an alert by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByHand {
    pub by: String,
    pub at_ms: u64,
    #[serde(default)]
    pub comment: String,
}

/// One alert in the ledger, keyed by its derived id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: String,
    pub event: AlertEvent,
    pub status: AlertStatus,
    /// The event that resolved it (`node_up` for a `node_down`), if one did.
    #[serde(default)]
    pub resolved_by: Option<AlertEvent>,
    pub first_seen_ms: u64,
    pub updated_ms: u64,
    /// rule name → what it did with the alert. Empty: no rule took it.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteOutcome>,
    #[serde(default)]
    pub acked: Option<ByHand>,
    #[serde(default)]
    pub resolved_by_hand: Option<ByHand>,
    /// Log index of its first record: the ledger's order.
    pub seq: u64,
}

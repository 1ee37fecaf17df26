//! The registry of slaves (Scrapyd-compatible worker nodes) and their up/down status.
//!
//! Only transitions are replicated, never heartbeats: the leader's health checker commits
//! `MarkNodeUp`/`MarkNodeDown` when the status changes, so the log grows with events, not time.

use std::fmt;

use serde::Deserialize;
use serde::Serialize;

/// A secret kept in the replicated state (a slave's basic-auth password).
///
/// Serialised as the plain string (it must reach the slave), but `Debug` and `Display` never
/// show it, so logging a command or a node never leaks it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What an operator sets about a slave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Base URL of the slave's Scrapyd API, e.g. `http://10.0.0.5:6800`.
    pub url: String,
    /// Basic-auth user name, if the slave requires auth.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Free-form labels matched by schedules' node selectors.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Slots the dispatcher may use on this slave; `None` trusts the slave's own limit.
    #[serde(default)]
    pub max_proc: Option<u32>,
}

/// Liveness as last committed by the leader's health checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeStatus {
    /// Registered, never checked yet.
    Unknown,
    Up {
        since_ms: u64,
    },
    Down {
        since_ms: u64,
        reason: String,
    },
}

/// A registered slave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// Operator-chosen name, unique in the cluster.
    pub id: String,
    pub spec: NodeSpec,
    pub status: NodeStatus,
    pub registered_at_ms: u64,
    /// The last outage that ended (set by `MarkNodeUp` after a `Down`), so an outage shorter
    /// than the alerter's scan is still alerted. Absent until a node first comes back; not
    /// written while `None`, so older records read and encode as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outage: Option<Outage>,
}

/// An outage of a node, from `MarkNodeDown` to `MarkNodeUp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    pub down_since_ms: u64,
    pub up_since_ms: u64,
    pub reason: String,
}

//! The alert ledger: each alert key is recorded once, so a failover never sends it twice.

use serde::Deserialize;
use serde::Serialize;

/// How many alert records are kept; older ones are pruned by `apply` (by record order).
pub const ALERTS_KEPT: usize = 10_000;

/// The categories of alerts (a closed set: the alerter decides which rule raised one). Encoded
/// in snake case, as the string this field was before format 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Another master became the leader.
    LeaderChange,
    /// A slave was committed down.
    NodeDown,
    /// A crawl ended with errors (error log lines, a non-zero exit, an abnormal finish reason).
    SpiderError,
    /// A metric crossed a configured threshold.
    Threshold,
}

/// An alert the leader decided to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Dedup key chosen by the alerter, e.g. `node-down:slave-1:since:1732280000000`.
    pub key: String,
    /// What the alert is about.
    pub kind: AlertKind,
    pub subject: String,
    pub body: String,
    pub recorded_at_ms: u64,
    /// Log index of the record: a total order for retention.
    pub seq: u64,
}

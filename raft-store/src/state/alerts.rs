//! The alert ledger: each alert key is recorded once, so a failover never sends it twice.

use serde::Deserialize;
use serde::Serialize;

/// How many alert records are kept; older ones are pruned by `apply` (by record order).
pub const ALERTS_KEPT: usize = 10_000;

/// An alert the leader decided to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Dedup key chosen by the alerter, e.g. `node-down:slave-1:since:1732280000000`.
    pub key: String,
    /// Category (`leader_change`, `node_down`, `spider_error`, `threshold`, ...).
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub recorded_at_ms: u64,
    /// Log index of the record: a total order for retention.
    pub seq: u64,
}

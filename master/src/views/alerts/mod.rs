//! Wire shapes of alerting: the alert ledger and deliveries ([`ledger`]), and the configuration
//! — channels, rules, silences, thresholds ([`config`]).
//!
//! The configuration values themselves (a channel's `ChannelConfig`, a routing `Rule`, a scope's
//! `SpiderErrorThresholds`, an alert's event) are answered in the `alerts` crate's own JSON:
//! it is the documented configuration format (what an operator writes is what a GET shows, so a
//! GET-edit-PUT round-trips), and a copy of every field here would only drift from it. Their
//! JSON is pinned by this module's tests like every view's. A channel's secret serializes as
//! `***` (`alerts::secret::Secret`), never its value.

pub mod config;
pub mod ledger;

use raft_store::state::alerts::ChannelCounters;
use serde::Deserialize;
use serde::Serialize;

/// A channel's delivery counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CountersView {
    /// Notifications queued on the channel.
    pub decided: u64,
    /// Attempts started (resends included).
    pub attempts: u64,
    pub delivered: u64,
    /// Attempts that failed (each retry counts).
    pub failed: u64,
    pub gave_up: u64,
}

impl From<&ChannelCounters> for CountersView {
    fn from(c: &ChannelCounters) -> Self {
        CountersView {
            decided: c.decided,
            attempts: c.attempts,
            delivered: c.delivered,
            failed: c.failed,
            gave_up: c.gave_up,
        }
    }
}

//! [`SlaveMetrics`]: this master's bounded in-memory series of every slave's `/metrics.json`
//! samples (filled by `slaves::poller`), so any master can draw charts without a replicated
//! write per sample — metrics never enter the log.
//!
//! A slave without the endpoint (real Scrapyd answers 404) is marked `unsupported` and probed
//! again only rarely: no error spam. Series of removed slaves are dropped.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

use super::client::SlaveError;

/// After a 404, probe again every this many intervals.
const UNSUPPORTED_REPROBE: u64 = 60;

/// One sample: when it was taken (this master's clock, Unix ms) and what the slave reported.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Sample {
    pub at_ms: u64,
    #[schema(value_type = Object)]
    pub metrics: Value,
}

/// The series of one slave as seen by this master.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Series {
    /// The slave has no `/metrics.json` (real Scrapyd).
    pub unsupported: bool,
    /// Why the last poll failed, if it did.
    pub last_error: Option<String>,
    #[schema(value_type = Vec<Sample>)]
    pub samples: VecDeque<Sample>,
    #[serde(skip)]
    polls: u64,
}

/// The per-slave series of this master.
#[derive(Default)]
pub struct SlaveMetrics {
    series: Mutex<BTreeMap<String, Series>>,
}

impl SlaveMetrics {
    /// A copy of one slave's series (empty if never polled).
    pub fn series(&self, node_id: &str) -> Series {
        self.series.lock().map(|m| m.get(node_id).cloned().unwrap_or_default()).unwrap_or_default()
    }

    /// The newest sample of a slave.
    pub fn latest(&self, node_id: &str) -> Option<Sample> {
        self.series.lock().ok().and_then(|m| m.get(node_id).and_then(|s| s.samples.back().cloned()))
    }

    pub(super) fn record(&self, node_id: &str, at_ms: u64, result: Result<Value, SlaveError>, cap: usize) {
        let Ok(mut m) = self.series.lock() else { return };
        let s = m.entry(node_id.to_string()).or_default();
        match result {
            Ok(v) => {
                s.unsupported = false;
                s.last_error = None;
                s.samples.push_back(Sample { at_ms, metrics: v });
                while s.samples.len() > cap {
                    s.samples.pop_front();
                }
            }
            Err(e) if e.is_not_found() => {
                if !s.unsupported {
                    tracing::debug!(node = node_id, "slave has no /metrics.json (Scrapyd?): not polling it");
                }
                s.unsupported = true;
                s.last_error = None;
            }
            Err(e) => {
                let msg = e.to_string();
                if s.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::debug!(node = node_id, cause = %msg, "metrics poll failed");
                }
                s.last_error = Some(msg);
            }
        }
    }

    /// Whether to poll this slave in this round (unsupported ones only now and then).
    pub(super) fn due(&self, node_id: &str) -> bool {
        let Ok(mut m) = self.series.lock() else { return false };
        let s = m.entry(node_id.to_string()).or_default();
        s.polls += 1;
        !s.unsupported || s.polls % UNSUPPORTED_REPROBE == 0
    }

    pub(super) fn retain(&self, ids: &[String]) {
        if let Ok(mut m) = self.series.lock() {
            m.retain(|k, _| ids.contains(k));
        }
    }
}

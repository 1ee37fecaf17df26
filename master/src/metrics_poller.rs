//! Every master polls every slave's `/metrics.json` into its own bounded in-memory series, so any
//! master can draw charts without a replicated write per sample (metrics never enter the log).
//!
//! A slave without the endpoint (real Scrapyd answers 404) is marked `unsupported` and probed
//! again only rarely: no error spam. Series of removed slaves are dropped.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::node::MasterNode;
use crate::slave_client::SlaveClient;

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

    fn record(&self, node_id: &str, at_ms: u64, result: Result<Value, crate::slave_client::SlaveError>, cap: usize) {
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
    fn due(&self, node_id: &str) -> bool {
        let Ok(mut m) = self.series.lock() else { return false };
        let s = m.entry(node_id.to_string()).or_default();
        s.polls += 1;
        !s.unsupported || s.polls % UNSUPPORTED_REPROBE == 0
    }

    fn retain(&self, ids: &[String]) {
        if let Ok(mut m) = self.series.lock() {
            m.retain(|k, _| ids.contains(k));
        }
    }
}

/// Runs on every master until `token` is cancelled.
pub async fn run(node: Arc<MasterNode>, token: CancellationToken) {
    let t = node.config.slaves.clone();
    if t.metrics_interval_ms == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(t.metrics_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let nodes = node.state.read(|s| s.nodes.values().cloned().collect::<Vec<_>>());
        node.slave_metrics.retain(&nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>());
        let timeout = Duration::from_millis(t.request_timeout_ms.min(t.metrics_interval_ms.max(500)));
        let polls = nodes.into_iter().filter(|n| node.slave_metrics.due(&n.id)).map(|n| {
            let client = SlaveClient::new(node.http.clone(), &n, timeout);
            let node = node.clone();
            async move {
                let r = client.metrics().await;
                node.slave_metrics.record(&n.id, crate::propose::now_ms(), r, t.metrics_samples);
            }
        });
        tokio::select! {
            _ = token.cancelled() => return,
            _ = futures::future::join_all(polls) => {}
        }
    }
}

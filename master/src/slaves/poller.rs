//! The metrics poller: runs on EVERY master (not only the leader), polling each slave's
//! `/metrics.json` every `slaves.metrics_interval_ms` into this master's [`SlaveMetrics`]
//! (`0` turns it off).
//!
//! [`SlaveMetrics`]: super::metrics::SlaveMetrics

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::SlaveClient;
use crate::clock::WallClock;
use crate::node::MasterNode;

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
                node.slave_metrics.record(&n.id, WallClock::now_ms(), r, t.metrics_samples);
            }
        });
        tokio::select! {
            _ = token.cancelled() => return,
            _ = futures::future::join_all(polls) => {}
        }
    }
}

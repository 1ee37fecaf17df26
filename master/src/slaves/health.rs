//! Slave health checks (leader only): `daemonstatus.json` on every registered slave, every
//! `slaves.health_interval_ms`. Only transitions are committed: `MarkNodeUp` on the first answer
//! after a failure or at first sight, `MarkNodeDown` after `slaves.down_after_failures`
//! consecutive failures. A steady cluster writes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use raft_store::state::NodeStatus;
use raft_store::Command;

use super::client::SlaveClient;
use super::client::SlaveError;
use crate::leader::LeaderContext;

pub async fn run(ctx: LeaderContext) {
    let t = ctx.node.config.slaves.clone();
    let mut failures: BTreeMap<String, u32> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(t.health_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let nodes = ctx.node.state.read(|s| s.nodes.values().cloned().collect::<Vec<_>>());
        failures.retain(|id, _| nodes.iter().any(|n| &n.id == id));
        let timeout = Duration::from_millis(t.request_timeout_ms.min(t.health_interval_ms.max(1000)));
        let checks = nodes.iter().map(|n| {
            let client = SlaveClient::new(ctx.node.http.clone(), n, timeout);
            async move { client.daemonstatus().await }
        });
        let results = tokio::select! {
            _ = ctx.token.cancelled() => return,
            r = futures::future::join_all(checks) => r,
        };
        ctx.node.health_rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for (n, result) in nodes.iter().zip(results) {
            let cmd = match result {
                Ok(_) => {
                    failures.remove(&n.id);
                    (!matches!(n.status, NodeStatus::Up { .. })).then(|| Command::MarkNodeUp { id: n.id.clone() })
                }
                Err(e) => {
                    let count = failures.entry(n.id.clone()).or_insert(0);
                    *count += 1;
                    let down = *count >= t.down_after_failures && !matches!(n.status, NodeStatus::Down { .. });
                    down.then(|| Command::MarkNodeDown { id: n.id.clone(), reason: reason(&e) })
                }
            };
            let Some(cmd) = cmd else { continue };
            if ctx.token.is_cancelled() {
                return;
            }
            match ctx.node.proposer.propose_local(cmd.clone()).await {
                Ok(_) => tracing::info!(term = ctx.term, node = %n.id, change = %cmd, "slave status changed"),
                Err(e) => tracing::warn!(term = ctx.term, node = %n.id, cause = %e, "could not commit a slave status"),
            }
        }
    }
}

fn reason(e: &SlaveError) -> String {
    match e {
        SlaveError::Http { status: 401, .. } => "wrong credentials (HTTP 401)".into(),
        other => other.to_string(),
    }
}

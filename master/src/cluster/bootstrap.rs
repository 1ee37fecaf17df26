//! Cluster formation: a fresh cluster forms with the same command on every master.
//!
//! The master with the lowest id among the configured peers initialises the cluster once every
//! configured peer answers `/raft/hello` and none reports being initialised. Every other master
//! just waits to be contacted. A restarted master finds its membership in its store and skips
//! all of this (openraft restores it). Masters added later join through the API instead.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use tokio_util::sync::CancellationToken;

use crate::node::MasterNode;
use crate::raft_net::server::Hello;

/// Pause between two rounds of asking the peers.
const RETRY: Duration = Duration::from_millis(300);

pub async fn run(node: Arc<MasterNode>, token: CancellationToken) {
    let peers = node.config.peers.clone();
    let Some(lowest) = peers.keys().next().copied() else { return };
    if lowest != node.id {
        return;
    }
    loop {
        match node.raft.is_initialized().await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(cause = %e, "raft stopped before the cluster formed");
                return;
            }
        }
        match ask_peers(&node, &peers).await {
            Ok(true) => {
                tracing::info!("a peer is already part of a cluster; not initialising");
                return;
            }
            Ok(false) => {
                let members: BTreeMap<u64, BasicNode> =
                    peers.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
                match node.raft.initialize(members).await {
                    Ok(()) => tracing::info!(voters = ?peers.keys().collect::<Vec<_>>(), "initialised the cluster"),
                    Err(e) => tracing::info!(cause = %e, "cluster already initialised"),
                }
                return;
            }
            Err(missing) => tracing::info!(waiting_for = ?missing, "waiting for every configured master to answer"),
        }
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Asks every other peer `/raft/hello`. `Ok(any_initialized)` when all answered, otherwise the
/// ids that did not.
async fn ask_peers(node: &MasterNode, peers: &BTreeMap<u64, String>) -> Result<bool, Vec<u64>> {
    let mut missing = Vec::new();
    let mut any_initialized = false;
    for (id, addr) in peers.iter().filter(|(id, _)| **id != node.id) {
        let url = format!("{}/raft/hello", addr.trim_end_matches('/'));
        let res = node
            .http
            .get(&url)
            .bearer_auth(&node.config.cluster_secret.0)
            .timeout(Duration::from_millis(node.config.raft.rpc_timeout_ms))
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => match r.json::<Hello>().await {
                Ok(h) if h.node_id == *id => any_initialized |= h.initialized,
                Ok(h) => {
                    tracing::warn!(expected = id, found = h.node_id, %url, "peer answers with another node id");
                    missing.push(*id);
                }
                Err(_) => missing.push(*id),
            },
            Ok(r) => {
                tracing::warn!(status = %r.status(), %url, "peer refused hello (wrong cluster secret?)");
                missing.push(*id);
            }
            Err(_) => missing.push(*id),
        }
    }
    if missing.is_empty() {
        Ok(any_initialized)
    } else {
        Err(missing)
    }
}

//! Membership changes: a master joins as a learner (it catches up from the log or a snapshot),
//! then becomes a voter by joint consensus; removing one replaces the voter set without it.
//!
//! Changes run on the leader. [`change`] runs one here if this master leads, else forwards it
//! to the leader's `POST /raft/membership` ([`peer_routes`], behind the cluster secret), which
//! answers with [`change_local`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::Json;
use axum::Router;
use openraft::BasicNode;
use openraft::ChangeMembers;
use serde::Deserialize;
use serde::Serialize;

use crate::node::MasterNode;

/// Deadline of a change forwarded to the leader (it waits for joint consensus).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// A membership change, as forwarded to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MembershipChange {
    Add { id: u64, addr: String },
    Remove { id: u64 },
}

/// Why a membership change failed.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum ChangeError {
    /// This master does not lead; the leader's address if known.
    #[error("not the leader")]
    NotLeader(Option<String>),
    #[error("{0}")]
    Refused(String),
    #[error("master {0} is not a member")]
    NotMember(u64),
    /// Forwarded, but the leader's answer was lost: the change may or may not have happened.
    #[error("the change may or may not have been made: {0}")]
    Indeterminate(String),
}

/// `/raft/membership`: the leader's side of a forwarded change.
pub fn peer_routes() -> Router<Arc<MasterNode>> {
    Router::new().route("/raft/membership", post(forwarded))
}

async fn forwarded(
    State(n): State<Arc<MasterNode>>,
    Json(op): Json<MembershipChange>,
) -> Json<Result<(), ChangeError>> {
    Json(change_local(&n, op).await)
}

/// Runs a membership change here if this node leads, else on the leader.
pub async fn change(node: &MasterNode, op: MembershipChange) -> Result<(), ChangeError> {
    match change_local(node, op.clone()).await {
        Err(ChangeError::NotLeader(Some(addr))) => {
            let url = format!("{}/raft/membership", addr.trim_end_matches('/'));
            let r = node
                .http
                .post(&url)
                .bearer_auth(&node.config.cluster_secret.0)
                .json(&op)
                .timeout(FORWARD_TIMEOUT)
                .send()
                .await
                .map_err(|e| ChangeError::Indeterminate(format!("forwarding to the leader: {e}")))?;
            r.json::<Result<(), ChangeError>>()
                .await
                .map_err(|e| ChangeError::Indeterminate(format!("leader's answer: {e}")))?
        }
        other => other,
    }
}

fn leader_addr(node: &MasterNode) -> Option<String> {
    let m = node.metrics();
    let leader = m.current_leader?;
    m.membership_config.membership().get_node(&leader).map(|n| n.addr.clone())
}

/// Applies a membership change on this node, which must lead.
pub async fn change_local(node: &MasterNode, op: MembershipChange) -> Result<(), ChangeError> {
    if !node.raft.is_leader() {
        return Err(ChangeError::NotLeader(leader_addr(node)));
    }
    let refused = |e: openraft::errors::RaftError<
        raft_store::TypeConfig,
        openraft::errors::ClientWriteError<raft_store::TypeConfig>,
    >| {
        match e.forward_to_leader() {
            Some(_) => ChangeError::NotLeader(leader_addr(node)),
            None => ChangeError::Refused(e.to_string()),
        }
    };
    match op {
        MembershipChange::Add { id, addr } => {
            node.raft.add_learner(id, BasicNode { addr }, true).await.map_err(refused)?;
            let mut voters: BTreeSet<u64> = node.raft.voter_ids().collect();
            voters.insert(id);
            node.raft.change_membership(ChangeMembers::ReplaceAllVoters(voters), false).await.map_err(refused)?;
            tracing::info!(id, "master added as voter");
        }
        MembershipChange::Remove { id } => {
            let m = node.metrics();
            if m.membership_config.membership().get_node(&id).is_none() {
                return Err(ChangeError::NotMember(id));
            }
            let voters: BTreeSet<u64> = node.raft.voter_ids().filter(|v| *v != id).collect();
            if voters.is_empty() {
                return Err(ChangeError::Refused("cannot remove the last voter".into()));
            }
            node.raft.change_membership(ChangeMembers::ReplaceAllVoters(voters), false).await.map_err(refused)?;
            tracing::info!(id, "master removed");
        }
    }
    Ok(())
}

//! `/api/v1/cluster`: who is in the cluster, and adding or removing masters at runtime.
//!
//! A master joins as a learner (it catches up from the log or a snapshot), then becomes a voter
//! by joint consensus. Membership changes run on the leader; a follower forwards them to the
//! leader's `/raft/membership`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::extract::State;
use axum::Extension;
use axum::Json;
use openraft::BasicNode;
use openraft::ChangeMembers;
use raft_store::state::Role;
use serde::Deserialize;
use serde::Serialize;

use super::auth::Principal;
use super::error::ApiError;
use crate::node::MasterNode;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Member {
    pub id: u64,
    pub addr: String,
    /// `voter` or `learner`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterInfo {
    pub id: u64,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub state: String,
    pub last_applied: Option<u64>,
    pub members: Vec<Member>,
}

pub fn cluster_info(node: &MasterNode) -> ClusterInfo {
    let m = node.metrics();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, n)| Member {
            id: *id,
            addr: n.addr.clone(),
            role: if voters.contains(id) { "voter" } else { "learner" }.into(),
        })
        .collect();
    ClusterInfo {
        id: node.id,
        leader_id: m.current_leader,
        term: m.current_term,
        state: format!("{:?}", m.state),
        last_applied: m.last_applied.map(|l| l.index()),
        members,
    }
}

#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, body = ClusterInfo)), security(("bearer" = [])))]
pub async fn get_cluster(State(node): State<Arc<MasterNode>>) -> Json<ClusterInfo> {
    Json(cluster_info(&node))
}

/// What this master applied: the last applied log id and a digest of the replicated state it
/// produced. Two masters that applied the same log show the same digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct StateDigest {
    pub id: u64,
    /// Index of the last applied log entry (`null` before the first).
    pub last_applied: Option<u64>,
    /// SHA-256 (hex) over every table of the replicated state.
    pub digest: String,
}

#[utoipa::path(get, path = "/api/v1/cluster/digest", tag = "cluster",
    responses((status = 200, body = StateDigest)), security(("bearer" = [])))]
pub async fn get_digest(State(node): State<Arc<MasterNode>>) -> Result<Json<StateDigest>, ApiError> {
    let handle = node.state.clone();
    // Hashes every table: off the async workers.
    let (applied, digest) = tokio::task::spawn_blocking(move || handle.digest_at())
        .await
        .map_err(|e| ApiError::Internal(format!("computing the state digest: {e}")))?;
    Ok(Json(StateDigest { id: node.id, last_applied: applied.map(|l| l.index()), digest }))
}

/// A membership change, as forwarded to the leader.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MembershipChange {
    Add { id: u64, addr: String },
    Remove { id: u64 },
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AddMember {
    pub id: u64,
    pub addr: String,
}

#[utoipa::path(post, path = "/api/v1/cluster/members", tag = "cluster", request_body = AddMember,
    responses((status = 200, body = ClusterInfo), (status = 400), (status = 409), (status = 503)), security(("bearer" = [])))]
pub async fn add_member(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Json(req): Json<AddMember>,
) -> Result<Json<ClusterInfo>, ApiError> {
    p.require(Role::Admin)?;
    if req.id == 0 {
        return Err(ApiError::bad("id", "must be > 0"));
    }
    if !req.addr.starts_with("http://") && !req.addr.starts_with("https://") {
        return Err(ApiError::bad("addr", "must be an http(s) base URL"));
    }
    change(&node, MembershipChange::Add { id: req.id, addr: req.addr }).await?;
    Ok(Json(cluster_info(&node)))
}

#[utoipa::path(delete, path = "/api/v1/cluster/members/{id}", tag = "cluster", params(("id" = u64, Path)),
    responses((status = 200, body = ClusterInfo), (status = 404), (status = 409), (status = 503)), security(("bearer" = [])))]
pub async fn remove_member(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<u64>,
) -> Result<Json<ClusterInfo>, ApiError> {
    p.require(Role::Admin)?;
    change(&node, MembershipChange::Remove { id }).await?;
    Ok(Json(cluster_info(&node)))
}

/// Runs a membership change here if this node leads, else on the leader.
async fn change(node: &MasterNode, op: MembershipChange) -> Result<(), ApiError> {
    match change_local(node, op.clone()).await {
        Err(ChangeError::NotLeader(Some(addr))) => {
            let url = format!("{}/raft/membership", addr.trim_end_matches('/'));
            let r = node
                .http
                .post(&url)
                .bearer_auth(&node.config.cluster_secret.0)
                .json(&op)
                .timeout(Duration::from_secs(60))
                .send()
                .await
                .map_err(|e| ApiError::Indeterminate(format!("forwarding to the leader: {e}")))?;
            let res: Result<(), ChangeError> =
                r.json().await.map_err(|e| ApiError::Indeterminate(format!("leader's answer: {e}")))?;
            res.map_err(ApiError::from)
        }
        other => other.map_err(ApiError::from),
    }
}

/// Why a membership change failed.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum ChangeError {
    #[error("not the leader")]
    NotLeader(Option<String>),
    #[error("{0}")]
    Refused(String),
    #[error("master {0} is not a member")]
    NotMember(u64),
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotLeader(_) => ApiError::NoLeader { retry_after_s: 1 },
            ChangeError::Refused(m) => ApiError::Conflict(m),
            ChangeError::NotMember(id) => ApiError::NotFound(format!("master {id}")),
        }
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

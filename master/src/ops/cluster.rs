//! The masters: Raft status and health of this one, the digest of what it applied, and adding or
//! removing masters at runtime.
//!
//! A master joins as a learner (it catches up from the log or a snapshot), then becomes a voter
//! by joint consensus. Membership changes run on the leader; a follower forwards them to the
//! leader's `/raft/membership` ([`change_local`] answers there).

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::BasicNode;
use openraft::ChangeMembers;
use openraft::ServerState;
use serde::Deserialize;
use serde::Serialize;

use super::OpsError;
use crate::auth::Principal;
use crate::node::MasterNode;

/// How far this node's state machine may trail its log and still call itself healthy.
const MAX_APPLY_LAG: u64 = 1000;
/// Deadline of a membership change forwarded to the leader (it waits for joint consensus).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// A master's part in the Raft group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRole {
    /// Votes and counts for the quorum.
    Voter,
    /// Receives the log, does not vote.
    Learner,
}

/// One master of the membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub addr: String,
    pub role: MemberRole,
}

/// The cluster as this master sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// This master.
    pub id: u64,
    pub leader_id: Option<u64>,
    pub term: u64,
    /// This master's Raft state.
    pub state: ServerState,
    pub last_applied: Option<u64>,
    pub members: Vec<Member>,
}

/// What a load balancer asks of a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub node_id: u64,
    pub state: ServerState,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    /// In the cluster, a leader known, Raft running and the state machine not lagging.
    pub healthy: bool,
    /// This master leads (and knows it).
    pub leads: bool,
    /// This master's scheduler clock, Unix ms: leaders compare clocks before firing.
    pub clock_ms: i64,
}

/// What this master applied: the last applied index and a digest of the state it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub id: u64,
    pub last_applied: Option<u64>,
    /// SHA-256 (hex) over every table of the replicated state.
    pub digest: String,
}

/// The membership and Raft state of this master.
pub fn status(node: &MasterNode) -> ClusterStatus {
    let m = node.metrics();
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let members = membership
        .nodes()
        .map(|(id, n)| Member {
            id: *id,
            addr: n.addr.clone(),
            role: if voters.contains(id) { MemberRole::Voter } else { MemberRole::Learner },
        })
        .collect();
    ClusterStatus {
        id: node.id,
        leader_id: m.current_leader,
        term: m.current_term,
        state: m.state,
        last_applied: m.last_applied.map(|l| l.index()),
        members,
    }
}

/// This master's health.
pub fn health(node: &MasterNode) -> Health {
    let m = node.metrics();
    let member = m.membership_config.membership().get_node(&node.id).is_some();
    let applied = m.last_applied.map(|l| l.index());
    let lag = m.last_log_index.unwrap_or(0).saturating_sub(applied.unwrap_or(0));
    let healthy = m.running_state.is_ok() && member && m.current_leader.is_some() && lag <= MAX_APPLY_LAG;
    Health {
        node_id: node.id,
        state: m.state,
        leader_id: m.current_leader,
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: applied,
        healthy,
        leads: m.state == ServerState::Leader && m.current_leader == Some(node.id),
        clock_ms: crate::scheduler::clock::Clock::now_ms(node.clock.as_ref()),
    }
}

/// The last applied index and the state digest, read together (hashing runs off the async
/// workers).
pub async fn digest(node: &MasterNode) -> Result<Digest, OpsError> {
    let handle = node.state.clone();
    let (applied, digest) = tokio::task::spawn_blocking(move || handle.digest_at())
        .await
        .map_err(|e| OpsError::Internal(format!("computing the state digest: {e}")))?;
    Ok(Digest { id: node.id, last_applied: applied.map(|l| l.index()), digest })
}

/// Adds master `id` at base URL `addr` as a voter (via learner).
pub async fn add_member(node: &MasterNode, id: u64, addr: String, by: &Principal) -> Result<(), OpsError> {
    if id == 0 {
        return Err(OpsError::invalid("id", "must be > 0"));
    }
    if !addr.starts_with("http://") && !addr.starts_with("https://") {
        return Err(OpsError::invalid("addr", "must be an http(s) base URL"));
    }
    tracing::info!(id, %addr, by = %by.username, "adding a master");
    change(node, MembershipChange::Add { id, addr }).await
}

/// Removes master `id` from the membership.
pub async fn remove_member(node: &MasterNode, id: u64, by: &Principal) -> Result<(), OpsError> {
    tracing::info!(id, by = %by.username, "removing a master");
    change(node, MembershipChange::Remove { id }).await
}

/// A membership change, as forwarded to the leader (`/raft/membership` body).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MembershipChange {
    Add { id: u64, addr: String },
    Remove { id: u64 },
}

/// Why a membership change failed (`/raft/membership` answer).
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum ChangeError {
    #[error("not the leader")]
    NotLeader(Option<String>),
    #[error("{0}")]
    Refused(String),
    #[error("master {0} is not a member")]
    NotMember(u64),
}

impl From<ChangeError> for OpsError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotLeader(_) => OpsError::NoLeader { retry_after_s: 1 },
            ChangeError::Refused(m) => OpsError::Conflict(m),
            ChangeError::NotMember(id) => OpsError::NotFound(format!("master {id}")),
        }
    }
}

/// Runs a membership change here if this node leads, else on the leader.
async fn change(node: &MasterNode, op: MembershipChange) -> Result<(), OpsError> {
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
                .map_err(|e| OpsError::Indeterminate(format!("forwarding to the leader: {e}")))?;
            let res: Result<(), ChangeError> =
                r.json().await.map_err(|e| OpsError::Indeterminate(format!("leader's answer: {e}")))?;
            res.map_err(OpsError::from)
        }
        other => other.map_err(OpsError::from),
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

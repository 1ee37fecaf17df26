//! The masters: Raft status and health of this one, the digest of what it applied, and adding or
//! removing masters at runtime.
//!
//! The membership change itself (learner, then voter by joint consensus; forwarded to the
//! leader) is `crate::cluster::membership`'s; this module checks the request and maps errors.

use std::collections::BTreeSet;

use openraft::ServerState;

use super::alerts::ledger::AlertSummary;
use super::OpsError;
use crate::auth::Principal;
use crate::cluster::membership::change;
use crate::cluster::membership::ChangeError;
use crate::cluster::membership::MembershipChange;
use crate::node::MasterNode;

/// How far this node's state machine may trail its log and still call itself healthy.
const MAX_APPLY_LAG: u64 = 1000;

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
    /// What the alert engine recorded and delivered, as this master applied it.
    pub alerts: AlertSummary,
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
        alerts: super::alerts::ledger::summary(node),
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
        clock_ms: node.clock.now_us() / 1000,
    }
}

/// The last applied index and the state digest, read together (hashing runs off the async
/// workers).
pub async fn digest(node: &MasterNode) -> Result<Digest, OpsError> {
    let d = crate::cluster::digest::of(node).await.map_err(OpsError::Internal)?;
    Ok(Digest { id: node.id, last_applied: d.last_applied, digest: d.digest })
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
    change(node, MembershipChange::Add { id, addr }).await.map_err(OpsError::from)
}

/// Removes master `id` from the membership.
pub async fn remove_member(node: &MasterNode, id: u64, by: &Principal) -> Result<(), OpsError> {
    tracing::info!(id, by = %by.username, "removing a master");
    change(node, MembershipChange::Remove { id }).await.map_err(OpsError::from)
}

impl From<ChangeError> for OpsError {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::NotLeader(_) => OpsError::NoLeader { retry_after_s: 1 },
            ChangeError::Refused(m) => OpsError::Conflict(m),
            ChangeError::NotMember(id) => OpsError::NotFound(format!("master {id}")),
            ChangeError::Indeterminate(m) => OpsError::Indeterminate(m),
        }
    }
}

//! Wire shapes of the masters: cluster membership, the state digest, and the health answer
//! load balancers read.

use openraft::ServerState;
use serde::Deserialize;
use serde::Serialize;

use super::alerts::ledger::AlertsSummaryView;
use crate::ops::cluster::ClusterStatus;
use crate::ops::cluster::Digest;
use crate::ops::cluster::Health;
use crate::ops::cluster::MemberRole;

/// A master's Raft state, spelled as openraft names it (`"Leader"`, `"Follower"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum RaftStateView {
    Learner,
    Follower,
    Candidate,
    Leader,
    Shutdown,
}

impl From<ServerState> for RaftStateView {
    fn from(s: ServerState) -> Self {
        match s {
            ServerState::Learner => RaftStateView::Learner,
            ServerState::Follower => RaftStateView::Follower,
            ServerState::Candidate => RaftStateView::Candidate,
            ServerState::Leader => RaftStateView::Leader,
            ServerState::Shutdown => RaftStateView::Shutdown,
        }
    }
}

/// A master's part in the Raft group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRoleView {
    Voter,
    Learner,
}

impl From<MemberRole> for MemberRoleView {
    fn from(r: MemberRole) -> Self {
        match r {
            MemberRole::Voter => MemberRoleView::Voter,
            MemberRole::Learner => MemberRoleView::Learner,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Member {
    pub id: u64,
    pub addr: String,
    /// `voter` or `learner`.
    pub role: MemberRoleView,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterInfo {
    pub id: u64,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub state: RaftStateView,
    pub last_applied: Option<u64>,
    pub members: Vec<Member>,
    /// What the alert engine recorded and delivered, as this master applied it.
    pub alerts: AlertsSummaryView,
}

impl From<ClusterStatus> for ClusterInfo {
    fn from(s: ClusterStatus) -> Self {
        ClusterInfo {
            id: s.id,
            leader_id: s.leader_id,
            term: s.term,
            state: s.state.into(),
            last_applied: s.last_applied,
            members: s.members.into_iter().map(|m| Member { id: m.id, addr: m.addr, role: m.role.into() }).collect(),
            alerts: (&s.alerts).into(),
        }
    }
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

impl From<Digest> for StateDigest {
    fn from(d: Digest) -> Self {
        StateDigest { id: d.id, last_applied: d.last_applied, digest: d.digest }
    }
}

/// The body of `/healthz` and `/leader`. No secrets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct HealthView {
    pub node_id: u64,
    pub state: RaftStateView,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub healthy: bool,
    /// This master's scheduler clock, Unix ms: leaders compare clocks before firing.
    pub clock_ms: i64,
}

impl From<&Health> for HealthView {
    fn from(h: &Health) -> Self {
        HealthView {
            node_id: h.node_id,
            state: h.state.into(),
            leader_id: h.leader_id,
            term: h.term,
            last_log_index: h.last_log_index,
            last_applied: h.last_applied,
            healthy: h.healthy,
            clock_ms: h.clock_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raft_states_are_spelled_as_before() {
        for s in [
            ServerState::Learner,
            ServerState::Follower,
            ServerState::Candidate,
            ServerState::Leader,
            ServerState::Shutdown,
        ] {
            // Before the view existed, the wire carried `format!("{:?}", state)`.
            assert_eq!(
                serde_json::to_value(RaftStateView::from(s)).expect("encode"),
                serde_json::json!(format!("{s:?}"))
            );
        }
        assert_eq!(serde_json::to_string(&MemberRoleView::Learner).expect("encode"), r#""learner""#);
    }

    #[test]
    fn health_keeps_the_wire_shape_load_balancers_and_peers_read() {
        let h = Health {
            node_id: 2,
            state: ServerState::Follower,
            leader_id: Some(1),
            term: 3,
            last_log_index: Some(10),
            last_applied: Some(9),
            healthy: true,
            leads: false,
            clock_ms: 1234,
        };
        assert_eq!(
            serde_json::to_string(&HealthView::from(&h)).expect("encode"),
            concat!(
                r#"{"node_id":2,"state":"Follower","leader_id":1,"term":3,"last_log_index":10,"last_applied":9,"#,
                r#""healthy":true,"clock_ms":1234}"#
            )
        );
    }
}

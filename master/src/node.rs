//! `MasterNode`: the handle every request handler and leader service of one master shares —
//! its id and config, Raft, the replicated state, the proposer, the HTTP client, its clocks and
//! its in-memory slave metrics.
//!
//! It is built once by [`crate::boot`] and only read afterwards (its interior-mutable parts are
//! atomics and locks of their own). **Architecture Invariant:** this module imports only
//! `config`, `clock`, `secrets`, `propose` and `slaves::{client, metrics}`: it is below every
//! service and every front door, so none of them can form an import cycle through it.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::sync::RwLock;

use raft_store::typ::Raft;
use raft_store::NodeId;
use raft_store::StateHandle;

use crate::clock::OffsetClock;
use crate::config::MasterConfig;
use crate::propose::Proposer;
use crate::secrets::Secret;
use crate::slaves::metrics::SlaveMetrics;

/// Per-target address overrides for Raft traffic (test harness: route a link through a fault
/// proxy), consulted before the address in the replicated membership.
pub type PeerOverrides = Arc<RwLock<BTreeMap<NodeId, String>>>;

/// The last time this master heard from a leader other than itself (an append or heartbeat):
/// a new leader's failover alert measures the leaderless time from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderContact {
    pub leader: u64,
    pub at_ms: u64,
}

/// Everything a request handler or a leader service needs from this master.
pub struct MasterNode {
    pub id: u64,
    pub config: MasterConfig,
    /// The base URL other masters reach this one at.
    pub advertise: String,
    pub raft: Raft,
    pub state: StateHandle,
    pub proposer: Proposer,
    /// Client for peers and slaves (every call sets its own deadline).
    pub http: reqwest::Client,
    /// The admin API token (from config, or generated and kept in the data dir).
    pub admin_token: Secret,
    /// Test hook: per-peer address overrides for Raft traffic.
    pub peer_overrides: PeerOverrides,
    /// This master's in-memory metrics series of every slave.
    pub slave_metrics: SlaveMetrics,
    /// Rounds of slave health checks this master ran as leader (observability, and tests that
    /// prove a steady cluster writes nothing).
    pub health_rounds: AtomicU64,
    /// The scheduler's "now": the wall clock plus a debug offset (settable only if
    /// `scheduler.debug_clock`). Peers read it through `GET /raft/clock`.
    pub clock: Arc<OffsetClock>,
    /// Written by the Raft server on every append from a leader; read by the alerter.
    pub leader_contact: std::sync::Mutex<Option<LeaderContact>>,
    /// Test hook: where this master's alerter stops as if killed there (see
    /// `alerter::Stall`); 0 = never.
    pub alerter_stall: std::sync::atomic::AtomicU8,
}

impl MasterNode {
    /// Notes that the current leader (if another master) was just heard from.
    pub fn heard_from_leader(&self) {
        use openraft::type_config::async_runtime::WatchReceiver;
        let leader = self.raft.metrics().borrow_watched().current_leader;
        if let (Some(leader), Ok(mut c)) = (leader.filter(|l| *l != self.id), self.leader_contact.lock()) {
            *c = Some(LeaderContact { leader, at_ms: crate::clock::WallClock::now_ms() });
        }
    }

    /// The last contact with another leader (see [`LeaderContact`]).
    pub fn last_leader_contact(&self) -> Option<LeaderContact> {
        self.leader_contact.lock().ok().and_then(|c| *c)
    }

    /// A copy of the current Raft metrics (role, term, leader, log positions, membership).
    pub fn metrics(&self) -> raft_store::typ::RaftMetrics {
        use openraft::type_config::async_runtime::WatchReceiver;
        self.raft.metrics().borrow_watched().clone()
    }
}

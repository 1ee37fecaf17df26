//! `/healthz` and `/leader`: what a load balancer asks. No auth, no secrets in the answers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use openraft::ServerState;
use serde::Serialize;

use crate::node::MasterNode;

/// How far this node's state machine may trail its log and still call itself healthy.
const MAX_APPLY_LAG: u64 = 1000;

#[derive(Debug, Serialize)]
pub struct Health {
    pub node_id: u64,
    pub state: String,
    pub leader_id: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub healthy: bool,
    /// This master's scheduler clock, Unix ms: leaders compare clocks before firing.
    pub clock_ms: i64,
}

pub fn health_of(node: &MasterNode) -> Health {
    let m = node.metrics();
    let member = m.membership_config.membership().get_node(&node.id).is_some();
    let applied = m.last_applied.map(|l| l.index());
    let lag = m.last_log_index.unwrap_or(0).saturating_sub(applied.unwrap_or(0));
    let healthy = m.running_state.is_ok() && member && m.current_leader.is_some() && lag <= MAX_APPLY_LAG;
    Health {
        node_id: node.id,
        state: format!("{:?}", m.state),
        leader_id: m.current_leader,
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: applied,
        healthy,
        clock_ms: crate::scheduler::clock::Clock::now_ms(node.clock.as_ref()),
    }
}

/// 200 when this master is in a cluster with a known leader and not lagging, else 503.
pub async fn healthz(State(node): State<Arc<MasterNode>>) -> (StatusCode, Json<Health>) {
    let h = health_of(&node);
    let status = if h.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(h))
}

/// 200 only on the leader (for a load balancer that sends writes to the leader).
pub async fn leader(State(node): State<Arc<MasterNode>>) -> (StatusCode, Json<Health>) {
    let h = health_of(&node);
    let m = node.metrics();
    let leads = m.state == ServerState::Leader && m.current_leader == Some(node.id);
    (if leads { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(h))
}

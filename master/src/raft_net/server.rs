//! The incoming side: `/raft/*` routes, all behind the cluster-secret check.
//!
//! - `append`, `vote`, `pre-vote`, `transfer-leader`: openraft RPC, JSON in and out.
//! - `snapshot`: a framed binary body (see [`super::frame_snapshot`]).
//! - `propose`: a write forwarded by a follower; answered by this node only if it leads.
//! - `read-index`: the leader's linearizable read point for a follower's read.
//! - `hello`: who is here, for cluster formation.
//! - `clock`: this master's scheduler clock, for the leader's clock check (not `/healthz`:
//!   that is the load balancer's, and answers without the secret).
//! - whatever routes `boot` hands in (`membership`: a membership change forwarded to the
//!   leader), behind the same secret check.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use axum::Json;
use axum::Router;
use openraft::raft::AppendEntriesRequest;
use openraft::raft::TransferLeaderRequest;
use openraft::raft::VoteRequest;
use raft_store::typ::Snapshot;
use raft_store::typ::SnapshotMeta;
use raft_store::typ::Vote;
use raft_store::Command;
use raft_store::TypeConfig;
use serde::Deserialize;
use serde::Serialize;

use super::ClockReading;
use crate::node::MasterNode;
use crate::propose::ProposeReply;

/// Largest Raft request body: snapshots and entries carry eggs.
const RAFT_BODY_LIMIT: usize = 1024 * 1024 * 1024;

/// What `/raft/hello` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub node_id: u64,
    pub initialized: bool,
}

/// The `/raft/*` routes, with `extra` (more peer-only routes, stated by their owners) merged in
/// behind the cluster-secret check.
pub fn router(node: Arc<MasterNode>, extra: Router<Arc<MasterNode>>) -> Router {
    let secret = node.config.cluster_secret.clone();
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/pre-vote", post(pre_vote))
        .route("/raft/transfer-leader", post(transfer_leader))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/propose", post(propose))
        .route("/raft/read-index", post(read_index))
        .route("/raft/hello", get(hello))
        .route("/raft/clock", get(clock))
        .merge(extra)
        .layer(DefaultBodyLimit::max(RAFT_BODY_LIMIT))
        // `route_layer`: only `/raft/*` routes need the secret; unknown paths stay plain 404s.
        .route_layer(axum::middleware::from_fn_with_state(secret, super::auth::require_cluster_secret))
        .with_state(node)
}

async fn append(State(n): State<Arc<MasterNode>>, Json(req): Json<AppendEntriesRequest<TypeConfig>>) -> Response {
    let res = n.raft.append_entries(req).await;
    n.heard_from_leader();
    Json(res).into_response()
}

async fn vote(State(n): State<Arc<MasterNode>>, Json(req): Json<VoteRequest<TypeConfig>>) -> Response {
    Json(n.raft.vote(req).await).into_response()
}

async fn pre_vote(State(n): State<Arc<MasterNode>>, Json(req): Json<VoteRequest<TypeConfig>>) -> Response {
    Json(n.raft.pre_vote(req).await).into_response()
}

async fn transfer_leader(
    State(n): State<Arc<MasterNode>>,
    Json(req): Json<TransferLeaderRequest<TypeConfig>>,
) -> Response {
    let res: Result<_, openraft::errors::RaftError<TypeConfig>> =
        n.raft.handle_transfer_leader(req).await.map_err(openraft::errors::RaftError::Fatal);
    Json(res).into_response()
}

async fn snapshot(State(n): State<Arc<MasterNode>>, body: Bytes) -> Response {
    let Some((meta, data)) = super::unframe_snapshot(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed snapshot body\n").into_response();
    };
    let (vote, meta): (Vote, SnapshotMeta) = match serde_json::from_slice(meta) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("malformed snapshot meta: {e}\n")).into_response(),
    };
    // Refuse a damaged snapshot before openraft sees it (it would fail the install fatally).
    if let Err(e) = raft_store::snapshot::decode(data) {
        tracing::warn!(cause = %e, "refused a snapshot that does not decode");
        return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response();
    }
    let snapshot = Snapshot { meta, snapshot: data.to_vec() };
    let res: Result<_, String> = n.raft.install_full_snapshot(vote, snapshot).await.map_err(|e| e.to_string());
    Json(res).into_response()
}

async fn propose(State(n): State<Arc<MasterNode>>, Json(cmd): Json<Command>) -> Json<ProposeReply> {
    Json(n.proposer.propose_local(cmd).await)
}

async fn read_index(State(n): State<Arc<MasterNode>>) -> Response {
    Json(n.proposer.read_index_local().await).into_response()
}

async fn hello(State(n): State<Arc<MasterNode>>) -> Json<Hello> {
    let initialized = n.raft.is_initialized().await.unwrap_or(false);
    Json(Hello { node_id: n.id, initialized })
}

async fn clock(State(n): State<Arc<MasterNode>>) -> Json<ClockReading> {
    Json(ClockReading { node_id: n.id, clock_ms: n.clock.now_us() / 1000 })
}

//! `/api/v1/debug/*`: debug aids for the fault-injection suite. Admin only, and each one exists
//! only when the configuration enables it (404 otherwise, as if the route were absent).
//!
//! - `POST /debug/clock {"offset_ms": n}`: shift this master's scheduler clock by `n` ms from the
//!   system clock (`[scheduler] debug_clock = true`). Answers the offset now in force.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::routing::post;
use axum::Extension;
use axum::Json;
use axum::Router;
use raft_store::state::Role;
use serde::Deserialize;
use serde::Serialize;

use super::auth::Principal;
use super::error::ApiError;
use crate::node::MasterNode;
use crate::scheduler::clock::Clock;

pub fn routes() -> Router<Arc<MasterNode>> {
    Router::new().route("/debug/clock", post(set_clock))
}

/// Body of `POST /debug/clock`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockOffset {
    /// Milliseconds added to the system clock (negative: behind); 0 resets.
    pub offset_ms: i64,
}

/// What `POST /debug/clock` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockState {
    pub offset_ms: i64,
    /// The scheduler's "now" after the change, Unix ms.
    pub now_ms: i64,
}

/// Largest accepted offset: a year either way.
const MAX_OFFSET_MS: i64 = 366 * 24 * 3600 * 1000;

#[utoipa::path(post, path = "/api/v1/debug/clock", tag = "cluster", request_body = ClockOffset,
    responses((status = 200, body = ClockState), (status = 404, description = "debug_clock is off")),
    security(("bearer" = [])))]
pub async fn set_clock(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    body: Result<Json<ClockOffset>, JsonRejection>,
) -> Result<Json<ClockState>, ApiError> {
    if !node.clock.adjustable() {
        return Err(ApiError::NotFound("/api/v1/debug/clock".into()));
    }
    p.require(Role::Admin)?;
    let Json(body) = body.map_err(|e| ApiError::bad("offset_ms", e.body_text()))?;
    if body.offset_ms.abs() > MAX_OFFSET_MS {
        return Err(ApiError::bad("offset_ms", format!("must be within ±{MAX_OFFSET_MS} ms")));
    }
    node.clock.set_offset_ms(body.offset_ms).map_err(|_| ApiError::NotFound("/api/v1/debug/clock".into()))?;
    tracing::warn!(node_id = node.id, offset_ms = body.offset_ms, by = %p.username, "scheduler clock offset set (debug)");
    Ok(Json(ClockState { offset_ms: node.clock.offset_ms(), now_ms: node.clock.now_ms() }))
}

//! `/api/v1/debug/*`: debug aids for the fault-injection suite. Admin only, and each one exists
//! only when the configuration enables it (404 otherwise, as if the route were absent).
//!
//! - `POST /debug/clock {"offset_ms": n}`: shift this master's scheduler clock by `n` ms from the
//!   system clock (`[scheduler] debug_clock = true`). Answers the offset now in force.

use std::sync::Arc;

use axum::extract::State;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde::Serialize;

use super::error::ApiError;
use super::extract::JsonBody;
use super::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;

pub fn routes() -> Routes {
    Routes::new().add(Verb::Post, "/api/v1/debug/clock", set_clock)
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

#[utoipa::path(post, path = "/api/v1/debug/clock", tag = "cluster", request_body = ClockOffset,
    responses((status = 200, body = ClockState), (status = 400), (status = 404, description = "debug_clock is off")),
    security(("bearer" = [])))]
pub async fn set_clock(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    body: Result<JsonBody<ClockOffset>, ApiError>,
) -> Result<Json<ClockState>, ApiError> {
    // Absent when off: say so before judging the body.
    if !ops::debug::clock_adjustable(&node) {
        return Err(ApiError::NotFound("/api/v1/debug/clock".into()));
    }
    let JsonBody(body) = body?;
    let s = ops::debug::set_clock_offset(&node, body.offset_ms, &p)?;
    Ok(Json(ClockState { offset_ms: s.offset_ms, now_ms: s.now_ms }))
}

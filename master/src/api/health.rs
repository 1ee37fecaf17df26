//! `/healthz` and `/leader`: what a load balancer asks. No auth, no secrets in the answers.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::node::MasterNode;
use crate::ops;
use crate::views::cluster::HealthView;

/// 200 when this master is in a cluster with a known leader and not lagging, else 503.
pub async fn healthz(State(node): State<Arc<MasterNode>>) -> (StatusCode, Json<HealthView>) {
    let h = ops::cluster::health(&node);
    let status = if h.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(HealthView::from(&h)))
}

/// 200 only on the leader (for a load balancer that sends writes to the leader).
pub async fn leader(State(node): State<Arc<MasterNode>>) -> (StatusCode, Json<HealthView>) {
    let h = ops::cluster::health(&node);
    (if h.leads { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(HealthView::from(&h)))
}

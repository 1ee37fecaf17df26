//! The master's HTTP API.
//!
//! - `/healthz`, `/leader`: for load balancers, no auth ([`health`]).
//! - `/api/v1/...`: JSON, bearer-token auth ([`auth`]), errors typed by [`error::ApiError`].
//!   One module per resource group: [`cluster`], [`nodes`], [`projects`], [`jobs`], [`schedules`]; shared
//!   helpers in [`read`]; the OpenAPI document in [`openapi`] (`/api/v1/openapi.json`, no auth).

pub mod auth;
pub mod cluster;
pub mod debug;
pub mod error;
pub mod health;
pub mod jobs;
pub mod nodes;
pub mod openapi;
pub mod projects;
pub mod read;
pub mod schedules;

use std::sync::Arc;

use axum::routing::delete;
use axum::routing::get;
use axum::Router;

use crate::node::MasterNode;

/// Builds the API router (without `/raft/*`, which `raft_net::server` adds).
pub fn router(node: Arc<MasterNode>) -> Router {
    let v1 = Router::new()
        .route("/cluster", get(cluster::get_cluster))
        .route("/cluster/digest", get(cluster::get_digest))
        .route("/cluster/members", axum::routing::post(cluster::add_member))
        .route("/cluster/members/{id}", delete(cluster::remove_member))
        .merge(nodes::routes())
        .merge(projects::routes(node.config.max_egg_bytes))
        .merge(jobs::routes())
        .merge(schedules::routes())
        .merge(debug::routes())
        .layer(axum::middleware::from_fn_with_state(node.clone(), auth::require_token))
        // Added after the auth layer, so it is public.
        .route("/openapi.json", get(openapi::serve));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/leader", get(health::leader))
        .nest("/api/v1", v1)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(node)
}

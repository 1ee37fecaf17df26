//! `/api/v1/nodes`: the slaves the cluster drives (register, update, remove, list with status
//! and this master's latest metrics sample), and `/nodes/{id}/metrics` (this master's series).

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::Consistency;
use super::extract::ConsistencyQuery;
use super::extract::JsonBody;
use super::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::slaves::metrics::Series;
use crate::views::nodes::NodeView;

pub fn routes() -> Routes {
    Routes::new()
        .add(Verb::Get, "/api/v1/nodes", list)
        .add(Verb::Post, "/api/v1/nodes", create)
        .add(Verb::Get, "/api/v1/nodes/{id}", show)
        .add(Verb::Patch, "/api/v1/nodes/{id}", update)
        .add(Verb::Delete, "/api/v1/nodes/{id}", remove)
        .add(Verb::Get, "/api/v1/nodes/{id}/metrics", metrics)
}

/// Registering a slave.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNode {
    /// Unique name: letters, digits, `_ - .`.
    pub id: String,
    /// Base URL of its Scrapyd API, e.g. `http://10.0.0.5:6800`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub max_proc: Option<u32>,
}

/// Changing a slave; absent fields stay as they are (`password: ""` removes it).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodePatch {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tags: Option<Vec<String>>,
    pub max_proc: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", params(ConsistencyQuery),
    responses((status = 200, body = [NodeView])), security(("bearer" = [])))]
pub async fn list(State(node): State<Arc<MasterNode>>, c: Consistency) -> Result<Json<Vec<NodeView>>, ApiError> {
    let nodes = ops::nodes::list(&node, c).await?;
    Ok(Json(nodes.iter().map(NodeView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path), ConsistencyQuery),
    responses((status = 200, body = NodeView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Path(id): Path<String>,
    c: Consistency,
) -> Result<Json<NodeView>, ApiError> {
    Ok(Json((&ops::nodes::get(&node, &id, c).await?).into()))
}

#[utoipa::path(post, path = "/api/v1/nodes", tag = "nodes", request_body = NewNode,
    responses((status = 201, body = NodeView), (status = 400), (status = 409)), security(("bearer" = [])))]
pub async fn create(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<NewNode>,
) -> Result<(StatusCode, Json<NodeView>), ApiError> {
    let req = ops::nodes::NewNode {
        id: req.id,
        url: req.url,
        username: req.username,
        password: req.password,
        tags: req.tags,
        max_proc: req.max_proc,
    };
    let created = ops::nodes::register(&node, req, &p).await?;
    Ok((StatusCode::CREATED, Json((&created).into())))
}

#[utoipa::path(patch, path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path)), request_body = NodePatch,
    responses((status = 200, body = NodeView), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn update(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<NodePatch>,
) -> Result<Json<NodeView>, ApiError> {
    let patch = ops::nodes::NodePatch {
        url: patch.url,
        username: patch.username,
        password: patch.password,
        tags: patch.tags,
        max_proc: patch.max_proc,
    };
    Ok(Json((&ops::nodes::patch(&node, &id, patch, &p).await?).into()))
}

#[utoipa::path(delete, path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::nodes::remove(&node, &id, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}/metrics", tag = "nodes", params(("id" = String, Path)),
    responses((status = 200, body = Series), (status = 404)), security(("bearer" = [])))]
pub async fn metrics(State(node): State<Arc<MasterNode>>, Path(id): Path<String>) -> Result<Json<Series>, ApiError> {
    Ok(Json(ops::nodes::metrics(&node, &id)?))
}

//! `/api/v1/nodes`: the slaves the cluster drives (register, update, remove, list with status
//! and this master's latest metrics sample), and `/nodes/{id}/metrics` (this master's series).

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Extension;
use axum::Json;
use axum::Router;
use raft_store::state::Node;
use raft_store::state::NodeSpec;
use raft_store::state::Role;
use raft_store::state::Secret;
use raft_store::Command;
use serde::Deserialize;
use serde::Serialize;

use super::auth::Principal;
use super::error::ApiError;
use super::read::check_name;
use super::read::write;
use super::read::Consistency;
use crate::metrics_poller::Sample;
use crate::metrics_poller::Series;
use crate::node::MasterNode;

pub fn routes() -> Router<Arc<MasterNode>> {
    Router::new()
        .route("/nodes", get(list).post(create))
        .route("/nodes/{id}", get(show).patch(update).delete(remove))
        .route("/nodes/{id}/metrics", get(metrics))
}

/// A slave as the API shows it. The password is never returned.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeView {
    pub id: String,
    pub url: String,
    pub username: Option<String>,
    /// Whether a basic-auth password is stored.
    pub has_password: bool,
    pub tags: Vec<String>,
    pub max_proc: Option<u32>,
    /// `{"kind": "unknown" | "up" | "down", "since_ms"?, "reason"?}` as committed by the leader.
    #[schema(value_type = Object)]
    pub status: serde_json::Value,
    pub registered_at_ms: u64,
    /// This master's newest metrics sample of the slave (none for real Scrapyd).
    pub latest_metrics: Option<Sample>,
}

fn view(node: &MasterNode, n: &Node) -> NodeView {
    NodeView {
        id: n.id.clone(),
        url: n.spec.url.clone(),
        username: n.spec.username.clone(),
        has_password: n.spec.password.is_some(),
        tags: n.spec.tags.clone(),
        max_proc: n.spec.max_proc,
        status: serde_json::to_value(&n.status).unwrap_or_default(),
        registered_at_ms: n.registered_at_ms,
        latest_metrics: node.slave_metrics.latest(&n.id),
    }
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

fn check_spec(spec: &NodeSpec) -> Result<(), ApiError> {
    let url = reqwest::Url::parse(&spec.url).map_err(|e| ApiError::bad("url", format!("{:?}: {e}", spec.url)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::bad("url", format!("{:?} must be an http(s) URL with a host", spec.url)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::bad("url", "put credentials in username/password, not in the URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ApiError::bad("url", "must not have a query or fragment"));
    }
    if spec.password.is_some() && spec.username.is_none() {
        return Err(ApiError::bad("username", "required when a password is given"));
    }
    if spec.username.as_ref().is_some_and(|u| u.is_empty() || u.contains(':')) {
        return Err(ApiError::bad("username", "must be non-empty and contain no ':'"));
    }
    for t in &spec.tags {
        check_name("tags", t)?;
    }
    if spec.tags.len() > 32 {
        return Err(ApiError::bad("tags", "at most 32 tags"));
    }
    if spec.max_proc.is_some_and(|m| m == 0 || m > 10_000) {
        return Err(ApiError::bad("max_proc", "must be between 1 and 10000"));
    }
    Ok(())
}

fn get_node(node: &MasterNode, id: &str) -> Result<Node, ApiError> {
    node.state.read(|s| s.nodes.get(&id.to_string()).cloned()).ok_or_else(|| ApiError::NotFound(format!("node {id}")))
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes", params(Consistency),
    responses((status = 200, body = [NodeView])), security(("bearer" = [])))]
pub async fn list(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Query(c): Query<Consistency>,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    p.require(Role::Viewer)?;
    c.wait(&node).await?;
    let nodes = node.state.read(|s| s.nodes.values().cloned().collect::<Vec<_>>());
    Ok(Json(nodes.iter().map(|n| view(&node, n)).collect()))
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path), Consistency),
    responses((status = 200, body = NodeView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(c): Query<Consistency>,
) -> Result<Json<NodeView>, ApiError> {
    p.require(Role::Viewer)?;
    c.wait(&node).await?;
    Ok(Json(view(&node, &get_node(&node, &id)?)))
}

#[utoipa::path(post, path = "/api/v1/nodes", tag = "nodes", request_body = NewNode,
    responses((status = 201, body = NodeView), (status = 400), (status = 409)), security(("bearer" = [])))]
pub async fn create(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Json(req): Json<NewNode>,
) -> Result<(StatusCode, Json<NodeView>), ApiError> {
    p.require(Role::Admin)?;
    check_name("id", &req.id)?;
    let spec = NodeSpec {
        url: req.url.trim_end_matches('/').to_string(),
        username: req.username,
        password: req.password.map(Secret),
        tags: req.tags,
        max_proc: req.max_proc,
    };
    check_spec(&spec)?;
    write(&node, Command::RegisterNode { id: req.id.clone(), spec }, &format!("node {}", req.id)).await?;
    Ok((StatusCode::CREATED, Json(view(&node, &get_node(&node, &req.id)?))))
}

#[utoipa::path(patch, path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path)), request_body = NodePatch,
    responses((status = 200, body = NodeView), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn update(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Json(patch): Json<NodePatch>,
) -> Result<Json<NodeView>, ApiError> {
    p.require(Role::Admin)?;
    let mut spec = get_node(&node, &id)?.spec;
    if let Some(u) = patch.url {
        spec.url = u.trim_end_matches('/').to_string();
    }
    if let Some(u) = patch.username {
        spec.username = (!u.is_empty()).then_some(u);
    }
    if let Some(pw) = patch.password {
        spec.password = (!pw.is_empty()).then_some(Secret(pw));
    }
    if let Some(t) = patch.tags {
        spec.tags = t;
    }
    if let Some(m) = patch.max_proc {
        spec.max_proc = Some(m);
    }
    check_spec(&spec)?;
    write(&node, Command::UpdateNode { id: id.clone(), spec }, &format!("node {id}")).await?;
    Ok(Json(view(&node, &get_node(&node, &id)?)))
}

#[utoipa::path(delete, path = "/api/v1/nodes/{id}", tag = "nodes", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Admin)?;
    write(&node, Command::RemoveNode { id: id.clone() }, &format!("node {id}")).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}/metrics", tag = "nodes", params(("id" = String, Path)),
    responses((status = 200, body = Series), (status = 404)), security(("bearer" = [])))]
pub async fn metrics(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Series>, ApiError> {
    p.require(Role::Viewer)?;
    get_node(&node, &id)?;
    Ok(Json(node.slave_metrics.series(&id)))
}

//! `/api/v1/cluster`: who is in the cluster, the state digest, and adding or removing masters
//! at runtime (the operations are `ops::cluster`).

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State;
use axum::Extension;
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::JsonBody;
use super::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::views::cluster::ClusterInfo;
use crate::views::cluster::StateDigest;

pub fn routes() -> Routes {
    Routes::new()
        .add(Verb::Get, "/api/v1/cluster", get_cluster)
        .add(Verb::Get, "/api/v1/cluster/digest", get_digest)
        .add(Verb::Post, "/api/v1/cluster/members", add_member)
        .add(Verb::Delete, "/api/v1/cluster/members/{id}", remove_member)
}

fn info(node: &MasterNode) -> Json<ClusterInfo> {
    Json(ops::cluster::status(node).into())
}

#[utoipa::path(get, path = "/api/v1/cluster", tag = "cluster",
    responses((status = 200, body = ClusterInfo)), security(("bearer" = [])))]
pub async fn get_cluster(State(node): State<Arc<MasterNode>>) -> Json<ClusterInfo> {
    info(&node)
}

#[utoipa::path(get, path = "/api/v1/cluster/digest", tag = "cluster",
    responses((status = 200, body = StateDigest)), security(("bearer" = [])))]
pub async fn get_digest(State(node): State<Arc<MasterNode>>) -> Result<Json<StateDigest>, ApiError> {
    Ok(Json(ops::cluster::digest(&node).await?.into()))
}

/// Adding a master: its id and the base URL the others reach it at.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AddMember {
    pub id: u64,
    pub addr: String,
}

#[utoipa::path(post, path = "/api/v1/cluster/members", tag = "cluster", request_body = AddMember,
    responses((status = 200, body = ClusterInfo), (status = 400), (status = 409), (status = 503)), security(("bearer" = [])))]
pub async fn add_member(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<AddMember>,
) -> Result<Json<ClusterInfo>, ApiError> {
    ops::cluster::add_member(&node, req.id, req.addr, &p).await?;
    Ok(info(&node))
}

#[utoipa::path(delete, path = "/api/v1/cluster/members/{id}", tag = "cluster", params(("id" = u64, Path)),
    responses((status = 200, body = ClusterInfo), (status = 404), (status = 409), (status = 503)), security(("bearer" = [])))]
pub async fn remove_member(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<u64>,
) -> Result<Json<ClusterInfo>, ApiError> {
    ops::cluster::remove_member(&node, id, &p).await?;
    Ok(info(&node))
}

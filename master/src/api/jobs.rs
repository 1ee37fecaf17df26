//! `/api/v1/jobs`: the replicated job table (what ran where and how it ended, as the leader's
//! collector saw it; reads are `ops::jobs`) and cancelling a job on its slave.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::extract::State;
use axum::Extension;
use axum::Json;
use raft_store::state::JobRecord;
use raft_store::state::Role;
use serde::Deserialize;
use serde::Serialize;

use super::error::ApiError;
use super::extract::Consistency;
use super::extract::ConsistencyQuery;
use super::extract::QueryParams;
use super::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::ops::jobs::JobFilter;
use crate::slave_client::SlaveClient;
use crate::slave_client::SlaveError;
use crate::views::jobs::JobStateView;
use crate::views::jobs::JobView;

pub fn routes() -> Routes {
    Routes::new().add(Verb::Get, "/api/v1/jobs", list).add(Verb::Get, "/api/v1/jobs/{id}", show).add(
        Verb::Post,
        "/api/v1/jobs/{id}/cancel",
        cancel,
    )
}

/// Filters of `GET /jobs`; newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `pending`, `running`, `finished` or `lost`.
    #[param(value_type = Option<String>)]
    pub state: Option<JobStateView>,
    pub node: Option<String>,
    pub project: Option<String>,
    pub schedule: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery, ConsistencyQuery),
    responses((status = 200, body = [JobView]), (status = 400)), security(("bearer" = [])))]
pub async fn list(
    State(node): State<Arc<MasterNode>>,
    QueryParams(q): QueryParams<JobQuery>,
    c: Consistency,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let filter = JobFilter {
        state: q.state.map(Into::into),
        node: q.node,
        project: q.project,
        schedule: q.schedule,
        limit: q.limit,
    };
    Ok(Json(ops::jobs::list(&node, &filter, c).await?.iter().map(JobView::from).collect()))
}

fn get_job(node: &MasterNode, id: &str) -> Result<JobRecord, ApiError> {
    Ok(ops::jobs::get_local(node, id)?)
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path), ConsistencyQuery),
    responses((status = 200, body = JobView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Path(id): Path<String>,
    c: Consistency,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json((&ops::jobs::get(&node, &id, c).await?).into()))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cancelled {
    pub job_id: String,
    pub node_id: String,
    /// The state the slave says the job was in (`pending`, `running`, or empty if it had ended).
    pub prevstate: String,
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = Cancelled), (status = 404), (status = 409, description = "already ended"),
        (status = 502, description = "the slave refused or did not answer")), security(("bearer" = [])))]
pub async fn cancel(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Cancelled>, ApiError> {
    p.require(Role::Operator)?;
    let job = get_job(&node, &id)?;
    if job.state.is_terminal() {
        return Err(ApiError::Conflict(format!("job {id} already ended ({:?})", job.state)));
    }
    let slave = node
        .state
        .read(|s| s.nodes.get(&job.node_id).cloned())
        .ok_or_else(|| ApiError::Conflict(format!("job {id} ran on {}, which is no longer registered", job.node_id)))?;
    let client =
        SlaveClient::new(node.http.clone(), &slave, Duration::from_millis(node.config.slaves.request_timeout_ms));
    let prevstate = client.cancel(&job.project, &id).await.map_err(|e| match e {
        SlaveError::Api(m) => ApiError::Upstream(format!("{} refused: {m}", job.node_id)),
        other => ApiError::Upstream(format!("{}: {other}", job.node_id)),
    })?;
    tracing::info!(job = %id, node = %job.node_id, %prevstate, by = %p.username, "job cancelled");
    Ok(Json(Cancelled { job_id: id, node_id: job.node_id, prevstate }))
}

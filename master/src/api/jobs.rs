//! `/api/v1/jobs`: the replicated job table (what ran where and how it ended, as the leader's
//! collector saw it) and cancelling a job on its slave.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::routing::get;
use axum::routing::post;
use axum::Extension;
use axum::Json;
use axum::Router;
use raft_store::state::JobRecord;
use raft_store::state::JobState;
use raft_store::state::Role;
use serde::Deserialize;
use serde::Serialize;

use super::auth::Principal;
use super::error::ApiError;
use super::read::Consistency;
use crate::node::MasterNode;
use crate::slave_client::SlaveClient;
use crate::slave_client::SlaveError;

pub fn routes() -> Router<Arc<MasterNode>> {
    Router::new().route("/jobs", get(list)).route("/jobs/{id}", get(show)).route("/jobs/{id}/cancel", post(cancel))
}

/// Filters of `GET /jobs`; newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    /// `pending`, `running`, `finished` or `lost`.
    pub state: Option<String>,
    pub node: Option<String>,
    pub project: Option<String>,
    pub schedule: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
    pub consistency: Option<String>,
}

fn parse_state(s: &str) -> Result<JobState, ApiError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| ApiError::bad("state", format!("{s:?} is not one of pending, running, finished, lost")))
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery),
    responses((status = 200, body = [Object])), security(("bearer" = [])))]
pub async fn list(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<JobQuery>,
) -> Result<Json<Vec<JobRecord>>, ApiError> {
    p.require(Role::Viewer)?;
    let state = q.state.as_deref().map(parse_state).transpose()?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad("limit", "must be between 1 and 1000"));
    }
    Consistency { consistency: q.consistency.clone() }.wait(&node).await?;
    let mut jobs: Vec<JobRecord> = node.state.read(|s| {
        s.jobs
            .values()
            .filter(|j| state.is_none_or(|st| j.state == st))
            .filter(|j| q.node.as_ref().is_none_or(|n| &j.node_id == n))
            .filter(|j| q.project.as_ref().is_none_or(|p| &j.project == p))
            .filter(|j| q.schedule.as_ref().is_none_or(|sc| j.schedule_id.as_ref() == Some(sc)))
            .cloned()
            .collect()
    });
    jobs.sort_by(|a, b| (b.created_at_ms, &b.job_id).cmp(&(a.created_at_ms, &a.job_id)));
    jobs.truncate(limit);
    Ok(Json(jobs))
}

fn get_job(node: &MasterNode, id: &str) -> Result<JobRecord, ApiError> {
    node.state.read(|s| s.jobs.get(&id.to_string()).cloned()).ok_or_else(|| ApiError::NotFound(format!("job {id}")))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path), Consistency),
    responses((status = 200, body = Object), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(c): Query<Consistency>,
) -> Result<Json<JobRecord>, ApiError> {
    p.require(Role::Viewer)?;
    c.wait(&node).await?;
    Ok(Json(get_job(&node, &id)?))
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

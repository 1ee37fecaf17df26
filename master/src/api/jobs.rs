//! `/api/v1/jobs`: the replicated job table (what ran where and how it ended, as the leader's
//! collector saw it) and cancelling a job: a committed `CancelJob` that the leader carries out
//! (both are `ops::jobs`).

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
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
use crate::ops::jobs::CancelOutcome;
use crate::ops::jobs::JobFilter;
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

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", params(("id" = String, Path), ConsistencyQuery),
    responses((status = 200, body = JobView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Path(id): Path<String>,
    c: Consistency,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json((&ops::jobs::get(&node, &id, c).await?).into()))
}

/// What `POST /jobs/{id}/cancel` answers.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cancelled {
    pub job_id: String,
    /// The slave the job was on; `null` if the job was dropped before any slave had it.
    pub node_id: Option<String>,
    /// What the slave said the job was (`pending`, `running`, or empty if it had ended);
    /// `pending` for a job dropped before delivery; `null` (with 202) while the leader has not
    /// carried the cancel out yet.
    pub prevstate: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, body = Cancelled, description = "cancelled on its slave, or dropped before delivery"),
        (status = 202, body = Cancelled, description = "the cancel is committed; the leader has not carried it out yet"),
        (status = 404), (status = 409, description = "already ended, or never delivered"),
        (status = 502, description = "the slave refused or did not answer")), security(("bearer" = [])))]
pub async fn cancel(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Cancelled>), ApiError> {
    let (status, body) = match ops::jobs::cancel(&node, &id, &p).await? {
        CancelOutcome::Dropped => {
            (StatusCode::OK, Cancelled { job_id: id, node_id: None, prevstate: Some("pending".into()) })
        }
        CancelOutcome::Cancelled { node_id, prevstate } => {
            (StatusCode::OK, Cancelled { job_id: id, node_id: Some(node_id), prevstate: Some(prevstate) })
        }
        CancelOutcome::Committed { node_id } => {
            (StatusCode::ACCEPTED, Cancelled { job_id: id, node_id: Some(node_id), prevstate: None })
        }
    };
    Ok((status, Json(body)))
}

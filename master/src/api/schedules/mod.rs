//! `/api/v1/schedules`: cron and one-off schedules (create, change with optimistic versions,
//! pause, resume, delete), "run now", and each schedule's fire history from the fire ledger.
//!
//! - [`validate`]: request shapes, the JSON extractor with our 400s, and the spec checks.
//! - [`view`]: response shapes (next fire times from `cron_eval`, fire records).
//!
//! Every write goes through `Proposer::propose`, which returns once this master applied it, so
//! the answer is read from local state and a client reads its write wherever it sent it.

pub mod validate;
pub mod view;

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::routing::post;
use axum::Extension;
use axum::Json;
use axum::Router;
use raft_store::state::Role;
use raft_store::state::Schedule;
use raft_store::state::ScheduleSpec;
use raft_store::Applied;
use raft_store::Command;
use raft_store::Rejection;
use raft_store::Tick;
use serde::Deserialize;
use serde::Serialize;

use self::validate::check_spec;
use self::validate::JsonBody;
use self::validate::NewSchedule;
use self::validate::SchedulePatch;
use self::view::fire_view;
use self::view::schedule_view;
use self::view::FireView;
use self::view::ScheduleView;
use super::auth::Principal;
use super::error::ApiError;
use super::read::write;
use super::read::Consistency;
use crate::node::MasterNode;
use crate::propose::now_ms;

/// Read-merge-write rounds of a PATCH without `expected_version` before giving up with 409.
const PATCH_ATTEMPTS: usize = 5;
/// Fire history page size: default and maximum.
const FIRES_DEFAULT: usize = 100;
const FIRES_MAX: usize = 1000;

pub fn routes() -> Router<Arc<MasterNode>> {
    Router::new()
        .route("/schedules", get(list).post(create))
        .route("/schedules/{id}", get(show).patch(update).delete(remove))
        .route("/schedules/{id}/pause", post(pause))
        .route("/schedules/{id}/resume", post(resume))
        .route("/schedules/{id}/run", post(run_now))
        .route("/schedules/{id}/fires", get(fires))
}

fn now() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

fn get_schedule(node: &MasterNode, id: &str) -> Result<Schedule, ApiError> {
    node.state
        .read(|s| s.schedules.get(&id.to_string()).cloned())
        .ok_or_else(|| ApiError::NotFound(format!("schedule {id}")))
}

/// Checks `spec` on this master's state; if that refuses it, checks again once this master
/// caught up with the leader (a project or slave just added through another master must count).
async fn check(node: &MasterNode, spec: &ScheduleSpec, previous: Option<&ScheduleSpec>) -> Result<(), ApiError> {
    if node.state.read(|s| check_spec(s, spec, previous, now())).is_ok() {
        return Ok(());
    }
    node.proposer.linearizable_barrier().await?;
    node.state.read(|s| check_spec(s, spec, previous, now()))
}

fn view_of(node: &MasterNode, id: &str) -> Result<Json<ScheduleView>, ApiError> {
    Ok(Json(schedule_view(&get_schedule(node, id)?, now())))
}

/// Filters of `GET /schedules`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only schedules of this project.
    pub project: Option<String>,
    /// `local` (default) or `linearizable`.
    pub consistency: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules", params(ListQuery),
    responses((status = 200, body = [ScheduleView])), security(("bearer" = [])))]
pub async fn list(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    p.require(Role::Viewer)?;
    Consistency { consistency: q.consistency.clone() }.wait(&node).await?;
    let mut all: Vec<Schedule> = node.state.read(|s| {
        s.schedules.values().filter(|sc| q.project.as_ref().is_none_or(|p| &sc.spec.project == p)).cloned().collect()
    });
    all.sort_by(|a, b| (a.created_at_ms, a.id.len(), &a.id).cmp(&(b.created_at_ms, b.id.len(), &b.id)));
    let now = now();
    Ok(Json(all.iter().map(|s| schedule_view(s, now)).collect()))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = String, Path), Consistency),
    responses((status = 200, body = ScheduleView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(c): Query<Consistency>,
) -> Result<Json<ScheduleView>, ApiError> {
    p.require(Role::Viewer)?;
    c.wait(&node).await?;
    view_of(&node, &id)
}

#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, body = ScheduleView), (status = 400, description = "names the field; nothing stored")),
    security(("bearer" = [])))]
pub async fn create(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<NewSchedule>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    p.require(Role::Operator)?;
    let (spec, paused) = req.into_spec();
    check(&node, &spec, None).await?;
    let what = format!("schedule {}/{}", spec.project, spec.spider);
    let Applied::Schedule { id, .. } = write(&node, Command::CreateSchedule { spec }, &what).await? else {
        return Err(ApiError::Internal("create_schedule applied without a schedule id".into()));
    };
    if paused {
        write(&node, Command::PauseSchedule { id: id.clone() }, &format!("schedule {id}")).await?;
    }
    tracing::info!(schedule = %id, by = %p.username, "schedule created");
    Ok((StatusCode::CREATED, view_of(&node, &id)?))
}

#[utoipa::path(patch, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    request_body = SchedulePatch,
    responses((status = 200, body = ScheduleView), (status = 400), (status = 404),
        (status = 409, description = "expected_version does not match, or concurrent changes kept winning")),
    security(("bearer" = [])))]
pub async fn update(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<SchedulePatch>,
) -> Result<Json<ScheduleView>, ApiError> {
    p.require(Role::Operator)?;
    let what = format!("schedule {id}");
    for attempt in 0..PATCH_ATTEMPTS {
        if attempt > 0 {
            // Our read was older than the conflicting write: read at the leader's commit point.
            node.proposer.linearizable_barrier().await?;
        }
        let current = get_schedule(&node, &id)?;
        let spec = patch.merge(&current.spec);
        check(&node, &spec, Some(&current.spec)).await?;
        let expected_version = Some(patch.expected_version.unwrap_or(current.version));
        let cmd = Command::UpdateSchedule { id: id.clone(), expected_version, spec };
        let proposed = node.proposer.propose(cmd).await?;
        match proposed.applied {
            Applied::Rejected(Rejection::VersionConflict { .. }) if patch.expected_version.is_none() => continue,
            Applied::Rejected(r) => return Err(ApiError::from_rejection(r, &what)),
            _ => {
                tracing::info!(schedule = %id, by = %p.username, "schedule updated");
                return view_of(&node, &id);
            }
        }
    }
    Err(ApiError::Conflict(format!("{what} kept changing concurrently; retry")))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require(Role::Operator)?;
    write(&node, Command::DeleteSchedule { id: id.clone(), expected_version: None }, &format!("schedule {id}")).await?;
    tracing::info!(schedule = %id, by = %p.username, "schedule deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/pause", tag = "schedules", params(("id" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404)), security(("bearer" = [])))]
pub async fn pause(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    p.require(Role::Operator)?;
    write(&node, Command::PauseSchedule { id: id.clone() }, &format!("schedule {id}")).await?;
    view_of(&node, &id)
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/resume", tag = "schedules", params(("id" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404)), security(("bearer" = [])))]
pub async fn resume(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    p.require(Role::Operator)?;
    write(&node, Command::ResumeSchedule { id: id.clone() }, &format!("schedule {id}")).await?;
    view_of(&node, &id)
}

/// The answer of "run now".
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunNow {
    pub schedule_id: String,
    /// The tick committed for this run (the request's time), Unix ms.
    pub tick_ms: i64,
    /// The job id the slave will run it as.
    pub job_id: String,
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/run", tag = "schedules", params(("id" = String, Path)),
    responses((status = 202, body = RunNow, description = "the fire is committed; the leader dispatches it"),
        (status = 404), (status = 409, description = "paused, changed meanwhile, or a tick at or after now is already decided")),
    security(("bearer" = [])))]
pub async fn run_now(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RunNow>), ApiError> {
    p.require(Role::Operator)?;
    let s = get_schedule(&node, &id)?;
    if s.paused {
        return Err(ApiError::Conflict(format!("schedule {id} is paused; resume it first")));
    }
    let tick_ms = now();
    if let Some(last) = s.last_decided_tick.filter(|t| *t >= tick_ms) {
        return Err(ApiError::Conflict(format!("schedule {id} already has a tick decided at {last}, not before now")));
    }
    let tick = Tick { schedule_id: id.clone(), tick_ms, schedule_version: s.version };
    let proposed = node.proposer.propose(Command::Fire(tick)).await?;
    let job_id = match proposed.applied {
        Applied::Fired { job_id } => job_id,
        Applied::Rejected(Rejection::AlreadyFired { last_decided_tick }) => {
            return Err(ApiError::Conflict(format!(
                "schedule {id} already has a tick decided at {last_decided_tick}, not before now"
            )))
        }
        Applied::Rejected(Rejection::Stale { current_version, paused }) => {
            return Err(ApiError::Conflict(format!(
                "schedule {id} changed meanwhile (version {current_version}, paused {paused}); retry"
            )))
        }
        Applied::Rejected(r) => return Err(ApiError::from_rejection(r, &format!("schedule {id}"))),
        other => return Err(ApiError::Internal(format!("fire applied as {other:?}"))),
    };
    tracing::info!(schedule = %id, tick_ms, job = %job_id, by = %p.username, "schedule run now");
    Ok((StatusCode::ACCEPTED, Json(RunNow { schedule_id: id, tick_ms, job_id })))
}

/// Paging of `GET /schedules/{id}/fires` (newest first).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiresQuery {
    /// At most this many records (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Only ticks strictly before this one (Unix ms): pass the last `tick_ms` of a page.
    pub before: Option<i64>,
    /// `local` (default) or `linearizable`.
    pub consistency: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/fires", tag = "schedules", params(("id" = String, Path), FiresQuery),
    responses((status = 200, body = [FireView]), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn fires(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    Query(q): Query<FiresQuery>,
) -> Result<Json<Vec<FireView>>, ApiError> {
    p.require(Role::Viewer)?;
    let limit = q.limit.unwrap_or(FIRES_DEFAULT);
    if limit == 0 || limit > FIRES_MAX {
        return Err(ApiError::bad("limit", format!("must be between 1 and {FIRES_MAX}")));
    }
    Consistency { consistency: q.consistency.clone() }.wait(&node).await?;
    let (exists, records) = node.state.read(|s| {
        let records: Vec<FireView> = s
            .fires_of(&id)
            .rev()
            .filter(|r| q.before.is_none_or(|b| r.tick_ms < b))
            .take(limit)
            .map(fire_view)
            .collect();
        (s.schedules.contains(&id) || s.fires_of(&id).next().is_some(), records)
    });
    if !exists {
        return Err(ApiError::NotFound(format!("schedule {id}")));
    }
    Ok(Json(records))
}

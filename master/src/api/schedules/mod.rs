//! `/api/v1/schedules`: cron and one-off schedules (create, change with optimistic versions,
//! pause, resume, delete), "run now", and each schedule's fire history. The operations are
//! `ops::schedules`; answers are `views::schedules` and `views::fires`.
//!
//! - [`requests`]: the request bodies.

pub mod requests;

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use raft_store::state::Schedule;
use serde::Deserialize;

use self::requests::NewSchedule;
use self::requests::SchedulePatch;
use super::error::ApiError;
use super::extract::Consistency;
use super::extract::ConsistencyQuery;
use super::extract::JsonBody;
use super::extract::QueryParams;
use super::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::ops::schedules::SpecPatch;
use crate::views::fires::fire_view;
use crate::views::fires::FireView;
use crate::views::schedules::schedule_view;
use crate::views::schedules::RunNow;
use crate::views::schedules::ScheduleView;

pub fn routes() -> Routes {
    Routes::new()
        .add(Verb::Get, "/api/v1/schedules", list)
        .add(Verb::Post, "/api/v1/schedules", create)
        .add(Verb::Get, "/api/v1/schedules/{id}", show)
        .add(Verb::Patch, "/api/v1/schedules/{id}", update)
        .add(Verb::Delete, "/api/v1/schedules/{id}", remove)
        .add(Verb::Post, "/api/v1/schedules/{id}/pause", pause)
        .add(Verb::Post, "/api/v1/schedules/{id}/resume", resume)
        .add(Verb::Post, "/api/v1/schedules/{id}/run", run_now)
        .add(Verb::Get, "/api/v1/schedules/{id}/fires", fires)
}

fn view(s: &Schedule) -> Json<ScheduleView> {
    Json(schedule_view(s, ops::now_ms()))
}

/// Filters of `GET /schedules`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only schedules of this project.
    pub project: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules", params(ListQuery, ConsistencyQuery),
    responses((status = 200, body = [ScheduleView])), security(("bearer" = [])))]
pub async fn list(
    State(node): State<Arc<MasterNode>>,
    QueryParams(q): QueryParams<ListQuery>,
    c: Consistency,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    let all = ops::schedules::list(&node, q.project.as_deref(), c).await?;
    let now = ops::now_ms();
    Ok(Json(all.iter().map(|s| schedule_view(s, now)).collect()))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = String, Path), ConsistencyQuery),
    responses((status = 200, body = ScheduleView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Path(id): Path<String>,
    c: Consistency,
) -> Result<Json<ScheduleView>, ApiError> {
    Ok(view(&ops::schedules::get(&node, &id, c).await?))
}

#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, body = ScheduleView), (status = 400, description = "names the field; nothing stored")),
    security(("bearer" = [])))]
pub async fn create(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<NewSchedule>,
) -> Result<(StatusCode, Json<ScheduleView>), ApiError> {
    let (spec, paused) = req.into_spec();
    let created = ops::schedules::create(&node, spec, paused, &p).await?;
    Ok((StatusCode::CREATED, view(&created)))
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
    Ok(view(&ops::schedules::patch(&node, &id, &SpecPatch::from(patch), &p).await?))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}", tag = "schedules", params(("id" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::schedules::delete(&node, &id, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/pause", tag = "schedules", params(("id" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404)), security(("bearer" = [])))]
pub async fn pause(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    Ok(view(&ops::schedules::pause(&node, &id, &p).await?))
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/resume", tag = "schedules", params(("id" = String, Path)),
    responses((status = 200, body = ScheduleView), (status = 404)), security(("bearer" = [])))]
pub async fn resume(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    Ok(view(&ops::schedules::resume(&node, &id, &p).await?))
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
    let run = ops::schedules::run_now(&node, &id, &p).await?;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

/// Paging of `GET /schedules/{id}/fires` (newest first).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FiresQuery {
    /// At most this many records (default 100, at most 1000).
    pub limit: Option<usize>,
    /// Only ticks strictly before this one (Unix ms): pass the last `tick_ms` of a page.
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/fires", tag = "schedules",
    params(("id" = String, Path), FiresQuery, ConsistencyQuery),
    responses((status = 200, body = [FireView]), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn fires(
    State(node): State<Arc<MasterNode>>,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<FiresQuery>,
    c: Consistency,
) -> Result<Json<Vec<FireView>>, ApiError> {
    let records = ops::schedules::fires(&node, &id, q.limit, q.before, c).await?;
    Ok(Json(records.iter().map(fire_view).collect()))
}

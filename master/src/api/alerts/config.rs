//! `/api/v1/alert-rules`, `/api/v1/silences` and `/api/v1/spider-thresholds`: which events go
//! where, what is muted for a while, and when a finished job counts as a spider error.

use std::sync::Arc;

use alerts::route::Rule;
use alerts::spider_error::SpiderErrorThresholds;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::extract::from_json_strict;
use crate::api::extract::Consistency;
use crate::api::extract::ConsistencyQuery;
use crate::api::extract::JsonBody;
use crate::api::extract::QueryParams;
use crate::api::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::ops::alerts::silences::NewSilence;
use crate::views::alerts::config::silence_view;
use crate::views::alerts::config::MatcherView;
use crate::views::alerts::config::RuleListView;
use crate::views::alerts::config::SilenceListView;
use crate::views::alerts::config::SilenceView;
use crate::views::alerts::config::ThresholdsListView;
use crate::views::alerts::config::ThresholdsView;

pub fn routes() -> Routes {
    Routes::new()
        .add(Verb::Get, "/api/v1/alert-rules", list_rules)
        .add(Verb::Get, "/api/v1/alert-rules/{name}", show_rule)
        .add(Verb::Put, "/api/v1/alert-rules/{name}", put_rule)
        .add(Verb::Delete, "/api/v1/alert-rules/{name}", remove_rule)
        .add(Verb::Get, "/api/v1/silences", list_silences)
        .add(Verb::Post, "/api/v1/silences", create_silence)
        .add(Verb::Get, "/api/v1/silences/{id}", show_silence)
        .add(Verb::Delete, "/api/v1/silences/{id}", expire_silence)
        .add(Verb::Get, "/api/v1/spider-thresholds", list_thresholds)
        .add(Verb::Get, "/api/v1/spider-thresholds/{scope}", show_thresholds)
        .add(Verb::Put, "/api/v1/spider-thresholds/{scope}", put_thresholds)
        .add(Verb::Delete, "/api/v1/spider-thresholds/{scope}", remove_thresholds)
}

// ---- rules ---------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts", params(ConsistencyQuery),
    responses((status = 200, body = RuleListView)), security(("bearer" = [])))]
pub async fn list_rules(State(node): State<Arc<MasterNode>>, c: Consistency) -> Result<Json<RuleListView>, ApiError> {
    Ok(Json(RuleListView { rules: ops::alerts::rules::list(&node, c).await? }))
}

#[utoipa::path(get, path = "/api/v1/alert-rules/{name}", tag = "alerts", params(("name" = String, Path), ConsistencyQuery),
    responses((status = 200, body = Object, description = "the rule (see `RuleListView`)"), (status = 404)),
    security(("bearer" = [])))]
pub async fn show_rule(
    State(node): State<Arc<MasterNode>>,
    Path(name): Path<String>,
    c: Consistency,
) -> Result<Json<Rule>, ApiError> {
    Ok(Json(ops::alerts::rules::get(&node, &name, c).await?))
}

#[utoipa::path(put, path = "/api/v1/alert-rules/{name}", tag = "alerts", params(("name" = String, Path)),
    request_body(content = Object, description = "The rule (see `RuleListView`); `name` may be left out (the \
        path's), and must match the path if given."),
    responses((status = 200, body = Object, description = "created or replaced"),
        (status = 400, description = "invalid, e.g. `channels[1]` names no channel")), security(("bearer" = [])))]
pub async fn put_rule(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(mut body): JsonBody<Value>,
) -> Result<Json<Rule>, ApiError> {
    if let Some(obj) = body.as_object_mut() {
        obj.entry("name").or_insert_with(|| Value::String(name.clone()));
    }
    let rule: Rule = from_json_strict(body)?;
    Ok(Json(ops::alerts::rules::put(&node, &name, rule, &p).await?))
}

#[utoipa::path(delete, path = "/api/v1/alert-rules/{name}", tag = "alerts", params(("name" = String, Path)),
    responses((status = 204), (status = 404)), security(("bearer" = [])))]
pub async fn remove_rule(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::alerts::rules::delete(&node, &name, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- silences ------------------------------------------------------------------------------

/// Filter of `GET /silences`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SilenceQuery {
    /// Only the silences active now (`true`) or the others (`false`).
    pub active: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/silences", tag = "alerts", params(SilenceQuery, ConsistencyQuery),
    responses((status = 200, body = SilenceListView)), security(("bearer" = [])))]
pub async fn list_silences(
    State(node): State<Arc<MasterNode>>,
    QueryParams(q): QueryParams<SilenceQuery>,
    c: Consistency,
) -> Result<Json<SilenceListView>, ApiError> {
    let now = crate::clock::WallClock::now_ms();
    let all = ops::alerts::silences::list(&node, q.active, c).await?;
    Ok(Json(SilenceListView { silences: all.iter().map(|s| silence_view(s, now)).collect() }))
}

#[utoipa::path(get, path = "/api/v1/silences/{id}", tag = "alerts", params(("id" = String, Path), ConsistencyQuery),
    responses((status = 200, body = SilenceView), (status = 404)), security(("bearer" = [])))]
pub async fn show_silence(
    State(node): State<Arc<MasterNode>>,
    Path(id): Path<String>,
    c: Consistency,
) -> Result<Json<SilenceView>, ApiError> {
    let s = ops::alerts::silences::get(&node, &id, c).await?;
    Ok(Json(silence_view(&s, crate::clock::WallClock::now_ms())))
}

/// A new silence; its author is the caller, its id is given by the log (`sil-<index>`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilenceRequest {
    /// Every matcher must match an alert for it to be muted.
    pub matchers: Vec<MatcherView>,
    /// Default: now.
    pub starts_at_ms: Option<u64>,
    /// The end, or give `duration_ms` (after the start) instead.
    pub ends_at_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// Why (required).
    #[serde(default)]
    pub comment: String,
}

#[utoipa::path(post, path = "/api/v1/silences", tag = "alerts", request_body = NewSilenceRequest,
    responses((status = 201, body = SilenceView), (status = 400)), security(("bearer" = [])))]
pub async fn create_silence(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<NewSilenceRequest>,
) -> Result<(StatusCode, Json<SilenceView>), ApiError> {
    let req = NewSilence {
        matchers: req.matchers.into_iter().map(Into::into).collect(),
        starts_at_ms: req.starts_at_ms,
        ends_at_ms: req.ends_at_ms,
        duration_ms: req.duration_ms,
        comment: req.comment,
    };
    let s = ops::alerts::silences::create(&node, req, &p).await?;
    Ok((StatusCode::CREATED, Json(silence_view(&s, crate::clock::WallClock::now_ms()))))
}

#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "alerts", params(("id" = String, Path)),
    responses((status = 204, description = "expired now (it stays listed, inactive)"), (status = 404)),
    security(("bearer" = [])))]
pub async fn expire_silence(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::alerts::silences::expire(&node, &id, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- spider-error thresholds ---------------------------------------------------------------

#[utoipa::path(get, path = "/api/v1/spider-thresholds", tag = "alerts", params(ConsistencyQuery),
    responses((status = 200, body = ThresholdsListView)), security(("bearer" = [])))]
pub async fn list_thresholds(
    State(node): State<Arc<MasterNode>>,
    c: Consistency,
) -> Result<Json<ThresholdsListView>, ApiError> {
    let all = ops::alerts::thresholds::list(&node, c).await?;
    Ok(Json(ThresholdsListView { thresholds: all.iter().map(Into::into).collect() }))
}

#[utoipa::path(get, path = "/api/v1/spider-thresholds/{scope}", tag = "alerts",
    params(("scope" = String, Path, description = "`project:<name>` or `schedule:<id>`"), ConsistencyQuery),
    responses((status = 200, body = ThresholdsView), (status = 404)), security(("bearer" = [])))]
pub async fn show_thresholds(
    State(node): State<Arc<MasterNode>>,
    Path(scope): Path<String>,
    c: Consistency,
) -> Result<Json<ThresholdsView>, ApiError> {
    Ok(Json((&ops::alerts::thresholds::get(&node, &scope, c).await?).into()))
}

#[utoipa::path(put, path = "/api/v1/spider-thresholds/{scope}", tag = "alerts",
    params(("scope" = String, Path, description = "`project:<name>` or `schedule:<id>`")),
    request_body(content = Object, description = "`{\"max_error_lines\", \"min_items\", \"max_runtime_ms\", \
        \"ok_finish_reasons\"}` (see `ThresholdsView`); a field left out takes its default (1 error line, no \
        item minimum, no runtime limit, `[\"finished\"]`), `null` disables its check."),
    responses((status = 200, body = ThresholdsView), (status = 400)), security(("bearer" = [])))]
pub async fn put_thresholds(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(scope): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<ThresholdsView>, ApiError> {
    let t: SpiderErrorThresholds = from_json_strict(body)?;
    Ok(Json((&ops::alerts::thresholds::put(&node, &scope, t, &p).await?).into()))
}

#[utoipa::path(delete, path = "/api/v1/spider-thresholds/{scope}", tag = "alerts", params(("scope" = String, Path)),
    responses((status = 204), (status = 400), (status = 404)), security(("bearer" = [])))]
pub async fn remove_thresholds(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(scope): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::alerts::thresholds::delete(&node, &scope, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

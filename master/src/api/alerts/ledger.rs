//! `/api/v1/alerts` and `/api/v1/alert-deliveries`: what the alert engine recorded and sent.

use std::sync::Arc;

use alerts::event::EventKind;
use axum::extract::Path;
use axum::extract::State;
use axum::Extension;
use axum::Json;
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::api::extract::Consistency;
use crate::api::extract::ConsistencyQuery;
use crate::api::extract::OptionalJsonBody;
use crate::api::extract::QueryParams;
use crate::api::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::ops::alerts::ledger::AlertFilter;
use crate::views::alerts::ledger::AlertDetailView;
use crate::views::alerts::ledger::AlertListView;
use crate::views::alerts::ledger::AlertStatusView;
use crate::views::alerts::ledger::DeliveryFilterView;
use crate::views::alerts::ledger::DeliveryListView;

pub fn routes() -> Routes {
    Routes::new()
        .add(Verb::Get, "/api/v1/alerts", list)
        .add(Verb::Get, "/api/v1/alerts/{id}", show)
        .add(Verb::Post, "/api/v1/alerts/{id}/ack", ack)
        .add(Verb::Post, "/api/v1/alerts/{id}/resolve", resolve)
        .add(Verb::Get, "/api/v1/alert-deliveries", deliveries)
}

/// Filters and paging of `GET /alerts`; newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `firing` or `resolved`.
    #[param(value_type = Option<String>)]
    pub status: Option<AlertStatusView>,
    /// An event kind: `failover`, `spider_error`, `spider_recovered`, `node_down`, `node_up`,
    /// `metric_threshold`, `metric_recovered`, `deploy_failed`, `dispatch_failed`,
    /// `tick_passed_over`.
    #[param(value_type = Option<String>)]
    pub kind: Option<EventKind>,
    /// The alert's `project` label.
    pub project: Option<String>,
    /// The alert's `node` label.
    pub node: Option<String>,
    /// Only acknowledged (`true`) or unacknowledged (`false`) alerts.
    pub acked: Option<bool>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<usize>,
    /// Skip this many first (default 0).
    pub offset: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery, ConsistencyQuery),
    responses((status = 200, body = AlertListView), (status = 400)), security(("bearer" = [])))]
pub async fn list(
    State(node): State<Arc<MasterNode>>,
    QueryParams(q): QueryParams<AlertQuery>,
    c: Consistency,
) -> Result<Json<AlertListView>, ApiError> {
    let filter = AlertFilter {
        status: q.status.map(Into::into),
        kind: q.kind,
        project: q.project,
        node: q.node,
        acked: q.acked,
        limit: q.limit,
        offset: q.offset,
    };
    Ok(Json((&ops::alerts::ledger::list(&node, &filter, c).await?).into()))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "e.g. `node:s1:down:1733300000000`"), ConsistencyQuery),
    responses((status = 200, body = AlertDetailView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Path(id): Path<String>,
    c: Consistency,
) -> Result<Json<AlertDetailView>, ApiError> {
    Ok(Json((&ops::alerts::ledger::get(&node, &id, c).await?).into()))
}

/// The optional body of ack and resolve.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ByHandRequest {
    /// Why (shown with the alert). Default empty.
    #[serde(default)]
    pub comment: String,
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", params(("id" = String, Path)),
    request_body(content = Option<ByHandRequest>, description = "optional"),
    responses((status = 200, body = AlertDetailView), (status = 404)), security(("bearer" = [])))]
pub async fn ack(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    OptionalJsonBody(req): OptionalJsonBody<ByHandRequest>,
) -> Result<Json<AlertDetailView>, ApiError> {
    Ok(Json((&ops::alerts::ledger::ack(&node, &id, &req.comment, &p).await?).into()))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", params(("id" = String, Path)),
    request_body(content = Option<ByHandRequest>, description = "optional"),
    responses((status = 200, body = AlertDetailView), (status = 404)), security(("bearer" = [])))]
pub async fn resolve(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    OptionalJsonBody(req): OptionalJsonBody<ByHandRequest>,
) -> Result<Json<AlertDetailView>, ApiError> {
    Ok(Json((&ops::alerts::ledger::resolve(&node, &id, &req.comment, &p).await?).into()))
}

/// Filters and paging of `GET /alert-deliveries`; newest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `pending` (queued or in flight), `delivered`, `gave_up` or `uncertain`.
    #[param(value_type = Option<String>)]
    pub state: Option<DeliveryFilterView>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/alert-deliveries", tag = "alerts", params(DeliveryQuery, ConsistencyQuery),
    responses((status = 200, body = DeliveryListView), (status = 400)), security(("bearer" = [])))]
pub async fn deliveries(
    State(node): State<Arc<MasterNode>>,
    QueryParams(q): QueryParams<DeliveryQuery>,
    c: Consistency,
) -> Result<Json<DeliveryListView>, ApiError> {
    let page = ops::alerts::ledger::deliveries(&node, q.state.map(Into::into), q.limit, q.offset, c).await?;
    Ok(Json((&page).into()))
}

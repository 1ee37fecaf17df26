//! `/api/v1/channels`: where alerts are delivered (mail or webhook), and a test send.

use std::sync::Arc;

use alerts::config::ChannelConfig;
use alerts::event::EventKind;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::api::error::ApiError;
use crate::api::extract::from_json_strict;
use crate::api::extract::Consistency;
use crate::api::extract::ConsistencyQuery;
use crate::api::extract::JsonBody;
use crate::api::extract::OptionalJsonBody;
use crate::api::routing::Routes;
use crate::auth::Principal;
use crate::auth::Verb;
use crate::node::MasterNode;
use crate::ops;
use crate::views::alerts::config::test_send_view;
use crate::views::alerts::config::ChannelListView;
use crate::views::alerts::config::ChannelView;
use crate::views::alerts::config::TestFailedView;
use crate::views::alerts::config::TestSentView;

pub fn routes() -> Routes {
    Routes::new()
        .add(Verb::Get, "/api/v1/channels", list)
        .add(Verb::Get, "/api/v1/channels/{name}", show)
        .add(Verb::Put, "/api/v1/channels/{name}", put)
        .add(Verb::Delete, "/api/v1/channels/{name}", remove)
        .add(Verb::Post, "/api/v1/channels/{name}/test", test)
}

#[utoipa::path(get, path = "/api/v1/channels", tag = "alerts", params(ConsistencyQuery),
    responses((status = 200, body = ChannelListView)), security(("bearer" = [])))]
pub async fn list(State(node): State<Arc<MasterNode>>, c: Consistency) -> Result<Json<ChannelListView>, ApiError> {
    let channels = ops::alerts::channels::list(&node, c).await?;
    Ok(Json(ChannelListView { channels: channels.iter().map(Into::into).collect() }))
}

#[utoipa::path(get, path = "/api/v1/channels/{name}", tag = "alerts", params(("name" = String, Path), ConsistencyQuery),
    responses((status = 200, body = ChannelView), (status = 404)), security(("bearer" = [])))]
pub async fn show(
    State(node): State<Arc<MasterNode>>,
    Path(name): Path<String>,
    c: Consistency,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json((&ops::alerts::channels::get(&node, &name, c).await?).into()))
}

#[utoipa::path(put, path = "/api/v1/channels/{name}", tag = "alerts", params(("name" = String, Path)),
    request_body(content = Object, description = "The channel, as `ChannelView.channel` shows it. A password or \
        secret sent as `\"***\"` keeps the stored one; one left out is removed."),
    responses((status = 200, body = ChannelView, description = "created or replaced"),
        (status = 400, description = "invalid; `field` names it, e.g. `smtp.to[0]`")), security(("bearer" = [])))]
pub async fn put(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<ChannelView>, ApiError> {
    // The transport is a flattened tag, whose refusal serde names no field: name it here.
    if !matches!(body.get("type").and_then(Value::as_str), Some("email" | "webhook")) {
        return Err(ApiError::bad("type", "must be \"email\" or \"webhook\""));
    }
    let cfg: ChannelConfig = from_json_strict(body)?;
    Ok(Json((&ops::alerts::channels::put(&node, &name, cfg, &p).await?).into()))
}

#[utoipa::path(delete, path = "/api/v1/channels/{name}", tag = "alerts", params(("name" = String, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "a rule routes to it; the message names the rules")),
    security(("bearer" = [])))]
pub async fn remove(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    ops::alerts::channels::delete(&node, &name, &p).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The optional body of a test send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The kind of the sample alert sent (default `failover`).
    #[serde(default = "failover")]
    #[schema(value_type = String)]
    pub kind: EventKind,
}

fn failover() -> EventKind {
    EventKind::Failover
}

impl Default for TestRequest {
    fn default() -> Self {
        TestRequest { kind: failover() }
    }
}

#[utoipa::path(post, path = "/api/v1/channels/{name}/test", tag = "alerts", params(("name" = String, Path)),
    request_body(content = Option<TestRequest>, description = "optional"),
    responses((status = 200, body = TestSentView, description = "the server took the sample notification"),
        (status = 404),
        (status = 502, body = TestFailedView, description = "the server refused it or could not be reached")),
    security(("bearer" = [])))]
pub async fn test(
    State(node): State<Arc<MasterNode>>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    OptionalJsonBody(req): OptionalJsonBody<TestRequest>,
) -> Result<Response, ApiError> {
    let sent = ops::alerts::channels::test(&node, &name, req.kind, &p).await?;
    Ok(match test_send_view(&sent) {
        Ok(v) => Json(v).into_response(),
        Err(v) => (StatusCode::BAD_GATEWAY, Json(v)).into_response(),
    })
}

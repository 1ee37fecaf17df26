//! The one access check of every request: the middleware that applies `auth::routes` (the
//! table) with `auth::principal` (bearer tokens). Handlers never check roles; the caller's
//! [`Principal`] is in the request's extensions for routes that need one.

use std::sync::Arc;

use axum::extract::MatchedPath;
use axum::extract::Request;
use axum::extract::State;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;

use super::error::ApiError;
use crate::auth::authenticate;
use crate::auth::routes::need;
use crate::auth::routes::Need;
use crate::auth::Principal;
use crate::node::MasterNode;

/// The principal of the request's `Authorization: Bearer …`, if it is valid.
fn principal(node: &MasterNode, req: &Request) -> Option<Principal> {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)?;
    authenticate(node, token)
}

/// Axum middleware: 401 without a valid token where one is needed, 403 when the role is too
/// low or the route is missing from the table, else on to the handler.
pub async fn guard(State(node): State<Arc<MasterNode>>, mut req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    match need(req.method().as_str(), matched.as_deref(), req.uri().path()) {
        Need::Public | Need::Router => next.run(req).await,
        Need::Deny => {
            tracing::error!(method = %req.method(), route = matched.as_deref().unwrap_or(""),
                "a route missing from the access table was refused");
            ApiError::Forbidden.into_response()
        }
        Need::RouterAfterToken => match principal(&node, &req) {
            Some(_) => next.run(req).await,
            None => ApiError::Unauthorized.into_response(),
        },
        Need::Role(role) => match principal(&node, &req) {
            None => ApiError::Unauthorized.into_response(),
            Some(p) if !p.has(role) => ApiError::Forbidden.into_response(),
            Some(p) => {
                req.extensions_mut().insert(p);
                next.run(req).await
            }
        },
    }
}

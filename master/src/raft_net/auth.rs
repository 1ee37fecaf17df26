//! The cluster secret check for `/raft/*` (peer RPC and forwarded writes); the comparison
//! itself is `secrets::Secret::matches` (constant time).

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;

use crate::secrets::Secret;

/// Axum middleware: refuses a peer request without the right secret (401), and logs the
/// refusal with the caller's address, never with what it presented.
pub async fn require_cluster_secret(
    State(secret): State<Secret>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let presented = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(p) if secret.matches(p) => next.run(req).await,
        Some(_) => {
            tracing::warn!(%peer, path = %req.uri().path(), "raft request with a wrong cluster secret refused");
            (StatusCode::UNAUTHORIZED, "wrong cluster secret\n").into_response()
        }
        None => {
            tracing::warn!(%peer, path = %req.uri().path(), "raft request without a cluster secret refused");
            (StatusCode::UNAUTHORIZED, "cluster secret required\n").into_response()
        }
    }
}

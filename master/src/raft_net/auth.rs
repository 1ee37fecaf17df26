//! The cluster secret check for `/raft/*` (peer RPC and forwarded writes).

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use sha2::Digest;
use sha2::Sha256;

use crate::config::ClusterSecret;

/// Compares a presented secret with ours in constant time (over their digests).
pub fn secret_matches(ours: &ClusterSecret, presented: &str) -> bool {
    let a = Sha256::digest(ours.0.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Axum middleware: refuses a peer request without the right secret (401), and logs the
/// refusal with the caller's address, never with what it presented.
pub async fn require_cluster_secret(
    State(secret): State<ClusterSecret>,
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
        Some(p) if secret_matches(&secret, p) => next.run(req).await,
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

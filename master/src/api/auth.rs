//! Bearer-token authentication for `/api/v1`.
//!
//! Accepted tokens: the admin token (config or generated), or an API token of a user, written
//! `spt_<token id>.<secret>`, whose secret's sha256 matches the stored hash. The caller's
//! identity and role go into the request's extensions as a [`Principal`].

use std::sync::Arc;

use axum::extract::Request;
use axum::extract::State;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use raft_store::state::Role;
use sha2::Digest;
use sha2::Sha256;

use super::error::ApiError;
use crate::node::MasterNode;
use crate::raft_net::auth::secret_matches;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: String,
    pub role: Role,
}

impl Principal {
    /// Fails with 403 unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// Resolves a presented bearer token to a principal.
pub fn authenticate(node: &MasterNode, token: &str) -> Option<Principal> {
    if secret_matches(&node.admin_token, token) {
        return Some(Principal { username: "admin".into(), role: Role::Admin });
    }
    let rest = token.strip_prefix("spt_")?;
    let (id, secret) = rest.split_once('.')?;
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    node.state.read(|s| {
        let t = s.tokens.get(&id.to_string())?;
        let ok = secret_matches(&crate::config::ClusterSecret(t.secret_sha256.clone()), &digest);
        let user = s.users.get(&t.username)?;
        ok.then(|| Principal { username: user.username.clone(), role: user.role })
    })
}

/// Axum middleware: 401 without a valid bearer token.
pub async fn require_token(State(node): State<Arc<MasterNode>>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match token.and_then(|t| authenticate(&node, t)) {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

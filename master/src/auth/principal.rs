//! Bearer tokens → [`Principal`].
//!
//! Accepted tokens: the admin token (config or generated), or an API token of a user, written
//! `spt_<token id>.<secret>`, whose secret's sha256 matches the stored hash. Comparisons are
//! constant-time.

use raft_store::state::Role;
use sha2::Digest;
use sha2::Sha256;

use crate::node::MasterNode;
use crate::secrets::secret_matches;

/// Refusal of a caller whose role is too low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("your role may not do this")]
pub struct Forbidden;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub username: String,
    pub role: Role,
}

impl Principal {
    /// Whether the caller has at least `role` (roles are ordered viewer < operator < admin).
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// `Forbidden` unless the caller has at least `role`. Access to routes is decided by
    /// [`super::routes`]; this is for a check inside an operation.
    pub fn require(&self, role: Role) -> Result<(), Forbidden> {
        if self.has(role) {
            Ok(())
        } else {
            Err(Forbidden)
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

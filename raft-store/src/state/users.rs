//! Users, roles and API tokens. Only hashes are stored; hashing happens at the API edge.

use serde::Deserialize;
use serde::Serialize;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything, change nothing.
    Viewer,
    /// Run and schedule spiders, deploy projects.
    Operator,
    /// Everything, including users, nodes and cluster membership.
    Admin,
}

/// A dashboard/API user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    /// A PHC-format password hash (e.g. argon2id), never the password.
    pub password_hash: String,
    pub role: Role,
    pub created_at_ms: u64,
}

/// An API token. The secret part is shown once at creation; only its hash is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Public identifier (also the prefix of the token string).
    pub token_id: String,
    pub username: String,
    /// Lower-case hex sha256 of the token secret.
    pub secret_sha256: String,
    pub name: String,
    pub created_at_ms: u64,
}

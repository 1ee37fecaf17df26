//! Projects and their egg versions, and which slave holds which version.
//!
//! Egg bytes are content-addressed by sha256 and kept apart from this metadata (a blob column
//! family), so reading the project list never loads eggs into memory.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// Hard upper bound on an egg's size, enforced by `apply` whatever the API's configured limit.
pub const MAX_EGG_BYTES: usize = 64 * 1024 * 1024;

/// One uploaded egg version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EggVersion {
    /// The version string as uploaded.
    pub version: String,
    /// Lower-case hex sha256 of the egg bytes; the blob key.
    pub sha256: String,
    pub size: u64,
    pub uploaded_at_ms: u64,
    /// Deployment status per slave (by node id).
    #[serde(default)]
    pub deployments: BTreeMap<String, Deployment>,
}

/// Whether a slave holds a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Deployment {
    /// The slave accepted the egg and listed these spiders.
    Deployed { spiders: Vec<String>, at_ms: u64 },
    /// The last attempt failed; the deployer retries.
    Failed { reason: String, at_ms: u64 },
}

/// A project: a named set of egg versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub name: String,
    /// Versions by version string.
    pub versions: BTreeMap<String, EggVersion>,
}

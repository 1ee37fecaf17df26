//! The digest of what this master applied: the last applied log index and a SHA-256 over every
//! replicated table, read together under the state lock. Two masters that applied the same log
//! show the same digest (the fault suite's convergence check).

use crate::node::MasterNode;

/// What this master applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// Index of the last applied log entry (`None` before the first).
    pub last_applied: Option<u64>,
    /// SHA-256 (hex) over every table of the replicated state.
    pub digest: String,
}

/// Computes the digest (it hashes every table: off the async workers).
pub async fn of(node: &MasterNode) -> Result<Digest, String> {
    let handle = node.state.clone();
    let (applied, digest) = tokio::task::spawn_blocking(move || handle.digest_at())
        .await
        .map_err(|e| format!("computing the state digest: {e}"))?;
    Ok(Digest { last_applied: applied.map(|l| l.index()), digest })
}

//! Shared pieces of the resource handlers: writes, read consistency and name validation.

use raft_store::Applied;
use raft_store::Command;
use serde::Deserialize;

use super::error::ApiError;
use crate::node::MasterNode;

/// `?consistency=linearizable` makes a read wait until this master has applied everything the
/// leader had committed when the read arrived (ReadIndex); the default reads local state.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Consistency {
    /// `local` (default) or `linearizable`.
    pub consistency: Option<String>,
}

impl Consistency {
    /// Waits for the read point the caller asked for.
    pub async fn wait(&self, node: &MasterNode) -> Result<(), ApiError> {
        match self.consistency.as_deref() {
            None | Some("local") => Ok(()),
            Some("linearizable") => node.proposer.linearizable_barrier().await.map_err(ApiError::from),
            Some(other) => Err(ApiError::bad("consistency", format!("{other:?} is not one of local, linearizable"))),
        }
    }
}

/// Commits `cmd` through Raft (forwarded to the leader if need be; applied on this master when
/// it returns, so the handler can read its own write). A rejection becomes the API error about
/// `what`.
pub async fn write(node: &MasterNode, cmd: Command, what: &str) -> Result<Applied, ApiError> {
    match node.proposer.propose(cmd).await?.applied {
        Applied::Rejected(r) => Err(ApiError::from_rejection(r, what)),
        applied => Ok(applied),
    }
}

/// Names of nodes, projects and versions: what Scrapyd and a file system both accept without
/// escaping — ASCII letters, digits, `_`, `-`, `.`, not starting with `.` or `-`, 1–64 chars.
pub fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > 64 {
        return Err(ApiError::bad(field, "must be 1 to 64 characters"));
    }
    if value.starts_with('.') || value.starts_with('-') {
        return Err(ApiError::bad(field, format!("{value:?} must not start with '.' or '-'")));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(ApiError::bad(field, format!("{value:?} contains {c:?}; allowed are letters, digits, _ - .")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_reject_traversal_and_odd_characters() {
        assert!(check_name("project", "demo_1.2-x").is_ok());
        for bad in ["", "../p", "a/b", ".hidden", "-x", "sp ace", "é", &"x".repeat(65)] {
            assert!(check_name("project", bad).is_err(), "{bad:?} accepted");
        }
    }
}

//! `OpsError`: every way an operation can fail, in words a front door can show. Each front door
//! maps it once: `/api/v1` to an HTTP status (`api::error`), the Scrapyd facade (later) to its
//! `{"status": "error"}` envelope. Nothing here knows HTTP.

use raft_store::Rejection;

use crate::auth::principal::Forbidden;
use crate::propose::ProposeError;

/// Why an operation failed. The `Display` text is what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// Bad input; `field` names what is wrong (a request field, `body`, or `egg`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The caller's role may not do this.
    #[error("your role may not do this")]
    Forbidden,
    /// `{0}` names what is missing, e.g. `schedule sch-4`.
    #[error("{0} not found")]
    NotFound(String),
    /// A version conflict or a write that contradicts the current state.
    #[error("{0}")]
    Conflict(String),
    /// Over a size limit.
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// No leader right now; retry after the hint.
    #[error("no leader is available; retry in {retry_after_s} s")]
    NoLeader { retry_after_s: u64 },
    /// The write was sent but its fate is unknown.
    #[error("the outcome of the write is unknown: {0}")]
    Indeterminate(String),
    /// A slave refused or did not answer.
    #[error("{0}")]
    Upstream(String),
    /// A bug or a storage failure; the detail is for the log, not the caller.
    #[error("internal error")]
    Internal(String),
}

impl OpsError {
    /// Bad input in `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        OpsError::Invalid { field: field.into(), message: message.into() }
    }

    /// The meaning of a command `apply` refused, for a request about `what`.
    pub fn from_rejection(r: Rejection, what: &str) -> Self {
        match r {
            Rejection::UnknownSchedule => OpsError::NotFound(format!("schedule {what}")),
            Rejection::UnknownJob => OpsError::NotFound(format!("job {what}")),
            Rejection::UnknownNode => OpsError::NotFound(format!("node {what}")),
            Rejection::UnknownProject => OpsError::NotFound(format!("project {what}")),
            Rejection::UnknownVersion => OpsError::NotFound(format!("version {what}")),
            Rejection::UnknownUser => OpsError::NotFound(format!("user {what}")),
            Rejection::UnknownToken => OpsError::NotFound(format!("token {what}")),
            Rejection::UnknownAlert => OpsError::NotFound(format!("alert {what}")),
            Rejection::UnknownChannel => OpsError::NotFound(format!("channel {what}")),
            Rejection::UnknownRule => OpsError::NotFound(format!("alert rule {what}")),
            Rejection::UnknownSilence => OpsError::NotFound(format!("silence {what}")),
            Rejection::Invalid { field, message } => OpsError::Invalid { field, message },
            Rejection::VersionConflict { current_version } => {
                OpsError::Conflict(format!("{what} is at version {current_version}"))
            }
            Rejection::Conflict { detail } => OpsError::Conflict(detail),
            Rejection::AlreadyExists => OpsError::Conflict(format!("{what} already exists")),
            Rejection::TooLarge { size, limit } => OpsError::TooLarge(format!("{size} bytes, limit {limit}")),
            other => OpsError::Conflict(format!("{what}: {other:?}")),
        }
    }
}

impl From<ProposeError> for OpsError {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::ForwardToLeader { .. } | ProposeError::NoLeader => OpsError::NoLeader { retry_after_s: 1 },
            ProposeError::Indeterminate(m) => OpsError::Indeterminate(m),
            ProposeError::Fatal(m) => OpsError::Internal(m),
        }
    }
}

impl From<Forbidden> for OpsError {
    fn from(_: Forbidden) -> Self {
        OpsError::Forbidden
    }
}

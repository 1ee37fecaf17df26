//! `Applied`: what `apply` answers for one log entry (openraft's application response `R`).
//!
//! A rejection is a value, never an error: the entry is committed and applied like any other,
//! it just changes nothing. `Err` exists only for storage failure, one level up.

use serde::Deserialize;
use serde::Serialize;

/// The result of applying one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Applied {
    /// Blank and membership entries, and commands with nothing to report.
    Done,
    /// A schedule was created or changed; its id and new version.
    Schedule { id: String, version: u64 },
    /// A tick was fired as `job_id`.
    Fired { job_id: String },
    /// A tick was recorded as skipped.
    Skipped,
    /// Per-tick results of a `FireBatch`, in request order (`Fired` or a rejection each).
    FireBatch { results: Vec<Applied> },
    /// Per-tick results of a `SkipBatch`, in request order (`Skipped` or a rejection each).
    SkipBatch { results: Vec<Applied> },
    /// Per-item results of a `Batch`, in request order (each item's own answer).
    Batch { results: Vec<Applied> },
    /// `CancelJob` of a fire no slave has yet: it is dropped (its dispatch is `Cancelled`) and
    /// will not be delivered.
    FireDropped,
    /// `CancelJob` of a job a slave has: the request is recorded and the leader will cancel the
    /// job on `node_id`, then commit `Cancelled` or `CancelFailed`.
    CancelRequested { node_id: String },
    /// A silence was created under this id.
    SilenceCreated { id: String },
    /// An egg version was stored.
    VersionStored { sha256: String, size: u64 },
    /// The command was valid but changed nothing (e.g. a node already up).
    Unchanged,
    /// The command was refused; the state is unchanged.
    Rejected(Rejection),
}

/// Why `apply` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Rejection {
    /// The tick is at or before the schedule's cursor: it was already decided.
    AlreadyFired {
        last_decided_tick: i64,
    },
    /// The fire was planned from another schedule version, or the schedule is paused.
    Stale {
        current_version: u64,
        paused: bool,
    },
    /// No schedule with that id.
    UnknownSchedule,
    /// No fire-ledger record for that job id.
    UnknownJob,
    UnknownNode,
    UnknownProject,
    UnknownVersion,
    UnknownUser,
    UnknownToken,
    /// `expected_version` did not match.
    VersionConflict {
        current_version: u64,
    },
    /// An id that must be new is taken.
    AlreadyExists,
    UnknownAlert,
    UnknownChannel,
    UnknownRule,
    UnknownSilence,
    /// A value failed validation; `field` is its path in the request (`smtp.to`, `rules[0].name`).
    Invalid {
        field: String,
        message: String,
    },
    /// Egg larger than the hard limit.
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// The command contradicts the record it targets (e.g. a dispatch outcome for a tick that
    /// was skipped, or a job reported by two different nodes).
    Conflict {
        detail: String,
    },
}

impl Applied {
    pub fn rejected(r: Rejection) -> Self {
        Applied::Rejected(r)
    }

    pub fn is_rejected(&self) -> bool {
        matches!(self, Applied::Rejected(_))
    }
}

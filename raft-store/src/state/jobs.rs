//! Job records: what ran where and how it ended, as reported by the slaves to the leader.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// How many job records the cluster keeps; the oldest finished ones are pruned by `apply`.
pub const JOBS_KEPT: usize = 20_000;

/// Lifecycle of a job on a slave. Only moves forward: pending → running → finished/lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    Finished,
    /// The slave no longer knows the job (it vanished without a finish record).
    Lost,
}

impl JobState {
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Finished | JobState::Lost)
    }
}

/// How a finished job ended, from the slave's extra `listjobs` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Scrapy's `finish_reason` (`finished`, `shutdown`, `closespider_timeout`, ...).
    pub finish_reason: Option<String>,
    pub items: Option<u64>,
    pub responses: Option<u64>,
    pub errors: Option<u64>,
    /// Log lines per level (`ERROR`, `WARNING`, ...).
    #[serde(default)]
    pub log_counts: BTreeMap<String, u64>,
}

/// What a slave said about a job at one observation. `ReportJob` merges it into the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobReport {
    pub job_id: String,
    pub node_id: String,
    pub project: String,
    pub spider: String,
    pub state: JobState,
    /// Start and end as reported by the slave (Unix ms).
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub outcome: Option<JobOutcome>,
}

/// A job as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub node_id: String,
    pub project: String,
    pub spider: String,
    pub state: JobState,
    /// The schedule and tick that fired it, if a schedule did.
    pub schedule_id: Option<String>,
    pub tick_ms: Option<i64>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub outcome: Option<JobOutcome>,
    /// Log-entry stamp of the first record of this job (for retention order).
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// The job's cancel request, if one was made (format 3; absent in older records, and not
    /// written while `None`, so records without one encode as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelState>,
}

/// A cancel request of a job a slave has, and what became of it (format 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CancelState {
    /// Committed by `CancelJob`; the leader has not carried it out yet.
    Requested { at_ms: u64 },
    /// The slave cancelled it: `prevstate` is what the slave said the job was (`pending`,
    /// `running`, or empty if it had already ended).
    Cancelled { prevstate: String, at_ms: u64 },
    /// The leader could not cancel it (the slave refused, was unreachable, or was removed).
    Failed { reason: String, at_ms: u64 },
}

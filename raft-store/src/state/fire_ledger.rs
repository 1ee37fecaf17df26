//! The fire ledger: one record per (schedule, tick) the cluster decided, fired or skipped.
//!
//! This is what makes firing exactly-once: a tick enters the ledger through `apply` only if it is
//! later than the schedule's cursor, and the job id sent to the slave is derived from the
//! (schedule, tick) pair alone, so any replica or any retry names the same job.

use serde::Deserialize;
use serde::Serialize;

use super::schedules::ScheduleId;

/// How many ledger records a schedule keeps; older ones are pruned (oldest first) by `apply`.
pub const FIRES_KEPT_PER_SCHEDULE: usize = 1000;

/// The deterministic Scrapyd job id of a schedule's tick: `<schedule>-t<tick unix ms>`.
///
/// Only characters that are safe in a file name (Scrapyd puts job ids into log paths).
pub fn job_id_for(schedule_id: &str, tick_ms: i64) -> String {
    format!("{schedule_id}-t{tick_ms}")
}

/// One decision about one tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FireRecord {
    pub schedule_id: ScheduleId,
    /// The nominal tick time (Unix ms), not the time it was decided.
    pub tick_ms: i64,
    /// Project and spider of the schedule when the tick was decided (kept for the history even
    /// if the schedule is later changed or deleted).
    pub project: String,
    pub spider: String,
    /// The schedule version the decision was planned from.
    pub schedule_version: u64,
    /// When the leader proposed the decision (the log entry's stamp).
    pub decided_at_ms: u64,
    pub decision: FireDecision,
}

/// What was decided for a tick, and what happened since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FireDecision {
    /// Fired as `job_id`; `dispatch` says what became of the delivery.
    Fired { job_id: String, dispatch: DispatchState },
    /// Deliberately not fired.
    Skipped { reason: SkipReason },
}

/// Delivery of a fired tick to a slave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DispatchState {
    /// Committed but no outcome yet: a new leader must reconcile it with the slaves.
    Pending,
    /// A slave accepted the job. `attempts` counts accepted deliveries (more than one only after
    /// a reconciliation that found the job absent).
    Dispatched { node_id: String, at_ms: u64, attempts: u32 },
    /// No slave took it; `reason` says why (for the operator).
    Failed { reason: String, at_ms: u64 },
    /// Dropped by `CancelJob` before any slave had it (format 3): never delivered. If a
    /// delivery already on the wire lands after all, its `Dispatched` turns this into
    /// `Dispatched` and records a cancel request for the job, so the leader cancels it there.
    Cancelled { at_ms: u64 },
}

/// Why a tick was skipped instead of fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// Overlap policy `forbid`: the previous run `job_id` was still pending or running.
    Overlap { job_id: String },
    /// Missed while no leader could fire it, and the misfire policy said not to run it.
    Misfire { late_ms: u64 },
    /// Missed, and passed over because the misfire policy ran a newer tick instead (`fire_once`
    /// and `skip` run only the newest due tick, `fire_all` at most its cap). This record stands
    /// for `ticks` missed ticks from `since_ms` up to its own tick (format 2).
    PassedOver { ticks: u64, since_ms: i64 },
}

//! Schedules: what to run, when, where, and what to do about missed or overlapping runs.
//!
//! Owns the persisted shape of a schedule. Cron expressions and time zones are stored as the
//! strings the user gave; they are validated and evaluated by the master (the scheduler), never
//! here: `apply` must not depend on a cron library's behaviour or on the clock.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// Identifier of a schedule: `sch-<log index of its creation>`, so every replica derives the same.
pub type ScheduleId = String;

/// What a schedule runs and how. Everything a user sets; nothing the system derives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// Scrapy project name (as deployed to the slaves).
    pub project: String,
    /// Spider name within the project.
    pub spider: String,
    /// Egg version to run; `None` runs the latest version on the slave.
    #[serde(default)]
    pub egg_version: Option<String>,
    /// Spider arguments (`-a k=v`), passed as Scrapyd form fields.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// Scrapy settings (`-s K=V`), passed as repeated Scrapyd `setting` fields.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Scrapyd queue priority; higher runs first on a busy slave.
    #[serde(default)]
    pub priority: i32,
    /// Tags a slave must all carry to be chosen; empty means any slave.
    #[serde(default)]
    pub node_selector: Vec<String>,
    /// When the schedule fires.
    pub trigger: Trigger,
    /// What to do with ticks that were missed (no leader, cluster down).
    #[serde(default)]
    pub misfire: MisfirePolicy,
    /// What to do when a tick comes while the previous run is still pending or running.
    #[serde(default)]
    pub overlap: OverlapPolicy,
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A cron expression: 5 fields (minute precision), or 6/7 fields with seconds (and year),
    /// evaluated in `timezone` (an IANA name such as `Europe/Berlin`).
    Cron { expr: String, timezone: String },
    /// Exactly one run at `at_ms` (Unix milliseconds).
    Once { at_ms: i64 },
}

/// Policy for ticks that were due while nobody could fire them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// Never fire a missed tick; wait for the next one.
    Skip,
    /// Fire the newest missed tick once, if it is at most `starting_deadline_ms` late.
    FireOnce { starting_deadline_ms: u64 },
    /// Fire every missed tick, oldest first, at most `cap` of them.
    FireAll { cap: u32 },
}

impl Default for MisfirePolicy {
    fn default() -> Self {
        MisfirePolicy::FireOnce { starting_deadline_ms: 60_000 }
    }
}

/// Policy for a tick that arrives while this schedule's previous run is pending or running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Start another run regardless.
    #[default]
    Allow,
    /// Skip the tick.
    Forbid,
    /// Cancel the previous run, then start.
    Replace,
}

/// A stored schedule: the user's spec plus what the cluster decided about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: ScheduleId,
    /// Bumped by every update, pause and resume. A `Fire` carries the version it was planned
    /// from; a fire planned from an older version is `Stale` and does not commit.
    pub version: u64,
    pub spec: ScheduleSpec,
    /// A paused schedule fires nothing; its ticks are not recorded as missed.
    pub paused: bool,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// The newest tick (Unix ms) decided for this schedule, fired or skipped. A tick at or
    /// before it can never be fired again: this is the exactly-once cursor.
    pub last_decided_tick: Option<i64>,
}

//! Wire shapes of schedules: the spec as users write and read it (triggers, misfire and overlap
//! policies, both ways) and the schedule view with its next fire times.

use std::collections::BTreeMap;

use raft_store::state::MisfirePolicy;
use raft_store::state::OverlapPolicy;
use raft_store::state::Schedule;
use raft_store::state::ScheduleSpec;
use raft_store::state::Trigger;
use serde::Deserialize;
use serde::Serialize;

use crate::scheduler::cron as cron_eval;

/// How many upcoming fire times a schedule view lists.
pub const NEXT_FIRES: usize = 5;

fn utc() -> String {
    "UTC".into()
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TriggerBody {
    /// A cron expression (5 fields, or 6/7 with seconds and year; day of week 0-7, Sunday 0 or
    /// 7; day of month OR day of week when both are set) in an IANA time zone (default UTC).
    Cron {
        expr: String,
        #[serde(default = "utc")]
        timezone: String,
    },
    /// One run at `at_ms` (Unix milliseconds).
    Once { at_ms: i64 },
}

/// What to do with ticks missed while no leader could fire them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MisfireBody {
    /// Never run a missed tick.
    Skip,
    /// Run the newest missed tick if it is at most `starting_deadline_ms` late (at most a day).
    FireOnce { starting_deadline_ms: u64 },
    /// Run every missed tick, oldest first, at most `cap` (1 to 1000) of them.
    FireAll { cap: u32 },
}

/// What to do when a tick comes while the previous run is pending or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverlapBody {
    Allow,
    Forbid,
    Replace,
}

impl From<TriggerBody> for Trigger {
    fn from(t: TriggerBody) -> Self {
        match t {
            TriggerBody::Cron { expr, timezone } => Trigger::Cron { expr, timezone },
            TriggerBody::Once { at_ms } => Trigger::Once { at_ms },
        }
    }
}

impl From<&Trigger> for TriggerBody {
    fn from(t: &Trigger) -> Self {
        match t {
            Trigger::Cron { expr, timezone } => TriggerBody::Cron { expr: expr.clone(), timezone: timezone.clone() },
            Trigger::Once { at_ms } => TriggerBody::Once { at_ms: *at_ms },
        }
    }
}

impl From<MisfireBody> for MisfirePolicy {
    fn from(m: MisfireBody) -> Self {
        match m {
            MisfireBody::Skip => MisfirePolicy::Skip,
            MisfireBody::FireOnce { starting_deadline_ms } => MisfirePolicy::FireOnce { starting_deadline_ms },
            MisfireBody::FireAll { cap } => MisfirePolicy::FireAll { cap },
        }
    }
}

impl From<&MisfirePolicy> for MisfireBody {
    fn from(m: &MisfirePolicy) -> Self {
        match m {
            MisfirePolicy::Skip => MisfireBody::Skip,
            MisfirePolicy::FireOnce { starting_deadline_ms } => {
                MisfireBody::FireOnce { starting_deadline_ms: *starting_deadline_ms }
            }
            MisfirePolicy::FireAll { cap } => MisfireBody::FireAll { cap: *cap },
        }
    }
}

impl From<OverlapBody> for OverlapPolicy {
    fn from(o: OverlapBody) -> Self {
        match o {
            OverlapBody::Allow => OverlapPolicy::Allow,
            OverlapBody::Forbid => OverlapPolicy::Forbid,
            OverlapBody::Replace => OverlapPolicy::Replace,
        }
    }
}

impl From<OverlapPolicy> for OverlapBody {
    fn from(o: OverlapPolicy) -> Self {
        match o {
            OverlapPolicy::Allow => OverlapBody::Allow,
            OverlapPolicy::Forbid => OverlapBody::Forbid,
            OverlapPolicy::Replace => OverlapBody::Replace,
        }
    }
}

/// A schedule's spec as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpecView {
    pub project: String,
    pub spider: String,
    pub egg_version: Option<String>,
    pub args: BTreeMap<String, String>,
    pub settings: BTreeMap<String, String>,
    pub priority: i32,
    pub node_selector: Vec<String>,
    pub trigger: TriggerBody,
    pub misfire: MisfireBody,
    pub overlap: OverlapBody,
}

impl From<&ScheduleSpec> for SpecView {
    fn from(s: &ScheduleSpec) -> Self {
        SpecView {
            project: s.project.clone(),
            spider: s.spider.clone(),
            egg_version: s.egg_version.clone(),
            args: s.args.clone(),
            settings: s.settings.clone(),
            priority: s.priority,
            node_selector: s.node_selector.clone(),
            trigger: (&s.trigger).into(),
            misfire: (&s.misfire).into(),
            overlap: s.overlap.into(),
        }
    }
}

/// One upcoming fire time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NextFire {
    /// RFC 3339 in the schedule's time zone.
    pub at: String,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// A schedule as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleView {
    pub id: String,
    /// Bumped by every change, pause and resume (`expected_version` of PATCH).
    pub version: u64,
    pub spec: SpecView,
    pub paused: bool,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// The newest tick decided (fired or skipped), Unix ms.
    pub last_decided_tick: Option<i64>,
    /// The next fire times after now (and after the last decided tick); empty when paused.
    pub next_fires: Vec<NextFire>,
}

/// The view of `s` at `now_ms`.
pub fn schedule_view(s: &Schedule, now_ms: i64) -> ScheduleView {
    let next_fires = if s.paused {
        vec![]
    } else {
        match cron_eval::compile(&s.spec.trigger) {
            Ok(c) => {
                let after = s.last_decided_tick.map_or(now_ms, |t| t.max(now_ms));
                c.upcoming(after, NEXT_FIRES)
                    .into_iter()
                    .filter_map(|at_ms| c.format(at_ms).map(|at| NextFire { at, at_ms }))
                    .collect()
            }
            Err(_) => vec![],
        }
    };
    ScheduleView {
        id: s.id.clone(),
        version: s.version,
        spec: (&s.spec).into(),
        paused: s.paused,
        created_at_ms: s.created_at_ms,
        updated_at_ms: s.updated_at_ms,
        last_decided_tick: s.last_decided_tick,
        next_fires,
    }
}

/// The answer of "run now".
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunNow {
    pub schedule_id: String,
    /// The tick committed for this run (the request's time), Unix ms.
    pub tick_ms: i64,
    /// The job id the slave will run it as.
    pub job_id: String,
}

impl From<crate::ops::schedules::RunNow> for RunNow {
    fn from(r: crate::ops::schedules::RunNow) -> Self {
        RunNow { schedule_id: r.schedule_id, tick_ms: r.tick_ms, job_id: r.job_id }
    }
}

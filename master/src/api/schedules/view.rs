//! Wire shapes of schedules: the spec as users write and read it, the schedule view (with its
//! next fire times) and the fire history. Converted from and to `raft_store` types here only.

use std::collections::BTreeMap;

use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::FireRecord;
use raft_store::state::MisfirePolicy;
use raft_store::state::OverlapPolicy;
use raft_store::state::Schedule;
use raft_store::state::ScheduleSpec;
use raft_store::state::SkipReason;
use raft_store::state::Trigger;
use serde::Deserialize;
use serde::Serialize;

use crate::cron_eval;

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

/// What became of a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FireOutcome {
    /// Fired; no slave has taken it yet.
    Fired,
    /// A slave accepted the job.
    Dispatched { node_id: String, at_ms: u64, attempts: u32 },
    /// No slave took the job.
    DispatchFailed { reason: String, at_ms: u64 },
    /// Deliberately not fired. `passed_over`: this record also stands for older missed ticks.
    Skipped {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        passed_over: Option<PassedOverView>,
    },
}

/// The missed ticks one record stands for: `ticks` of them, from `since_ms` up to the record's
/// own tick, passed over because the misfire policy ran a newer tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PassedOverView {
    pub ticks: u64,
    pub since_ms: i64,
}

/// One record of the fire history.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FireView {
    /// Nominal tick time, Unix ms.
    pub tick_ms: i64,
    /// The tick as RFC 3339 (UTC).
    pub tick: String,
    /// The job id of a fired tick (`<schedule>-t<tick>`).
    pub job_id: Option<String>,
    pub outcome: FireOutcome,
    pub schedule_version: u64,
    /// When the decision was committed (the leader's stamp), Unix ms.
    pub decided_at_ms: u64,
    /// How late after the tick the job reached a slave (dispatched), or the decision was taken
    /// (otherwise), in ms; for a misfire skip, how late the tick was.
    pub lateness_ms: Option<u64>,
}

fn since(tick_ms: i64, at_ms: u64) -> Option<u64> {
    let d = i64::try_from(at_ms).ok()?.checked_sub(tick_ms)?;
    u64::try_from(d.max(0)).ok()
}

pub fn fire_view(r: &FireRecord) -> FireView {
    let (job_id, outcome, lateness_ms) = match &r.decision {
        FireDecision::Fired { job_id, dispatch } => {
            let (outcome, late) = match dispatch {
                DispatchState::Pending => (FireOutcome::Fired, since(r.tick_ms, r.decided_at_ms)),
                DispatchState::Dispatched { node_id, at_ms, attempts } => (
                    FireOutcome::Dispatched { node_id: node_id.clone(), at_ms: *at_ms, attempts: *attempts },
                    since(r.tick_ms, *at_ms),
                ),
                DispatchState::Failed { reason, at_ms } => (
                    FireOutcome::DispatchFailed { reason: reason.clone(), at_ms: *at_ms },
                    since(r.tick_ms, r.decided_at_ms),
                ),
            };
            (Some(job_id.clone()), outcome, late)
        }
        FireDecision::Skipped { reason: SkipReason::Overlap { job_id } } => (
            None,
            FireOutcome::Skipped {
                reason: format!("overlap: the previous run {job_id} was still active"),
                passed_over: None,
            },
            since(r.tick_ms, r.decided_at_ms),
        ),
        FireDecision::Skipped { reason: SkipReason::Misfire { late_ms } } => (
            None,
            FireOutcome::Skipped {
                reason: format!("misfire: {late_ms} ms late, the misfire policy said not to run it"),
                passed_over: None,
            },
            Some(*late_ms),
        ),
        FireDecision::Skipped { reason: SkipReason::PassedOver { ticks, since_ms } } => {
            let since_text =
                chrono::DateTime::from_timestamp_millis(*since_ms).map(|t| t.to_rfc3339()).unwrap_or_default();
            let what = if *ticks == 1 { "1 missed tick".to_string() } else { format!("{ticks} missed ticks") };
            (
                None,
                FireOutcome::Skipped {
                    reason: format!(
                        "misfire: {what} from {since_text} up to this one passed over; the misfire policy ran a newer tick"
                    ),
                    passed_over: Some(PassedOverView { ticks: *ticks, since_ms: *since_ms }),
                },
                since(r.tick_ms, r.decided_at_ms),
            )
        }
    };
    let tick = chrono::DateTime::from_timestamp_millis(r.tick_ms).map(|t| t.to_rfc3339()).unwrap_or_default();
    FireView {
        tick_ms: r.tick_ms,
        tick,
        job_id,
        outcome,
        schedule_version: r.schedule_version,
        decided_at_ms: r.decided_at_ms,
        lateness_ms,
    }
}

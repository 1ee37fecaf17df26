//! Schedules: create, change with optimistic versions, pause, resume, delete, "run now", and
//! the fire history from the fire ledger.
//!
//! - [`validate`]: the checks a spec passes before anything is proposed.
//!
//! Every write returns once this master applied it, so the answer is read from local state and
//! a client reads its write wherever it sent it.

pub mod validate;

use std::collections::BTreeMap;

use raft_store::state::FireRecord;
use raft_store::state::MisfirePolicy;
use raft_store::state::OverlapPolicy;
use raft_store::state::Schedule;
use raft_store::state::ScheduleSpec;
use raft_store::state::Trigger;
use raft_store::Applied;
use raft_store::Command;
use raft_store::Rejection;
use raft_store::Tick;

use self::validate::check_spec;
use super::commit;
use super::now_ms;
use super::Consistency;
use super::OpsError;
use crate::auth::Principal;
use crate::node::MasterNode;

/// Read-merge-write rounds of a patch without `expected_version` before giving up with a conflict.
const PATCH_ATTEMPTS: usize = 5;
/// Fire history page size: default and maximum.
pub const FIRES_DEFAULT: usize = 100;
pub const FIRES_MAX: usize = 1000;

/// A change to a schedule's spec: the fields given replace the current ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecPatch {
    /// Refuse with a conflict unless the schedule is at this version; without it, the patch is
    /// merged into whatever version is current (retried a few times under concurrent writes).
    pub expected_version: Option<u64>,
    pub project: Option<String>,
    pub spider: Option<String>,
    /// `Some(None)` clears it (run the latest version).
    pub egg_version: Option<Option<String>>,
    pub args: Option<BTreeMap<String, String>>,
    pub settings: Option<BTreeMap<String, String>>,
    pub priority: Option<i32>,
    pub node_selector: Option<Vec<String>>,
    pub trigger: Option<Trigger>,
    pub misfire: Option<MisfirePolicy>,
    pub overlap: Option<OverlapPolicy>,
}

impl SpecPatch {
    /// `current` with the patch applied.
    pub fn merge(&self, current: &ScheduleSpec) -> ScheduleSpec {
        let mut s = current.clone();
        if let Some(v) = &self.project {
            s.project = v.clone();
        }
        if let Some(v) = &self.spider {
            s.spider = v.clone();
        }
        if let Some(v) = &self.egg_version {
            s.egg_version = v.clone();
        }
        if let Some(v) = &self.args {
            s.args = v.clone();
        }
        if let Some(v) = &self.settings {
            s.settings = v.clone();
        }
        if let Some(v) = self.priority {
            s.priority = v;
        }
        if let Some(v) = &self.node_selector {
            s.node_selector = v.clone();
        }
        if let Some(v) = &self.trigger {
            s.trigger = v.clone();
        }
        if let Some(v) = &self.misfire {
            s.misfire = v.clone();
        }
        if let Some(v) = self.overlap {
            s.overlap = v;
        }
        s
    }
}

/// What "run now" committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNow {
    pub schedule_id: String,
    /// The tick committed for this run (the request's time), Unix ms.
    pub tick_ms: i64,
    /// The job id the slave will run it as.
    pub job_id: String,
}

fn get_local(node: &MasterNode, id: &str) -> Result<Schedule, OpsError> {
    node.state
        .read(|s| s.schedules.get(&id.to_string()).cloned())
        .ok_or_else(|| OpsError::NotFound(format!("schedule {id}")))
}

/// Checks `spec` on this master's state; if that refuses it, checks again once this master
/// caught up with the leader (a project or slave just added through another master must count).
async fn check(node: &MasterNode, spec: &ScheduleSpec, previous: Option<&ScheduleSpec>) -> Result<(), OpsError> {
    if node.state.read(|s| check_spec(s, spec, previous, now_ms())).is_ok() {
        return Ok(());
    }
    node.proposer.linearizable_barrier().await?;
    node.state.read(|s| check_spec(s, spec, previous, now_ms()))
}

/// Every schedule (of `project`, if given), oldest first.
pub async fn list(node: &MasterNode, project: Option<&str>, c: Consistency) -> Result<Vec<Schedule>, OpsError> {
    c.wait(node).await?;
    let mut all: Vec<Schedule> = node
        .state
        .read(|s| s.schedules.values().filter(|sc| project.is_none_or(|p| sc.spec.project == p)).cloned().collect());
    all.sort_by(|a, b| (a.created_at_ms, a.id.len(), &a.id).cmp(&(b.created_at_ms, b.id.len(), &b.id)));
    Ok(all)
}

/// Schedule `id`.
pub async fn get(node: &MasterNode, id: &str, c: Consistency) -> Result<Schedule, OpsError> {
    c.wait(node).await?;
    get_local(node, id)
}

/// Creates a schedule (paused if asked: a second write, right after).
pub async fn create(node: &MasterNode, spec: ScheduleSpec, paused: bool, by: &Principal) -> Result<Schedule, OpsError> {
    check(node, &spec, None).await?;
    let what = format!("schedule {}/{}", spec.project, spec.spider);
    let Applied::Schedule { id, .. } = commit(node, Command::CreateSchedule { spec }, &what).await? else {
        return Err(OpsError::Internal("create_schedule applied without a schedule id".into()));
    };
    if paused {
        commit(node, Command::PauseSchedule { id: id.clone() }, &format!("schedule {id}")).await?;
    }
    tracing::info!(schedule = %id, by = %by.username, "schedule created");
    get_local(node, &id)
}

/// Changes schedule `id`'s spec.
pub async fn patch(node: &MasterNode, id: &str, patch: &SpecPatch, by: &Principal) -> Result<Schedule, OpsError> {
    let what = format!("schedule {id}");
    for attempt in 0..PATCH_ATTEMPTS {
        if attempt > 0 {
            // Our read was older than the conflicting write: read at the leader's commit point.
            node.proposer.linearizable_barrier().await?;
        }
        let current = super::read_fresh(node, || get_local(node, id)).await?;
        let spec = patch.merge(&current.spec);
        check(node, &spec, Some(&current.spec)).await?;
        let expected_version = Some(patch.expected_version.unwrap_or(current.version));
        let cmd = Command::UpdateSchedule { id: id.to_string(), expected_version, spec };
        let proposed = node.proposer.propose(cmd).await?;
        match proposed.applied {
            Applied::Rejected(Rejection::VersionConflict { .. }) if patch.expected_version.is_none() => continue,
            Applied::Rejected(r) => return Err(OpsError::from_rejection(r, &what)),
            _ => {
                tracing::info!(schedule = %id, by = %by.username, "schedule updated");
                return get_local(node, id);
            }
        }
    }
    Err(OpsError::Conflict(format!("{what} kept changing concurrently; retry")))
}

/// Deletes schedule `id` (its fire history stays readable until it ages out).
pub async fn delete(node: &MasterNode, id: &str, by: &Principal) -> Result<(), OpsError> {
    let cmd = Command::DeleteSchedule { id: id.to_string(), expected_version: None };
    commit(node, cmd, &format!("schedule {id}")).await?;
    tracing::info!(schedule = %id, by = %by.username, "schedule deleted");
    Ok(())
}

/// Pauses schedule `id`: no tick is decided while it is paused.
pub async fn pause(node: &MasterNode, id: &str, by: &Principal) -> Result<Schedule, OpsError> {
    commit(node, Command::PauseSchedule { id: id.to_string() }, &format!("schedule {id}")).await?;
    tracing::info!(schedule = %id, by = %by.username, "schedule paused");
    get_local(node, id)
}

/// Resumes schedule `id`.
pub async fn resume(node: &MasterNode, id: &str, by: &Principal) -> Result<Schedule, OpsError> {
    commit(node, Command::ResumeSchedule { id: id.to_string() }, &format!("schedule {id}")).await?;
    tracing::info!(schedule = %id, by = %by.username, "schedule resumed");
    get_local(node, id)
}

/// Commits a fire of schedule `id` at now; the leader dispatches it.
pub async fn run_now(node: &MasterNode, id: &str, by: &Principal) -> Result<RunNow, OpsError> {
    let s = super::read_fresh(node, || get_local(node, id)).await?;
    if s.paused {
        return Err(OpsError::Conflict(format!("schedule {id} is paused; resume it first")));
    }
    let tick_ms = now_ms();
    if let Some(last) = s.last_decided_tick.filter(|t| *t >= tick_ms) {
        return Err(OpsError::Conflict(format!("schedule {id} already has a tick decided at {last}, not before now")));
    }
    let tick = Tick { schedule_id: id.to_string(), tick_ms, schedule_version: s.version };
    let proposed = node.proposer.propose(Command::Fire(tick)).await?;
    let job_id = match proposed.applied {
        Applied::Fired { job_id } => job_id,
        Applied::Rejected(Rejection::AlreadyFired { last_decided_tick }) => {
            return Err(OpsError::Conflict(format!(
                "schedule {id} already has a tick decided at {last_decided_tick}, not before now"
            )))
        }
        Applied::Rejected(Rejection::Stale { current_version, paused }) => {
            return Err(OpsError::Conflict(format!(
                "schedule {id} changed meanwhile (version {current_version}, paused {paused}); retry"
            )))
        }
        Applied::Rejected(r) => return Err(OpsError::from_rejection(r, &format!("schedule {id}"))),
        other => return Err(OpsError::Internal(format!("fire applied as {other:?}"))),
    };
    tracing::info!(schedule = %id, tick_ms, job = %job_id, by = %by.username, "schedule run now");
    Ok(RunNow { schedule_id: id.to_string(), tick_ms, job_id })
}

/// A page of schedule `id`'s fire history, newest first: at most `limit` (default
/// [`FIRES_DEFAULT`], 1 to [`FIRES_MAX`]) records with ticks strictly before `before`.
/// A deleted schedule's history stays readable while records of it remain.
pub async fn fires(
    node: &MasterNode,
    id: &str,
    limit: Option<usize>,
    before: Option<i64>,
    c: Consistency,
) -> Result<Vec<FireRecord>, OpsError> {
    let limit = limit.unwrap_or(FIRES_DEFAULT);
    if limit == 0 || limit > FIRES_MAX {
        return Err(OpsError::invalid("limit", format!("must be between 1 and {FIRES_MAX}")));
    }
    c.wait(node).await?;
    let (exists, records) = node.state.read(|s| {
        let records: Vec<FireRecord> =
            s.fires_of(id).rev().filter(|r| before.is_none_or(|b| r.tick_ms < b)).take(limit).cloned().collect();
        (s.schedules.contains(&id.to_string()) || s.fires_of(id).next().is_some(), records)
    });
    if !exists {
        return Err(OpsError::NotFound(format!("schedule {id}")));
    }
    Ok(records)
}

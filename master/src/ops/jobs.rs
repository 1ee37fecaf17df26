//! The job table: what ran where and how it ended, as the leader's collector saw it; and
//! cancelling a job: a committed `CancelJob` that the leader carries out on the job's slave.

use std::time::Duration;
use std::time::Instant;

use raft_store::state::CancelState;
use raft_store::state::JobRecord;
use raft_store::state::JobState;
use raft_store::Applied;
use raft_store::Command;

use super::Consistency;
use super::OpsError;
use crate::auth::Principal;
use crate::node::MasterNode;

/// Default and largest page of [`list`].
pub const LIST_DEFAULT: usize = 100;
pub const LIST_MAX: usize = 1000;

/// Which jobs [`list`] returns; `None` matches every job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub node: Option<String>,
    pub project: Option<String>,
    pub schedule: Option<String>,
    /// At most this many (default [`LIST_DEFAULT`], 1 to [`LIST_MAX`]).
    pub limit: Option<usize>,
}

impl JobFilter {
    fn matches(&self, j: &JobRecord) -> bool {
        self.state.is_none_or(|st| j.state == st)
            && self.node.as_ref().is_none_or(|n| &j.node_id == n)
            && self.project.as_ref().is_none_or(|p| &j.project == p)
            && self.schedule.as_ref().is_none_or(|sc| j.schedule_id.as_ref() == Some(sc))
    }
}

/// The jobs matching `filter`, newest first.
pub async fn list(node: &MasterNode, filter: &JobFilter, c: Consistency) -> Result<Vec<JobRecord>, OpsError> {
    let limit = filter.limit.unwrap_or(LIST_DEFAULT);
    if limit == 0 || limit > LIST_MAX {
        return Err(OpsError::invalid("limit", format!("must be between 1 and {LIST_MAX}")));
    }
    c.wait(node).await?;
    let mut jobs: Vec<JobRecord> =
        node.state.read(|s| s.jobs.values().filter(|j| filter.matches(j)).cloned().collect());
    jobs.sort_by(|a, b| (b.created_at_ms, &b.job_id).cmp(&(a.created_at_ms, &a.job_id)));
    jobs.truncate(limit);
    Ok(jobs)
}

/// Job `id` as this master has it now.
pub fn get_local(node: &MasterNode, id: &str) -> Result<JobRecord, OpsError> {
    node.state.read(|s| s.jobs.get(&id.to_string()).cloned()).ok_or_else(|| OpsError::NotFound(format!("job {id}")))
}

/// Job `id`, read at `c`.
pub async fn get(node: &MasterNode, id: &str, c: Consistency) -> Result<JobRecord, OpsError> {
    c.wait(node).await?;
    get_local(node, id)
}

/// What [`cancel`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The fire was dropped before any slave had the job.
    Dropped,
    /// The leader cancelled it on `node_id`, which said the job was `prevstate` (`pending`,
    /// `running`, or empty if it had ended meanwhile).
    Cancelled { node_id: String, prevstate: String },
    /// The cancel is committed; the leader had not carried it out by the propose deadline.
    Committed { node_id: String },
}

/// Whether this master knows job `id` (in the job table, or as a fire not yet delivered).
fn job_known(node: &MasterNode, id: &str) -> bool {
    node.state.read(|s| s.jobs.contains(&id.to_string()) || s.fire_of_job(id).is_some())
}

/// Waits until the leader settled job `id`'s cancel request (the outcome replicated here), or
/// until `deadline`: the outcome, `None` if still open.
async fn cancel_settled(node: &MasterNode, id: &str, deadline: Instant) -> Option<CancelState> {
    loop {
        // The applied index first: an outcome applied after it wakes the wait below.
        let seen = node.state.last_applied().map(|l| l.index()).unwrap_or(0);
        match node.state.read(|s| s.jobs.get(&id.to_string()).and_then(|j| j.cancel.clone())) {
            Some(CancelState::Requested { .. }) | None => {}
            settled => return settled,
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return None;
        }
        let wait = node.raft.wait(Some(remaining));
        if wait.applied_index_at_least(Some(seen + 1), "a cancel outcome").await.is_err() {
            return None;
        }
    }
}

/// Cancels job `id`: commits `CancelJob`, then waits (up to the propose timeout) for the leader
/// to carry it out. Nothing is committed for a job the cluster does not know or that ended.
pub async fn cancel(node: &MasterNode, id: &str, by: &Principal) -> Result<CancelOutcome, OpsError> {
    // Asked at the leader's commit point if this master does not know it (it may trail).
    super::read_fresh(node, || if job_known(node, id) { Ok(()) } else { Err(OpsError::NotFound(format!("job {id}"))) })
        .await?;
    if let Some(job) = node.state.read(|s| s.jobs.get(&id.to_string()).cloned()).filter(|j| j.state.is_terminal()) {
        return Err(OpsError::Conflict(format!("job {id} already ended ({:?})", job.state)));
    }
    let deadline = Instant::now() + Duration::from_millis(node.config.scheduler.propose_timeout_ms);
    let proposed = node.proposer.propose(Command::CancelJob { job_id: id.to_string() }).await?;
    let node_id = match proposed.applied {
        Applied::FireDropped => {
            tracing::info!(job = %id, by = %by.username, "job dropped before delivery");
            return Ok(CancelOutcome::Dropped);
        }
        Applied::CancelRequested { node_id } => node_id,
        Applied::Rejected(r) => return Err(OpsError::from_rejection(r, id)),
        other => return Err(OpsError::Internal(format!("cancel applied as {other:?}"))),
    };
    tracing::info!(job = %id, node = %node_id, by = %by.username, "job cancel committed");
    match cancel_settled(node, id, deadline).await {
        Some(CancelState::Cancelled { prevstate, .. }) => Ok(CancelOutcome::Cancelled { node_id, prevstate }),
        Some(CancelState::Failed { reason, .. }) => Err(OpsError::Upstream(reason)),
        Some(CancelState::Requested { .. }) | None => Ok(CancelOutcome::Committed { node_id }),
    }
}

//! The job table: what ran where and how it ended, as the leader's collector saw it.
//! (Cancelling a job is `api::jobs::cancel` for now; it becomes a committed request.)

use raft_store::state::JobRecord;
use raft_store::state::JobState;

use super::Consistency;
use super::OpsError;
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

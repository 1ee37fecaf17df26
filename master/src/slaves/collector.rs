//! The job collector (leader only): reads `listjobs.json` from every live slave each
//! `slaves.collect_interval_ms` and commits `ReportJob` for what changed — a new job, a state
//! that moved forward, an outcome (spider-slave's extra fields). A job the table has as pending
//! or running on a slave that no longer lists it at all is reported `lost`.
//!
//! Writes happen only on change, so a steady cluster writes nothing. Finished jobs the table has
//! never seen are not added once the table is full (`JOBS_KEPT`): otherwise pruning and
//! re-adding would churn the log forever.

use std::collections::BTreeSet;
use std::time::Duration;

use raft_store::state::jobs::JOBS_KEPT;
use raft_store::state::JobRecord;
use raft_store::state::JobReport;
use raft_store::state::JobState;
use raft_store::state::Node;
use raft_store::state::NodeStatus;
use raft_store::Command;

use super::client::parse_time_ms;
use super::client::JobLists;
use super::client::SlaveClient;
use super::client::SlaveJob;
use crate::clock::WallClock;
use crate::leader::LeaderContext;

/// A job recorded less than this long ago may not be listed by its slave yet (the listing was
/// taken before the dispatch); it is not declared lost.
const LOST_GRACE_MS: u64 = 10_000;

/// Job reports per log entry.
const REPORTS_PER_ENTRY: usize = 1000;

pub async fn run(ctx: LeaderContext) {
    let interval = Duration::from_millis(ctx.node.config.slaves.collect_interval_ms);
    let timeout = Duration::from_millis(ctx.node.config.slaves.request_timeout_ms);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.token.cancelled() => return,
            _ = tick.tick() => {}
        }
        let live: Vec<Node> = ctx
            .node
            .state
            .read(|s| s.nodes.values().filter(|n| matches!(n.status, NodeStatus::Up { .. })).cloned().collect());
        let fetches = live.iter().map(|n| {
            let client = SlaveClient::new(ctx.node.http.clone(), n, timeout);
            async move {
                let started = WallClock::now_ms();
                (client.listjobs(None).await, started)
            }
        });
        let results = tokio::select! {
            _ = ctx.token.cancelled() => return,
            r = futures::future::join_all(fetches) => r,
        };
        for (n, (result, started)) in live.iter().zip(results) {
            let lists = match result {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!(node = %n.id, cause = %e, "listjobs failed");
                    continue;
                }
            };
            let reports = ctx.node.state.read(|s| {
                let full = s.jobs.len() >= JOBS_KEPT;
                changes(
                    &n.id,
                    &lists,
                    started,
                    full,
                    |id| s.jobs.get(&id.to_string()).cloned(),
                    || s.active_jobs().filter(|j| j.node_id == n.id).cloned().collect(),
                )
            });
            // One entry per listing's changes (in chunks), not one per job: a busy fleet
            // changes thousands of jobs between two listings.
            let mut reports = reports;
            while !reports.is_empty() {
                if ctx.token.is_cancelled() {
                    return;
                }
                let rest = reports.split_off(reports.len().min(REPORTS_PER_ENTRY));
                let chunk = std::mem::replace(&mut reports, rest);
                let count = chunk.len();
                let Some(cmd) = Command::batched(chunk.into_iter().map(Command::ReportJob).collect()) else { break };
                if let Err(e) = ctx.node.proposer.propose_local(cmd).await {
                    tracing::warn!(term = ctx.term, node = %n.id, reports = count, cause = %e, "could not commit job reports");
                    break;
                }
            }
        }
    }
}

fn report(node_id: &str, j: &SlaveJob, state: JobState) -> JobReport {
    JobReport {
        job_id: j.id.clone(),
        node_id: node_id.to_string(),
        project: j.project.clone(),
        spider: j.spider.clone(),
        state,
        start_ms: j.start_time.as_deref().and_then(parse_time_ms),
        end_ms: j.end_time.as_deref().and_then(parse_time_ms),
        outcome: if state == JobState::Finished { j.outcome() } else { None },
    }
}

/// Whether merging `r` into `existing` would change it (the same rule as `apply`).
fn changes_record(existing: &JobRecord, r: &JobReport) -> bool {
    existing.node_id == r.node_id
        && (r.state > existing.state
            || (existing.start_ms.is_none() && r.start_ms.is_some())
            || (r.end_ms.is_some() && r.end_ms != existing.end_ms)
            || (r.outcome.is_some() && r.outcome != existing.outcome))
}

/// The reports to commit for one slave's listing. Pure (the state is read through closures).
pub fn changes(
    node_id: &str,
    lists: &JobLists,
    listed_at_ms: u64,
    table_full: bool,
    record: impl Fn(&str) -> Option<JobRecord>,
    active_on_node: impl FnOnce() -> Vec<JobRecord>,
) -> Vec<JobReport> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let groups = [
        (&lists.pending, JobState::Pending),
        (&lists.running, JobState::Running),
        (&lists.finished, JobState::Finished),
    ];
    for (list, state) in groups {
        for j in list {
            seen.insert(j.id.clone());
            let r = report(node_id, j, state);
            match record(&j.id) {
                Some(existing) if !changes_record(&existing, &r) => {}
                None if table_full && state == JobState::Finished => {}
                _ => out.push(r),
            }
        }
    }
    for j in active_on_node() {
        if !seen.contains(&j.job_id) && j.updated_at_ms + LOST_GRACE_MS < listed_at_ms {
            out.push(JobReport {
                job_id: j.job_id,
                node_id: node_id.to_string(),
                project: j.project,
                spider: j.spider,
                state: JobState::Lost,
                start_ms: None,
                end_ms: None,
                outcome: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> SlaveJob {
        serde_json::from_value(serde_json::json!({"id": id, "project": "p", "spider": "s"})).expect("job")
    }

    fn record(id: &str, state: JobState, updated: u64) -> JobRecord {
        JobRecord {
            job_id: id.into(),
            node_id: "n1".into(),
            project: "p".into(),
            spider: "s".into(),
            state,
            schedule_id: None,
            tick_ms: None,
            start_ms: None,
            end_ms: None,
            outcome: None,
            created_at_ms: updated,
            updated_at_ms: updated,
            cancel: None,
        }
    }

    #[test]
    fn only_changes_are_reported() {
        let lists = JobLists { pending: vec![job("a")], running: vec![job("b")], finished: vec![] };
        let table = [record("a", JobState::Pending, 0), record("b", JobState::Pending, 0)];
        let got = changes("n1", &lists, 1_000, false, |id| table.iter().find(|r| r.job_id == id).cloned(), Vec::new);
        assert_eq!(got.iter().map(|r| (r.job_id.as_str(), r.state)).collect::<Vec<_>>(), [("b", JobState::Running)]);
    }

    #[test]
    fn vanished_jobs_are_lost_only_after_the_grace() {
        let lists = JobLists::default();
        let active = vec![record("old", JobState::Running, 0), record("new", JobState::Pending, 95_000)];
        let got = changes("n1", &lists, 100_000, false, |_| None, || active);
        assert_eq!(got.iter().map(|r| (r.job_id.as_str(), r.state)).collect::<Vec<_>>(), [("old", JobState::Lost)]);
    }

    #[test]
    fn unknown_finished_jobs_are_not_added_to_a_full_table() {
        let lists = JobLists { finished: vec![job("f")], running: vec![job("r")], ..Default::default() };
        let got = changes("n1", &lists, 0, true, |_| None, Vec::new);
        assert_eq!(got.iter().map(|r| r.job_id.as_str()).collect::<Vec<_>>(), ["r"]);
    }
}

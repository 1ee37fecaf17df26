//! Judging finished jobs: the job record's outcome plus the slave's log (its last lines, the
//! ERROR/CRITICAL count, Scrapy's final stats) through `alerts::spider_error::decide`.

use std::collections::BTreeSet;
use std::time::Duration;

use alerts::event::AlertEvent;
use alerts::scrapy_log::parse_log;
use alerts::spider_error::decide;
use alerts::spider_error::into_event;
use alerts::spider_error::JobFacts;
use raft_store::state::CancelState;
use raft_store::state::JobRecord;
use raft_store::state::JobState;
use raft_store::state::Node;
use raft_store::state::State;

use crate::slaves::client::SlaveClient;

/// The most of a log fetched to judge a job (its end: last lines and the stats dump).
const LOG_TAIL_BYTES: u64 = 1 << 20;

/// A finished job to judge, with what the state says about it.
pub struct Candidate {
    pub job: JobRecord,
    pub node: Option<Node>,
    pub tags: Vec<String>,
    pub thresholds: alerts::spider_error::SpiderErrorThresholds,
}

/// Terminal jobs updated at or after `since_ms` that are not in `judged` and whose alert the
/// ledger lacks.
pub fn candidates(state: &State, since_ms: u64, judged: &BTreeSet<String>) -> Vec<Candidate> {
    state
        .jobs
        .values()
        .filter(|j| j.state.is_terminal() && j.updated_at_ms >= since_ms && !judged.contains(&j.job_id))
        .filter(|j| !state.alerts.contains(&format!("job:{}:error", j.job_id)))
        .map(|j| Candidate {
            job: j.clone(),
            node: state.nodes.get(&j.node_id).cloned(),
            tags: j
                .schedule_id
                .as_ref()
                .and_then(|s| state.schedules.get(s))
                .map(|s| s.spec.node_selector.clone())
                .unwrap_or_default(),
            thresholds: state.spider_thresholds_for(&j.project, j.schedule_id.as_deref()),
        })
        .collect()
}

/// The job's verdict as an event: `SpiderError` if a condition tripped, `SpiderRecovered`
/// otherwise (fed only where the caller knows a failure of its condition fires).
pub async fn judge(http: &reqwest::Client, c: &Candidate, log_lines: usize, timeout: Duration) -> AlertEvent {
    let j = &c.job;
    let lost = j.state == JobState::Lost;
    let log = match (&c.node, lost) {
        (Some(node), false) => {
            let client = SlaveClient::new(http.clone(), node, timeout);
            match client.log_tail(&j.project, &j.spider, &j.job_id, LOG_TAIL_BYTES).await {
                Ok(text) => Some(parse_log(&text, log_lines)),
                Err(e) => {
                    tracing::debug!(job = %j.job_id, cause = %e, "no log for the job's alert");
                    None
                }
            }
        }
        _ => None,
    };
    let outcome = j.outcome.clone().unwrap_or_default();
    let facts = JobFacts {
        project: j.project.clone(),
        spider: j.spider.clone(),
        job_id: j.job_id.clone(),
        node: j.node_id.clone(),
        schedule_id: j.schedule_id.clone(),
        tags: c.tags.clone(),
        started_ms: j.start_ms.unwrap_or(j.created_at_ms),
        finished_ms: j.end_ms.unwrap_or(j.updated_at_ms),
        // Stock Scrapyd reports no exit code: a finished job without one (and without a
        // signal) is judged by its log alone, not taken for a killed process.
        exit_code: match (outcome.exit_code, outcome.signal) {
            (None, None) if !lost => Some(0),
            (code, _) => code,
        },
        lost_with_node: lost,
        cancelled: matches!(j.cancel, Some(CancelState::Cancelled { .. } | CancelState::Requested { .. })),
        log,
    };
    let tripped = decide(&facts, &c.thresholds);
    into_event(facts, tripped)
}

//! Wire shape of the job table.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use raft_store::state::CancelState;
use raft_store::state::JobOutcome;
use raft_store::state::JobRecord;
use raft_store::state::JobState;
use serde::Deserialize;
use serde::Serialize;

/// Where a job is in its life. Also the `?state=` filter of `GET /jobs` (read through
/// [`FromStr`], so a refusal lists the accepted names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum JobStateView {
    Pending,
    Running,
    Finished,
    /// Vanished from its slave without an end.
    Lost,
}

impl From<JobState> for JobStateView {
    fn from(s: JobState) -> Self {
        match s {
            JobState::Pending => JobStateView::Pending,
            JobState::Running => JobStateView::Running,
            JobState::Finished => JobStateView::Finished,
            JobState::Lost => JobStateView::Lost,
        }
    }
}

impl From<JobStateView> for JobState {
    fn from(s: JobStateView) -> Self {
        match s {
            JobStateView::Pending => JobState::Pending,
            JobStateView::Running => JobState::Running,
            JobStateView::Finished => JobState::Finished,
            JobStateView::Lost => JobState::Lost,
        }
    }
}

impl FromStr for JobStateView {
    /// The message of a refusal (the field is `state`).
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pending" => Ok(JobStateView::Pending),
            "running" => Ok(JobStateView::Running),
            "finished" => Ok(JobStateView::Finished),
            "lost" => Ok(JobStateView::Lost),
            other => Err(format!("{other:?} is not one of pending, running, finished, lost")),
        }
    }
}

impl TryFrom<String> for JobStateView {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl fmt::Display for JobStateView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobStateView::Pending => "pending",
            JobStateView::Running => "running",
            JobStateView::Finished => "finished",
            JobStateView::Lost => "lost",
        })
    }
}

/// How a job ended, as far as its slave told (spider-slave reports more than Scrapyd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobOutcomeView {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub finish_reason: Option<String>,
    pub items: Option<u64>,
    pub responses: Option<u64>,
    pub errors: Option<u64>,
    /// Log lines per level (`ERROR`, `WARNING`, …).
    pub log_counts: BTreeMap<String, u64>,
}

impl From<&JobOutcome> for JobOutcomeView {
    fn from(o: &JobOutcome) -> Self {
        JobOutcomeView {
            exit_code: o.exit_code,
            signal: o.signal,
            finish_reason: o.finish_reason.clone(),
            items: o.items,
            responses: o.responses,
            errors: o.errors,
            log_counts: o.log_counts.clone(),
        }
    }
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobView {
    pub job_id: String,
    /// The slave it ran on.
    pub node_id: String,
    pub project: String,
    pub spider: String,
    pub state: JobStateView,
    /// The schedule that fired it (none for a job started on the slave directly).
    pub schedule_id: Option<String>,
    /// The tick it was fired for, Unix ms.
    pub tick_ms: Option<i64>,
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub outcome: Option<JobOutcomeView>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// A cancel request and what the leader made of it; absent if none was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelView>,
}

/// A committed cancel request of a job, as the leader carried it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CancelView {
    /// Committed; the leader has not carried it out yet.
    Requested { at_ms: u64 },
    /// The slave cancelled it; `prevstate` is what the slave said the job was.
    Cancelled { prevstate: String, at_ms: u64 },
    /// The leader could not cancel it.
    Failed { reason: String, at_ms: u64 },
}

impl From<&CancelState> for CancelView {
    fn from(c: &CancelState) -> Self {
        match c {
            CancelState::Requested { at_ms } => CancelView::Requested { at_ms: *at_ms },
            CancelState::Cancelled { prevstate, at_ms } => {
                CancelView::Cancelled { prevstate: prevstate.clone(), at_ms: *at_ms }
            }
            CancelState::Failed { reason, at_ms } => CancelView::Failed { reason: reason.clone(), at_ms: *at_ms },
        }
    }
}

impl From<&JobRecord> for JobView {
    fn from(j: &JobRecord) -> Self {
        JobView {
            job_id: j.job_id.clone(),
            node_id: j.node_id.clone(),
            project: j.project.clone(),
            spider: j.spider.clone(),
            state: j.state.into(),
            schedule_id: j.schedule_id.clone(),
            tick_ms: j.tick_ms,
            start_ms: j.start_ms,
            end_ms: j.end_ms,
            outcome: j.outcome.as_ref().map(Into::into),
            created_at_ms: j.created_at_ms,
            updated_at_ms: j.updated_at_ms,
            cancel: j.cancel.as_ref().map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_keeps_the_wire_shape_clients_read() {
        let mut log_counts = BTreeMap::new();
        log_counts.insert("ERROR".to_string(), 2);
        let j = JobRecord {
            job_id: "sch-1-t5".into(),
            node_id: "s1".into(),
            project: "demo".into(),
            spider: "quotes".into(),
            state: JobState::Finished,
            schedule_id: Some("sch-1".into()),
            tick_ms: Some(5),
            start_ms: Some(6),
            end_ms: Some(7),
            outcome: Some(JobOutcome {
                exit_code: Some(0),
                signal: None,
                finish_reason: Some("finished".into()),
                items: Some(3),
                responses: Some(4),
                errors: Some(0),
                log_counts,
            }),
            created_at_ms: 8,
            updated_at_ms: 9,
            cancel: None,
        };
        let text = serde_json::to_string(&JobView::from(&j)).expect("encode");
        assert_eq!(
            text,
            concat!(
                r#"{"job_id":"sch-1-t5","node_id":"s1","project":"demo","spider":"quotes","state":"finished","#,
                r#""schedule_id":"sch-1","tick_ms":5,"start_ms":6,"end_ms":7,"outcome":{"exit_code":0,"signal":null,"#,
                r#""finish_reason":"finished","items":3,"responses":4,"errors":0,"log_counts":{"ERROR":2}},"#,
                r#""created_at_ms":8,"updated_at_ms":9}"#
            )
        );
        let cancelled = JobRecord { cancel: Some(CancelState::Failed { reason: "refused".into(), at_ms: 10 }), ..j };
        let v = serde_json::to_value(JobView::from(&cancelled)).expect("encode");
        assert_eq!(v["cancel"], serde_json::json!({"state": "failed", "reason": "refused", "at_ms": 10}));
    }

    #[test]
    fn job_states_parse_their_names_and_refuse_others() {
        for s in [JobStateView::Pending, JobStateView::Running, JobStateView::Finished, JobStateView::Lost] {
            assert_eq!(s.to_string().parse(), Ok(s));
            assert_eq!(serde_json::to_value(s).expect("encode"), serde_json::json!(s.to_string()));
            assert_eq!(serde_json::from_value::<JobStateView>(serde_json::json!(s.to_string())).expect("decode"), s);
        }
        assert_eq!(
            "done".parse::<JobStateView>(),
            Err("\"done\" is not one of pending, running, finished, lost".to_string())
        );
    }
}

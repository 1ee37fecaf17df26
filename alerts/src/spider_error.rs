//! Deciding whether a finished job is a spider error.
//!
//! This module owns [`decide`], a pure function from a job's facts ([`JobFacts`], assembled by the master
//! from the slave's job record and `scrapy_log::parse_log`) and the thresholds that apply to it
//! ([`SpiderErrorThresholds`], per schedule or project) to the list of conditions that tripped. It reads no
//! clock, fetches nothing and builds no alert; `into_event` turns a positive verdict into an
//! [`AlertEvent::SpiderError`].

use std::fmt;

use serde::Deserialize;

use crate::event::AlertEvent;
use serde::Serialize;

use crate::event::SpiderErrorEvent;

use crate::event::SpiderRecoveredEvent;
use crate::scrapy_log::LogSummary;

/// Thresholds for one schedule or project. The defaults alert on any ERROR/CRITICAL record, a non-zero
/// exit, a finish reason other than `finished`, and a job lost with its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpiderErrorThresholds {
    /// Trip when the log has at least this many ERROR/CRITICAL records. `None` disables the check;
    /// `Some(0)` is invalid (it would trip on every job).
    pub max_error_lines: Option<u64>,
    /// Trip when the job scraped fewer items than this (`Some(1)`: "a run with no items is an error").
    pub min_items: Option<u64>,
    /// Trip when the job ran longer than this many milliseconds.
    pub max_runtime_ms: Option<u64>,
    /// Finish reasons that count as a clean end. Anything else trips `FinishReason`.
    pub ok_finish_reasons: Vec<String>,
}

impl Default for SpiderErrorThresholds {
    fn default() -> Self {
        SpiderErrorThresholds {
            max_error_lines: Some(1),
            min_items: None,
            max_runtime_ms: None,
            ok_finish_reasons: vec!["finished".to_string()],
        }
    }
}

/// The facts about one finished job that the decision looks at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobFacts {
    pub project: String,
    pub spider: String,
    pub job_id: String,
    pub node: String,
    pub schedule_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub started_ms: u64,
    pub finished_ms: u64,
    /// The process exit code; `None` if it was killed by a signal or never reported.
    pub exit_code: Option<i32>,
    /// The job was lost because its node went down (no exit code will ever come).
    #[serde(default)]
    pub lost_with_node: bool,
    /// The job was cancelled by an operator: its non-`finished` finish reason and signal exit are expected.
    #[serde(default)]
    pub cancelled: bool,
    /// What the job's log said, if it could be fetched.
    pub log: Option<LogSummary>,
}

/// One reason a job counts as a spider error. The `Display` text is what a mail says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum TrippedCondition {
    /// The job was lost with its node.
    LostWithNode { node: String },
    /// The process exited non-zero (or by signal: `code` is `None`).
    NonZeroExit { code: Option<i32> },
    /// Scrapy's `finish_reason` was not one of the accepted ones.
    FinishReason { reason: String },
    /// The log had at least `threshold` ERROR/CRITICAL records.
    ErrorLines { count: u64, threshold: u64 },
    /// Fewer than `min` items were scraped.
    TooFewItems { items: u64, min: u64 },
    /// The job ran for longer than `max_ms`.
    RuntimeExceeded { runtime_ms: u64, max_ms: u64 },
}

impl fmt::Display for TrippedCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrippedCondition::LostWithNode { node } => write!(f, "lost with node {node}"),
            TrippedCondition::NonZeroExit { code: Some(c) } => write!(f, "exit code {c}"),
            TrippedCondition::NonZeroExit { code: None } => write!(f, "killed (no exit code)"),
            TrippedCondition::FinishReason { reason } => write!(f, "finish_reason {reason}"),
            TrippedCondition::ErrorLines { count, threshold } => {
                write!(f, "{count} ERROR/CRITICAL log lines (threshold {threshold})")
            }
            TrippedCondition::TooFewItems { items, min } => write!(f, "{items} items scraped (minimum {min})"),
            TrippedCondition::RuntimeExceeded { runtime_ms, max_ms } => {
                write!(f, "ran {} s (maximum {} s)", runtime_ms / 1000, max_ms / 1000)
            }
        }
    }
}

/// Every condition that tripped, in the order of [`TrippedCondition`]'s variants. Empty means a clean run.
pub fn decide(job: &JobFacts, th: &SpiderErrorThresholds) -> Vec<TrippedCondition> {
    let mut tripped = Vec::new();
    if job.lost_with_node {
        tripped.push(TrippedCondition::LostWithNode { node: job.node.clone() });
    }
    if !job.cancelled && !job.lost_with_node && job.exit_code != Some(0) {
        tripped.push(TrippedCondition::NonZeroExit { code: job.exit_code });
    }
    let log = job.log.as_ref();
    if !job.cancelled {
        if let Some(reason) = log.and_then(LogSummary::finish_reason) {
            if !th.ok_finish_reasons.iter().any(|ok| ok == reason) {
                tripped.push(TrippedCondition::FinishReason { reason: reason.to_string() });
            }
        }
    }
    if let (Some(threshold), Some(log)) = (th.max_error_lines, log) {
        if threshold > 0 && log.error_lines >= threshold {
            tripped.push(TrippedCondition::ErrorLines { count: log.error_lines, threshold });
        }
    }
    if let Some(min) = th.min_items {
        // A job whose log (or stats) could not be read has an unknown item count: don't guess.
        if let Some(items) = log.and_then(LogSummary::item_count) {
            if items < min && !job.cancelled {
                tripped.push(TrippedCondition::TooFewItems { items, min });
            }
        }
    }
    if let Some(max_ms) = th.max_runtime_ms {
        let runtime_ms = job.finished_ms.saturating_sub(job.started_ms);
        if runtime_ms > max_ms {
            tripped.push(TrippedCondition::RuntimeExceeded { runtime_ms, max_ms });
        }
    }
    tripped
}

/// The event for a decided job: `SpiderError` if anything tripped, `SpiderRecovered` otherwise (which the
/// router only notifies when a failure of the same schedule was notified before).
pub fn into_event(job: JobFacts, tripped: Vec<TrippedCondition>) -> AlertEvent {
    if tripped.is_empty() {
        return AlertEvent::SpiderRecovered(SpiderRecoveredEvent {
            project: job.project,
            spider: job.spider,
            job_id: job.job_id,
            node: job.node,
            schedule_id: job.schedule_id,
            tags: job.tags,
            finished_ms: job.finished_ms,
        });
    }
    let log = job.log.unwrap_or_default();
    AlertEvent::SpiderError(SpiderErrorEvent {
        finish_reason: log.finish_reason().map(str::to_string),
        item_count: log.item_count(),
        error_lines: log.error_lines,
        stats: log.stats,
        last_log_lines: log.last_lines,
        project: job.project,
        spider: job.spider,
        job_id: job.job_id,
        node: job.node,
        schedule_id: job.schedule_id,
        tags: job.tags,
        started_ms: job.started_ms,
        finished_ms: job.finished_ms,
        exit_code: job.exit_code,
        tripped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrapy_log::parse_log;

    fn job(exit: Option<i32>, log: &str) -> JobFacts {
        JobFacts {
            project: "shop".into(),
            spider: "books".into(),
            job_id: "j1".into(),
            node: "slave-1".into(),
            schedule_id: Some("s1".into()),
            tags: vec![],
            started_ms: 1_000,
            finished_ms: 61_000,
            exit_code: exit,
            lost_with_node: false,
            cancelled: false,
            log: Some(parse_log(log, 20)),
        }
    }

    fn stats(reason: &str, items: u64) -> String {
        format!(
            "2024-01-02 03:04:05 [scrapy.statscollectors] INFO: Dumping Scrapy stats:\n{{'finish_reason': '{reason}',\n 'item_scraped_count': {items}}}\n"
        )
    }

    #[test]
    fn clean_run_trips_nothing() {
        assert_eq!(decide(&job(Some(0), &stats("finished", 5)), &SpiderErrorThresholds::default()), vec![]);
    }

    #[test]
    fn real_log_with_errors_but_exit_zero_trips_error_lines() {
        let j = job(Some(0), include_str!("../tests/fixtures/scrapy_spider_error.log"));
        let t = decide(&j, &SpiderErrorThresholds::default());
        assert_eq!(t, vec![TrippedCondition::ErrorLines { count: 2, threshold: 1 }]);
        let ev = into_event(j, t);
        let AlertEvent::SpiderError(e) = &ev else { panic!("{ev:?}") };
        assert_eq!(e.item_count, Some(2));
        assert_eq!(e.finish_reason.as_deref(), Some("finished"));
        assert_eq!(ev.alert_id().as_str(), "job:j1:error");
    }

    #[test]
    fn error_threshold_is_inclusive_and_can_be_raised_or_disabled() {
        let j = job(Some(0), include_str!("../tests/fixtures/scrapy_spider_error.log"));
        let at = |n| decide(&j, &SpiderErrorThresholds { max_error_lines: n, ..Default::default() });
        assert_eq!(at(Some(2)).len(), 1);
        assert!(at(Some(3)).is_empty());
        assert!(at(None).is_empty());
    }

    #[test]
    fn every_condition_in_fixed_order() {
        let mut j = job(Some(1), &format!("2024-01-02 03:04:05 [x] CRITICAL: boom\n{}", stats("shutdown", 0)));
        j.finished_ms = 10_000_000;
        let th = SpiderErrorThresholds { min_items: Some(1), max_runtime_ms: Some(3_600_000), ..Default::default() };
        let t = decide(&j, &th);
        assert_eq!(
            t,
            vec![
                TrippedCondition::NonZeroExit { code: Some(1) },
                TrippedCondition::FinishReason { reason: "shutdown".into() },
                TrippedCondition::ErrorLines { count: 1, threshold: 1 },
                TrippedCondition::TooFewItems { items: 0, min: 1 },
                TrippedCondition::RuntimeExceeded { runtime_ms: 9_999_000, max_ms: 3_600_000 },
            ]
        );
    }

    #[test]
    fn cancelled_job_is_not_an_error_for_its_reason_or_exit() {
        let mut j = job(None, &stats("shutdown", 3));
        j.cancelled = true;
        assert!(decide(&j, &SpiderErrorThresholds { min_items: Some(10), ..Default::default() }).is_empty());
    }

    #[test]
    fn lost_job_says_so_once() {
        let mut j = job(None, "");
        j.lost_with_node = true;
        j.log = None;
        assert_eq!(
            decide(&j, &SpiderErrorThresholds { min_items: Some(1), ..Default::default() }),
            vec![TrippedCondition::LostWithNode { node: "slave-1".into() }]
        );
    }

    #[test]
    fn closespider_reasons_can_be_accepted() {
        let j = job(Some(0), &stats("closespider_itemcount", 100));
        let th = SpiderErrorThresholds {
            ok_finish_reasons: vec!["finished".into(), "closespider_itemcount".into()],
            ..Default::default()
        };
        assert!(decide(&j, &th).is_empty());
        assert_eq!(decide(&j, &SpiderErrorThresholds::default()).len(), 1);
    }
}

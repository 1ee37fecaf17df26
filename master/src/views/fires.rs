//! Wire shape of the fire history: one [`FireView`] per decided tick, with what became of it
//! in words (and the numbers behind them).

use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::FireRecord;
use raft_store::state::SkipReason;
use serde::Deserialize;
use serde::Serialize;

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
    /// Dropped by a cancel before any slave had it.
    Cancelled { at_ms: u64 },
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
                DispatchState::Cancelled { at_ms } => {
                    (FireOutcome::Cancelled { at_ms: *at_ms }, since(r.tick_ms, r.decided_at_ms))
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(decision: FireDecision) -> FireRecord {
        FireRecord {
            schedule_id: "sch-1".into(),
            tick_ms: 1_000,
            project: "demo".into(),
            spider: "quotes".into(),
            schedule_version: 2,
            decided_at_ms: 1_250,
            decision,
        }
    }

    #[test]
    fn fire_records_keep_the_wire_shape_clients_read() {
        let dispatched = record(FireDecision::Fired {
            job_id: "sch-1-t1000".into(),
            dispatch: DispatchState::Dispatched { node_id: "s1".into(), at_ms: 1_400, attempts: 1 },
        });
        assert_eq!(
            serde_json::to_string(&fire_view(&dispatched)).expect("encode"),
            concat!(
                r#"{"tick_ms":1000,"tick":"1970-01-01T00:00:01+00:00","job_id":"sch-1-t1000","#,
                r#""outcome":{"kind":"dispatched","node_id":"s1","at_ms":1400,"attempts":1},"#,
                r#""schedule_version":2,"decided_at_ms":1250,"lateness_ms":400}"#
            )
        );
        let skipped = record(FireDecision::Skipped { reason: SkipReason::Misfire { late_ms: 90 } });
        assert_eq!(
            serde_json::to_string(&fire_view(&skipped)).expect("encode"),
            concat!(
                r#"{"tick_ms":1000,"tick":"1970-01-01T00:00:01+00:00","job_id":null,"#,
                r#""outcome":{"kind":"skipped","reason":"misfire: 90 ms late, the misfire policy said not to run it"},"#,
                r#""schedule_version":2,"decided_at_ms":1250,"lateness_ms":90}"#
            )
        );
    }
}

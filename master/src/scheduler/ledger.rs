//! The scheduler's reads of the replicated ledgers, pure (no I/O, no clock): which fires still
//! wait for a delivery, which are new since the scheduler last looked, each schedule's newest
//! active job, and which jobs have a cancel request open.
//!
//! [`NewFires`] follows the fire ledger by its table journal, so a round looks only at the
//! records applied since the previous round — every fire, whoever committed it (this leader's
//! rounds, a run-now through any master's API, later the Scrapyd facade's `schedule.json`).

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::FireRecord;
use raft_store::state::Schedule;
use raft_store::state::State;

/// A fired tick whose delivery has no outcome yet.
#[derive(Debug, Clone)]
pub struct Unsettled {
    pub job_id: String,
    pub record: FireRecord,
}

/// Whether a ledger record is a fire still waiting for its dispatch outcome.
pub fn unsettled_record(r: &FireRecord) -> bool {
    matches!(r.decision, FireDecision::Fired { dispatch: DispatchState::Pending, .. })
}

/// Every fired tick without a dispatch outcome, oldest tick first. A scan of the whole ledger:
/// for reconciliation and the recovery scan only.
pub fn unsettled(state: &State) -> Vec<Unsettled> {
    let mut out: Vec<Unsettled> = state
        .pending_dispatches()
        .filter_map(|r| match &r.decision {
            FireDecision::Fired { job_id, dispatch: DispatchState::Pending } => {
                Some(Unsettled { job_id: job_id.clone(), record: r.clone() })
            }
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.record.tick_ms.cmp(&b.record.tick_ms).then(a.job_id.cmp(&b.job_id)));
    out
}

/// Whether fire `job_id` still waits for its delivery (not delivered, failed or dropped).
pub fn still_pending(state: &State, job_id: &str) -> bool {
    state.fire_of_job(job_id).is_some_and(unsettled_record)
}

/// Follows the fire ledger's journal: the fires applied since the last look.
#[derive(Debug, Clone, Copy)]
pub struct NewFires {
    seen: u64,
}

impl NewFires {
    /// Starts following from the ledger as it is now (what is already there is not new).
    pub fn new(state: &State) -> Self {
        Self { seen: state.fires.generation() }
    }

    /// Job ids of the fires changed since the last call that still wait for a delivery and for
    /// which `busy` is false (a delivery of this term already has it), oldest change first;
    /// `None` when the journal cannot tell (it no longer reaches back that far, or a snapshot
    /// replaced the state): then only a scan of the whole ledger can find them.
    pub fn take(&mut self, state: &State, busy: impl Fn(&str) -> bool) -> Option<Vec<String>> {
        let generation = state.fires.generation();
        if generation == self.seen {
            return Some(Vec::new());
        }
        let changed = state.fires.changed_since(self.seen);
        self.seen = generation;
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for key in changed? {
            let Some(FireRecord { decision: FireDecision::Fired { job_id, dispatch: DispatchState::Pending }, .. }) =
                state.fires.get(key)
            else {
                continue;
            };
            if !busy(job_id) && seen.insert(job_id.as_str()) {
                out.push(job_id.clone());
            }
        }
        Some(out)
    }
}

/// Newest active job (pending/running, or fired and not yet delivered) of each of `schedules`:
/// schedule id → (tick, job id).
pub fn active_jobs_of(s: &State, schedules: &[&Schedule]) -> BTreeMap<String, (i64, String)> {
    let mut out: BTreeMap<String, (i64, String)> = BTreeMap::new();
    if schedules.is_empty() {
        return out;
    }
    let wanted: BTreeSet<&str> = schedules.iter().map(|sch| sch.id.as_str()).collect();
    let mut offer = |sid: &str, tick: i64, job: &str| {
        let e = out.entry(sid.to_string()).or_insert((i64::MIN, String::new()));
        if tick >= e.0 {
            *e = (tick, job.to_string());
        }
    };
    for j in s.active_jobs() {
        if let (Some(sid), Some(tick)) = (&j.schedule_id, j.tick_ms) {
            if wanted.contains(sid.as_str()) {
                offer(sid, tick, &j.job_id);
            }
        }
    }
    // A fire not yet delivered is the schedule's newest record (ticks only move forward).
    for sid in wanted {
        if let Some(r) = s.fires_of(sid).next_back().filter(|r| unsettled_record(r)) {
            if let FireDecision::Fired { job_id, .. } = &r.decision {
                offer(sid, r.tick_ms, job_id);
            }
        }
    }
    out
}

/// Jobs whose cancel request the leader has not carried out yet (kept by an index: no scan).
pub fn cancels_requested(state: &State) -> Vec<String> {
    state.cancels_requested().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use raft_store::apply::apply;
    use raft_store::state::ScheduleSpec;
    use raft_store::state::Trigger;
    use raft_store::Command;
    use raft_store::LogEntry;
    use raft_store::Tick;

    use super::*;

    fn run(s: &mut State, index: u64, cmd: Command) {
        let r = apply(s, index, &LogEntry::new(1_000, cmd));
        assert!(!r.is_rejected(), "{r:?}");
    }

    fn spec() -> ScheduleSpec {
        ScheduleSpec {
            project: "p".into(),
            spider: "s".into(),
            egg_version: None,
            args: Default::default(),
            settings: Default::default(),
            priority: 0,
            node_selector: vec![],
            trigger: Trigger::Once { at_ms: 1 },
            misfire: Default::default(),
            overlap: Default::default(),
        }
    }

    fn fire(sid: &str, tick_ms: i64) -> Command {
        Command::Fire(Tick { schedule_id: sid.into(), tick_ms, schedule_version: 1 })
    }

    #[test]
    fn new_fires_are_named_once_and_only_while_pending_and_not_busy() {
        let mut s = State::default();
        run(&mut s, 1, Command::CreateSchedule { spec: spec() });
        run(&mut s, 2, fire("sch-1", 10));
        let mut new = NewFires::new(&s);
        assert_eq!(new.take(&s, |_| false), Some(vec![]), "what was there before is not new");
        run(&mut s, 3, fire("sch-1", 20));
        run(&mut s, 4, fire("sch-1", 30));
        run(&mut s, 5, Command::DispatchFailed { job_id: "sch-1-t30".into(), reason: "x".into() });
        // 30 has an outcome already; a busy one is left alone.
        assert_eq!(new.take(&s, |_| false), Some(vec!["sch-1-t20".to_string()]));
        assert_eq!(new.take(&s, |_| false), Some(vec![]), "named once");
        run(&mut s, 6, fire("sch-1", 40));
        assert_eq!(new.take(&s, |j| j == "sch-1-t40"), Some(vec![]));
        // A state replaced wholesale (as by a snapshot) cannot be followed: the caller scans.
        let replaced = State::default();
        assert_eq!(new.take(&replaced, |_| false), None);
    }
}

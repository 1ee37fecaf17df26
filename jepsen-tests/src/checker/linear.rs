//! Per-schedule linearizability (a Wing–Gong–Lowe search) and "no acknowledged write lost".
//!
//! Each schedule is a register whose value is `(version, paused)`, or absent once deleted. The
//! master bumps `version` on every update and on every pause/resume that changes `paused`
//! (raft-store `apply/schedules.rs`); a pause of a paused schedule changes nothing. Writes'
//! answers are not used as values (a write's answer shows the state after it, possibly after
//! later writes too); linearizable reads are. `info` writes may or may not have taken effect;
//! `info` reads and `fail` operations (4xx: not applied) are left out.

use std::collections::BTreeMap;
use std::collections::HashSet;

use super::verdict::Verdict;
use crate::history::Event;
use crate::history::History;
use crate::history::OpKind;
use crate::history::Phase;

/// Operations kept per schedule (the search is exponential in the worst case).
pub const MAX_OPS_PER_KEY: usize = 200;
/// States explored per schedule before giving up with "unknown".
const MAX_STATES: usize = 2_000_000;

/// The register: `None` once deleted.
pub type Value = Option<(u64, bool)>;

/// One completed (or indeterminate) operation on one schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub invoke: u64,
    /// `None`: indeterminate (may take effect at any time after `invoke`, or never).
    pub complete: Option<u64>,
    pub f: OpKind,
    /// What a read saw.
    pub read: Value,
}

/// The register's transition for `f` from `s`, or `None` if `f` cannot happen there.
fn step(s: Value, op: &Op) -> Option<Value> {
    match (op.f, s) {
        (OpKind::Read, s) => (s == op.read).then_some(s),
        (OpKind::Update, Some((v, p))) => Some(Some((v + 1, p))),
        (OpKind::Pause, Some((v, false))) => Some(Some((v + 1, true))),
        (OpKind::Resume, Some((v, true))) => Some(Some((v + 1, false))),
        (OpKind::Pause | OpKind::Resume, Some(x)) => Some(Some(x)),
        (OpKind::Delete, Some(_)) => Some(None),
        (OpKind::Create, _) | (_, None) => None,
    }
}

/// Outcome of one key's search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linear {
    Yes,
    No,
    /// The search budget ran out.
    Unknown,
}

/// Whether `ops`, starting from `init`, have a linearization.
pub fn linearizable(init: Value, ops: &[Op]) -> Linear {
    let n = ops.len();
    let words = n.div_ceil(64).max(1);
    let mut seen: HashSet<(Vec<u64>, Value)> = HashSet::new();
    let mut stack: Vec<(Vec<u64>, Value)> = vec![(vec![0; words], init)];
    let done = |bits: &[u64], i: usize| bits[i / 64] & (1 << (i % 64)) != 0;
    while let Some((bits, state)) = stack.pop() {
        // Every acknowledged operation placed: the rest are indeterminate and may never happen.
        if (0..n).all(|i| done(&bits, i) || ops[i].complete.is_none()) {
            return Linear::Yes;
        }
        if !seen.insert((bits.clone(), state)) {
            continue;
        }
        if seen.len() > MAX_STATES {
            return Linear::Unknown;
        }
        // Only operations invoked before the earliest pending completion can go next. Times
        // are whole milliseconds, so an invoke in the same millisecond counts as concurrent
        // (an operation invoked and completed within one millisecond must be able to go).
        let horizon = (0..n).filter(|i| !done(&bits, *i)).filter_map(|i| ops[i].complete).min().unwrap_or(u64::MAX);
        for i in (0..n).filter(|i| !done(&bits, *i) && ops[*i].invoke <= horizon) {
            if let Some(next) = step(state, &ops[i]) {
                let mut b = bits.clone();
                b[i / 64] |= 1 << (i % 64);
                stack.push((b, next));
            }
        }
    }
    Linear::No
}

/// Per schedule: its state when created, and its operations (capped).
pub fn per_key(h: &History) -> BTreeMap<String, (Value, u64, Vec<Op>)> {
    let mut keys: BTreeMap<String, (Value, u64, Vec<Op>)> = BTreeMap::new();
    let mut open: BTreeMap<u32, (OpKind, u64)> = BTreeMap::new();
    for e in &h.events {
        let Event::Op { at_ms, process, phase, f, key, version, paused, .. } = e else { continue };
        match phase {
            Phase::Invoke => {
                open.insert(*process, (*f, *at_ms));
            }
            done => {
                let Some((kind, invoke)) = open.remove(process) else { continue };
                let Some(key) = key else { continue };
                if kind == OpKind::Create {
                    if *done == Phase::Ok {
                        keys.insert(
                            key.clone(),
                            (Some((version.unwrap_or(1), paused.unwrap_or(false))), *at_ms, vec![]),
                        );
                    }
                    continue;
                }
                let Some((_, _, ops)) = keys.get_mut(key) else { continue };
                let complete = match done {
                    Phase::Ok => Some(*at_ms),
                    Phase::Info if kind != OpKind::Read => None,
                    _ => continue,
                };
                let read = version.map(|v| (v, paused.unwrap_or(false)));
                ops.push(Op { invoke, complete, f: kind, read });
            }
        }
    }
    for (_, _, ops) in keys.values_mut() {
        cap(ops, MAX_OPS_PER_KEY);
    }
    keys
}

/// Keeps the operations invoked before the `max + 1`-th invocation `T`. A write still running
/// at `T` becomes indeterminate and a read still running at `T` is dropped: nothing invoked
/// after `T` can have been seen by what completed before it, so the cut history is a real one.
pub fn cap(ops: &mut Vec<Op>, max: usize) {
    if ops.len() <= max {
        return;
    }
    ops.sort_by_key(|o| o.invoke);
    let cut = ops[max].invoke;
    ops.truncate(max);
    ops.retain_mut(|o| match o.complete {
        Some(c) if c > cut && o.f == OpKind::Read => false,
        Some(c) if c > cut => {
            o.complete = None;
            true
        }
        _ => true,
    });
}

/// Per-schedule reads are linearizable.
pub fn linearizable_reads(h: &History) -> Verdict {
    let mut bad = Vec::new();
    let mut unknown = Vec::new();
    let (mut keys, mut ops_total, mut reads) = (0, 0, 0);
    for (key, (init, _, ops)) in per_key(h) {
        keys += 1;
        ops_total += ops.len();
        reads += ops.iter().filter(|o| o.f == OpKind::Read).count();
        match linearizable(init, &ops) {
            Linear::Yes => {}
            Linear::No => bad.push(key),
            Linear::Unknown => unknown.push(key),
        }
    }
    if !bad.is_empty() {
        return Verdict::invalid(format!("no linearization for schedule(s) {}", bad.join(", ")));
    }
    if reads == 0 {
        return Verdict::unknown("no linearizable read completed");
    }
    if !unknown.is_empty() {
        return Verdict::unknown(format!("search budget exhausted for {}", unknown.join(", ")));
    }
    Verdict::valid(format!(
        "{keys} schedules, {ops_total} operations ({reads} reads; at most {MAX_OPS_PER_KEY} per schedule) linearizable"
    ))
}

/// No acknowledged write lost: the final read (after the heal, the last read of each schedule
/// made at or after `final_at_ms`) shows every delete acknowledged before then, and otherwise a
/// version at least as new as every such acknowledged write's answer.
pub fn no_lost_write(h: &History, final_at_ms: u64) -> Verdict {
    let mut acked: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    let mut finals: BTreeMap<String, Option<u64>> = BTreeMap::new();
    // Keys with a delete whose outcome is unknown (timeout, connection error): it may have
    // happened, so a final read that finds the schedule gone is no lost write.
    let mut maybe_deleted: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut open: BTreeMap<u32, OpKind> = BTreeMap::new();
    for e in &h.events {
        let Event::Op { at_ms, process, phase, f, key, version, .. } = e else { continue };
        if *phase == Phase::Invoke {
            open.insert(*process, *f);
            continue;
        }
        let (Some(kind), Some(key)) = (open.remove(process), key) else { continue };
        if *phase == Phase::Info && kind == OpKind::Delete && *at_ms < final_at_ms {
            maybe_deleted.insert(key.clone());
        }
        if *phase != Phase::Ok {
            continue;
        }
        if kind == OpKind::Read {
            if *at_ms >= final_at_ms {
                finals.insert(key.clone(), *version);
            }
            continue;
        }
        if *at_ms >= final_at_ms {
            // Writes after the final reads (the pause of everything) are not judged here.
            continue;
        }
        let a = acked.entry(key.clone()).or_insert((0, false));
        if kind == OpKind::Delete {
            a.1 = true;
        } else if let Some(v) = version {
            a.0 = a.0.max(*v);
        }
    }
    if finals.is_empty() {
        return Verdict::unknown("no final read");
    }
    let mut bad = Vec::new();
    for (key, (version, deleted)) in &acked {
        match (finals.get(key), deleted) {
            (None, _) => bad.push(format!("{key}: never read after the heal")),
            (Some(Some(v)), true) => bad.push(format!("{key}: deleted (acknowledged) but read back at version {v}")),
            (Some(None), false) if !maybe_deleted.contains(key) => {
                bad.push(format!("{key}: acknowledged at version {version}, read back as missing"))
            }
            (Some(Some(v)), false) if v < version => {
                bad.push(format!("{key}: acknowledged at version {version}, read back at {v}"))
            }
            _ => {}
        }
    }
    if !bad.is_empty() {
        return Verdict::invalid(bad.join("; "));
    }
    Verdict::valid(format!("{} schedules read back after the heal with every acknowledged write", acked.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoke: u64, complete: Option<u64>, f: OpKind, read: Value) -> Op {
        Op { invoke, complete, f, read }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let ops = [
            op(1, Some(2), OpKind::Update, None),
            op(3, Some(4), OpKind::Read, Some((2, false))),
            op(5, Some(6), OpKind::Pause, None),
            op(7, Some(8), OpKind::Read, Some((3, true))),
            op(9, Some(10), OpKind::Pause, None),
            op(11, Some(12), OpKind::Read, Some((3, true))),
            op(13, Some(14), OpKind::Delete, None),
            op(15, Some(16), OpKind::Read, None),
        ];
        assert_eq!(linearizable(Some((1, false)), &ops), Linear::Yes);
    }

    #[test]
    fn a_stale_read_after_an_acknowledged_write_is_not() {
        let ops = [op(1, Some(2), OpKind::Update, None), op(3, Some(4), OpKind::Read, Some((1, false)))];
        assert_eq!(linearizable(Some((1, false)), &ops), Linear::No);
        // Concurrent with the write, the old value is fine.
        let ops = [op(1, Some(5), OpKind::Update, None), op(3, Some(4), OpKind::Read, Some((1, false)))];
        assert_eq!(linearizable(Some((1, false)), &ops), Linear::Yes);
    }

    #[test]
    fn indeterminate_writes_may_or_may_not_happen_but_not_twice() {
        let info = op(1, None, OpKind::Update, None);
        let seen = |v| vec![info.clone(), op(10, Some(11), OpKind::Read, Some((v, false)))];
        assert_eq!(linearizable(Some((1, false)), &seen(1)), Linear::Yes);
        assert_eq!(linearizable(Some((1, false)), &seen(2)), Linear::Yes);
        assert_eq!(linearizable(Some((1, false)), &seen(3)), Linear::No);
        // A read that goes back after seeing the write is not.
        let mut back = seen(2);
        back.push(op(12, Some(13), OpKind::Read, Some((1, false))));
        assert_eq!(linearizable(Some((1, false)), &back), Linear::No);
    }

    #[test]
    fn an_operation_within_one_millisecond_can_be_placed() {
        let ops = [op(5, Some(5), OpKind::Read, Some((1, false))), op(5, Some(5), OpKind::Update, None)];
        assert_eq!(linearizable(Some((1, false)), &ops), Linear::Yes);
        let ops = [op(5, Some(5), OpKind::Update, None), op(6, Some(6), OpKind::Read, Some((1, false)))];
        assert_eq!(linearizable(Some((1, false)), &ops), Linear::No);
    }

    #[test]
    fn capping_keeps_a_real_history() {
        // The read (invoked before the cut, completed after it) may have seen the update
        // invoked after the cut: it must be dropped, not judged without that update.
        let mut ops = vec![
            op(1, Some(2), OpKind::Update, None),
            op(3, Some(9), OpKind::Read, Some((3, false))),
            op(4, Some(5), OpKind::Update, None),
            op(6, Some(7), OpKind::Update, None),
        ];
        cap(&mut ops, 3);
        assert_eq!(ops.iter().map(|o| o.invoke).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(linearizable(Some((1, false)), &ops), Linear::Yes);
        let mut ops = vec![
            op(1, Some(9), OpKind::Update, None),
            op(2, Some(3), OpKind::Read, None),
            op(4, Some(5), OpKind::Read, None),
        ];
        cap(&mut ops, 2);
        assert_eq!(ops[0].complete, None, "a write running at the cut is indeterminate");
    }

    #[test]
    fn a_deleted_schedule_cannot_come_back() {
        let ops = [op(1, Some(2), OpKind::Delete, None), op(3, Some(4), OpKind::Read, Some((1, false)))];
        assert_eq!(linearizable(Some((1, false)), &ops), Linear::No);
    }

    fn ev(at_ms: u64, process: u32, phase: Phase, f: OpKind, key: &str, version: Option<u64>) -> Event {
        Event::Op {
            at_ms,
            process,
            phase,
            f,
            key: (!key.is_empty()).then(|| key.to_string()),
            node: 1,
            version,
            paused: version.map(|_| false),
            error: None,
        }
    }

    #[test]
    fn histories_are_judged_per_schedule() {
        let base = vec![
            ev(0, 1, Phase::Invoke, OpKind::Create, "", None),
            ev(1, 1, Phase::Ok, OpKind::Create, "a", Some(1)),
            ev(2, 1, Phase::Invoke, OpKind::Update, "a", None),
            ev(3, 1, Phase::Ok, OpKind::Update, "a", Some(2)),
            ev(4, 2, Phase::Invoke, OpKind::Read, "a", None),
        ];
        let mut good = base.clone();
        good.push(ev(5, 2, Phase::Ok, OpKind::Read, "a", Some(2)));
        // The pause of everything after the final reads is not a write the reads must show.
        good.push(ev(6, 3, Phase::Invoke, OpKind::Pause, "a", None));
        good.push(ev(7, 3, Phase::Ok, OpKind::Pause, "a", Some(3)));
        let h = History { events: good };
        assert_eq!(linearizable_reads(&h).valid, Some(true));
        assert_eq!(no_lost_write(&h, 4).valid, Some(true));
        let mut stale = base;
        stale.push(ev(5, 2, Phase::Ok, OpKind::Read, "a", Some(1)));
        let h = History { events: stale };
        let v = linearizable_reads(&h);
        assert_eq!(v.valid, Some(false));
        assert!(v.details.contains('a'), "{}", v.details);
        assert_eq!(no_lost_write(&h, 4).valid, Some(false));
    }

    #[test]
    fn a_schedule_gone_after_a_delete_of_unknown_outcome_is_no_lost_write() {
        let mut events = vec![
            ev(0, 1, Phase::Invoke, OpKind::Create, "", None),
            ev(1, 1, Phase::Ok, OpKind::Create, "a", Some(1)),
            ev(2, 1, Phase::Invoke, OpKind::Delete, "a", None),
            ev(3, 1, Phase::Info, OpKind::Delete, "a", None),
            ev(5, 2, Phase::Invoke, OpKind::Read, "a", None),
            ev(6, 2, Phase::Ok, OpKind::Read, "a", None),
        ];
        assert_eq!(no_lost_write(&History { events: events.clone() }, 4).valid, Some(true));
        // Without the delete, the same read is a lost write.
        events.drain(2..4);
        assert_eq!(no_lost_write(&History { events }, 4).valid, Some(false));
    }
}

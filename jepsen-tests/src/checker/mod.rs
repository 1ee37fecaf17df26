//! Checkers judge the recorded history, not the cluster's opinion of itself.
//!
//! - here: election safety, failover, convergence, panics, coverage, and [`check_all`] (the
//!   one place that runs every checker and gathers [`Checked`]);
//! - [`verdict`]: [`Verdict`] and how verdicts combine;
//! - [`fires`]: fires read from the history; duplicate starts, fires after pause/delete, overlap;
//! - [`windows`]: fault windows and the excuse rules; lost ticks;
//! - [`lateness`]: lateness statistics, the real slave's crawls, per-fault and per-kind effects;
//! - [`linear`]: per-schedule linearizability (WGL) and lost acknowledged writes;
//! - [`alerts`]: one delivered failover alert per failover, duplicate `Message-ID`s, judged
//!   over the history and the SMTP sink's stored mail (the one checker that reads more than
//!   the history: what a mail server accepted is the evidence).
//!
//! Imports go one way: `verdict` ← `fires` ← `windows` ← `lateness` ← here (`linear` needs
//! only `verdict`; `alerts` needs `verdict` and `windows`).

pub mod alerts;
pub mod fires;
pub mod lateness;
pub mod linear;
pub mod verdict;
pub mod windows;

use std::collections::BTreeMap;

use serde::Serialize;

pub use self::verdict::overall;
pub use self::verdict::Verdict;
use self::windows::deposes_leader;
use crate::fault::Fault;
use crate::history::Event;
use crate::history::History;

/// Election safety: no two masters ever report leading in the same term.
pub fn election_safety(h: &History) -> Verdict {
    let mut leaders: BTreeMap<u64, u8> = BTreeMap::new();
    for e in &h.events {
        if let Event::Observed { node, state, term, .. } = e {
            if state == "Leader" {
                if let Some(other) = leaders.insert(*term, *node) {
                    if other != *node {
                        return Verdict {
                            valid: Some(false),
                            details: format!("masters {other} and {node} both led term {term}"),
                        };
                    }
                }
            }
        }
    }
    Verdict { valid: Some(true), details: format!("{} terms with a leader, one leader each", leaders.len()) }
}

/// Failover: after each installed fault that deposes the leader ([`deposes_leader`]), another
/// master led. Returns the verdict and the time to a new leader per such fault (ms).
pub fn failover(h: &History) -> (Verdict, Vec<u64>) {
    let mut times = Vec::new();
    let faults: Vec<(u64, u8)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Fault { at_ms, target, installed: true, kind } if deposes_leader(kind) => Some((*at_ms, *target)),
            _ => None,
        })
        .collect();
    if faults.is_empty() {
        return (Verdict { valid: None, details: "no fault was installed".into() }, times);
    }
    for (at, target) in &faults {
        let new_leader = h.events.iter().find_map(|e| match e {
            Event::Observed { at_ms, node, state, .. } if at_ms > at && *node != *target && state == "Leader" => {
                Some(*at_ms - at)
            }
            _ => None,
        });
        match new_leader {
            Some(ms) => times.push(ms),
            None => {
                return (
                    Verdict {
                        valid: Some(false),
                        details: format!("no new leader after the fault on {target} at {at} ms"),
                    },
                    times,
                )
            }
        }
    }
    (Verdict { valid: Some(true), details: format!("new leader after {times:?} ms") }, times)
}

/// Replicas converge: every master's final sample shows the same applied index and the same
/// digest of its whole replicated state (`GET /api/v1/cluster/digest`, read together on each
/// master).
pub fn convergence(h: &History, masters: usize) -> Verdict {
    let mut last: BTreeMap<u8, (Option<u64>, &str, usize)> = BTreeMap::new();
    for e in &h.events {
        if let Event::Final { node, applied, digest, schedules, .. } = e {
            last.insert(*node, (*applied, digest.as_str(), *schedules));
        }
    }
    if last.is_empty() {
        return Verdict::unknown("no final sample was taken");
    }
    let shown: Vec<String> = last
        .iter()
        .map(|(n, (a, d, s))| {
            format!("n{n}: applied {}, {s} schedules, digest {d}", a.map_or("?".into(), |a| a.to_string()))
        })
        .collect();
    let first = last.values().next().map(|(a, d, _)| (*a, *d));
    if last.len() < masters
        || last.values().any(|(a, d, _)| Some((*a, *d)) != first)
        || first.is_some_and(|(a, _)| a.is_none())
    {
        return Verdict::invalid(format!("replicas differ after the heal: {}", shown.join("; ")));
    }
    Verdict::valid(format!("all {} masters: {}", last.len(), shown.first().cloned().unwrap_or_default()))
}

/// No `panicked at` in any master's log.
pub fn no_panics(h: &History) -> Verdict {
    let panics: Vec<String> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Panic { node, line } => Some(format!("n{node}: {line}")),
            _ => None,
        })
        .collect();
    if panics.is_empty() {
        Verdict::valid("no panic in the masters' logs")
    } else {
        Verdict::invalid(format!(
            "{} panic line(s): {}",
            panics.len(),
            panics.into_iter().take(5).collect::<Vec<_>>().join(" | ")
        ))
    }
}

/// Every requested fault kind was installed at least once (else the run proves nothing about it).
pub fn coverage(h: &History) -> Verdict {
    let mut kinds: BTreeMap<Fault, (usize, usize)> = BTreeMap::new();
    for e in &h.events {
        if let Event::Start { requested, .. } = e {
            for k in requested {
                kinds.entry(*k).or_default();
            }
        }
    }
    for e in &h.events {
        if let Event::Fault { kind, installed, .. } = e {
            let k = kinds.entry(*kind).or_default();
            if *installed {
                k.0 += 1;
            } else {
                k.1 += 1;
            }
        }
    }
    let shown: Vec<String> = kinds.iter().map(|(k, (i, s))| format!("{k}: {i} installed, {s} skipped")).collect();
    if kinds.is_empty() {
        return Verdict::valid("no fault was requested");
    }
    if kinds.values().any(|(i, _)| *i == 0) {
        return Verdict::unknown(format!("a requested fault was never installed: {}", shown.join("; ")));
    }
    Verdict::valid(shown.join("; "))
}

/// Bounds the checkers judge against.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Bounds {
    /// How long after a fault (to a new leader) or a heal missed and late ticks are excused.
    pub failover_ms: u64,
    /// Steady-state lateness p99.
    pub steady_p99_ms: u64,
    /// How long a run lasts on the stand-ins.
    pub job_ms: u64,
    /// Masters in the cluster.
    pub masters: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds { failover_ms: 5_000, steady_p99_ms: 1_000, job_ms: 1_500, masters: 3 }
    }
}

/// Everything the checkers found.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub verdicts: BTreeMap<String, Verdict>,
    pub fires_checked: usize,
    pub faults_injected: usize,
    pub time_to_new_leader_ms: Vec<u64>,
    pub lateness: lateness::Lateness,
    pub per_fault: Vec<lateness::FaultStat>,
    /// Keyed by [`Fault::name`] (parameters dropped).
    pub by_kind: BTreeMap<&'static str, lateness::KindStat>,
    /// Excused intervals, ms since the run's start.
    pub fault_windows: Vec<(u64, u64)>,
    /// What the alert checker counted.
    pub alerts: alerts::AlertStats,
}

impl Checked {
    /// `false` if any checker says invalid, else `None` if any says unknown, else `true`.
    pub fn valid(&self) -> Option<bool> {
        overall(self.verdicts.values())
    }

    pub fn anomalies(&self) -> usize {
        self.verdicts.values().filter(|v| v.valid == Some(false)).count()
    }
}

/// Runs every checker; `mail`: what the run's SMTP sink stored ([`alerts::read_mailbox`]).
pub fn check_all(h: &History, b: &Bounds, mail: &alerts::Mailbox) -> Checked {
    let final_at_ms = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::FinalReads { at_ms } => Some(*at_ms),
            _ => None,
        })
        .unwrap_or(u64::MAX);
    let mut v = BTreeMap::new();
    v.insert("election_safety".to_string(), election_safety(h));
    let master_faults = h.events.iter().any(|e| matches!(e, Event::Fault { kind, .. } if deposes_leader(kind)));
    let (fo, times) = failover(h);
    if master_faults {
        v.insert("failover".into(), fo);
    }
    v.insert("coverage".into(), coverage(h));
    v.insert("no_duplicate_start".into(), fires::no_duplicate_start(h));
    v.insert("no_fire_after_pause_or_delete".into(), fires::no_fire_after_pause_or_delete(h));
    let (lost, _) = windows::no_lost_tick(h, b.failover_ms);
    v.insert("no_lost_tick".into(), lost);
    v.insert("overlap_forbid".into(), fires::no_overlap_when_forbidden(h, b.job_ms));
    let (late, lateness) = lateness::lateness(h, b.failover_ms, b.steady_p99_ms);
    v.insert("lateness".into(), late);
    v.insert("real_slave".into(), lateness::real_slave(h));
    v.insert("linearizable_reads".into(), linear::linearizable_reads(h));
    v.insert("no_lost_write".into(), linear::no_lost_write(h, final_at_ms));
    v.insert("convergence".into(), convergence(h, b.masters));
    v.insert("no_panics".into(), no_panics(h));
    let (alerted, alert_stats) = alerts::alerts(h, mail, b.masters);
    v.insert("alerts".into(), alerted);
    for e in &h.events {
        if let Event::RunError { message, .. } = e {
            v.insert("run".into(), Verdict::invalid(format!("the run did not complete: {message}")));
        }
    }
    let start = h.start_unix_ms();
    let per_fault = lateness::per_fault(h, b.failover_ms, &lateness.points);
    let by_kind = lateness::by_kind(h, b.failover_ms, &per_fault, &lateness.points);
    Checked {
        verdicts: v,
        fires_checked: fires::first_starts(h).len(),
        faults_injected: h.events.iter().filter(|e| matches!(e, Event::Fault { installed: true, .. })).count(),
        time_to_new_leader_ms: times,
        per_fault,
        by_kind,
        lateness,
        fault_windows: windows::fault_windows(h, b.failover_ms)
            .into_iter()
            .map(|(a, z)| (a.saturating_sub(start), z.saturating_sub(start)))
            .collect(),
        alerts: alert_stats,
    }
}

#[cfg(test)]
#[path = "fires_test.rs"]
mod fires_test;

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(at_ms: u64, node: u8, state: &str, term: u64) -> Event {
        Event::Observed { at_ms, node, state: state.into(), term, leader: None, applied: None }
    }

    #[test]
    fn two_leaders_in_one_term_is_invalid() {
        let h = History { events: vec![obs(1, 1, "Leader", 3), obs(2, 2, "Leader", 3)] };
        assert_eq!(election_safety(&h).valid, Some(false));
        let ok = History { events: vec![obs(1, 1, "Leader", 3), obs(2, 2, "Leader", 4)] };
        assert_eq!(election_safety(&ok).valid, Some(true));
    }

    #[test]
    fn failover_needs_a_fault_and_a_new_leader() {
        let none = History { events: vec![obs(1, 1, "Leader", 1)] };
        assert_eq!(failover(&none).0.valid, None);
        let fault = Event::Fault { at_ms: 10, kind: Fault::KillLeader, target: 1, installed: true };
        let stuck = History { events: vec![obs(1, 1, "Leader", 1), fault.clone(), obs(20, 2, "Follower", 1)] };
        assert_eq!(failover(&stuck).0.valid, Some(false));
        let good = History { events: vec![obs(1, 1, "Leader", 1), fault, obs(700, 2, "Leader", 2)] };
        assert_eq!(
            failover(&good),
            (Verdict { valid: Some(true), details: "new leader after [690] ms".into() }, vec![690])
        );
    }

    fn fin(node: u8, applied: u64, digest: &str) -> Event {
        Event::Final { at_ms: 1, node, applied: Some(applied), digest: digest.into(), schedules: 2 }
    }

    #[test]
    fn replicas_must_agree_after_the_heal() {
        let same = History { events: vec![fin(1, 9, "d"), fin(2, 9, "d"), fin(3, 9, "d")] };
        assert_eq!(convergence(&same, 3).valid, Some(true));
        let behind = History { events: vec![fin(1, 9, "d"), fin(2, 8, "d"), fin(3, 9, "d")] };
        assert_eq!(convergence(&behind, 3).valid, Some(false));
        let other = History { events: vec![fin(1, 9, "d"), fin(2, 9, "e"), fin(3, 9, "d")] };
        assert_eq!(convergence(&other, 3).valid, Some(false));
        let missing = History { events: vec![fin(1, 9, "d"), fin(2, 9, "d")] };
        assert_eq!(convergence(&missing, 3).valid, Some(false));
        assert_eq!(convergence(&History::default(), 3).valid, None);
    }

    #[test]
    fn panics_skipped_faults_and_broken_runs_are_reported() {
        let panic = History { events: vec![Event::Panic { node: 2, line: "thread 'x' panicked at a.rs:1".into() }] };
        assert_eq!(no_panics(&panic).valid, Some(false));
        assert_eq!(no_panics(&History::default()).valid, Some(true));
        let skipped = Event::Fault { at_ms: 1, kind: Fault::KillLeader, target: 0, installed: false };
        assert_eq!(coverage(&History { events: vec![skipped.clone()] }).valid, None);
        let done = Event::Fault { at_ms: 2, kind: Fault::KillLeader, target: 1, installed: true };
        assert_eq!(coverage(&History { events: vec![skipped, done.clone()] }).valid, Some(true));
        let start = |requested: Vec<Fault>| Event::Start { unix_ms: 0, seed: 0, scenario: "t".into(), requested };
        let asked = History { events: vec![start(vec![Fault::KillLeader, Fault::Slave5xx]), done.clone()] };
        let v = coverage(&asked);
        assert_eq!(v.valid, None, "slave-5xx was requested and never installed: {}", v.details);
        assert_eq!(coverage(&History { events: vec![start(vec![Fault::KillLeader]), done] }).valid, Some(true));
        let broken = History { events: vec![Event::RunError { at_ms: 5, message: "no leader".into() }] };
        let c = check_all(&broken, &Bounds::default(), &Ok(vec![]));
        assert_eq!(c.verdicts["run"].valid, Some(false));
        assert_eq!(c.valid(), Some(false));
    }
}

//! Checkers judge the recorded history, not the cluster's opinion of itself.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::Event;
use crate::history::History;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `true`, `false`, or `null` (unknown: the fault it needed never happened).
    pub valid: Option<bool>,
    pub details: String,
}

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

/// Failover: after each installed fault on the leader, another master led a later term.
/// Returns the verdict and the time to a new leader per fault (ms).
pub fn failover(h: &History) -> (Verdict, Vec<u64>) {
    let mut times = Vec::new();
    let faults: Vec<(u64, u8)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Fault { at_ms, target, installed: true, .. } => Some((*at_ms, *target)),
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
        let fault = Event::Fault { at_ms: 10, kind: "kill".into(), target: 1, installed: true };
        let stuck = History { events: vec![obs(1, 1, "Leader", 1), fault.clone(), obs(20, 2, "Follower", 1)] };
        assert_eq!(failover(&stuck).0.valid, Some(false));
        let good = History { events: vec![obs(1, 1, "Leader", 1), fault, obs(700, 2, "Leader", 2)] };
        assert_eq!(
            failover(&good),
            (Verdict { valid: Some(true), details: "new leader after [690] ms".into() }, vec![690])
        );
    }
}

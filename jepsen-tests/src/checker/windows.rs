//! Fault windows: when a fault excuses a late or a missed tick, and the lost-tick verdict judged
//! against them.
//!
//! The excuse rules live here and only here: which faults depose the leader
//! ([`deposes_leader`]), which cost the cluster its leader ([`cost_the_leader`]), and the
//! windows they open ([`fault_windows`] for lateness, [`leader_loss_windows`] for misses).
//! Every rule matches on [`Fault`] variants, never on names. Times: ms since the run's start
//! for history events, Unix ms for ticks and windows (see [`super::fires`]).

use crate::fault::Fault;
use crate::history::Event;
use crate::history::History;

use super::fires::first_starts;
use super::fires::job_id_for;
use super::fires::schedules;
use super::verdict::list;
use super::verdict::Verdict;

/// Faults that take the leader away from the majority, so another master must take over
/// (whatever their parameters).
pub fn deposes_leader(f: &Fault) -> bool {
    matches!(f, Fault::KillLeader | Fault::PauseLeader | Fault::IsolateLeader | Fault::LeaderMinority)
}

/// How long before a fault a tick may still be in flight (planned, not yet committed or
/// dispatched), so that the fault legitimately delays or, under `skip`/`fire_once`, drops it.
pub const IN_FLIGHT_MS: u64 = 1_000;

/// Intervals (Unix ms) where late ticks are excused: from [`IN_FLIGHT_MS`] before each
/// installed fault to a new leader (or the heal) plus `bound_ms`, and from each heal plus
/// `bound_ms`.
pub fn fault_windows(h: &History, bound_ms: u64) -> Vec<(u64, u64)> {
    windows(h, bound_ms, false)
}

/// Where missed ticks may be excused: the windows of master faults that cost the cluster its
/// leader ([`cost_the_leader`]). Any other fault leaves a leader with its quorum and a healthy
/// slave, so it may delay a tick but never lose one.
pub fn leader_loss_windows(h: &History, bound_ms: u64) -> Vec<(u64, u64)> {
    windows(h, bound_ms, true)
}

/// The leader (node, term) last observed at or before `at_ms` (ms since the start).
fn leader_at(h: &History, at_ms: u64) -> Option<(u8, u64)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Observed { at_ms: t, node, state, term, .. } if *t <= at_ms && state == "Leader" => {
                Some((*t, *node, *term))
            }
            _ => None,
        })
        .max_by_key(|(t, _, term)| (*term, *t))
        .map(|(_, node, term)| (node, term))
}

/// Whether a master fault (installed at `at_ms`, healed at `heal`, ms since the start) cost the
/// cluster its leader, so that ticks may be missed as the misfire policy says:
/// - a kind that always does: every master killed, the leader killed, paused or cut off from
///   the majority ([`deposes_leader`]), what the leader sends dropped (`one-way`), every
///   connection of the leader cut short (`proxy-drop-after`: it may stay leader without
///   committing), or the leader removed from the membership (`membership-re-add:leader`);
/// - a clock fault on the leader (it plans nothing while its clock is distrusted);
/// - any other fault during which, or within `bound_ms` of its heal, a term above the leader's
///   was observed (an election happened), or when no leader was known at all.
///
/// A follower killed, paused, cut off or wiped and re-added, a ring, a bridge or a slow link
/// leave the leader its quorum: missed ticks there are lost ticks.
pub fn cost_the_leader(h: &History, at_ms: u64, kind: &Fault, target: u8, heal: u64, bound_ms: u64) -> bool {
    let always = matches!(
        kind,
        Fault::KillAll | Fault::OneWay | Fault::ProxyDropAfter { .. } | Fault::MembershipReAdd { leader: true }
    );
    if deposes_leader(kind) || always {
        return true;
    }
    let Some((leader, term)) = leader_at(h, at_ms) else { return true };
    if matches!(kind, Fault::ClockBump { .. } | Fault::ClockStrobe { .. }) && target == leader {
        return true;
    }
    h.events.iter().any(|e| {
        matches!(e, Event::Observed { at_ms: t, term: later, .. }
            if *t > at_ms && *t <= heal.saturating_add(bound_ms) && *later > term)
    })
}

/// When (ms since the start) a master first led a term above the one led at a master fault's
/// install (`at_ms`): the new leader, if the fault cost the old one its role. `None` for slave
/// faults and when no election followed.
pub fn new_leader_after(h: &History, kind: &Fault, at_ms: u64) -> Option<u64> {
    if kind.is_slave() {
        return None;
    }
    let before = leader_at(h, at_ms).map_or(0, |(_, term)| term);
    h.events.iter().find_map(|e| match e {
        Event::Observed { at_ms: t, state, term, .. } if *t > at_ms && state == "Leader" && *term > before => Some(*t),
        _ => None,
    })
}

/// When (ms since the start) the fault installed at event `i` was healed: the first matching
/// [`Event::Healed`] after it, if any.
pub fn healed_at(h: &History, i: usize, kind: &Fault, target: u8) -> Option<u64> {
    h.events[i..].iter().find_map(|x| match x {
        Event::Healed { at_ms: t, kind: k, target: g } if k == kind && *g == target => Some(*t),
        _ => None,
    })
}

fn windows(h: &History, bound_ms: u64, for_misses: bool) -> Vec<(u64, u64)> {
    let end = h.events.iter().map(Event::at_ms).max().unwrap_or(0);
    let mut out = Vec::new();
    for (i, e) in h.events.iter().enumerate() {
        let Event::Fault { at_ms, kind, target, installed: true } = e else { continue };
        if for_misses && kind.is_slave() {
            continue;
        }
        let heal = healed_at(h, i, kind, *target).unwrap_or(end);
        if for_misses && !cost_the_leader(h, *at_ms, kind, *target, heal, bound_ms) {
            continue;
        }
        let new_leader = new_leader_after(h, kind, *at_ms).filter(|t| *t < heal);
        match new_leader {
            Some(nl) => {
                out.push((h.unix(*at_ms).saturating_sub(IN_FLIGHT_MS), h.unix(nl) + bound_ms));
                out.push((h.unix(heal), h.unix(heal) + bound_ms));
            }
            None => out.push((h.unix(*at_ms).saturating_sub(IN_FLIGHT_MS), h.unix(heal) + bound_ms)),
        }
    }
    out
}

/// Whether `t` falls in one of the intervals `w` (both ends included).
pub fn in_windows(w: &[(u64, u64)], t: u64) -> bool {
    w.iter().any(|(a, b)| *a <= t && t <= *b)
}

/// No tick lost: for steady schedules with overlap `allow`, every tick after creation up to the
/// workload's end (less `bound_ms`) started, except that in the windows of faults that cost the
/// leader ([`leader_loss_windows`]) `skip` and `fire_once` may miss ticks — `fire_once` only if
/// a later tick fired after the gap (the newest missed tick runs on recovery). `fire_all` may
/// miss none; slave faults and faults that leave the leader its quorum excuse none.
pub fn no_lost_tick(h: &History, bound_ms: u64) -> (Verdict, usize) {
    let Some(end_at) = h.events.iter().find_map(|e| match e {
        Event::WorkloadEnd { at_ms } => Some(*at_ms),
        _ => None,
    }) else {
        return (Verdict::unknown("the workload never ended"), 0);
    };
    let until = h.unix(end_at).saturating_sub(bound_ms);
    let windows = leader_loss_windows(h, bound_ms);
    let firsts = first_starts(h);
    let mut judged = 0;
    let mut excused = 0;
    let mut bad = Vec::new();
    for def in schedules(h).values().filter(|d| d.steady && d.overlap == "allow" && d.period_ms > 0) {
        let mut t = (def.created_at_ms / def.period_ms + 1) * def.period_ms;
        let mut gap: Vec<u64> = Vec::new();
        while t <= until {
            judged += 1;
            if firsts.contains_key(&job_id_for(&def.id, t)) {
                gap.clear();
            } else if def.misfire != "fire_all" && in_windows(&windows, t) {
                excused += 1;
                gap.push(t);
            } else {
                bad.push(format!("{} ({}) tick {t}", def.id, def.misfire));
            }
            t += def.period_ms;
        }
        if def.misfire == "fire_once" {
            if let Some(last) = gap.last() {
                bad.push(format!("{} (fire_once): no tick fired after the missed tick {last}", def.id));
            }
        }
    }
    if !bad.is_empty() {
        return (Verdict::invalid(format!("{} tick(s) lost: {}", bad.len(), list(&bad))), judged);
    }
    if judged == 0 {
        return (Verdict::unknown("no steady tick to judge"), 0);
    }
    (
        Verdict::valid(format!("{judged} ticks judged, {excused} missed inside fault windows as the policy allows")),
        judged,
    )
}

//! The failover alert: who led before, who leads now, how long nobody did, and which fires
//! that cost (late, or passed over by the misfire policy).

use alerts::event::AffectedFire;
use alerts::event::AlertEvent;
use alerts::event::FailoverEvent;
use raft_store::state::alerts::LeaderMark;
use raft_store::state::FireDecision;
use raft_store::state::SkipReason;
use raft_store::state::State;

use crate::node::LeaderContact;

/// At most this many affected fires are listed (the count of the rest is in the log lines).
const AFFECTED_LISTED: usize = 100;

/// How a master is named in alerts.
pub fn master_name(id: u64) -> String {
    format!("master-{id}")
}

/// The failover event of this term, if the leadership changed hands: `None` for the cluster's
/// first leader (nothing failed over) or a term already announced.
pub fn event(
    state: &State,
    previous: Option<&LeaderMark>,
    contact: Option<LeaderContact>,
    me: u64,
    term: u64,
    elected_ms: u64,
    on_time_ms: u64,
) -> Option<AlertEvent> {
    let previous = previous?;
    if previous.term >= term {
        return None;
    }
    // Time without a leader: since this master last heard from one (a heartbeat), until it
    // won. A master that heard from nobody (it restarted) cannot tell: 0.
    let last_heard = contact.filter(|c| c.leader != me).map(|c| c.at_ms);
    let leaderless_ms = last_heard.map(|t| elected_ms.saturating_sub(t)).unwrap_or(0);
    let since = last_heard.unwrap_or(elected_ms);
    let mut affected: Vec<AffectedFire> = state
        .fires
        .values()
        .filter(|r| u64::try_from(r.tick_ms).is_ok_and(|t| t >= since.saturating_sub(on_time_ms)))
        .filter_map(|r| {
            let tick_ms = u64::try_from(r.tick_ms).ok()?;
            let policy = super::events::policy_of(state, &r.schedule_id);
            let late_by_ms = match &r.decision {
                FireDecision::Fired { .. } => {
                    let late = r.decided_at_ms.saturating_sub(tick_ms);
                    if late <= on_time_ms {
                        return None;
                    }
                    Some(late)
                }
                FireDecision::Skipped { reason: SkipReason::PassedOver { .. } | SkipReason::Misfire { .. } } => None,
                FireDecision::Skipped { .. } => return None,
            };
            Some(AffectedFire { schedule_id: r.schedule_id.clone(), tick_ms, late_by_ms, policy })
        })
        .collect();
    affected.sort_by_key(|a| (a.tick_ms, a.schedule_id.clone()));
    affected.truncate(AFFECTED_LISTED);
    Some(AlertEvent::Failover(FailoverEvent {
        old_leader: Some(master_name(previous.node_id)),
        new_leader: master_name(me),
        term,
        leaderless_ms,
        elected_at_ms: elected_ms,
        affected_fires: affected,
    }))
}

/// Failovers to announced terms before `current` whose leader died before deciding their
/// alert (within its settle time): decided by the next leader, from the announcements alone
/// (the leaderless time is not known then: 0).
pub fn missed(state: &State, leaders: &[LeaderMark], current: u64) -> Vec<AlertEvent> {
    leaders
        .windows(2)
        .filter(|w| w[0].term < w[1].term && w[1].term < current)
        .filter(|w| !state.alerts.contains(&format!("failover:term-{}", w[1].term)))
        .map(|w| {
            AlertEvent::Failover(FailoverEvent {
                old_leader: Some(master_name(w[0].node_id)),
                new_leader: master_name(w[1].node_id),
                term: w[1].term,
                leaderless_ms: 0,
                elected_at_ms: w[1].since_ms,
                affected_fires: vec![],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_leader_is_no_failover_and_a_later_one_names_both() {
        let s = State::default();
        assert!(event(&s, None, None, 1, 1, 1_000, 10_000).is_none());
        let prev = LeaderMark { term: 3, node_id: 1, since_ms: 10 };
        let contact = Some(LeaderContact { leader: 1, at_ms: 9_000 });
        let Some(AlertEvent::Failover(f)) = event(&s, Some(&prev), contact, 2, 5, 10_250, 10_000) else {
            panic!("no failover event")
        };
        assert_eq!((f.old_leader.as_deref(), f.new_leader.as_str(), f.term), (Some("master-1"), "master-2", 5));
        assert_eq!(f.leaderless_ms, 1_250);
        assert!(event(&s, Some(&LeaderMark { term: 5, ..prev }), contact, 2, 5, 10_250, 10_000).is_none());
    }

    #[test]
    fn a_term_whose_leader_died_before_its_alert_is_decided_by_the_next() {
        let s = State::default();
        let marks = [
            LeaderMark { term: 1, node_id: 1, since_ms: 0 },
            LeaderMark { term: 3, node_id: 2, since_ms: 50 },
            LeaderMark { term: 4, node_id: 3, since_ms: 90 },
        ];
        let ids: Vec<String> = missed(&s, &marks, 4).iter().map(|e| e.alert_id().0).collect();
        assert_eq!(ids, vec!["failover:term-3"], "term 4 is the caller's own; term 1 had no predecessor");
    }
}

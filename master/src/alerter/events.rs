//! Events read off the replicated state: pure functions of a `State` (and, for the fire ledger,
//! of which rows changed), each returning only what the alert ledger does not know yet.
//!
//! Re-deriving is harmless — the ledger and the engine drop a known alert id — so a new leader
//! simply looks again; these filters only keep the log from carrying the same event twice.

use std::collections::BTreeSet;

use alerts::event::AlertEvent;
use alerts::event::AlertStatus;
use alerts::event::DeployFailedEvent;
use alerts::event::DispatchFailedEvent;
use alerts::event::NodeEvent;
use alerts::event::TickPassedOverEvent;
use raft_store::state::Deployment;
use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::FireRecord;
use raft_store::state::JobState;
use raft_store::state::NodeStatus;
use raft_store::state::SkipReason;
use raft_store::state::State;

/// Whether the ledger already holds this event's alert.
pub fn known(state: &State, ev: &AlertEvent) -> bool {
    state.alerts.contains(&ev.alert_id().0)
}

/// Condition keys with a firing alert (what a resolving event may end).
pub fn firing_conditions(state: &State) -> BTreeSet<String> {
    state.alerts.values().filter(|a| a.status == AlertStatus::Firing).filter_map(|a| a.event.condition_key()).collect()
}

/// A node committed down whose outage the ledger lacks; a node up whose last outage still fires.
/// `failed_checks` is the health checker's threshold (what it took to commit the node down).
pub fn node_events(state: &State, firing: &BTreeSet<String>, failed_checks: u32) -> Vec<AlertEvent> {
    let mut out = Vec::new();
    for n in state.nodes.values() {
        match &n.status {
            NodeStatus::Down { since_ms, reason } => {
                let lost_jobs = state
                    .jobs
                    .values()
                    .filter(|j| j.node_id == n.id && j.state == JobState::Lost && j.updated_at_ms >= *since_ms)
                    .map(|j| j.job_id.clone())
                    .collect();
                let ev = AlertEvent::NodeDown(NodeEvent {
                    node: n.id.clone(),
                    down_since_ms: *since_ms,
                    up_since_ms: None,
                    failed_checks,
                    last_error: Some(reason.clone()),
                    lost_jobs,
                });
                if !known(state, &ev) {
                    out.push(ev);
                }
            }
            // An outage that began and ended between two looks: its down, then its up.
            NodeStatus::Up { .. }
                if n.last_outage
                    .as_ref()
                    .is_some_and(|o| !state.alerts.contains(&format!("node:{}:down:{}", n.id, o.down_since_ms))) =>
            {
                if let Some(o) = &n.last_outage {
                    let ev = |up: bool| NodeEvent {
                        node: n.id.clone(),
                        down_since_ms: o.down_since_ms,
                        up_since_ms: up.then_some(o.up_since_ms),
                        failed_checks,
                        last_error: Some(o.reason.clone()),
                        lost_jobs: vec![],
                    };
                    out.push(AlertEvent::NodeDown(ev(false)));
                    out.push(AlertEvent::NodeUp(ev(true)));
                }
            }
            NodeStatus::Up { since_ms } if firing.contains(&format!("node:{}", n.id)) => {
                // The outage this ends: the firing node-down alert of this node.
                let down_since = state
                    .alerts
                    .values()
                    .filter(|a| a.status == AlertStatus::Firing)
                    .find_map(|a| match &a.event {
                        AlertEvent::NodeDown(e) if e.node == n.id => Some(e.down_since_ms),
                        _ => None,
                    })
                    .unwrap_or(*since_ms);
                out.push(AlertEvent::NodeUp(NodeEvent {
                    node: n.id.clone(),
                    down_since_ms: down_since,
                    up_since_ms: Some(*since_ms),
                    failed_checks: 0,
                    last_error: None,
                    lost_jobs: vec![],
                }));
            }
            _ => {}
        }
    }
    out
}

/// Deployments that failed, not yet in the ledger (one alert per project, version and node).
pub fn deploy_events(state: &State) -> Vec<AlertEvent> {
    let mut out = Vec::new();
    for p in state.projects.values() {
        for v in p.versions.values() {
            for (node, d) in &v.deployments {
                if let Deployment::Failed { reason, at_ms } = d {
                    let ev = AlertEvent::DeployFailed(DeployFailedEvent {
                        project: p.name.clone(),
                        version: v.version.clone(),
                        node: node.clone(),
                        at_ms: *at_ms,
                        error: reason.clone(),
                    });
                    if !known(state, &ev) {
                        out.push(ev);
                    }
                }
            }
        }
    }
    out
}

/// The misfire policy of a schedule as alerts name it (`fire_once`, `skip`, ...); empty if deleted.
pub fn policy_of(state: &State, schedule_id: &str) -> String {
    state
        .schedules
        .get(&schedule_id.to_string())
        .map(|s| format!("{:?}", s.spec.misfire).to_lowercase())
        .unwrap_or_default()
}

/// Dispatch failures and passed-over ticks among `records` (the fire-ledger rows that changed).
pub fn fire_events<'a>(state: &State, records: impl Iterator<Item = &'a FireRecord>) -> Vec<AlertEvent> {
    let tags = |schedule_id: &str| {
        state.schedules.get(&schedule_id.to_string()).map(|s| s.spec.node_selector.clone()).unwrap_or_default()
    };
    let mut out = Vec::new();
    for r in records {
        let passed_over = |reason: String, policy: String| {
            AlertEvent::TickPassedOver(TickPassedOverEvent {
                schedule_id: r.schedule_id.clone(),
                project: r.project.clone(),
                spider: r.spider.clone(),
                tags: tags(&r.schedule_id),
                tick_ms: u64::try_from(r.tick_ms).unwrap_or(0),
                reason,
                policy,
            })
        };
        let ev = match &r.decision {
            FireDecision::Fired { job_id, dispatch: DispatchState::Failed { reason, at_ms } } => {
                AlertEvent::DispatchFailed(DispatchFailedEvent {
                    project: r.project.clone(),
                    spider: r.spider.clone(),
                    job_id: job_id.clone(),
                    schedule_id: Some(r.schedule_id.clone()),
                    tags: tags(&r.schedule_id),
                    node: None,
                    attempts: 1,
                    at_ms: *at_ms,
                    error: reason.clone(),
                })
            }
            FireDecision::Skipped { reason: SkipReason::PassedOver { ticks, .. } } => {
                passed_over(format!("missed: {ticks} tick(s) passed over"), policy_of(state, &r.schedule_id))
            }
            FireDecision::Skipped { reason: SkipReason::Misfire { late_ms } } => {
                passed_over(format!("missed by {late_ms} ms"), "skip".into())
            }
            _ => continue,
        };
        if !known(state, &ev) {
            out.push(ev);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft_store::state::Node;
    use raft_store::state::NodeSpec;

    fn node(id: &str, status: NodeStatus) -> Node {
        Node {
            id: id.into(),
            spec: NodeSpec {
                url: "http://127.0.0.1:1".into(),
                username: None,
                password: None,
                tags: vec![],
                max_proc: None,
            },
            status,
            registered_at_ms: 0,
            last_outage: None,
        }
    }

    #[test]
    fn a_down_node_is_one_event_until_it_is_in_the_ledger() {
        let mut s = State::default();
        s.nodes.insert("s1".into(), node("s1", NodeStatus::Down { since_ms: 77, reason: "refused".into() }));
        s.nodes.insert("s2".into(), node("s2", NodeStatus::Up { since_ms: 5 }));
        let evs = node_events(&s, &firing_conditions(&s), 3);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].alert_id().0, "node:s1:down:77");
        // Nothing firing for s2: its being up is no event.
        assert!(evs.iter().all(|e| !matches!(e, AlertEvent::NodeUp(_))));
    }
}

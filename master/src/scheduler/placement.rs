//! Where a fire may go: node choice as a pure function, and the reads it ranks from.
//!
//! [`rank_nodes`] picks the candidates: registered, committed `up`, carrying every tag of the
//! schedule's `node_selector`; ranked by free slots (`max_proc` − pending − running in the
//! replicated job table; a slave without `max_proc` is assumed to have Scrapyd's default of 4
//! per CPU, its CPU count from this master's metrics, else 4), then by lower CPU use (metrics),
//! then by id.

use std::collections::BTreeMap;

use raft_store::state::Node;
use raft_store::state::NodeStatus;
use raft_store::state::State;

use crate::node::MasterNode;

/// Scrapyd's default process slots per CPU (`max_proc_per_cpu`).
const SLOTS_PER_CPU: i64 = 4;

/// A slave as the ranking sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub node: Node,
    pub free_slots: i64,
    pub cpu_percent: Option<f64>,
}

/// What this master knows of a slave's host (from `/metrics.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostLoad {
    pub cpu_percent: Option<f64>,
    pub cpu_count: Option<u64>,
}

/// Pending + running jobs per node in the replicated job table (kept by an index: no scan).
pub fn active_per_node(state: &State) -> BTreeMap<String, i64> {
    state.active_jobs_per_node().clone()
}

/// The slaves that are committed up.
pub fn up_nodes(state: &State) -> Vec<Node> {
    state.nodes.values().filter(|n| matches!(n.status, NodeStatus::Up { .. })).cloned().collect()
}

/// The nodes a job of `selector` may go to, best first; `Err` says why there is none.
pub fn rank_nodes<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    selector: &[String],
    active: &BTreeMap<String, i64>,
    load: impl Fn(&str) -> HostLoad,
) -> Result<Vec<Candidate>, String> {
    let mut out: Vec<Candidate> = nodes
        .into_iter()
        .filter(|n| matches!(n.status, NodeStatus::Up { .. }))
        .filter(|n| selector.iter().all(|t| n.spec.tags.contains(t)))
        .map(|n| {
            let host = load(&n.id);
            let slots = match n.spec.max_proc {
                Some(m) => i64::from(m),
                None => SLOTS_PER_CPU * host.cpu_count.map(|c| c.max(1) as i64).unwrap_or(1),
            };
            let busy = active.get(&n.id).copied().unwrap_or(0);
            Candidate { node: n.clone(), free_slots: slots - busy, cpu_percent: host.cpu_percent }
        })
        .collect();
    if out.is_empty() {
        return Err(if selector.is_empty() {
            "no node is up".to_string()
        } else {
            format!("no node is up that carries tags [{}]", selector.join(", "))
        });
    }
    out.sort_by(|a, b| {
        b.free_slots
            .cmp(&a.free_slots)
            .then(a.cpu_percent.unwrap_or(f64::MAX).total_cmp(&b.cpu_percent.unwrap_or(f64::MAX)))
            .then(a.node.id.cmp(&b.node.id))
    });
    Ok(out)
}

/// This master's latest view of a slave's host load.
pub fn host_load(node: &MasterNode, id: &str) -> HostLoad {
    let Some(sample) = node.slave_metrics.latest(id) else { return HostLoad::default() };
    HostLoad {
        cpu_percent: sample.metrics.get("cpu_percent").and_then(|v| v.as_f64()),
        cpu_count: sample.metrics.get("cpu_count").and_then(|v| v.as_u64()),
    }
}

#[cfg(test)]
#[path = "placement_test.rs"]
mod placement_test;

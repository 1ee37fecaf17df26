//! Node choice as a pure function.

use std::collections::BTreeMap;

use raft_store::state::NodeSpec;

use super::*;

fn node(id: &str, tags: &[&str], max_proc: Option<u32>, up: bool) -> Node {
    Node {
        id: id.into(),
        spec: NodeSpec {
            url: format!("http://{id}:6800"),
            username: None,
            password: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            max_proc,
        },
        status: if up { NodeStatus::Up { since_ms: 1 } } else { NodeStatus::Down { since_ms: 1, reason: "x".into() } },
        registered_at_ms: 0,
        last_outage: None,
    }
}

fn ids(r: Result<Vec<Candidate>, String>) -> Vec<String> {
    r.expect("candidates").into_iter().map(|c| c.node.id).collect()
}

fn sel(tags: &[&str]) -> Vec<String> {
    tags.iter().map(|t| t.to_string()).collect()
}

fn no_load(_: &str) -> HostLoad {
    HostLoad::default()
}

#[test]
fn only_up_nodes_with_every_selector_tag_are_candidates() {
    let nodes = [
        node("a", &["eu", "big"], Some(4), true),
        node("b", &["eu"], Some(4), true),
        node("c", &["eu", "big"], Some(4), false),
    ];
    let active = BTreeMap::new();
    assert_eq!(ids(rank_nodes(&nodes, &sel(&["eu", "big"]), &active, no_load)), ["a"]);
    assert_eq!(ids(rank_nodes(&nodes, &sel(&["eu"]), &active, no_load)), ["a", "b"]);
    assert_eq!(ids(rank_nodes(&nodes, &[], &active, no_load)), ["a", "b"]);
}

#[test]
fn no_candidate_says_which_tags_were_wanted() {
    let nodes = [node("a", &["eu"], Some(4), true), node("b", &["us"], Some(4), false)];
    let err = rank_nodes(&nodes, &sel(&["us", "gpu"]), &BTreeMap::new(), no_load).expect_err("none");
    assert_eq!(err, "no node is up that carries tags [us, gpu]");
    let err = rank_nodes(&nodes[1..], &[], &BTreeMap::new(), no_load).expect_err("none");
    assert_eq!(err, "no node is up");
}

#[test]
fn more_free_slots_win_then_lower_cpu_then_id() {
    let nodes = [
        node("a", &[], Some(4), true),
        node("b", &[], Some(8), true),
        node("c", &[], Some(4), true),
        node("d", &[], Some(4), true),
    ];
    // b: 8 - 5 = 3 free; a: 4 - 1 = 3 free; c, d: 4 free.
    let active: BTreeMap<String, i64> = [("a".to_string(), 1), ("b".to_string(), 5)].into();
    let cpu = |id: &str| HostLoad {
        cpu_percent: match id {
            "c" => Some(70.0),
            "d" => Some(10.0),
            "b" => Some(5.0),
            _ => None,
        },
        cpu_count: None,
    };
    // d and c have 4 free (d's CPU lower); then b (known CPU) before a (unknown CPU).
    assert_eq!(ids(rank_nodes(&nodes, &[], &active, cpu)), ["d", "c", "b", "a"]);
    // Equal load: by id, so the choice is deterministic.
    assert_eq!(ids(rank_nodes(&nodes[..1], &[], &BTreeMap::new(), no_load)), ["a"]);
}

#[test]
fn without_max_proc_the_slave_is_assumed_to_run_four_per_cpu() {
    let nodes = [node("a", &[], None, true), node("b", &[], Some(5), true)];
    let load = |id: &str| HostLoad { cpu_percent: None, cpu_count: (id == "a").then_some(2) };
    let r = rank_nodes(&nodes, &[], &BTreeMap::new(), load).expect("candidates");
    let free: Vec<(String, i64)> = r.into_iter().map(|c| (c.node.id, c.free_slots)).collect();
    assert_eq!(free, [("a".to_string(), 8), ("b".to_string(), 5)]);
    // No metrics yet: one CPU assumed.
    let r = rank_nodes(&nodes[..1], &[], &BTreeMap::new(), no_load).expect("candidates");
    assert_eq!(r[0].free_slots, 4);
}

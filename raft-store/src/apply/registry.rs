//! Nodes (slaves) and projects (egg versions and their deployments).

use std::collections::BTreeMap;

use sha2::Digest;
use sha2::Sha256;

use crate::applied::Applied;
use crate::applied::Rejection;
use crate::state::projects::MAX_EGG_BYTES;
use crate::state::Deployment;
use crate::state::EggVersion;
use crate::state::Node;
use crate::state::NodeSpec;
use crate::state::NodeStatus;
use crate::state::Outage;
use crate::state::Project;
use crate::state::State;

pub(super) fn register_node(state: &mut State, now: u64, id: &str, spec: &NodeSpec) -> Applied {
    let key = id.to_string();
    if state.nodes.contains(&key) {
        return Applied::rejected(Rejection::AlreadyExists);
    }
    state.nodes.insert(
        key,
        Node {
            id: id.to_string(),
            spec: spec.clone(),
            status: NodeStatus::Unknown,
            registered_at_ms: now,
            last_outage: None,
        },
    );
    Applied::Done
}

pub(super) fn update_node(state: &mut State, id: &str, spec: &NodeSpec) -> Applied {
    match state.nodes.get_mut(&id.to_string()) {
        None => Applied::rejected(Rejection::UnknownNode),
        Some(node) => {
            node.spec = spec.clone();
            Applied::Done
        }
    }
}

pub(super) fn remove_node(state: &mut State, id: &str) -> Applied {
    match state.nodes.remove(&id.to_string()) {
        None => Applied::rejected(Rejection::UnknownNode),
        Some(_) => Applied::Done,
    }
}

pub(super) fn mark_node_up(state: &mut State, now: u64, id: &str) -> Applied {
    let key = id.to_string();
    match state.nodes.get(&key).map(|n| &n.status) {
        None => Applied::rejected(Rejection::UnknownNode),
        Some(NodeStatus::Up { .. }) => Applied::Unchanged,
        Some(_) => {
            if let Some(n) = state.nodes.get_mut(&key) {
                if let NodeStatus::Down { since_ms, reason } = &n.status {
                    n.last_outage = Some(Outage { down_since_ms: *since_ms, up_since_ms: now, reason: reason.clone() });
                }
                n.status = NodeStatus::Up { since_ms: now };
            }
            Applied::Done
        }
    }
}

pub(super) fn mark_node_down(state: &mut State, now: u64, id: &str, reason: &str) -> Applied {
    let key = id.to_string();
    match state.nodes.get(&key).map(|n| &n.status) {
        None => Applied::rejected(Rejection::UnknownNode),
        Some(NodeStatus::Down { .. }) => Applied::Unchanged,
        Some(_) => {
            if let Some(n) = state.nodes.get_mut(&key) {
                n.status = NodeStatus::Down { since_ms: now, reason: reason.to_string() };
            }
            Applied::Done
        }
    }
}

pub(super) fn add_version(state: &mut State, now: u64, project: &str, version: &str, egg: &[u8]) -> Applied {
    if egg.len() > MAX_EGG_BYTES {
        return Applied::rejected(Rejection::TooLarge { size: egg.len() as u64, limit: MAX_EGG_BYTES as u64 });
    }
    let sha256 = hex::encode(Sha256::digest(egg));
    let size = egg.len() as u64;
    let key = project.to_string();
    let mut p = state
        .projects
        .get(&key)
        .cloned()
        .unwrap_or_else(|| Project { name: project.to_string(), versions: BTreeMap::new() });
    let replaced = p.versions.get(version).map(|v| v.sha256.clone());
    if replaced.as_deref() == Some(sha256.as_str()) {
        // Same bytes again: keep the deployments, nothing to store.
        return Applied::VersionStored { sha256, size };
    }
    if !state.blob_in_use(&sha256) {
        state.blobs.put(sha256.clone(), egg.to_vec());
    }
    p.versions.insert(
        version.to_string(),
        EggVersion {
            version: version.to_string(),
            sha256: sha256.clone(),
            size,
            uploaded_at_ms: now,
            deployments: BTreeMap::new(),
        },
    );
    state.projects.insert(key, p);
    if let Some(old) = replaced {
        release_blob(state, old);
    }
    Applied::VersionStored { sha256, size }
}

/// Deletes a blob once no version refers to it any more.
fn release_blob(state: &mut State, sha256: String) {
    if !state.blob_in_use(&sha256) {
        state.blobs.delete(sha256);
    }
}

pub(super) fn delete_version(state: &mut State, project: &str, version: &str) -> Applied {
    let key = project.to_string();
    let Some(mut p) = state.projects.get(&key).cloned() else {
        return Applied::rejected(Rejection::UnknownProject);
    };
    let Some(v) = p.versions.remove(version) else {
        return Applied::rejected(Rejection::UnknownVersion);
    };
    // As Scrapyd: deleting the last version deletes the project.
    if p.versions.is_empty() {
        state.projects.remove(&key);
    } else {
        state.projects.insert(key, p);
    }
    release_blob(state, v.sha256);
    Applied::Done
}

pub(super) fn delete_project(state: &mut State, project: &str) -> Applied {
    let Some(p) = state.projects.remove(&project.to_string()) else {
        return Applied::rejected(Rejection::UnknownProject);
    };
    for v in p.versions.into_values() {
        release_blob(state, v.sha256);
    }
    Applied::Done
}

pub(super) fn record_deployment(
    state: &mut State,
    project: &str,
    version: &str,
    node_id: &str,
    deployment: &Deployment,
) -> Applied {
    if !state.nodes.contains(&node_id.to_string()) {
        return Applied::rejected(Rejection::UnknownNode);
    }
    let key = project.to_string();
    let Some(p) = state.projects.get(&key) else {
        return Applied::rejected(Rejection::UnknownProject);
    };
    match p.versions.get(version) {
        None => Applied::rejected(Rejection::UnknownVersion),
        Some(v) if v.deployments.get(node_id) == Some(deployment) => Applied::Unchanged,
        Some(_) => {
            if let Some(v) = state.projects.get_mut(&key).and_then(|p| p.versions.get_mut(version)) {
                v.deployments.insert(node_id.to_string(), deployment.clone());
            }
            Applied::Done
        }
    }
}

//! The slaves the cluster drives: register, change, remove, and read them with this master's
//! newest metrics sample of each.

use raft_store::state::Node;
use raft_store::state::NodeSpec;
use raft_store::state::Secret;
use raft_store::Command;

use super::check_name;
use super::commit;
use super::Consistency;
use super::OpsError;
use crate::auth::Principal;
use crate::node::MasterNode;
use crate::slaves::metrics::Sample;
use crate::slaves::metrics::Series;

/// Most tags a slave may carry.
const MAX_TAGS: usize = 32;

/// A slave with what this master knows of it besides the replicated record.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Node,
    /// This master's newest metrics sample of the slave (none for real Scrapyd).
    pub latest_metrics: Option<Sample>,
}

/// A new slave: its id and spec (the URL without a trailing `/`).
#[derive(Debug, Clone)]
pub struct NewNode {
    pub id: String,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tags: Vec<String>,
    pub max_proc: Option<u32>,
}

/// A change to a slave; `None` keeps a field. An empty `username` or `password` removes it.
#[derive(Debug, Clone, Default)]
pub struct NodePatch {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub tags: Option<Vec<String>>,
    pub max_proc: Option<u32>,
}

impl NodePatch {
    /// `spec` with the patch applied.
    fn apply(self, mut spec: NodeSpec) -> NodeSpec {
        if let Some(u) = self.url {
            spec.url = u.trim_end_matches('/').to_string();
        }
        if let Some(u) = self.username {
            spec.username = (!u.is_empty()).then_some(u);
        }
        if let Some(pw) = self.password {
            spec.password = (!pw.is_empty()).then_some(Secret(pw));
        }
        if let Some(t) = self.tags {
            spec.tags = t;
        }
        if let Some(m) = self.max_proc {
            spec.max_proc = Some(m);
        }
        spec
    }
}

fn check_spec(spec: &NodeSpec) -> Result<(), OpsError> {
    let url = reqwest::Url::parse(&spec.url).map_err(|e| OpsError::invalid("url", format!("{:?}: {e}", spec.url)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(OpsError::invalid("url", format!("{:?} must be an http(s) URL with a host", spec.url)));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OpsError::invalid("url", "put credentials in username/password, not in the URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(OpsError::invalid("url", "must not have a query or fragment"));
    }
    if spec.password.is_some() && spec.username.is_none() {
        return Err(OpsError::invalid("username", "required when a password is given"));
    }
    if spec.username.as_ref().is_some_and(|u| u.is_empty() || u.contains(':')) {
        return Err(OpsError::invalid("username", "must be non-empty and contain no ':'"));
    }
    for t in &spec.tags {
        check_name("tags", t)?;
    }
    if spec.tags.len() > MAX_TAGS {
        return Err(OpsError::invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    if spec.max_proc.is_some_and(|m| m == 0 || m > 10_000) {
        return Err(OpsError::invalid("max_proc", "must be between 1 and 10000"));
    }
    Ok(())
}

fn info(node: &MasterNode, n: Node) -> NodeInfo {
    let latest_metrics = node.slave_metrics.latest(&n.id);
    NodeInfo { node: n, latest_metrics }
}

fn get_local(node: &MasterNode, id: &str) -> Result<Node, OpsError> {
    node.state.read(|s| s.nodes.get(&id.to_string()).cloned()).ok_or_else(|| OpsError::NotFound(format!("node {id}")))
}

/// Every slave, by id.
pub async fn list(node: &MasterNode, c: Consistency) -> Result<Vec<NodeInfo>, OpsError> {
    c.wait(node).await?;
    let nodes = node.state.read(|s| s.nodes.values().cloned().collect::<Vec<_>>());
    Ok(nodes.into_iter().map(|n| info(node, n)).collect())
}

/// Slave `id`.
pub async fn get(node: &MasterNode, id: &str, c: Consistency) -> Result<NodeInfo, OpsError> {
    c.wait(node).await?;
    Ok(info(node, get_local(node, id)?))
}

/// Registers a slave; a taken id is a conflict.
pub async fn register(node: &MasterNode, req: NewNode, by: &Principal) -> Result<NodeInfo, OpsError> {
    check_name("id", &req.id)?;
    let spec = NodeSpec {
        url: req.url.trim_end_matches('/').to_string(),
        username: req.username,
        password: req.password.map(Secret),
        tags: req.tags,
        max_proc: req.max_proc,
    };
    check_spec(&spec)?;
    commit(node, Command::RegisterNode { id: req.id.clone(), spec }, &format!("node {}", req.id)).await?;
    tracing::info!(node = %req.id, by = %by.username, "node registered");
    Ok(info(node, get_local(node, &req.id)?))
}

/// Changes slave `id` (read-merge-write on this master's state).
pub async fn patch(node: &MasterNode, id: &str, patch: NodePatch, by: &Principal) -> Result<NodeInfo, OpsError> {
    let spec = patch.apply(super::read_fresh(node, || get_local(node, id)).await?.spec);
    check_spec(&spec)?;
    commit(node, Command::UpdateNode { id: id.to_string(), spec }, &format!("node {id}")).await?;
    tracing::info!(node = %id, by = %by.username, "node updated");
    Ok(info(node, get_local(node, id)?))
}

/// Removes slave `id`.
pub async fn remove(node: &MasterNode, id: &str, by: &Principal) -> Result<(), OpsError> {
    commit(node, Command::RemoveNode { id: id.to_string() }, &format!("node {id}")).await?;
    tracing::info!(node = %id, by = %by.username, "node removed");
    Ok(())
}

/// This master's metrics series of slave `id`.
pub fn metrics(node: &MasterNode, id: &str) -> Result<Series, OpsError> {
    get_local(node, id)?;
    Ok(node.slave_metrics.series(id))
}

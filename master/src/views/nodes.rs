//! Wire shape of the slaves. The password is never part of it.

use raft_store::state::NodeStatus;
use serde::Deserialize;
use serde::Serialize;

use crate::ops::nodes::NodeInfo;
use crate::slaves::metrics::Sample;

/// A slave's health as committed by the leader. Fields are in name order (`kind`, `reason`,
/// `since_ms`): the order clients saw when this was a JSON map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeStatusView {
    /// Not checked yet.
    Unknown,
    Up {
        since_ms: u64,
    },
    Down {
        reason: String,
        since_ms: u64,
    },
}

impl From<&NodeStatus> for NodeStatusView {
    fn from(s: &NodeStatus) -> Self {
        match s {
            NodeStatus::Unknown => NodeStatusView::Unknown,
            NodeStatus::Up { since_ms } => NodeStatusView::Up { since_ms: *since_ms },
            NodeStatus::Down { since_ms, reason } => {
                NodeStatusView::Down { reason: reason.clone(), since_ms: *since_ms }
            }
        }
    }
}

/// A slave as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeView {
    pub id: String,
    pub url: String,
    pub username: Option<String>,
    /// Whether a basic-auth password is stored.
    pub has_password: bool,
    pub tags: Vec<String>,
    pub max_proc: Option<u32>,
    /// `{"kind": "unknown" | "up" | "down", "since_ms"?, "reason"?}` as committed by the leader.
    pub status: NodeStatusView,
    pub registered_at_ms: u64,
    /// This master's newest metrics sample of the slave (none for real Scrapyd).
    pub latest_metrics: Option<Sample>,
}

impl From<&NodeInfo> for NodeView {
    fn from(i: &NodeInfo) -> Self {
        let n = &i.node;
        NodeView {
            id: n.id.clone(),
            url: n.spec.url.clone(),
            username: n.spec.username.clone(),
            has_password: n.spec.password.is_some(),
            tags: n.spec.tags.clone(),
            max_proc: n.spec.max_proc,
            status: (&n.status).into(),
            registered_at_ms: n.registered_at_ms,
            latest_metrics: i.latest_metrics.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use raft_store::state::Node;
    use raft_store::state::NodeSpec;
    use raft_store::state::Secret;

    use super::*;

    fn info(status: NodeStatus) -> NodeInfo {
        let spec = NodeSpec {
            url: "http://h:6800".into(),
            username: Some("u".into()),
            password: Some(Secret("hunter2".into())),
            tags: vec!["eu".into()],
            max_proc: Some(4),
        };
        NodeInfo {
            node: Node { id: "s1".into(), spec, status, registered_at_ms: 7, last_outage: None },
            latest_metrics: None,
        }
    }

    #[test]
    fn a_node_keeps_the_wire_shape_clients_read_and_hides_its_password() {
        let text =
            serde_json::to_string(&NodeView::from(&info(NodeStatus::Down { since_ms: 5, reason: "refused".into() })))
                .expect("encode");
        assert_eq!(
            text,
            concat!(
                r#"{"id":"s1","url":"http://h:6800","username":"u","has_password":true,"tags":["eu"],"max_proc":4,"#,
                r#""status":{"kind":"down","reason":"refused","since_ms":5},"registered_at_ms":7,"latest_metrics":null}"#
            )
        );
        assert!(!text.contains("hunter2"));
        for (status, json) in [
            (NodeStatus::Unknown, r#"{"kind":"unknown"}"#),
            (NodeStatus::Up { since_ms: 3 }, r#"{"kind":"up","since_ms":3}"#),
        ] {
            let v = NodeView::from(&info(status));
            assert_eq!(serde_json::to_string(&v.status).expect("encode"), json);
        }
    }
}

//! Wire shape of projects, their egg versions and where each version is deployed.

use std::collections::BTreeMap;

use raft_store::state::Deployment;
use raft_store::state::EggVersion;
use raft_store::state::Project;
use serde::Deserialize;
use serde::Serialize;

/// A version on one slave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeploymentView {
    /// The slave holds it and lists these spiders in it.
    Deployed { spiders: Vec<String>, at_ms: u64 },
    /// The last attempt to put it there failed.
    Failed { reason: String, at_ms: u64 },
}

impl From<&Deployment> for DeploymentView {
    fn from(d: &Deployment) -> Self {
        match d {
            Deployment::Deployed { spiders, at_ms } => {
                DeploymentView::Deployed { spiders: spiders.clone(), at_ms: *at_ms }
            }
            Deployment::Failed { reason, at_ms } => DeploymentView::Failed { reason: reason.clone(), at_ms: *at_ms },
        }
    }
}

/// One egg version.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionView {
    pub version: String,
    pub sha256: String,
    pub size: u64,
    pub uploaded_at_ms: u64,
    /// Per slave: `{"kind": "deployed", "spiders": […], "at_ms"}` or `{"kind": "failed", "reason", "at_ms"}`.
    pub deployments: BTreeMap<String, DeploymentView>,
}

impl From<&EggVersion> for VersionView {
    fn from(v: &EggVersion) -> Self {
        VersionView {
            version: v.version.clone(),
            sha256: v.sha256.clone(),
            size: v.size,
            uploaded_at_ms: v.uploaded_at_ms,
            deployments: v.deployments.iter().map(|(node, d)| (node.clone(), d.into())).collect(),
        }
    }
}

/// A project with its versions.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectView {
    pub name: String,
    /// Oldest upload first.
    pub versions: Vec<VersionView>,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        let mut versions: Vec<VersionView> = p.versions.values().map(VersionView::from).collect();
        versions.sort_by(|a, b| (a.uploaded_at_ms, &a.version).cmp(&(b.uploaded_at_ms, &b.version)));
        ProjectView { name: p.name.clone(), versions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_keeps_the_wire_shape_clients_read() {
        let version = |v: &str, at: u64, deployments: BTreeMap<String, Deployment>| EggVersion {
            version: v.into(),
            sha256: format!("sha-{v}"),
            size: 10,
            uploaded_at_ms: at,
            deployments,
        };
        let mut deployments = BTreeMap::new();
        deployments.insert("a".to_string(), Deployment::Deployed { spiders: vec!["quotes".into()], at_ms: 3 });
        deployments.insert("b".to_string(), Deployment::Failed { reason: "refused".into(), at_ms: 4 });
        let mut versions = BTreeMap::new();
        versions.insert("2".to_string(), version("2", 1, deployments));
        versions.insert("1".to_string(), version("1", 2, BTreeMap::new()));
        let p = Project { name: "demo".into(), versions };
        assert_eq!(
            serde_json::to_string(&ProjectView::from(&p)).expect("encode"),
            concat!(
                r#"{"name":"demo","versions":[{"version":"2","sha256":"sha-2","size":10,"uploaded_at_ms":1,"#,
                r#""deployments":{"a":{"kind":"deployed","spiders":["quotes"],"at_ms":3},"#,
                r#""b":{"kind":"failed","reason":"refused","at_ms":4}}},"#,
                r#"{"version":"1","sha256":"sha-1","size":10,"uploaded_at_ms":2,"deployments":{}}]}"#
            )
        );
    }
}

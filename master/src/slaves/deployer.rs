//! The egg deployer (leader only): makes every live slave hold every stored egg version.
//!
//! Each sweep (`slaves.deploy_interval_ms`), per live slave, concurrently across slaves:
//! - a version without a `Deployed` record for the slave is uploaded (`addversion.json`), its
//!   spiders listed (`listspiders.json`) and `RecordDeployment` committed — `Deployed` with the
//!   spiders, or `Failed` with the reason (committed only when the reason changes, so a slave
//!   that keeps failing does not grow the log). Failures back off exponentially per version.
//! - when the slave has just come (back) up, and every `VERIFY_EVERY` sweeps, the slave's own
//!   `listversions.json` is compared with the state: versions it lost (a wiped or replaced
//!   slave) are uploaded again; versions of a managed project that the cluster deleted are
//!   deleted there (`delversion.json`).
//! - projects deleted from the cluster while this leader leads are deleted on every slave
//!   (`delproject.json`), retried until each live slave confirms.
//!
//! Projects that exist only on a slave (deployed to it directly) are never touched.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Duration;
use std::time::Instant;

use raft_store::state::Deployment;
use raft_store::state::Node;
use raft_store::state::NodeStatus;
use raft_store::state::Project;
use raft_store::Command;

use super::client::scrapyd_version_name;
use super::client::SlaveClient;
use super::client::SlaveError;
use crate::clock::WallClock;
use crate::leader::LeaderContext;

/// Compare a slave's own version lists with the state every this many sweeps.
const VERIFY_EVERY: u64 = 10;
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// What the deployer remembers about one slave during its term.
#[derive(Default)]
struct Track {
    /// The `since_ms` of the up status last seen (a new value means the slave came back).
    up_since: Option<u64>,
    /// Per (project, version): failures in a row and when to try again.
    backoff: BTreeMap<(String, String), (u32, Instant)>,
}

pub async fn run(ctx: LeaderContext) {
    let interval = Duration::from_millis(ctx.node.config.slaves.deploy_interval_ms);
    let timeout = Duration::from_millis(ctx.node.config.slaves.request_timeout_ms);
    let mut tracks: BTreeMap<String, Track> = BTreeMap::new();
    let mut known: BTreeSet<String> = ctx.node.state.read(|s| s.projects.iter().map(|(k, _)| k.clone()).collect());
    // Deleted projects still to delete on slaves → slaves already done.
    let mut deleted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut sweep: u64 = 0;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.token.cancelled() => return,
            _ = tick.tick() => {}
        }
        sweep += 1;
        let (projects, nodes) = ctx.node.state.read(|s| {
            let p: Vec<Project> = s.projects.values().cloned().collect();
            let n: Vec<Node> = s.nodes.values().cloned().collect();
            (p, n)
        });
        let current: BTreeSet<String> = projects.iter().map(|p| p.name.clone()).collect();
        for gone in known.difference(&current) {
            deleted.entry(gone.clone()).or_default();
        }
        deleted.retain(|p, _| !current.contains(p));
        known = current;
        tracks.retain(|id, _| nodes.iter().any(|n| &n.id == id));
        let live: Vec<Node> = nodes.into_iter().filter(|n| matches!(n.status, NodeStatus::Up { .. })).collect();
        for n in &live {
            tracks.entry(n.id.clone()).or_default();
        }
        let work = tracks.iter_mut().filter_map(|(id, track)| {
            let n = live.iter().find(|n| &n.id == id)?.clone();
            let ctx = ctx.clone();
            let projects = &projects;
            let deleted = &deleted;
            Some(async move {
                let since = match n.status {
                    NodeStatus::Up { since_ms } => Some(since_ms),
                    _ => None,
                };
                let verify = sweep % VERIFY_EVERY == 1 || track.up_since != since;
                track.up_since = since;
                let client = SlaveClient::new(ctx.node.http.clone(), &n, timeout);
                let done = delete_projects(&client, &n, deleted).await;
                sync_node(&ctx, &client, &n, projects, track, verify).await;
                (n.id.clone(), done)
            })
        });
        let results = tokio::select! {
            _ = ctx.token.cancelled() => return,
            r = futures::future::join_all(work) => r,
        };
        for (node_id, done) in results {
            for p in done {
                deleted.entry(p).or_default().insert(node_id.clone());
            }
        }
        let live_ids: BTreeSet<String> = live.iter().map(|n| n.id.clone()).collect();
        deleted.retain(|_, done| !live_ids.is_subset(done));
    }
}

/// Deletes projects the cluster deleted; returns those now gone from this slave.
async fn delete_projects(client: &SlaveClient, n: &Node, deleted: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut done = Vec::new();
    for (project, nodes_done) in deleted {
        if nodes_done.contains(&n.id) {
            continue;
        }
        match client.delproject(project).await {
            Ok(()) => {
                tracing::info!(node = %n.id, project, "project deleted on slave");
                done.push(project.clone());
            }
            // Scrapyd: "project 'x' not found" — already gone.
            Err(SlaveError::Api(m)) if m.contains("not found") => done.push(project.clone()),
            Err(e) => tracing::warn!(node = %n.id, project, cause = %e, "could not delete project on slave"),
        }
    }
    done
}

/// Brings one slave in line with the stored projects.
async fn sync_node(
    ctx: &LeaderContext,
    client: &SlaveClient,
    n: &Node,
    projects: &[Project],
    track: &mut Track,
    verify: bool,
) {
    for p in projects {
        let mut on_slave: Option<BTreeSet<String>> = None;
        if verify {
            match client.listversions(&p.name).await {
                Ok(v) => on_slave = Some(v.into_iter().collect()),
                Err(e) => {
                    tracing::debug!(node = %n.id, project = %p.name, cause = %e, "listversions failed");
                    continue;
                }
            }
        }
        // The slave lists versions as Scrapyd stores them (`1.0` → `1_0`): compare in that form.
        let stored: BTreeSet<String> = p.versions.keys().map(|v| scrapyd_version_name(v)).collect();
        if let Some(have) = &on_slave {
            for extra in have.iter().filter(|v| !stored.contains(*v)) {
                match client.delversion(&p.name, extra).await {
                    Ok(()) => {
                        tracing::info!(node = %n.id, project = %p.name, version = %extra, "stale version deleted")
                    }
                    Err(e) => tracing::warn!(node = %n.id, project = %p.name, cause = %e, "delversion failed"),
                }
            }
        }
        for (version, v) in &p.versions {
            let recorded = matches!(v.deployments.get(&n.id), Some(Deployment::Deployed { .. }));
            let present = on_slave.as_ref().is_none_or(|have| have.contains(&scrapyd_version_name(version)));
            if recorded && present {
                continue;
            }
            let key = (p.name.clone(), version.clone());
            if track.backoff.get(&key).is_some_and(|(_, until)| Instant::now() < *until) {
                continue;
            }
            if ctx.token.is_cancelled() {
                return;
            }
            let outcome = deploy(ctx, client, &p.name, version, &v.sha256).await;
            let deployment = match outcome {
                Ok(spiders) => {
                    track.backoff.remove(&key);
                    tracing::info!(node = %n.id, project = %p.name, version, spiders = spiders.len(), "egg deployed");
                    Deployment::Deployed { spiders, at_ms: WallClock::now_ms() }
                }
                Err(reason) => {
                    let (fails, _) = track.backoff.get(&key).copied().unwrap_or((0, Instant::now()));
                    let wait = (Duration::from_millis(ctx.node.config.slaves.deploy_interval_ms)
                        * 2u32.pow(fails.min(6)))
                    .min(MAX_BACKOFF);
                    track.backoff.insert(key, (fails + 1, Instant::now() + wait));
                    tracing::warn!(node = %n.id, project = %p.name, version, %reason, "egg deployment failed");
                    if matches!(v.deployments.get(&n.id), Some(Deployment::Failed { reason: r, .. }) if *r == reason) {
                        continue;
                    }
                    Deployment::Failed { reason, at_ms: WallClock::now_ms() }
                }
            };
            let cmd = Command::RecordDeployment {
                project: p.name.clone(),
                version: version.clone(),
                node_id: n.id.clone(),
                deployment,
            };
            if let Err(e) = ctx.node.proposer.propose_local(cmd).await {
                tracing::warn!(term = ctx.term, cause = %e, "could not commit a deployment");
                return;
            }
        }
    }
}

/// Uploads one version and lists its spiders.
async fn deploy(
    ctx: &LeaderContext,
    client: &SlaveClient,
    project: &str,
    version: &str,
    sha256: &str,
) -> Result<Vec<String>, String> {
    let egg = match ctx.node.state.egg_bytes(sha256) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(format!("egg {sha256} is missing from the store")),
        Err(e) => return Err(format!("reading egg {sha256}: {e}")),
    };
    client.addversion(project, version, egg).await.map_err(|e| format!("addversion: {e}"))?;
    client.listspiders(project, version).await.map_err(|e| format!("listspiders: {e}"))
}

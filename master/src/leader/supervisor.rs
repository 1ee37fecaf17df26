//! The leader supervisor: the single place where leader-only work starts and stops, keyed by
//! Raft term. The services are a table handed in by `boot` ([`run`]'s `services`): this module
//! names none of them.
//!
//! openraft's `on_leader_change` reports start/stop strictly alternating. A start for term T
//! cancels and awaits whatever runs for an older term, then — only once a quorum has confirmed
//! this node's leadership for T (a ReadIndex round) — spawns the services with a child token for
//! T; each stop cancels and awaits them. The confirmation matters: a master restarted from its
//! data dir was seen reporting itself leader of its old term for 20–100 ms, and the services it
//! started in that window acted on slaves.

use std::sync::Arc;

use openraft::type_config::async_runtime::WatchReceiver;
use openraft::vote::RaftLeaderId;
use openraft::ServerState;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::LeaderContext;
use super::Service;
use crate::node::MasterNode;

enum Event {
    Start(u64),
    Stop(u64),
}

/// The services of one term.
struct Term {
    term: u64,
    token: CancellationToken,
    tasks: JoinSet<()>,
}

impl Term {
    async fn stop(mut self) {
        self.token.cancel();
        while self.tasks.join_next().await.is_some() {}
        tracing::info!(term = self.term, "leader services stopped");
    }
}

fn start_services(
    node: &Arc<MasterNode>,
    services: &[(&'static str, Service)],
    term: u64,
    parent: &CancellationToken,
) -> Term {
    let token = parent.child_token();
    let ctx = LeaderContext { node: node.clone(), term, token: token.clone() };
    let mut tasks = JoinSet::new();
    for &(name, service) in services {
        let ctx = ctx.clone();
        tasks.spawn(async move {
            tracing::info!(term, service = name, "leader service started");
            service(ctx).await;
            tracing::info!(term, service = name, "leader service ended");
        });
    }
    tracing::info!(term, "leader services started");
    Term { term, token, tasks }
}

/// What this node's metrics say about its leadership of `term`.
enum Belief {
    /// It leads `term`.
    Leads,
    /// It no longer leads `term` (stepped down, or a newer term began).
    Lost,
    /// The metrics have not caught up with the leader-change event yet.
    NotYet,
}

fn belief(node: &MasterNode, term: u64) -> Belief {
    let m = node.raft.metrics().borrow_watched().clone();
    if m.current_term > term {
        return Belief::Lost;
    }
    if m.current_term < term {
        return Belief::NotYet;
    }
    match m.state {
        ServerState::Leader if m.current_leader == Some(node.id) => Belief::Leads,
        ServerState::Candidate | ServerState::Leader => Belief::NotYet,
        _ => Belief::Lost,
    }
}

/// Waits until a quorum confirms this node leads `term` (true), or until it no longer does or
/// the node stops (false). A failed round is retried: the quorum may be briefly slow, and the
/// leader-change event may arrive before the metrics show it.
async fn confirmed_leader(node: &MasterNode, term: u64, token: &CancellationToken) -> bool {
    loop {
        if token.is_cancelled() {
            return false;
        }
        match belief(node, term) {
            Belief::Lost => return false,
            Belief::NotYet => {}
            Belief::Leads => match tokio::time::timeout(CONFIRM_TIMEOUT, node.proposer.read_index_local()).await {
                Ok(Ok(_)) if matches!(belief(node, term), Belief::Leads) => return true,
                Ok(Ok(_)) => return false,
                Ok(Err(e)) => tracing::debug!(term, cause = %e, "leadership not yet confirmed"),
                Err(_) => tracing::debug!(term, "leadership confirmation timed out"),
            },
        }
        tokio::select! {
            _ = token.cancelled() => return false,
            _ = tokio::time::sleep(CONFIRM_RETRY) => {}
        }
    }
}

/// Bound of one confirmation round, and the pause before the next.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
const CONFIRM_RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs until `token` is cancelled: for each term this node leads, `services` (name, entry
/// point) run with that term's token; they are cancelled and awaited when the term ends, and
/// when `token` is.
pub async fn run(node: Arc<MasterNode>, services: Vec<(&'static str, Service)>, token: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop_tx = tx.clone();
    let _watch = node.raft.on_leader_change(
        move |leader_id| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Event::Start(leader_id.term()));
            }
        },
        move |leader_id| {
            let tx = stop_tx.clone();
            async move {
                let _ = tx.send(Event::Stop(leader_id.term()));
            }
        },
    );
    let mut current: Option<Term> = None;
    loop {
        let event = tokio::select! {
            _ = token.cancelled() => break,
            ev = rx.recv() => match ev { Some(ev) => ev, None => break },
        };
        match event {
            Event::Start(term) => {
                if let Some(old) = current.take() {
                    old.stop().await;
                }
                if !confirmed_leader(&node, term, &token).await {
                    tracing::info!(
                        node_id = node.id,
                        term,
                        "leadership not confirmed by a quorum; services not started"
                    );
                    continue;
                }
                tracing::info!(node_id = node.id, term, "became leader");
                current = Some(start_services(&node, &services, term, &token));
            }
            Event::Stop(term) => {
                tracing::info!(node_id = node.id, term, "no longer leader");
                if let Some(old) = current.take() {
                    old.stop().await;
                }
            }
        }
    }
    if let Some(old) = current.take() {
        old.stop().await;
    }
}

//! The leader supervisor: the single place where leader-only work starts and stops, keyed by
//! Raft term.
//!
//! openraft's `on_leader_change` reports quorum-acknowledged leadership, strictly alternating
//! start/stop. Each start for term T cancels and awaits whatever runs for an older term, then
//! spawns the services with a child token for T; each stop cancels and awaits them.

use std::sync::Arc;

use openraft::vote::RaftLeaderId;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::LeaderContext;
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

fn start_services(node: &Arc<MasterNode>, term: u64, parent: &CancellationToken) -> Term {
    let token = parent.child_token();
    let ctx = LeaderContext { node: node.clone(), term, token: token.clone() };
    let mut tasks = JoinSet::new();
    for (name, service) in crate::leader::services() {
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

pub async fn run(node: Arc<MasterNode>, token: CancellationToken) {
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
                tracing::info!(node_id = node.id, term, "became leader");
                current = Some(start_services(&node, term, &token));
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

//! Failover reconciliation: what a new leader does before it fires anything new.
//!
//! A fire is committed before it is dispatched, so a leader can die (or be deposed) between the
//! two: the ledger then holds a `Fired` record whose dispatch is `Pending`. The new leader:
//!
//! 1. makes sure its state machine holds every entry committed before its term (a ReadIndex
//!    barrier), so it sees every such record;
//! 2. relies on the old leader's lease having ended: voters elect nobody while the lease they
//!    granted holds, and a leader talks to slaves only while its own lease holds
//!    ([`super::dispatch::Ctx::may_send`]), so the old leader has stopped sending by the time
//!    this term exists — no wait is needed here;
//! 3. asks every up slave whether it has the job id (`status.json`, with a `listjobs.json`
//!    fallback for older Scrapyd) and commits `Dispatched` with the slave that has it;
//! 4. hands the rest back to the runtime for a normal delivery — with the same job id and
//!    `Idempotency-Key`, so a slave that took the job but was not reachable for the question
//!    still de-duplicates it (spider-slave does; real Scrapyd does not, which is why step 3
//!    exists). A slave that is down during step 3 and comes back with the job is the remaining
//!    window for a second run; it is logged.

use std::time::Duration;

use futures::StreamExt;
use raft_store::state::DispatchState;
use raft_store::state::FireDecision;
use raft_store::state::FireRecord;
use raft_store::state::Node;
use raft_store::state::NodeStatus;
use raft_store::state::State;

use super::dispatch::find_on;
use super::dispatch::Ctx;
use super::dispatch::Outcome;
use crate::propose::ProposeError;

/// How many slaves' answers are awaited at once.
const QUERIES_IN_FLIGHT: usize = 32;

/// A fired tick whose delivery has no outcome yet.
#[derive(Debug, Clone)]
pub struct Unsettled {
    pub job_id: String,
    pub record: FireRecord,
}

/// Whether a ledger record is a fire still waiting for its dispatch outcome.
pub fn unsettled_record(r: &FireRecord) -> bool {
    matches!(r.decision, FireDecision::Fired { dispatch: DispatchState::Pending, .. })
}

/// Every fired tick without a dispatch outcome, oldest tick first.
pub fn unsettled(state: &State) -> Vec<Unsettled> {
    let mut out: Vec<Unsettled> = state
        .pending_dispatches()
        .filter_map(|r| match &r.decision {
            FireDecision::Fired { job_id, dispatch: DispatchState::Pending } => {
                Some(Unsettled { job_id: job_id.clone(), record: r.clone() })
            }
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| a.record.tick_ms.cmp(&b.record.tick_ms).then(a.job_id.cmp(&b.job_id)));
    out
}

/// The slaves that are committed up.
pub fn up_nodes(state: &State) -> Vec<Node> {
    state.nodes.values().filter(|n| matches!(n.status, NodeStatus::Up { .. })).cloned().collect()
}

/// Waits until this leader's state machine has applied everything committed before its term.
/// `None` if the term ended first.
async fn barrier(ctx: &Ctx<'_>) -> Option<()> {
    loop {
        if ctx.token.is_cancelled() {
            return None;
        }
        match ctx.node.proposer.read_index_local().await {
            Ok(index) => {
                let wait = ctx.node.raft.wait(Some(Duration::from_secs(10)));
                let waited = wait.applied_index_at_least(Some(index), "read index applied");
                tokio::select! {
                    _ = ctx.token.cancelled() => return None,
                    r = waited => if r.is_ok() { return Some(()) },
                }
            }
            Err(ProposeError::ForwardToLeader { .. }) | Err(ProposeError::Fatal(_)) => return None,
            Err(e) => tracing::debug!(term = ctx.term, cause = %e, "read barrier not ready"),
        }
        tokio::select! {
            _ = ctx.token.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// Reconciles the fires the previous leaders left without an outcome. Returns the ones no slave
/// has, to be delivered again; `None` if the term ended first.
pub async fn reconcile(ctx: &Ctx<'_>) -> Option<Vec<Unsettled>> {
    barrier(ctx).await?;
    let pending = ctx.node.state.read(unsettled);
    if pending.is_empty() {
        return Some(Vec::new());
    }
    tracing::info!(term = ctx.term, fires = pending.len(), "reconciling fires without a dispatch outcome");
    let nodes = ctx.node.state.read(up_nodes);
    let checks = pending.into_iter().map(|u| {
        let nodes = &nodes;
        async move {
            let found = find_on(ctx, nodes, &u.record.project, &u.job_id).await;
            (u, found)
        }
    });
    let results: Vec<_> = futures::stream::iter(checks).buffer_unordered(QUERIES_IN_FLIGHT).collect().await;
    let mut again = Vec::new();
    for (u, found) in results {
        match found {
            Err(super::dispatch::TermEnded) => return None,
            Ok(Some(node_id)) => {
                if ctx.commit_dispatched(&u.job_id, &node_id).await == Outcome::Abandoned {
                    return None;
                }
            }
            Ok(None) => {
                tracing::info!(term = ctx.term, job = %u.job_id, "no slave has the job: delivering it again");
                again.push(u);
            }
        }
    }
    Some(again)
}

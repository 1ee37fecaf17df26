//! Failover reconciliation: what a new leader does before it fires anything new.
//!
//! A fire is committed before it is dispatched, so a leader can die (or be deposed) between the
//! two: the ledger then holds a `Fired` record whose dispatch is `Pending`. The new leader:
//!
//! 1. makes sure its state machine holds every entry committed before its term (a ReadIndex
//!    barrier), so it sees every such record;
//! 2. relies on the old leader's lease having ended: voters elect nobody while the lease they
//!    granted holds, and a leader talks to slaves only while its own lease holds
//!    ([`TermCtx::may_send`](crate::leader::term::TermCtx::may_send)), so the old leader has stopped sending by the time
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

use super::dispatch::find_on;
use super::dispatch::DispatchCtx;
use super::dispatch::Outcome;
use super::ledger;
use super::ledger::Unsettled;
use super::placement;
use crate::leader::TermEnded;
use crate::propose::ProposeError;

/// How many slaves' answers are awaited at once.
const QUERIES_IN_FLIGHT: usize = 32;

/// Waits until this leader's state machine has applied everything committed before its term.
/// `None` if the term ended first.
async fn barrier(ctx: &DispatchCtx) -> Option<()> {
    let term = &ctx.term;
    loop {
        if term.ended() {
            return None;
        }
        match term.node.proposer.read_index_local().await {
            Ok(index) => {
                let wait = term.node.raft.wait(Some(Duration::from_secs(10)));
                let waited = wait.applied_index_at_least(Some(index), "read index applied");
                tokio::select! {
                    _ = term.token.cancelled() => return None,
                    r = waited => if r.is_ok() { return Some(()) },
                }
            }
            Err(ProposeError::ForwardToLeader { .. }) | Err(ProposeError::Fatal(_)) => return None,
            Err(e) => tracing::debug!(term = term.term, cause = %e, "read barrier not ready"),
        }
        if !term.pause(Duration::from_millis(50)).await {
            return None;
        }
    }
}

/// Reconciles the fires the previous leaders left without an outcome. Returns the ones no slave
/// has, to be delivered again; `None` if the term ended first.
pub async fn reconcile(ctx: &DispatchCtx) -> Option<Vec<Unsettled>> {
    barrier(ctx).await?;
    let pending = ctx.node().state.read(ledger::unsettled);
    if pending.is_empty() {
        return Some(Vec::new());
    }
    tracing::info!(term = ctx.term.term, fires = pending.len(), "reconciling fires without a dispatch outcome");
    let nodes = ctx.node().state.read(placement::up_nodes);
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
            Err(TermEnded) => return None,
            Ok(Some(node_id)) => {
                if ctx.commit_dispatched(&u.job_id, &node_id).await == Outcome::Abandoned {
                    return None;
                }
            }
            Ok(None) => {
                tracing::info!(term = ctx.term.term, job = %u.job_id, "no slave has the job: delivering it again");
                again.push(u);
            }
        }
    }
    Some(again)
}

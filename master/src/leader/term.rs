//! The term's capability: what a leader service may do while, and only while, its term lasts.
//!
//! A [`TermCtx`] is made once per service per term from its [`LeaderContext`]; it carries the
//! term's token and its batching [`Committer`]. Through it a service
//!
//! - commits a decision as its own entry ([`TermCtx::commit`]) or with others
//!   ([`TermCtx::commit_batched`]) — `TermEnded` once this node can no longer commit;
//! - asks whether it may still talk to the outside world ([`TermCtx::may_send`]): its term goes
//!   on AND its Raft lease holds, so a deposed, frozen or cut-off leader stops sending by the
//!   time a successor can exist;
//! - waits, cut short by the end of the term ([`TermCtx::pause`]).
//!
//! The scheduler's deliveries and cancels use it; the alerter will too.

use std::sync::Arc;
use std::time::Duration;

use openraft::type_config::async_runtime::WatchReceiver;
use openraft::Instant as _;
use raft_store::Applied;
use raft_store::Command;
use tokio_util::sync::CancellationToken;

use super::committer::Committer;
use super::AbortOnDrop;
use super::LeaderContext;
use super::TermEnded;
use crate::node::MasterNode;

/// What a leader service may do during its term (cheap to clone: one per task is fine).
#[derive(Clone)]
pub struct TermCtx {
    pub node: Arc<MasterNode>,
    pub term: u64,
    /// Cancelled when the term ends (or the node stops).
    pub token: CancellationToken,
    /// Batches small decisions into few log entries.
    committer: Committer,
}

impl TermCtx {
    /// The capability of `ctx`'s term, with its committer task (which ends with the term's
    /// token; the guard aborts it on an early return too).
    pub fn start(ctx: &LeaderContext) -> (Self, AbortOnDrop) {
        let (committer, task) = Committer::start(ctx.node.clone(), ctx.token.clone(), ctx.term);
        let term = TermCtx { node: ctx.node.clone(), term: ctx.term, token: ctx.token.clone(), committer };
        (term, AbortOnDrop(task))
    }

    /// Whether the term ended (or the node is stopping).
    pub fn ended(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Commits `cmd` as its own log entry; `TermEnded` if this node could not (deposed,
    /// stopping, or a write of unknown fate: the next leader settles what it left).
    pub async fn commit(&self, cmd: Command) -> Result<Applied, TermEnded> {
        if self.ended() {
            return Err(TermEnded);
        }
        let what = cmd.to_string();
        match self.node.proposer.propose_local(cmd).await {
            Ok(p) => Ok(p.applied),
            Err(e) => {
                tracing::warn!(term = self.term, change = %what, cause = %e, "could not commit a leader decision");
                Err(TermEnded)
            }
        }
    }

    /// Commits `cmd` (a batchable command) together with whatever else is waiting, in one
    /// entry; answers this command's own result.
    pub async fn commit_batched(&self, cmd: Command) -> Result<Applied, TermEnded> {
        if self.ended() {
            return Err(TermEnded);
        }
        self.committer.commit(cmd).await
    }

    /// Whether this leader may still talk to slaves (or anyone outside the cluster): its term
    /// goes on and its Raft lease holds — a quorum acknowledged something it sent less than
    /// `election_timeout_max` ago. Voters refuse to elect anyone while the lease they granted
    /// holds, so once a new leader exists this old one has stopped sending (bar requests
    /// already on the wire, which the job id de-duplicates); a frozen or cut-off leader notices
    /// on its next check.
    pub fn may_send(&self) -> bool {
        if self.ended() {
            return false;
        }
        let lease = Duration::from_millis(self.node.config.raft.election_timeout_max_ms);
        let metrics = self.node.raft.metrics();
        let m = metrics.borrow_watched();
        match &m.last_quorum_acked {
            Some(acked) => acked.elapsed() < lease,
            // No quorum ack yet: only a single-voter cluster is its own quorum.
            None => m.membership_config.membership().voter_ids().count() <= 1,
        }
    }

    /// Waits `d` (or less if the term ends); false if the term ended.
    pub async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.token.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

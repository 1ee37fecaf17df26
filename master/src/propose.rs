//! `Proposer`: how a decision gets into the Raft log from any master.
//!
//! On the leader a command is stamped with the leader's clock and written with
//! `client_write`; on a follower it is forwarded to the leader's `/raft/propose`, with bounded
//! retries that only resend when the command certainly did not reach a leader (refused
//! connection, "not the leader"). A forwarded call whose fate is unknown (timeout after
//! sending) is reported as `Indeterminate`, never silently retried: retries could apply it twice.
//!
//! Linearizable reads: the leader confirms its leadership with a quorum (ReadIndex); a follower
//! asks the leader for that read point and waits until it has applied it locally.

use std::time::Duration;
use std::time::Instant;

use openraft::errors::ClientWriteError;
use openraft::errors::LinearizableReadError;
use openraft::errors::RaftError;
use openraft::ReadPolicy;
use raft_store::typ::Raft;
use raft_store::Applied;
use raft_store::Command;
use raft_store::LogEntry;
use serde::Deserialize;
use serde::Serialize;

use crate::clock::WallClock;
use crate::secrets::Secret;

/// A committed and applied write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposed {
    pub applied: Applied,
    pub log_index: u64,
}

/// Why a write or a linearizable read did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ProposeError {
    /// This node does not lead; the leader, if known.
    #[error("not the leader (leader: {leader_id:?} at {leader_addr:?})")]
    ForwardToLeader { leader_id: Option<u64>, leader_addr: Option<String> },
    /// No leader could be reached before the deadline: retry later.
    #[error("no leader is available; retry shortly")]
    NoLeader,
    /// The write was sent but its outcome is unknown (it may have committed).
    #[error("the write may or may not have been applied: {0}")]
    Indeterminate(String),
    /// Raft stopped on this node.
    #[error("raft failure: {0}")]
    Fatal(String),
}

/// What `/raft/propose` answers.
pub type ProposeReply = Result<Proposed, ProposeError>;

/// Bounds of forwarding.
const MAX_ATTEMPTS: usize = 8;

pub struct Proposer {
    raft: Raft,
    http: reqwest::Client,
    secret: Secret,
    /// Deadline of a whole propose (with forwarding and waiting for a leader).
    timeout: Duration,
}

fn forward_of(f: &openraft::errors::ForwardToLeader<raft_store::TypeConfig>) -> ProposeError {
    ProposeError::ForwardToLeader {
        leader_id: f.leader_id,
        leader_addr: f.leader_node.as_ref().map(|n| n.addr.clone()),
    }
}

impl Proposer {
    pub fn new(raft: Raft, http: reqwest::Client, secret: Secret, timeout: Duration) -> Self {
        Self { raft, http, secret, timeout }
    }

    /// Writes `cmd` if this node leads; otherwise says who does.
    pub async fn propose_local(&self, cmd: Command) -> ProposeReply {
        // The leader's stamp: the only time `apply` sees.
        match self.raft.client_write(LogEntry::new(WallClock::now_ms(), cmd)).await {
            Ok(r) => Ok(Proposed { applied: r.data, log_index: r.log_id.index() }),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Err(forward_of(&f)),
            Err(RaftError::APIError(ClientWriteError::LogEntryDiscarded(f))) => {
                Err(ProposeError::Indeterminate(format!("leader changed while writing (now {:?})", f.leader_id)))
            }
            Err(RaftError::APIError(e)) => Err(ProposeError::Fatal(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(ProposeError::Fatal(e.to_string())),
        }
    }

    /// Writes `cmd` through whichever master leads, forwarding with bounded retries.
    pub async fn propose(&self, cmd: Command) -> ProposeReply {
        let deadline = Instant::now() + self.timeout;
        for _ in 0..MAX_ATTEMPTS {
            let (leader_id, addr) = match self.propose_local(cmd.clone()).await {
                Err(ProposeError::ForwardToLeader { leader_id: Some(id), leader_addr: Some(addr) }) => (id, addr),
                Err(ProposeError::ForwardToLeader { .. }) | Err(ProposeError::NoLeader) => {
                    self.wait_for_leader(None, deadline).await?;
                    continue;
                }
                done => return done,
            };
            match self.forward(&addr, &cmd, deadline).await {
                Forwarded::Reply(Err(ProposeError::ForwardToLeader { .. })) | Forwarded::NotSent => {
                    // That leader is gone or deposed: wait until this node sees another one.
                    self.wait_for_leader(Some(leader_id), deadline).await?;
                }
                Forwarded::Reply(Ok(done)) => {
                    // Read-your-writes: a client that wrote through this master reads it back here.
                    self.wait_applied(done.log_index, deadline).await;
                    return Ok(done);
                }
                Forwarded::Reply(reply) => return reply,
                Forwarded::Unknown(e) => return Err(ProposeError::Indeterminate(e)),
            }
        }
        Err(ProposeError::NoLeader)
    }

    async fn forward(&self, addr: &str, cmd: &Command, deadline: Instant) -> Forwarded {
        let url = format!("{}/raft/propose", addr.trim_end_matches('/'));
        let remaining = deadline.saturating_duration_since(Instant::now());
        let sent = self.http.post(&url).bearer_auth(&self.secret.0).json(cmd).timeout(remaining).send().await;
        match sent {
            Err(e) if e.is_connect() => Forwarded::NotSent,
            Err(e) => Forwarded::Unknown(format!("forwarding to {url}: {e}")),
            Ok(r) if !r.status().is_success() => {
                Forwarded::Unknown(format!("forwarding to {url}: HTTP {}", r.status()))
            }
            Ok(r) => match r.json::<ProposeReply>().await {
                Ok(reply) => Forwarded::Reply(reply),
                Err(e) => Forwarded::Unknown(format!("reply from {url}: {e}")),
            },
        }
    }

    /// Waits (until `deadline` at most) until this node has applied `index`. A forwarded write
    /// is committed when the leader answers; this only makes it visible to local reads too.
    async fn wait_applied(&self, index: u64, deadline: Instant) {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let applied = |m: &raft_store::typ::RaftMetrics| m.last_applied.is_some_and(|l| l.index() >= index);
        if let Err(e) = self.raft.wait(Some(remaining)).metrics(applied, "the write is applied here").await {
            tracing::debug!(index, error = %e, "a forwarded write is not yet applied locally");
        }
    }

    /// Waits until this node knows a leader other than `not` (any leader if `None`).
    async fn wait_for_leader(&self, not: Option<u64>, deadline: Instant) -> Result<(), ProposeError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ProposeError::NoLeader);
        }
        self.raft
            .wait(Some(remaining))
            .metrics(|m| m.current_leader.is_some() && m.current_leader != not, "a leader is known")
            .await
            .map(|_| ())
            .map_err(|_| ProposeError::NoLeader)
    }

    /// The leader's linearizable read point (log index), if this node leads.
    pub async fn read_index_local(&self) -> Result<u64, ProposeError> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(read) => Ok(read.index()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => Err(forward_of(&f)),
            Err(RaftError::APIError(LinearizableReadError::QuorumNotEnough(e))) => {
                tracing::debug!(cause = %e, "read index without quorum");
                Err(ProposeError::NoLeader)
            }
            Err(RaftError::Fatal(e)) => Err(ProposeError::Fatal(e.to_string())),
        }
    }

    /// Returns once this node's state machine reflects every write committed before the call.
    pub async fn linearizable_barrier(&self) -> Result<(), ProposeError> {
        let deadline = Instant::now() + self.timeout;
        let index = match self.read_index_local().await {
            Ok(i) => i,
            Err(ProposeError::ForwardToLeader { leader_addr: Some(addr), .. }) => {
                let url = format!("{}/raft/read-index", addr.trim_end_matches('/'));
                let remaining = deadline.saturating_duration_since(Instant::now());
                let r = self
                    .http
                    .post(&url)
                    .bearer_auth(&self.secret.0)
                    .timeout(remaining)
                    .send()
                    .await
                    .map_err(|_| ProposeError::NoLeader)?;
                r.json::<Result<u64, ProposeError>>().await.map_err(|_| ProposeError::NoLeader)??
            }
            Err(ProposeError::ForwardToLeader { .. }) => return Err(ProposeError::NoLeader),
            Err(e) => return Err(e),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(remaining))
            .applied_index_at_least(Some(index), "read index applied")
            .await
            .map(|_| ())
            .map_err(|_| ProposeError::NoLeader)
    }
}

enum Forwarded {
    Reply(ProposeReply),
    /// Certainly not delivered (connection refused).
    NotSent,
    /// Delivered or not: unknown.
    Unknown(String),
}

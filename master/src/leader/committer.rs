//! Committing a leader service's small decisions in batches: the term's [`Committer`].
//!
//! Under load thousands of deliveries finish per second, each with a `Dispatched` or
//! `DispatchFailed` to commit (and cancels, and later alert outcomes). One log entry each would
//! cost one Raft round each and hold the next decision behind a queue of rounds. The
//! [`Committer`] task takes every command arriving within [`LINGER`] of the first (and any
//! waiting while it was busy) and commits them as ONE `Batch` entry, then answers each caller
//! with its own item's result; while that round runs, the next batch gathers. A command alone
//! is committed as itself. Only batchable commands may be sent (`apply` refuses, item by item,
//! any that derive an id from the log index).
//!
//! One committer per term (it is started with the term's token and ends with it): a command
//! handed to it after the term ended is answered [`TermEnded`].

use std::sync::Arc;

use raft_store::Applied;
use raft_store::Command;
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::TermEnded;
use crate::node::MasterNode;

/// Items per `Batch` entry (a huge backlog is split to keep entries small).
pub const ITEMS_PER_ENTRY: usize = 2000;
/// How long the first outcome of a batch waits for others. A burst of fires (every schedule
/// due at one second) is delivered while its first outcomes arrive: committing each trickle
/// at once would run Raft rounds (and the followers' applies) on the CPU the rest of the burst
/// is waiting for. An outcome is recorded this much later; nothing waits on it but its caller.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(20);

type Reply = oneshot::Sender<Result<Applied, TermEnded>>;

/// Handle to the term's committer (cheap to clone).
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<(Command, Reply)>,
}

impl Committer {
    /// Starts the committer task of one term; it ends with `token`.
    pub fn start(node: Arc<MasterNode>, token: CancellationToken, term: u64) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(node, token, term, rx));
        (Self { tx }, task)
    }

    /// Commits `cmd` with whatever else is waiting; `TermEnded` if it could not be committed.
    pub async fn commit(&self, cmd: Command) -> Result<Applied, TermEnded> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((cmd, reply)).map_err(|_| TermEnded)?;
        answer.await.unwrap_or(Err(TermEnded))
    }
}

async fn run(
    node: Arc<MasterNode>,
    token: CancellationToken,
    term: u64,
    mut rx: mpsc::UnboundedReceiver<(Command, Reply)>,
) {
    let mut waiting: Vec<(Command, Reply)> = Vec::new();
    loop {
        let first = tokio::select! {
            _ = token.cancelled() => return,
            got = rx.recv() => match got {
                Some(item) => item,
                None => return,
            },
        };
        waiting.push(first);
        let until = tokio::time::Instant::now() + LINGER;
        while waiting.len() < ITEMS_PER_ENTRY {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep_until(until) => break,
                got = rx.recv() => match got {
                    Some(item) => waiting.push(item),
                    None => break,
                },
            }
        }
        let (commands, replies): (Vec<Command>, Vec<Reply>) = std::mem::take(&mut waiting).into_iter().unzip();
        let n = commands.len();
        let Some(cmd) = Command::batched(commands) else { continue };
        let what = cmd.to_string();
        let results: Vec<Result<Applied, TermEnded>> = match node.proposer.propose_local(cmd).await {
            Ok(p) if n == 1 => vec![Ok(p.applied)],
            Ok(p) => match p.applied {
                Applied::Batch { results } if results.len() == n => results.into_iter().map(Ok).collect(),
                other => {
                    tracing::warn!(term, answer = ?other, "a batch got an unexpected answer");
                    vec![Err(TermEnded); n]
                }
            },
            Err(e) => {
                tracing::warn!(term, change = %what, cause = %e, "could not commit a batch");
                vec![Err(TermEnded); n]
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

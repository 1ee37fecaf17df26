//! The operations every front door shares: `/api/v1` today, the dashboard and the Scrapyd
//! facade later. A front door parses its input into the arguments below, calls one function,
//! and turns the domain answer into its own wire shape (`views` for `/api/v1`).
//!
//! - [`schedules`]: create, patch (optimistic versions), pause/resume, delete, run now, fires.
//! - [`projects`]: egg upload and checks, versions and projects, deletes guarded by schedules.
//! - [`jobs`]: the job table with filters.
//! - [`nodes`]: slaves: register, patch, remove, list with this master's latest metrics.
//! - [`cluster`]: Raft status, health, the state digest, membership changes.
//! - [`alerts`]: the alert ledger and deliveries (ack, resolve), channels (and their test
//!   send), routing rules, silences, spider-error thresholds.
//! - [`debug`]: debug aids (the scheduler's clock offset).
//! - [`read`]: read consistency; [`names`]: the name rule; [`error`]: [`OpsError`].
//!
//! **Invariant:** no axum, no HTTP status codes here: errors are [`OpsError`] values, mapped
//! once by each front door. Writes go through [`commit`] (the `Proposer`, forwarded to the
//! leader); a write returns once this master applied it, so the answer is read locally.

pub mod alerts;
pub mod cluster;
pub mod debug;
pub mod error;
pub mod jobs;
pub mod names;
pub mod nodes;
pub mod projects;
pub mod read;
pub mod schedules;

use raft_store::Applied;
use raft_store::Command;

pub use self::error::OpsError;
pub use self::names::check_name;
pub use self::read::Consistency;
use crate::node::MasterNode;

/// Commits `cmd` through Raft (forwarded to the leader if need be; applied on this master when
/// it returns, so the caller can read its own write). A rejection becomes the error about `what`.
pub async fn commit(node: &MasterNode, cmd: Command, what: &str) -> Result<Applied, OpsError> {
    match node.proposer.propose(cmd).await?.applied {
        Applied::Rejected(r) => Err(OpsError::from_rejection(r, what)),
        applied => Ok(applied),
    }
}

/// "Now" for requests (a run-now tick, next fire times), Unix ms: this master's wall clock.
pub fn now_ms() -> i64 {
    crate::clock::WallClock::now_ms_i64()
}

/// Reads with `read` on this master; if that finds nothing, once more at the leader's commit
/// point: an id just created through another master (a load balancer spreads a client's calls)
/// may not be applied here yet, and a write that reads first must not answer 404 for it.
pub(crate) async fn read_fresh<T>(node: &MasterNode, read: impl Fn() -> Result<T, OpsError>) -> Result<T, OpsError> {
    match read() {
        Err(OpsError::NotFound(_)) => {
            node.proposer.linearizable_barrier().await?;
            read()
        }
        other => other,
    }
}

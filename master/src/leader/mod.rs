//! The leader-service framework, below every leader-only service.
//!
//! Leader-only services (the scheduler, the slaves' health checker, deployer and collector,
//! the alerter later) are started when this master becomes the (quorum-confirmed) leader for a
//! term and cancelled, and awaited, the moment it is not. [`supervisor`] is the one place that
//! starts and stops them; it gets the service table from `boot` and never names a service.
//! [`term`] is the term's capability (commit, may-send, pause, term-ended), with the batching
//! [`committer`]; every service that commits decisions uses them.
//!
//! Every decision a service makes still goes through `client_write`: a node that believes it
//! leads may not, and only a committed write counts.

pub mod committer;
pub mod supervisor;
pub mod term;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::node::MasterNode;

/// What a leader service gets: the node, the term it leads, and the token that ends its term.
#[derive(Clone)]
pub struct LeaderContext {
    pub node: Arc<MasterNode>,
    pub term: u64,
    pub token: CancellationToken,
}

/// A leader service: runs until `ctx.token` is cancelled.
pub type Service = fn(LeaderContext) -> futures::future::BoxFuture<'static, ()>;

/// This leader's term ended (or it could not commit): stop; the next leader takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermEnded;

/// Aborts a task when dropped: a helper task of a service ends with the service, even on an
/// early return.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

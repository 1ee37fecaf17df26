//! Leader-only services: started when this master becomes the (quorum-confirmed) leader for a
//! term and cancelled, and awaited, the moment it is not. [`supervisor`] is the one place that
//! starts and stops them. Every decision a service makes still goes through `client_write`:
//! a node that believes it leads may not, and only a committed write counts.

pub mod collector;
pub mod deployer;
pub mod health;
pub mod supervisor;

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

/// Every leader-only service, by name. The supervisor starts all of them for each term.
pub fn services() -> Vec<(&'static str, Service)> {
    vec![
        ("slave-health", |ctx| Box::pin(health::run(ctx))),
        ("egg-deployer", |ctx| Box::pin(deployer::run(ctx))),
        ("job-collector", |ctx| Box::pin(collector::run(ctx))),
        ("scheduler", |ctx| Box::pin(crate::scheduler::runtime::run(ctx))),
    ]
}

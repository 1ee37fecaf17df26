//! Everything that talks to the slaves about themselves (not about fires):
//!
//! - [`client`]: the Scrapyd API as masters use it (spider-slave and real Scrapyd).
//! - [`metrics`]: this master's in-memory metrics series of every slave; [`poller`] fills it
//!   (on every master).
//! - Leader services: [`health`] (up/down transitions), [`deployer`] (every live slave holds
//!   every stored egg version), [`collector`] (`listjobs.json` → the job table).
//!
//! Leader services here use `leader`, `node`, [`client`] and raft-store, never a front door.

pub mod client;
pub mod collector;
pub mod deployer;
pub mod health;
pub mod metrics;
pub mod poller;

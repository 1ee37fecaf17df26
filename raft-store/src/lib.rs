//! spider-platform's replicated state machine.
//!
//! Three master replicas agree on every decision (schedules, fires, nodes, projects, jobs,
//! users, alerts) through openraft; this crate is everything below the network:
//!
//! - [`command`], [`log_entry`], [`applied`]: the closed set of commands, the stamped log
//!   payload, and `apply`'s answers (rejections are values).
//! - [`state`]: plain domain data in change-tracking tables.
//! - [`apply`]: the one pure, deterministic mutator.
//! - [`log_store`], [`sm_store`], [`snapshot`]: openraft's storage traits over one RocksDB.
//! - [`ondisk`]: column families, the format version and value encoding.
//!
//! No HTTP, no clock, no randomness: the master crate brings those.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod applied;
pub mod apply;
pub mod command;
pub mod error;
pub mod log_entry;
pub mod log_store;
pub mod ondisk;
pub mod sm_store;
pub mod snapshot;
pub mod state;

use std::path::Path;
use std::sync::Arc;

pub use applied::Applied;
pub use applied::Rejection;
pub use command::Command;
pub use command::Tick;
pub use command::TickSkip;
pub use error::Error;
pub use log_entry::LogEntry;
pub use log_store::LogStore;
pub use sm_store::StateHandle;
pub use sm_store::StateMachineStore;

/// Id of a master in the Raft cluster.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// The openraft type configuration of spider-platform, declared once for every crate.
    ///
    /// Application data is a [`LogEntry`]; the response is [`Applied`]; a master's Raft node
    /// data is its advertised base URL in [`openraft::BasicNode`].
    pub TypeConfig:
        D = LogEntry,
        R = Applied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
);

/// Short aliases for openraft's generic types bound to [`TypeConfig`].
pub mod typ {
    use crate::TypeConfig;

    pub type Raft = openraft::Raft<TypeConfig, crate::StateMachineStore>;
    pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
    pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
    pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
    pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
    pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, Vec<u8>>;
    pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
    pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;
}

/// Opens (or creates) the store under `data_dir`: the RocksDB database in `data_dir/db` and
/// snapshot files in `data_dir/snapshots`. Returns the log store and the state machine, which
/// share the database.
pub fn open(data_dir: &Path) -> Result<(LogStore, StateMachineStore), Error> {
    std::fs::create_dir_all(data_dir).map_err(|source| Error::Io { path: data_dir.to_path_buf(), source })?;
    let db = Arc::new(ondisk::open_db(&data_dir.join("db"))?);
    let log = LogStore::new(db.clone());
    let sm = StateMachineStore::open(db, data_dir.join("snapshots"))?;
    Ok((log, sm))
}

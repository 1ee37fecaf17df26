//! `raft_store::Error`: what can go wrong opening or reading the store.
//!
//! Every variant names the path (and key, where there is one) and the cause, so an operator can
//! tell a corrupted directory from a foreign one without reading code. Nothing here is ever
//! answered by silently resetting the store.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open RocksDB store at {path}: {cause}")]
    Open { path: PathBuf, cause: String },

    #[error("{path} is not a spider-platform store: {detail}")]
    Foreign { path: PathBuf, detail: String },

    #[error("store at {path} has on-disk format version {found}; this build reads version {supported}")]
    UnknownFormat { path: PathBuf, found: u32, supported: u32 },

    #[error("store at {path} is corrupt at key {key:?}: {cause}")]
    Corrupt { path: PathBuf, key: String, cause: String },

    #[error("snapshot cannot be decoded: {0}")]
    Snapshot(String),

    #[error("I/O error at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { source, .. } => source,
            Error::Snapshot(_) => std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            other => std::io::Error::other(other.to_string()),
        }
    }
}

//! `LogStore`: openraft's log storage (`RaftLogStorage`) over RocksDB.
//!
//! Keeps the vote, the committed log id, the last purged log id (CF `log_meta`) and the entries
//! (CF `logs`, big-endian index keys). Durability rule: `append` writes the entries before it
//! returns (so they are readable at once) and fires the `IOFlushed` callback only after the WAL
//! is fsynced; `save_vote` returns only after the fsync.

use std::fmt::Debug;
use std::io;
use std::ops::Bound;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::entry::RaftEntry;
use openraft::storage::IOFlushed;
use openraft::storage::RaftLogStorage;
use openraft::LogState;
use openraft::OptionalSend;
use openraft::RaftLogReader;
use rocksdb::DB;

use crate::ondisk;
use crate::ondisk::CF_LOGS;
use crate::ondisk::CF_LOG_META;
use crate::typ::Entry;
use crate::typ::LogId;
use crate::typ::Vote;
use crate::TypeConfig;

const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_LAST_PURGED: &str = "last_purged";

/// The Raft log of one master. Cheap to clone (shares the database).
#[derive(Debug, Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

fn io_err(e: impl ToString) -> io::Error {
    io::Error::other(e.to_string())
}

fn data_err(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Result<u64, io::Error> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| data_err(format!("log key of {} bytes", key.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

impl LogStore {
    pub(crate) fn new(db: Arc<DB>) -> Self {
        Self { db }
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, io::Error> {
        ondisk::cf(&self.db, name).map_err(io::Error::from)
    }

    fn get_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, io::Error> {
        let Some(bytes) = self.db.get_cf(self.cf(CF_LOG_META)?, key).map_err(io_err)? else {
            return Ok(None);
        };
        ondisk::decode(&bytes).map(Some).map_err(|e| data_err(format!("log_meta/{key}: {e}")))
    }

    fn put_meta<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), io::Error> {
        let bytes = ondisk::encode(value).map_err(data_err)?;
        self.db.put_cf(self.cf(CF_LOG_META)?, key, bytes).map_err(io_err)
    }

    async fn sync_wal(&self) -> Result<(), io::Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush_wal(true).map_err(io_err)).await.map_err(io_err)?
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(x) => *x,
            Bound::Excluded(x) => x.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let from = index_key(start);
        let mut out = Vec::new();
        let iter =
            self.db.iterator_cf(self.cf(CF_LOGS)?, rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward));
        for item in iter {
            let (k, v) = item.map_err(io_err)?;
            let index = key_index(&k)?;
            if !range.contains(&index) {
                break;
            }
            let entry: Entry = ondisk::decode(&v).map_err(|e| data_err(format!("log entry {index}: {e}")))?;
            if entry.index() != index {
                return Err(data_err(format!("log key {index} holds entry {}", entry.index())));
            }
            out.push(entry);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.get_meta(KEY_VOTE)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last = match self.db.iterator_cf(self.cf(CF_LOGS)?, rocksdb::IteratorMode::End).next() {
            None => None,
            Some(item) => {
                let (_, v) = item.map_err(io_err)?;
                let entry: Entry = ondisk::decode(&v).map_err(data_err)?;
                Some(entry.log_id())
            }
        };
        let last_purged_log_id: Option<LogId> = self.get_meta(KEY_LAST_PURGED)?;
        let last_log_id = last.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.put_meta(KEY_VOTE, vote)?;
        self.sync_wal().await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.put_meta(KEY_COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.get_meta::<Option<LogId>>(KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        let cf = self.cf(CF_LOGS)?;
        let mut batch = rocksdb::WriteBatch::default();
        for entry in entries {
            let bytes = ondisk::encode(&entry).map_err(data_err)?;
            batch.put_cf(cf, index_key(entry.index()), bytes);
        }
        // Written now so the entries are readable when this returns; durable when the WAL is
        // synced below, and only then is openraft told.
        self.db.write(batch).map_err(io_err)?;
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let res = db.flush_wal(true).map_err(io_err);
            callback.io_completed(res);
        });
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        self.db.delete_range_cf(self.cf(CF_LOGS)?, index_key(from), index_key(u64::MAX)).map_err(io_err)?;
        // delete_range excludes its end; u64::MAX is never a real index.
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // Record the purge point first: entries at or before it are ignored from then on.
        self.put_meta(KEY_LAST_PURGED, &log_id)?;
        self.db.delete_range_cf(self.cf(CF_LOGS)?, index_key(0), index_key(log_id.index() + 1)).map_err(io_err)
    }
}

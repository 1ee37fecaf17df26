//! `StateMachineStore`: openraft's state machine (`RaftStateMachine`) over RocksDB.
//!
//! The state lives in memory (for reads) and on disk (for restarts). Each `apply` call runs the
//! pure [`crate::apply::apply`] on the in-memory [`State`] for every entry of the batch, then
//! writes the changed rows, blobs, last-applied log id and membership in ONE `WriteBatch`, and
//! only then answers the entries' responders. A restart therefore reloads a state that matches
//! its recorded last-applied id exactly, and replays only the log after it.
//!
//! That write is not fsynced: what makes a write durable is its log entry (fsynced by
//! [`crate::log_store::LogStore`] before openraft counts it). The log and the state share one
//! RocksDB write-ahead log, recovered after a crash as a prefix (point-in-time recovery), and
//! every append's sync covers the state writes before it; so the disk holds the state of some
//! log prefix at every instant, and at worst a power loss replays a few more entries.
//!
//! Readers get a [`StateHandle`]; the lock is a std `RwLock` held only for in-memory work,
//! never across an `.await`.

use std::io;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::RwLockReadGuard;
use std::sync::RwLockWriteGuard;

use futures::Stream;
use futures::TryStreamExt;
use openraft::entry::RaftEntry;
use openraft::storage::EntryResponder;
use openraft::storage::RaftStateMachine;
use openraft::EntryPayload;
use openraft::OptionalSend;
use openraft::RaftSnapshotBuilder;
use rocksdb::DB;

use crate::applied::Applied;
use crate::error::Error;
use crate::ondisk;
use crate::ondisk::CF_SM_BLOBS;
use crate::ondisk::CF_SM_DATA;
use crate::ondisk::CF_SM_META;
use crate::ondisk::KEY_LAST_APPLIED;
use crate::ondisk::KEY_MEMBERSHIP;
use crate::snapshot;
use crate::snapshot::Family;
use crate::snapshot::SnapshotWriter;
use crate::state::State;
use crate::typ::LogId;
use crate::typ::Snapshot;
use crate::typ::SnapshotMeta;
use crate::typ::StoredMembership;
use crate::TypeConfig;

/// What readers and the state machine share.
#[derive(Debug)]
struct Shared {
    state: RwLock<State>,
    applied: RwLock<(Option<LogId>, StoredMembership)>,
}

impl Shared {
    fn state(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock would already have stopped the node; the data is
        // plain and consistent between entries, so a poisoned lock is still readable.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn applied(&self) -> (Option<LogId>, StoredMembership) {
        self.applied.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_applied(&self, v: (Option<LogId>, StoredMembership)) {
        *self.applied.write().unwrap_or_else(|e| e.into_inner()) = v;
    }
}

/// The state machine of one master. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StateMachineStore {
    db: Arc<DB>,
    snapshot_dir: PathBuf,
    shared: Arc<Shared>,
}

/// Read access to the replicated state, for the API and the leader's services.
#[derive(Debug, Clone)]
pub struct StateHandle {
    db: Arc<DB>,
    shared: Arc<Shared>,
}

impl StateHandle {
    /// Runs `f` on the current state (hold no lock across awaits: `f` is synchronous).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.shared.state())
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.shared.applied().0
    }

    /// Digest of the state (equal on replicas that applied the same log).
    pub fn digest(&self) -> String {
        self.shared.state().digest()
    }

    /// The last applied log id and the digest of the state it produced, read together.
    pub fn digest_at(&self) -> (Option<LogId>, String) {
        let state = self.shared.state();
        let applied = self.shared.applied().0;
        (applied, state.digest())
    }

    /// The bytes of an egg by sha256, from disk.
    pub fn egg_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
        let cf = ondisk::cf(&self.db, CF_SM_BLOBS)?;
        self.db.get_cf(cf, sha256).map_err(|e| Error::Open { path: self.db.path().to_path_buf(), cause: e.to_string() })
    }
}

fn io_err(e: impl ToString) -> io::Error {
    io::Error::other(e.to_string())
}

impl StateMachineStore {
    pub(crate) fn open(db: Arc<DB>, snapshot_dir: PathBuf) -> Result<Self, Error> {
        std::fs::create_dir_all(&snapshot_dir).map_err(|source| Error::Io { path: snapshot_dir.clone(), source })?;
        let state = ondisk::load_state(&db)?;
        let path = db.path().to_path_buf();
        let meta = ondisk::cf(&db, CF_SM_META)?;
        let read = |key: &str| -> Result<Option<Vec<u8>>, Error> {
            db.get_cf(meta, key).map_err(|e| Error::Open { path: path.clone(), cause: e.to_string() })
        };
        let last_applied: Option<LogId> = match read(KEY_LAST_APPLIED)? {
            None => None,
            Some(b) => ondisk::decode(&b).map_err(|e| ondisk::corrupt(&path, KEY_LAST_APPLIED, e))?,
        };
        let membership: StoredMembership = match read(KEY_MEMBERSHIP)? {
            None => StoredMembership::default(),
            Some(b) => ondisk::decode(&b).map_err(|e| ondisk::corrupt(&path, KEY_MEMBERSHIP, e))?,
        };
        Ok(Self {
            db,
            snapshot_dir,
            shared: Arc::new(Shared { state: RwLock::new(state), applied: RwLock::new((last_applied, membership)) }),
        })
    }

    /// A read handle on this state machine's state.
    pub fn handle(&self) -> StateHandle {
        StateHandle { db: self.db.clone(), shared: self.shared.clone() }
    }

    /// Applies a batch in memory and returns the responses, with the changes staged in `wb`.
    fn apply_batch(
        &self,
        entries: Vec<EntryResponder<TypeConfig>>,
        wb: &mut rocksdb::WriteBatch,
    ) -> Result<Vec<(openraft::storage::ApplyResponder<TypeConfig>, Applied)>, io::Error> {
        let mut responses = Vec::with_capacity(entries.len());
        let (mut last_applied, mut membership) = self.shared.applied();
        let mut membership_changed = false;
        let mut state = self.shared.state_mut();
        for (entry, responder) in entries {
            let log_id = entry.log_id();
            let response = match &entry.payload {
                EntryPayload::Blank => Applied::Done,
                EntryPayload::Normal(le) => {
                    let r = crate::apply::apply(&mut state, log_id.index(), le);
                    tracing::debug!(log_id = %log_id, command = %le, result = ?r, "applied");
                    r
                }
                EntryPayload::Membership(m) => {
                    membership = StoredMembership::new(Some(log_id), m.clone());
                    membership_changed = true;
                    Applied::Done
                }
            };
            last_applied = Some(log_id);
            if let Some(r) = responder {
                responses.push((r, response));
            }
        }
        ondisk::write_changes(&self.db, &mut state, wb)?;
        let meta = ondisk::cf(&self.db, CF_SM_META)?;
        wb.put_cf(meta, KEY_LAST_APPLIED, ondisk::encode(&last_applied).map_err(io_err)?);
        if membership_changed {
            wb.put_cf(meta, KEY_MEMBERSHIP, ondisk::encode(&membership).map_err(io_err)?);
        }
        // Published under the state's lock, so a reader holding it sees a state and the
        // applied id it belongs to ([`StateHandle::digest_at`]).
        self.shared.set_applied((last_applied, membership));
        drop(state);
        Ok(responses)
    }

    fn snapshot_path(&self, meta: &SnapshotMeta) -> PathBuf {
        let index = meta.last_log_id.as_ref().map(|l| l.index()).unwrap_or(0);
        self.snapshot_dir.join(format!("{index:020}.snap"))
    }

    /// Stores `bytes` as the current snapshot (temp file, fsync, rename) and drops older ones.
    fn save_snapshot_file(&self, meta: &SnapshotMeta, bytes: &[u8]) -> Result<(), io::Error> {
        let path = self.snapshot_path(meta);
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        for entry in std::fs::read_dir(&self.snapshot_dir)? {
            let p = entry?.path();
            if p != path && p.extension().is_some_and(|e| e == "snap" || e == "tmp") {
                // Older snapshots are superseded; failing to delete one only wastes disk.
                let _ = std::fs::remove_file(&p);
            }
        }
        Ok(())
    }

    fn current_snapshot_file(&self) -> Result<Option<PathBuf>, io::Error> {
        let mut best: Option<PathBuf> = None;
        for entry in std::fs::read_dir(&self.snapshot_dir)? {
            let p = entry?.path();
            if p.extension().is_some_and(|e| e == "snap") && best.as_ref().is_none_or(|b| p > *b) {
                best = Some(p);
            }
        }
        Ok(best)
    }
}

/// Serialises the state machine as of one RocksDB snapshot (consistent with its meta).
fn build_snapshot_bytes(db: &DB) -> Result<(SnapshotMeta, Vec<u8>), Error> {
    let path = db.path().to_path_buf();
    let open_err = |e: rocksdb::Error| Error::Open { path: path.clone(), cause: e.to_string() };
    let snap = db.snapshot();
    let meta_cf = ondisk::cf(db, CF_SM_META)?;
    let last_log_id: Option<LogId> = match snap.get_cf(meta_cf, KEY_LAST_APPLIED).map_err(open_err)? {
        None => None,
        Some(b) => ondisk::decode(&b).map_err(|e| ondisk::corrupt(&path, KEY_LAST_APPLIED, e))?,
    };
    let last_membership: StoredMembership = match snap.get_cf(meta_cf, KEY_MEMBERSHIP).map_err(open_err)? {
        None => StoredMembership::default(),
        Some(b) => ondisk::decode(&b).map_err(|e| ondisk::corrupt(&path, KEY_MEMBERSHIP, e))?,
    };
    let meta = SnapshotMeta { last_log_id, last_membership };
    let mut w = SnapshotWriter::new(&meta)?;
    for (name, family) in [(CF_SM_DATA, Family::Data), (CF_SM_BLOBS, Family::Blob)] {
        for item in snap.iterator_cf(ondisk::cf(db, name)?, rocksdb::IteratorMode::Start) {
            let (k, v) = item.map_err(open_err)?;
            w.record(family, &k, &v)?;
        }
    }
    Ok((meta, w.finish()))
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let db = self.db.clone();
        let (meta, bytes) = tokio::task::spawn_blocking(move || build_snapshot_bytes(&db)).await.map_err(io_err)??;
        self.save_snapshot_file(&meta, &bytes)?;
        tracing::info!(last_log_id = ?meta.last_log_id, bytes = bytes.len(), "built snapshot");
        Ok(Snapshot { meta, snapshot: bytes })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok(self.shared.applied())
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        let mut batch = Vec::new();
        while let Some(item) = entries.try_next().await? {
            batch.push(item);
        }
        if batch.is_empty() {
            return Ok(());
        }
        // Applying hundreds of fires (and encoding their rows) takes a millisecond or more of
        // CPU: off the async workers, which carry the leader's deliveries and Raft's messages.
        let this = self.clone();
        let responses = tokio::task::spawn_blocking(move || -> Result<_, io::Error> {
            let mut wb = rocksdb::WriteBatch::default();
            let responses = this.apply_batch(batch, &mut wb)?;
            // Not synced: the entries are already durable in the log (fsynced by `append` on a
            // quorum), and the log and the state share one RocksDB write-ahead log, recovered as
            // a prefix, so a power loss can only take the state back to an earlier applied id,
            // from which the log replays. The next append's WAL sync makes this write durable
            // too. A second fsync here would sit on every write's path (leader and followers).
            this.db.write(wb).map_err(io_err)?;
            Ok(responses)
        })
        .await
        .map_err(io_err)??;
        for (responder, response) in responses {
            responder.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, data: Vec<u8>) -> Result<(), io::Error> {
        // Decode and validate everything before touching the installed state.
        let contents = snapshot::decode(&data)?;
        if contents.meta.last_log_id != meta.last_log_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("snapshot data is for {:?}, meta says {:?}", contents.meta.last_log_id, meta.last_log_id),
            ));
        }
        let mut state = State::default();
        for (k, v) in &contents.rows {
            ondisk::load_row(&mut state, k, v).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("snapshot row {:?}: {e}", String::from_utf8_lossy(k)),
                )
            })?;
        }
        state.rebuild_indexes();

        let db = self.db.clone();
        let meta_owned = meta.clone();
        tokio::task::spawn_blocking(move || -> Result<(), io::Error> {
            let mut wb = rocksdb::WriteBatch::default();
            for (name, records) in [(CF_SM_DATA, &contents.rows), (CF_SM_BLOBS, &contents.blobs)] {
                let cf = ondisk::cf(&db, name)?;
                for item in db.iterator_cf(cf, rocksdb::IteratorMode::Start) {
                    let (k, _) = item.map_err(io_err)?;
                    wb.delete_cf(cf, k);
                }
                for (k, v) in records {
                    wb.put_cf(cf, k, v);
                }
            }
            let meta_cf = ondisk::cf(&db, CF_SM_META)?;
            wb.put_cf(meta_cf, KEY_LAST_APPLIED, ondisk::encode(&meta_owned.last_log_id).map_err(io_err)?);
            wb.put_cf(meta_cf, KEY_MEMBERSHIP, ondisk::encode(&meta_owned.last_membership).map_err(io_err)?);
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            db.write_opt(wb, &wo).map_err(io_err)
        })
        .await
        .map_err(io_err)??;

        let mut installed = self.shared.state_mut();
        *installed = state;
        self.shared.set_applied((meta.last_log_id, meta.last_membership.clone()));
        drop(installed);
        self.save_snapshot_file(meta, &data)?;
        tracing::info!(last_log_id = ?meta.last_log_id, bytes = data.len(), "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let Some(path) = self.current_snapshot_file()? else {
            return Ok(None);
        };
        let bytes = std::fs::read(&path)?;
        let contents = snapshot::decode(&bytes).map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
        Ok(Some(Snapshot { meta: contents.meta, snapshot: bytes }))
    }
}

/// Whether `path` looks like a store directory created by [`crate::open`].
pub fn is_store_dir(path: &Path) -> bool {
    path.join("db").join("CURRENT").exists()
}

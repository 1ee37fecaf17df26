//! The on-disk layout: column families, the format version, and value encoding.
//!
//! Every persisted value starts with a one-byte encoding version followed by JSON; the store as
//! a whole carries [`FORMAT_VERSION`] under `sm_meta/format`. A build refuses (with a clear
//! error) a store whose version it does not know, instead of misreading it.
//!
//! Format history:
//! - **1** (2026-11-22): first release. CFs `log_meta`, `logs`, `sm_meta`, `sm_data`,
//!   `sm_blobs`; log keys are big-endian u64 indexes; `sm_data` keys are `<table>/<json key>`;
//!   blobs are keyed by lower-case hex sha256.
//! - **2** (2026-11-29): adds the `skip_batch` and `batch` commands and the `passed_over` skip reason. A
//!   format-1 store is read as is (2 only adds) and marked 2 when opened, so an older build,
//!   which could not decode the new entries, refuses it instead of misreading it.
//! - **3** (2026-12-03, issue 15): adds the `cancel_job`, `cancelled` and `cancel_failed`
//!   commands, the `cancelled` dispatch state of a fire dropped before delivery, and a job
//!   record's optional `cancel` field (absent when `None`, so older records read as before);
//!   `record_alert.kind` / `AlertRecord.kind` become a closed enum encoded as the same
//!   snake-case strings (no alert was ever recorded by a format-2 build: none had an alerter).
//!   Formats 1 and 2 are read as is and marked 3 when opened.
//! - **4** (2026-12-04, issue 16): alerting. `record_alert` is replaced by `put_alert_channel`,
//!   `delete_alert_channel`, `put_alert_rule`, `delete_alert_rule`, `create_silence`,
//!   `expire_silence`, `put_spider_thresholds`, `alert_step`, `ack_alert` and `resolve_alert`; the `alerts` table holds
//!   the new `AlertRecord` (ledger of decided alerts), with new tables `alert_channels`,
//!   `alert_rules`, `silences`, `spider_thresholds` and `alert_engine`. No build before 4 ever wrote an alert
//!   (none had an alerter), so formats 1–3 are read as is and marked 4.

use std::path::Path;

use rocksdb::ColumnFamilyDescriptor;
use rocksdb::Options;
use rocksdb::DB;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::state::State;
use crate::state::Table;

/// The store format this build reads and writes.
pub const FORMAT_VERSION: u32 = 4;

/// Older formats this build opens and upgrades in place (each a subset of the current one).
const UPGRADABLE_FORMATS: [u32; 3] = [1, 2, 3];

/// Encoding version byte at the start of every value.
const VALUE_ENCODING: u8 = 1;

/// Log storage: vote, committed, last purged.
pub const CF_LOG_META: &str = "log_meta";
/// Log entries by big-endian index.
pub const CF_LOGS: &str = "logs";
/// State machine: format, last applied log id, last membership.
pub const CF_SM_META: &str = "sm_meta";
/// State machine rows: `<table>/<json key>`.
pub const CF_SM_DATA: &str = "sm_data";
/// Egg bytes by sha256.
pub const CF_SM_BLOBS: &str = "sm_blobs";

const ALL_CFS: [&str; 5] = [CF_LOG_META, CF_LOGS, CF_SM_META, CF_SM_DATA, CF_SM_BLOBS];

pub const KEY_FORMAT: &str = "format";
pub const KEY_LAST_APPLIED: &str = "last_applied";
pub const KEY_MEMBERSHIP: &str = "membership";

/// Encodes a value with its encoding-version byte.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = vec![VALUE_ENCODING];
    serde_json::to_writer(&mut out, value)?;
    Ok(out)
}

/// Decodes a value written by [`encode`]; the error says what is wrong.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        None => Err("empty value".to_string()),
        Some((&VALUE_ENCODING, body)) => serde_json::from_slice(body).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("unknown value encoding {v}")),
    }
}

/// Opens (or creates) the store's RocksDB at `path`, checking that it is ours and of a known
/// format. A fresh or empty directory gets a new store.
pub fn open_db(path: &Path) -> Result<DB, Error> {
    let exists = path.join("CURRENT").exists();
    if !exists {
        if let Ok(mut entries) = std::fs::read_dir(path) {
            if entries.next().is_some() {
                return Err(Error::Foreign {
                    path: path.to_path_buf(),
                    detail: "the directory is not empty and holds no RocksDB database".into(),
                });
            }
        }
    }
    let mut opts = Options::default();
    opts.create_if_missing(!exists);
    opts.create_missing_column_families(!exists);
    if exists {
        let cfs =
            DB::list_cf(&opts, path).map_err(|e| Error::Open { path: path.to_path_buf(), cause: e.to_string() })?;
        for want in ALL_CFS {
            if !cfs.iter().any(|c| c == want) {
                return Err(Error::Foreign {
                    path: path.to_path_buf(),
                    detail: format!("column family {want:?} is missing (found {cfs:?})"),
                });
            }
        }
    }
    let descriptors = ALL_CFS.iter().map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
    let db = DB::open_cf_descriptors(&opts, path, descriptors)
        .map_err(|e| Error::Open { path: path.to_path_buf(), cause: e.to_string() })?;
    let meta = cf(&db, CF_SM_META)?;
    let format =
        db.get_cf(meta, KEY_FORMAT).map_err(|e| Error::Open { path: path.to_path_buf(), cause: e.to_string() })?;
    match format {
        None if exists => {
            Err(Error::Foreign { path: path.to_path_buf(), detail: "no spider-platform format marker".into() })
        }
        None => {
            let bytes = encode(&FORMAT_VERSION).map_err(|e| corrupt(path, KEY_FORMAT, e))?;
            let mut wo = rocksdb::WriteOptions::default();
            wo.set_sync(true);
            db.put_cf_opt(meta, KEY_FORMAT, bytes, &wo)
                .map_err(|e| Error::Open { path: path.to_path_buf(), cause: e.to_string() })?;
            Ok(db)
        }
        Some(bytes) => {
            let found: u32 = decode(&bytes).map_err(|e| corrupt(path, KEY_FORMAT, e))?;
            if UPGRADABLE_FORMATS.contains(&found) {
                let bytes = encode(&FORMAT_VERSION).map_err(|e| corrupt(path, KEY_FORMAT, e))?;
                let mut wo = rocksdb::WriteOptions::default();
                wo.set_sync(true);
                db.put_cf_opt(meta, KEY_FORMAT, bytes, &wo)
                    .map_err(|e| Error::Open { path: path.to_path_buf(), cause: e.to_string() })?;
                tracing::info!(path = %path.display(), from = found, to = FORMAT_VERSION, "store format upgraded");
            } else if found != FORMAT_VERSION {
                return Err(Error::UnknownFormat { path: path.to_path_buf(), found, supported: FORMAT_VERSION });
            }
            Ok(db)
        }
    }
}

pub(crate) fn corrupt(path: &Path, key: &str, cause: impl ToString) -> Error {
    Error::Corrupt { path: path.to_path_buf(), key: key.to_string(), cause: cause.to_string() }
}

/// A column family handle; the family exists because [`open_db`] checked or created it.
pub fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, Error> {
    db.cf_handle(name).ok_or_else(|| Error::Foreign {
        path: db.path().to_path_buf(),
        detail: format!("column family {name:?} is missing"),
    })
}

/// The `sm_data` key of a table row.
pub fn row_key<K: Serialize>(table: &str, key: &K) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = table.as_bytes().to_vec();
    out.push(b'/');
    serde_json::to_writer(&mut out, key)?;
    Ok(out)
}

/// Moves every changed row and blob of `state` into `batch`.
pub fn write_changes(db: &DB, state: &mut State, batch: &mut rocksdb::WriteBatch) -> Result<(), Error> {
    let data = cf(db, CF_SM_DATA)?;
    let path = db.path().to_path_buf();
    let put_table = |batch: &mut rocksdb::WriteBatch, changes: EncodedChanges| {
        for (k, v) in changes {
            match v {
                Some(v) => batch.put_cf(data, k, v),
                None => batch.delete_cf(data, k),
            }
        }
    };
    macro_rules! tables {
        ($($t:ident),*) => {$(
            let changes = table_changes(&mut state.$t).map_err(|e| corrupt(&path, stringify!($t), e))?;
            put_table(batch, changes);
        )*};
    }
    tables!(
        schedules,
        fires,
        nodes,
        projects,
        jobs,
        users,
        tokens,
        alerts,
        alert_channels,
        alert_rules,
        silences,
        spider_thresholds,
        alert_engine
    );
    let blobs = cf(db, CF_SM_BLOBS)?;
    let changes = std::mem::take(&mut state.blobs);
    for (sha, bytes) in changes.puts {
        batch.put_cf(blobs, sha, bytes);
    }
    for sha in changes.deletes {
        batch.delete_cf(blobs, sha);
    }
    Ok(())
}

/// Encoded row changes: (key, new value or `None` for a deletion).
type EncodedChanges = Vec<(Vec<u8>, Option<Vec<u8>>)>;

fn table_changes<K, V>(t: &mut Table<K, V>) -> Result<EncodedChanges, serde_json::Error>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    let name = t.name();
    t.take_changes().into_iter().map(|(k, v)| Ok((row_key(name, &k)?, v.map(encode).transpose()?))).collect()
}

/// Loads the whole state from `sm_data` (blobs stay on disk).
pub fn load_state(db: &DB) -> Result<State, Error> {
    let path = db.path().to_path_buf();
    let mut state = State::default();
    for item in db.iterator_cf(cf(db, CF_SM_DATA)?, rocksdb::IteratorMode::Start) {
        let (k, v) = item.map_err(|e| Error::Open { path: path.clone(), cause: e.to_string() })?;
        load_row(&mut state, &k, &v).map_err(|e| corrupt(&path, &String::from_utf8_lossy(&k), e))?;
    }
    state.rebuild_indexes();
    Ok(state)
}

/// Routes one persisted row into its table.
pub(crate) fn load_row(state: &mut State, key: &[u8], value: &[u8]) -> Result<(), String> {
    let slash = key.iter().position(|b| *b == b'/').ok_or("row key without table prefix")?;
    let (table, k) = (&key[..slash], &key[slash + 1..]);
    fn put<K, V>(t: &mut Table<K, V>, k: &[u8], v: &[u8]) -> Result<(), String>
    where
        K: Ord + Clone + Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let key: K = serde_json::from_slice(k).map_err(|e| format!("bad key: {e}"))?;
        let value: V = decode(v)?;
        t.load(key, value);
        Ok(())
    }
    match table {
        b"schedules" => put(&mut state.schedules, k, value),
        b"fires" => put(&mut state.fires, k, value),
        b"nodes" => put(&mut state.nodes, k, value),
        b"projects" => put(&mut state.projects, k, value),
        b"jobs" => put(&mut state.jobs, k, value),
        b"users" => put(&mut state.users, k, value),
        b"tokens" => put(&mut state.tokens, k, value),
        b"alerts" => put(&mut state.alerts, k, value),
        b"alert_channels" => put(&mut state.alert_channels, k, value),
        b"alert_rules" => put(&mut state.alert_rules, k, value),
        b"silences" => put(&mut state.silences, k, value),
        b"spider_thresholds" => put(&mut state.spider_thresholds, k, value),
        b"alert_engine" => put(&mut state.alert_engine, k, value),
        other => Err(format!("unknown table {:?}", String::from_utf8_lossy(other))),
    }
}

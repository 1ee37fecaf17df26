//! Crash-safe persistence of the job book: an append-only JSON-lines journal.
//!
//! File: `dbs_dir/spider-slave-journal.jsonl`. The first line is a header carrying the format
//! version; every other line is one [`Event`]. Appends are single `write` calls of a whole line,
//! so a killed slave leaves at most one torn last line, which replay skips. On open (and when the
//! file grows far past the live state) the journal is compacted: the current state is written as
//! events to a temp file, fsynced, and renamed over the old one.
//!
//! Format versions: 1 (2026-11, first release).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::jobs::{FinishedJob, JobSpec, RunningJob};
use crate::outcome::Outcome;

/// The on-disk format version written in the header line.
pub const FORMAT_VERSION: u32 = 1;
const FILE_NAME: &str = "spider-slave-journal.jsonl";

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

/// One change to the job book.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum Event {
    /// A job was scheduled.
    Enqueue { seq: u64, spec: JobSpec, at: DateTime<FixedOffset> },
    /// A pending job was removed (cancelled, or its project deleted).
    Dequeue { seq: u64 },
    /// A pending job's process was started (pid `None` if spawning failed).
    Start { seq: u64, pid: Option<u32>, proc_start: Option<u64>, start_time: DateTime<FixedOffset> },
    /// A running job ended.
    Finish { seq: u64, end_time: DateTime<FixedOffset>, outcome: Outcome },
    /// Snapshot form of a running job (compaction only).
    Running { job: RunningJob },
    /// Snapshot form of a finished job (compaction only).
    Finished { job: FinishedJob },
    /// An `Idempotency-Key` and the job id it produced.
    Idempotency { key: String, jobid: String },
}

/// The open journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Lines appended since the last compaction.
    appended: usize,
}

/// Takes the exclusive lock of `dir` (`spider-slave.lock`, `flock`), so two slaves never share
/// one journal. The lock lasts as long as the returned file is open.
pub fn lock_dir(dir: &Path) -> Result<File> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let path = dir.join("spider-slave.lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    // SAFETY: flock on a file descriptor we own; failure is reported through the return value.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(Error::Config(format!(
            "another spider-slave is using {} (dbs_dir); stop it or choose another dbs_dir",
            dir.display()
        )));
    }
    Ok(f)
}

impl Journal {
    /// Reads every event of the journal in `dir` (creating the directory), skipping a torn tail.
    pub fn replay(dir: &Path) -> Result<Vec<Event>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let path = dir.join(FILE_NAME);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("open {}", path.display()), e)),
        };
        let mut events = Vec::new();
        let mut lines = BufReader::new(file).lines();
        if let Some(first) = lines.next() {
            let first = first.map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            let header: Header = serde_json::from_str(&first)
                .map_err(|e| Error::Journal { path: path.clone(), reason: format!("bad header: {e}") })?;
            if header.version != FORMAT_VERSION {
                return Err(Error::Journal {
                    path,
                    reason: format!("format version {} is not supported (want {FORMAT_VERSION})", header.version),
                });
            }
        }
        for (n, line) in lines.enumerate() {
            let line = line.map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            match serde_json::from_str::<Event>(&line) {
                Ok(ev) => events.push(ev),
                Err(e) => {
                    tracing::warn!(line = n + 2, cause = %e, "skipping unreadable journal line (torn write?)");
                }
            }
        }
        Ok(events)
    }

    /// Writes `snapshot` as a fresh journal (temp + fsync + rename) and opens it for appending.
    pub fn rewrite(dir: &Path, snapshot: &[Event]) -> Result<Journal> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(File::create(&tmp)?);
            let header = Header { format: "spider-slave-journal".into(), version: FORMAT_VERSION };
            serde_json::to_writer(&mut f, &header)?;
            f.write_all(b"\n")?;
            for ev in snapshot {
                serde_json::to_writer(&mut f, ev)?;
                f.write_all(b"\n")?;
            }
            let f = f.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        Ok(Journal { path, file, appended: 0 })
    }

    /// Appends one event as a single write.
    pub fn append(&mut self, ev: &Event) -> Result<()> {
        let mut line =
            serde_json::to_vec(ev).map_err(|e| Error::Journal { path: self.path.clone(), reason: e.to_string() })?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| Error::io(format!("append {}", self.path.display()), e))?;
        self.appended += 1;
        Ok(())
    }

    /// Lines appended since the last compaction.
    pub fn appended(&self) -> usize {
        self.appended
    }
}

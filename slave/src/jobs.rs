//! The job book: pending, running and finished jobs, idempotency keys, and their journal.
//!
//! This is the one mutator of job state. Every change goes through a method here, which updates
//! memory and appends the matching journal [`Event`]; replay on startup rebuilds the same state.
//! It does no process work: the launcher asks it for the next job and reports back.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Local};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::journal::{Event, Journal};
use crate::outcome::Outcome;
use crate::queue::Queue;

/// How many idempotency keys are remembered (oldest forgotten first).
pub const IDEMPOTENCY_KEYS_KEPT: usize = 100_000;

/// What a schedule.json call asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job id (client-given or generated); not unique, as in Scrapyd.
    pub id: String,
    pub project: String,
    pub spider: String,
    /// The raw `_version` parameter, if given.
    pub version: Option<String>,
    /// `setting` values split at the first `=`, in request order.
    pub settings: Vec<(String, String)>,
    /// User spider arguments, in request order (without `_job`/`_version`).
    pub args: Vec<(String, String)>,
    pub priority: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingJob {
    /// Internal, unique, increasing: the identity of a queue entry.
    pub seq: u64,
    pub spec: JobSpec,
    pub enqueued_at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunningJob {
    pub seq: u64,
    pub spec: JobSpec,
    /// `None` between taking the job and spawning its process.
    pub pid: Option<u32>,
    /// Process start time in clock ticks, to tell a re-used pid apart after a restart.
    pub proc_start: Option<u64>,
    pub start_time: DateTime<FixedOffset>,
    /// Set once a cancel signalled it.
    #[serde(default)]
    pub cancel_requested: bool,
    /// A signal asked for before the process existed; sent right after spawning.
    #[serde(default)]
    pub pending_signal: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinishedJob {
    pub seq: u64,
    pub spec: JobSpec,
    pub pid: Option<u32>,
    pub start_time: DateTime<FixedOffset>,
    pub end_time: DateTime<FixedOffset>,
    pub outcome: Outcome,
    /// Serialised listjobs fragments (before and after the URL fields). A finished job never
    /// changes, so it is rendered once; only file existence is checked per request.
    #[serde(skip)]
    pub rendered: std::sync::OnceLock<(String, String)>,
}

/// Where a job is, for status.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Running,
    Finished,
}

/// In-memory job state plus its journal.
#[derive(Debug)]
pub struct JobBook {
    queue: Queue,
    /// Running jobs in start (slot) order.
    running: Vec<RunningJob>,
    /// Finished jobs, oldest first.
    finished: VecDeque<FinishedJob>,
    idempotency: HashMap<String, String>,
    idempotency_order: VecDeque<String>,
    next_seq: u64,
    finished_to_keep: usize,
    journal: Option<Journal>,
    dir: Option<PathBuf>,
}

impl JobBook {
    /// Opens the book in `dir` (replaying and compacting its journal), or in memory for `None`.
    pub fn open(dir: Option<&Path>, finished_to_keep: usize) -> Result<JobBook> {
        let mut book = JobBook {
            queue: Queue::default(),
            running: Vec::new(),
            finished: VecDeque::new(),
            idempotency: HashMap::new(),
            idempotency_order: VecDeque::new(),
            next_seq: 1,
            finished_to_keep,
            journal: None,
            dir: dir.map(Path::to_path_buf),
        };
        if let Some(dir) = dir {
            for ev in Journal::replay(dir)? {
                book.apply(ev);
            }
            book.compact()?;
        }
        Ok(book)
    }

    fn apply(&mut self, ev: Event) {
        match ev {
            Event::Enqueue { seq, spec, at } => {
                self.next_seq = self.next_seq.max(seq + 1);
                self.queue.push(PendingJob { seq, spec, enqueued_at: at });
            }
            Event::Dequeue { seq } => {
                self.queue.remove_seq(seq);
            }
            Event::Start { seq, pid, proc_start, start_time } => {
                if let Some(p) = self.queue.remove_seq(seq) {
                    self.running.push(RunningJob {
                        seq,
                        spec: p.spec,
                        pid,
                        proc_start,
                        start_time,
                        cancel_requested: false,
                        pending_signal: None,
                    });
                }
            }
            Event::Finish { seq, end_time, outcome } => {
                if let Some(pos) = self.running.iter().position(|r| r.seq == seq) {
                    let r = self.running.remove(pos);
                    self.push_finished(FinishedJob {
                        seq,
                        spec: r.spec,
                        pid: r.pid,
                        start_time: r.start_time,
                        end_time,
                        outcome,
                        rendered: Default::default(),
                    });
                }
            }
            Event::Running { job } => {
                self.next_seq = self.next_seq.max(job.seq + 1);
                self.running.push(job);
            }
            Event::Finished { job } => {
                self.next_seq = self.next_seq.max(job.seq + 1);
                self.push_finished(job);
            }
            Event::Idempotency { key, jobid } => self.remember_key(key, jobid),
        }
    }

    fn push_finished(&mut self, job: FinishedJob) {
        self.finished.push_back(job);
        while self.finished.len() > self.finished_to_keep {
            self.finished.pop_front();
        }
    }

    fn remember_key(&mut self, key: String, jobid: String) {
        if self.idempotency.insert(key.clone(), jobid).is_none() {
            self.idempotency_order.push_back(key);
        }
        while self.idempotency_order.len() > IDEMPOTENCY_KEYS_KEPT {
            if let Some(old) = self.idempotency_order.pop_front() {
                self.idempotency.remove(&old);
            }
        }
    }

    /// Rewrites the journal as a snapshot of the current state.
    pub fn compact(&mut self) -> Result<()> {
        let Some(dir) = self.dir.clone() else { return Ok(()) };
        let mut snap = Vec::with_capacity(self.queue.len() + self.running.len() + self.finished.len());
        for k in &self.idempotency_order {
            if let Some(j) = self.idempotency.get(k) {
                snap.push(Event::Idempotency { key: k.clone(), jobid: j.clone() });
            }
        }
        for f in &self.finished {
            snap.push(Event::Finished { job: f.clone() });
        }
        for r in &self.running {
            snap.push(Event::Running { job: r.clone() });
        }
        for p in self.queue.iter() {
            snap.push(Event::Enqueue { seq: p.seq, spec: p.spec.clone(), at: p.enqueued_at });
        }
        self.journal = Some(Journal::rewrite(&dir, &snap)?);
        Ok(())
    }

    fn record(&mut self, ev: &Event) -> Result<()> {
        let Some(j) = self.journal.as_mut() else { return Ok(()) };
        j.append(ev)?;
        let live = self.queue.len() + self.running.len() + self.finished.len() + self.idempotency.len();
        if j.appended() > 10_000 + 2 * live {
            self.compact()?;
        }
        Ok(())
    }

    /// Enqueues a job. With an idempotency key already seen, returns the original job id and
    /// enqueues nothing. Returns `(jobid, newly_enqueued)`.
    pub fn enqueue(&mut self, spec: JobSpec, idempotency_key: Option<&str>) -> Result<(String, bool)> {
        if let Some(key) = idempotency_key {
            if let Some(existing) = self.idempotency.get(key) {
                return Ok((existing.clone(), false));
            }
        }
        let seq = self.next_seq;
        let at = Local::now().fixed_offset();
        let ev = Event::Enqueue { seq, spec: spec.clone(), at };
        self.record(&ev)?;
        self.next_seq += 1;
        let id = spec.id.clone();
        self.queue.push(PendingJob { seq, spec, enqueued_at: at });
        if let Some(key) = idempotency_key {
            self.record(&Event::Idempotency { key: key.to_string(), jobid: id.clone() })?;
            self.remember_key(key.to_string(), id.clone());
        }
        Ok((id, true))
    }

    /// Removes the pending jobs `(project, job)`; true if any was pending.
    pub fn cancel_pending(&mut self, project: &str, job: &str) -> Result<bool> {
        let gone = self.queue.remove_job(project, job);
        for g in &gone {
            self.record(&Event::Dequeue { seq: g.seq })?;
        }
        Ok(!gone.is_empty())
    }

    /// Drops a deleted project's pending jobs.
    pub fn drop_project(&mut self, project: &str) -> Result<()> {
        for g in self.queue.remove_project(project) {
            self.record(&Event::Dequeue { seq: g.seq })?;
        }
        Ok(())
    }

    /// Takes the next job if a slot is free, marking it running with no pid yet.
    pub fn take_next(&mut self, slots: usize, per_project_cap: usize) -> Option<RunningJob> {
        if self.running.len() >= slots {
            return None;
        }
        let mut per_project: HashMap<String, usize> = HashMap::new();
        for r in &self.running {
            *per_project.entry(r.spec.project.clone()).or_default() += 1;
        }
        let p = self.queue.pop_fair(&per_project, per_project_cap)?;
        let r = RunningJob {
            seq: p.seq,
            spec: p.spec,
            pid: None,
            proc_start: None,
            start_time: Local::now().fixed_offset(),
            cancel_requested: false,
            pending_signal: None,
        };
        self.running.push(r.clone());
        Some(r)
    }

    /// Records that a taken job's process started (or failed to: `pid = None`). Returns a
    /// signal that a cancel asked for before the process existed, to be sent now.
    pub fn started(&mut self, seq: u64, pid: Option<u32>, proc_start: Option<u64>) -> Result<Option<i32>> {
        let Some(r) = self.running.iter_mut().find(|r| r.seq == seq) else { return Ok(None) };
        r.pid = pid;
        r.proc_start = proc_start;
        let pending = r.pending_signal.take();
        let ev = Event::Start { seq, pid, proc_start, start_time: r.start_time };
        self.record(&ev)?;
        Ok(pending)
    }

    /// Moves a running job to finished.
    pub fn finish(&mut self, seq: u64, outcome: Outcome) -> Result<()> {
        let end_time = Local::now().fixed_offset();
        self.record(&Event::Finish { seq, end_time, outcome: outcome.clone() })?;
        self.apply(Event::Finish { seq, end_time, outcome });
        Ok(())
    }

    /// Running jobs matching `(project, job)`, marking them as cancel-requested. A job whose
    /// process is not spawned yet keeps `signal` to receive it as soon as it has a pid.
    pub fn running_to_signal(&mut self, project: &str, job: &str, signal: i32) -> Vec<RunningJob> {
        let mut out = Vec::new();
        for r in self.running.iter_mut().filter(|r| r.spec.project == project && r.spec.id == job) {
            r.cancel_requested = true;
            if r.pid.is_none() {
                r.pending_signal = Some(signal);
            }
            out.push(r.clone());
        }
        out
    }

    /// Finished first, then running, then pending (Scrapyd's status.json order).
    pub fn state_of(&self, job: &str, project: Option<&str>) -> Option<JobState> {
        let matches = |s: &JobSpec| s.id == job && project.is_none_or(|p| s.project == p);
        if self.finished.iter().any(|f| matches(&f.spec)) {
            Some(JobState::Finished)
        } else if self.running.iter().any(|r| matches(&r.spec)) {
            Some(JobState::Running)
        } else if self.queue.iter().any(|p| matches(&p.spec)) {
            Some(JobState::Pending)
        } else {
            None
        }
    }

    /// The newest finished record of a job, for status.json extras.
    pub fn finished_record(&self, job: &str, project: Option<&str>) -> Option<&FinishedJob> {
        self.finished.iter().rev().find(|f| f.spec.id == job && project.is_none_or(|p| f.spec.project == p))
    }

    pub fn pending(&self) -> impl Iterator<Item = &PendingJob> {
        self.queue.iter()
    }

    pub fn pending_of<'a>(&'a self, project: &'a str) -> impl Iterator<Item = &'a PendingJob> {
        self.queue.project(project)
    }

    pub fn pending_counts(&self) -> impl Iterator<Item = (&str, usize)> {
        self.queue.counts()
    }

    pub fn running(&self) -> &[RunningJob] {
        &self.running
    }

    /// Finished jobs, newest first.
    pub fn finished_newest_first(&self) -> impl Iterator<Item = &FinishedJob> {
        self.finished.iter().rev()
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.queue.len(), self.running.len(), self.finished.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Ending;

    fn spec(id: &str) -> JobSpec {
        JobSpec {
            id: id.into(),
            project: "p".into(),
            spider: "s".into(),
            version: None,
            settings: vec![("A".into(), "b=c".into())],
            args: vec![("x".into(), "1".into())],
            priority: 0.0,
        }
    }

    #[test]
    fn journal_replays_queue_running_history_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = JobBook::open(Some(dir.path()), 10).unwrap();
            b.enqueue(spec("a"), Some("k1")).unwrap();
            assert_eq!(b.enqueue(spec("zzz"), Some("k1")).unwrap(), ("a".to_string(), false));
            b.enqueue(spec("b"), None).unwrap();
            b.enqueue(spec("c"), None).unwrap();
            let r = b.take_next(4, 0).unwrap();
            b.started(r.seq, Some(42), Some(7)).unwrap();
            b.finish(r.seq, Outcome::bare(Ending::Success)).unwrap();
            let r = b.take_next(4, 0).unwrap();
            b.started(r.seq, Some(43), Some(8)).unwrap();
        }
        let b = JobBook::open(Some(dir.path()), 10).unwrap();
        assert_eq!(b.counts(), (1, 1, 1));
        assert_eq!(b.running()[0].pid, Some(43));
        assert_eq!(b.state_of("a", None), Some(JobState::Finished));
        assert_eq!(b.state_of("c", Some("p")), Some(JobState::Pending));
        let mut b = b;
        assert_eq!(b.enqueue(spec("other"), Some("k1")).unwrap().0, "a");
        assert_eq!(b.pending().next().unwrap().spec.settings[0].1, "b=c");
    }
}

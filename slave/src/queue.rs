//! The pending queue: one priority queue per project, and the fair pick across projects.
//!
//! Within a project: highest priority first, then scheduling order (Scrapyd's order). Across
//! projects (Scrapyd #187/#533): the next job comes from the project with the fewest running
//! jobs; ties go to the higher head priority, then to the job scheduled first. So one project
//! with a long queue cannot take every slot while another project waits.

use std::collections::{BTreeMap, HashMap};

use crate::jobs::PendingJob;

/// All pending jobs, grouped by project.
#[derive(Debug, Default)]
pub struct Queue {
    /// Each vector is kept sorted: priority descending, then `seq` ascending.
    by_project: BTreeMap<String, Vec<PendingJob>>,
    len: usize,
}

impl Queue {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts a job at its priority position.
    pub fn push(&mut self, job: PendingJob) {
        let q = self.by_project.entry(job.spec.project.clone()).or_default();
        let key = (-job.spec.priority, job.seq);
        let pos = q.partition_point(|j| {
            let k = (-j.spec.priority, j.seq);
            k.0 < key.0 || (k.0 == key.0 && k.1 < key.1)
        });
        q.insert(pos, job);
        self.len += 1;
    }

    /// Removes every pending job of `project` with id `job`.
    pub fn remove_job(&mut self, project: &str, job: &str) -> Vec<PendingJob> {
        let Some(q) = self.by_project.get_mut(project) else { return Vec::new() };
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(q).into_iter().partition(|j| j.spec.id == job);
        *q = kept;
        if q.is_empty() {
            self.by_project.remove(project);
        }
        self.len -= gone.len();
        gone
    }

    /// Removes a whole project's queue.
    pub fn remove_project(&mut self, project: &str) -> Vec<PendingJob> {
        let gone = self.by_project.remove(project).unwrap_or_default();
        self.len -= gone.len();
        gone
    }

    /// Removes one job by its internal sequence number.
    pub fn remove_seq(&mut self, seq: u64) -> Option<PendingJob> {
        let project = self.by_project.iter().find(|(_, q)| q.iter().any(|j| j.seq == seq)).map(|(p, _)| p.clone())?;
        let q = self.by_project.get_mut(&project)?;
        let pos = q.iter().position(|j| j.seq == seq)?;
        let job = q.remove(pos);
        if q.is_empty() {
            self.by_project.remove(&project);
        }
        self.len -= 1;
        Some(job)
    }

    /// Takes the next job to start, fairly across projects given their running counts.
    /// Projects already running `per_project_cap` jobs are skipped (0 = no cap).
    pub fn pop_fair(&mut self, running: &HashMap<String, usize>, per_project_cap: usize) -> Option<PendingJob> {
        let under_cap = |p: &str| per_project_cap == 0 || running.get(p).copied().unwrap_or(0) < per_project_cap;
        let project = self
            .by_project
            .iter()
            .filter(|(p, _)| under_cap(p))
            .filter_map(|(p, q)| q.first().map(|head| (p, head)))
            .min_by(|(pa, a), (pb, b)| {
                let ra = running.get(pa.as_str()).copied().unwrap_or(0);
                let rb = running.get(pb.as_str()).copied().unwrap_or(0);
                ra.cmp(&rb).then(b.spec.priority.total_cmp(&a.spec.priority)).then(a.seq.cmp(&b.seq))
            })
            .map(|(p, _)| p.clone())?;
        let q = self.by_project.get_mut(&project)?;
        let job = q.remove(0);
        if q.is_empty() {
            self.by_project.remove(&project);
        }
        self.len -= 1;
        Some(job)
    }

    /// Pending jobs in listing order: projects by name, then queue order.
    pub fn iter(&self) -> impl Iterator<Item = &PendingJob> {
        self.by_project.values().flatten()
    }

    /// Pending jobs of one project, in queue order.
    pub fn project(&self, project: &str) -> impl Iterator<Item = &PendingJob> {
        self.by_project.get(project).into_iter().flatten()
    }

    /// Pending count per project.
    pub fn counts(&self) -> impl Iterator<Item = (&str, usize)> {
        self.by_project.iter().map(|(p, q)| (p.as_str(), q.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobSpec, PendingJob};

    fn job(seq: u64, project: &str, priority: f64) -> PendingJob {
        PendingJob {
            seq,
            spec: JobSpec {
                id: format!("j{seq}"),
                project: project.into(),
                spider: "s".into(),
                version: None,
                settings: vec![],
                args: vec![],
                priority,
            },
            enqueued_at: chrono::Local::now().fixed_offset(),
        }
    }

    #[test]
    fn priority_then_fifo_within_project() {
        let mut q = Queue::default();
        q.push(job(1, "a", 0.0));
        q.push(job(2, "a", 5.0));
        q.push(job(3, "a", 0.0));
        let none = HashMap::new();
        let order: Vec<u64> = std::iter::from_fn(|| q.pop_fair(&none, 0)).map(|j| j.seq).collect();
        assert_eq!(order, [2, 1, 3]);
    }

    #[test]
    fn fair_across_projects() {
        let mut q = Queue::default();
        for i in 0..10 {
            q.push(job(i, "big", 0.0));
        }
        q.push(job(100, "small", 0.0));
        let mut running = HashMap::new();
        let first = q.pop_fair(&running, 0).unwrap();
        assert_eq!(first.spec.project, "big");
        running.insert("big".to_string(), 1);
        let second = q.pop_fair(&running, 0).unwrap();
        assert_eq!(second.spec.project, "small");
        running.insert("small".to_string(), 1);
        running.insert("big".to_string(), 2);
        assert!(q.pop_fair(&running, 2).is_none(), "big is at its cap and small has nothing left");
        assert_eq!(q.remove_job("big", "j5").len(), 1);
        assert_eq!(q.len(), 8);
    }
}

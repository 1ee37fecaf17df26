//! The replicated domain state: plain data, mutated only by [`crate::apply::apply`].
//!
//! Layout: one [`Table`] per entity (`schedules`, `fires`, `nodes`, `projects`, `jobs`, `users`,
//! `tokens`, `alerts`), plus pending egg-blob writes. Derived indexes (job id → fire) are rebuilt
//! when the state is loaded and are never persisted. Nothing here does I/O or reads a clock.

pub mod alerts;
pub mod fire_ledger;
pub mod jobs;
pub mod nodes;
pub mod projects;
pub mod schedules;
pub mod table;
pub mod users;

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use sha2::Digest;
use sha2::Sha256;

pub use self::alerts::AlertEngine;
pub use self::alerts::AlertRecord;
pub use self::alerts::StoredChannel;
pub use self::fire_ledger::DispatchState;
pub use self::fire_ledger::FireDecision;
pub use self::fire_ledger::FireRecord;
pub use self::fire_ledger::SkipReason;
pub use self::jobs::CancelState;
pub use self::jobs::JobOutcome;
pub use self::jobs::JobRecord;
pub use self::jobs::JobReport;
pub use self::jobs::JobState;
pub use self::nodes::Node;
pub use self::nodes::NodeSpec;
pub use self::nodes::NodeStatus;
pub use self::nodes::Outage;
pub use self::nodes::Secret;
pub use self::projects::Deployment;
pub use self::projects::EggVersion;
pub use self::projects::Project;
pub use self::schedules::MisfirePolicy;
pub use self::schedules::OverlapPolicy;
pub use self::schedules::Schedule;
pub use self::schedules::ScheduleSpec;
pub use self::schedules::Trigger;
pub use self::table::Table;
pub use self::users::ApiToken;
pub use self::users::Role;
pub use self::users::User;

/// Key of a fire-ledger record: (schedule id, tick in Unix ms).
pub type FireKey = (String, i64);

/// Egg blobs written or deleted by `apply` since the last flush (content-addressed by sha256).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobChanges {
    pub puts: BTreeMap<String, Vec<u8>>,
    pub deletes: BTreeSet<String>,
}

impl BlobChanges {
    pub fn put(&mut self, sha256: String, bytes: Vec<u8>) {
        self.deletes.remove(&sha256);
        self.puts.insert(sha256, bytes);
    }

    pub fn delete(&mut self, sha256: String) {
        self.puts.remove(&sha256);
        self.deletes.insert(sha256);
    }

    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }
}

/// Everything the cluster agrees on.
#[derive(Debug, Clone)]
pub struct State {
    pub schedules: Table<String, Schedule>,
    pub fires: Table<FireKey, FireRecord>,
    pub nodes: Table<String, Node>,
    pub projects: Table<String, Project>,
    pub jobs: Table<String, JobRecord>,
    pub users: Table<String, User>,
    pub tokens: Table<String, ApiToken>,
    /// The alert ledger, by alert id.
    pub alerts: Table<String, AlertRecord>,
    pub alert_channels: Table<String, StoredChannel>,
    pub alert_rules: Table<String, ::alerts::route::Rule>,
    pub silences: Table<String, ::alerts::silence::Silence>,
    /// Spider-error thresholds by scope (`project:<name>`, `schedule:<id>`).
    pub spider_thresholds: Table<String, ::alerts::spider_error::SpiderErrorThresholds>,
    /// One row ([`alerts::ENGINE_KEY`]): the decision engine.
    pub alert_engine: Table<String, AlertEngine>,
    /// Egg bytes to write/delete with the next flush. Not part of equality or the digest (the
    /// projects table names every blob by its sha256).
    pub(crate) blobs: BlobChanges,
    /// Derived: job id → fire-ledger key, for `Dispatched`/`DispatchFailed` and job reports.
    pub(crate) fire_by_job: BTreeMap<String, FireKey>,
    /// Derived: the job table split by state, so the scheduler (free slots, overlap) and pruning
    /// never scan the whole table. Kept by [`State::put_job`] and [`State::remove_job`].
    pub(crate) job_index: JobIndex,
}

/// The job table's derived index.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobIndex {
    /// Ids of pending and running jobs.
    active: BTreeSet<String>,
    /// Pending + running jobs per node id (nodes with none are absent).
    active_by_node: BTreeMap<String, i64>,
    /// Finished and lost jobs, oldest first (`created_at_ms`, id): what pruning drops first.
    terminal: BTreeSet<(u64, String)>,
    /// Jobs whose cancel request the leader has not carried out yet (`CancelState::Requested`).
    cancel_requested: BTreeSet<String>,
}

impl JobIndex {
    fn add(&mut self, j: &JobRecord) {
        if matches!(j.cancel, Some(CancelState::Requested { .. })) {
            self.cancel_requested.insert(j.job_id.clone());
        }
        if j.state.is_terminal() {
            self.terminal.insert((j.created_at_ms, j.job_id.clone()));
        } else if self.active.insert(j.job_id.clone()) {
            *self.active_by_node.entry(j.node_id.clone()).or_insert(0) += 1;
        }
    }

    fn drop_record(&mut self, j: &JobRecord) {
        self.cancel_requested.remove(&j.job_id);
        if self.active.remove(&j.job_id) {
            if let Some(n) = self.active_by_node.get_mut(&j.node_id) {
                *n -= 1;
                if *n <= 0 {
                    self.active_by_node.remove(&j.node_id);
                }
            }
        }
        self.terminal.remove(&(j.created_at_ms, j.job_id.clone()));
    }
}

impl Default for State {
    fn default() -> Self {
        Self {
            // The leader's agenda follows this table by its journal (one round's fires each).
            schedules: Table::with_journal("schedules", 1 << 16),
            // The leader follows this table by its journal too: it delivers every newly applied
            // fire, whoever committed it (a round's fires and outcomes each).
            fires: Table::with_journal("fires", 1 << 16),
            nodes: Table::new("nodes"),
            projects: Table::new("projects"),
            jobs: Table::new("jobs"),
            users: Table::new("users"),
            tokens: Table::new("tokens"),
            alerts: Table::new("alerts"),
            alert_channels: Table::new("alert_channels"),
            alert_rules: Table::new("alert_rules"),
            silences: Table::new("silences"),
            spider_thresholds: Table::new("spider_thresholds"),
            alert_engine: Table::new("alert_engine"),
            blobs: BlobChanges::default(),
            fire_by_job: BTreeMap::new(),
            job_index: JobIndex::default(),
        }
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.schedules == other.schedules
            && self.fires == other.fires
            && self.nodes == other.nodes
            && self.projects == other.projects
            && self.jobs == other.jobs
            && self.users == other.users
            && self.tokens == other.tokens
            && self.alerts == other.alerts
            && self.alert_channels == other.alert_channels
            && self.alert_rules == other.alert_rules
            && self.silences == other.silences
            && self.spider_thresholds == other.spider_thresholds
            && self.alert_engine == other.alert_engine
    }
}

impl State {
    /// Rebuilds derived indexes after rows were loaded from disk or a snapshot.
    pub(crate) fn rebuild_indexes(&mut self) {
        self.fire_by_job = self
            .fires
            .iter()
            .filter_map(|(k, r)| match &r.decision {
                FireDecision::Fired { job_id, .. } => Some((job_id.clone(), k.clone())),
                FireDecision::Skipped { .. } => None,
            })
            .collect();
        self.job_index = JobIndex::default();
        for j in self.jobs.values() {
            self.job_index.add(j);
        }
    }

    /// Inserts or replaces a job record (the only way `apply` writes the job table).
    pub(crate) fn put_job(&mut self, record: JobRecord) {
        if let Some(old) = self.jobs.get(&record.job_id) {
            self.job_index.drop_record(old);
        }
        self.job_index.add(&record);
        self.jobs.insert(record.job_id.clone(), record);
    }

    /// Removes a job record.
    pub(crate) fn remove_job(&mut self, job_id: &str) -> Option<JobRecord> {
        let old = self.jobs.remove(&job_id.to_string())?;
        self.job_index.drop_record(&old);
        Some(old)
    }

    /// Pending + running jobs per node id (a node with none is absent).
    pub fn active_jobs_per_node(&self) -> &BTreeMap<String, i64> {
        &self.job_index.active_by_node
    }

    /// Pending and running jobs, by id.
    pub fn active_jobs(&self) -> impl Iterator<Item = &JobRecord> {
        self.job_index.active.iter().filter_map(|id| self.jobs.get(id))
    }

    /// Jobs with a cancel request the leader has not carried out yet (kept by an index).
    pub fn cancels_requested(&self) -> impl Iterator<Item = &str> {
        self.job_index.cancel_requested.iter().map(String::as_str)
    }

    /// Finished and lost jobs, oldest first.
    pub(crate) fn terminal_job_ids(&self) -> impl Iterator<Item = &str> {
        self.job_index.terminal.iter().map(|(_, id)| id.as_str())
    }

    /// The fire-ledger record of a job fired by a schedule.
    pub fn fire_of_job(&self, job_id: &str) -> Option<&FireRecord> {
        self.fire_by_job.get(job_id).and_then(|k| self.fires.get(k))
    }

    /// A schedule's ledger records, oldest first.
    pub fn fires_of(&self, schedule_id: &str) -> impl DoubleEndedIterator<Item = &FireRecord> {
        let lo = (schedule_id.to_string(), i64::MIN);
        let hi = (schedule_id.to_string(), i64::MAX);
        self.fires.range(lo..=hi).map(|(_, r)| r)
    }

    /// Fired ticks whose dispatch has no outcome yet: what a new leader must reconcile.
    pub fn pending_dispatches(&self) -> impl Iterator<Item = &FireRecord> {
        self.fires
            .values()
            .filter(|r| matches!(r.decision, FireDecision::Fired { dispatch: DispatchState::Pending, .. }))
    }

    /// Whether any stored egg version still refers to the blob `sha256`.
    pub fn blob_in_use(&self, sha256: &str) -> bool {
        self.projects.values().any(|p| p.versions.values().any(|v| v.sha256 == sha256))
    }

    /// The alert engine's config as the tables hold it now (rules in name order; the built-in
    /// inhibition: a node that is down mutes its jobs' spider errors).
    pub fn alert_config(&self) -> ::alerts::config::AlertConfig {
        ::alerts::config::AlertConfig {
            channels: self.alert_channels.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
            rules: self.alert_rules.values().cloned().collect(),
            inhibit_rules: None,
        }
    }

    /// The spider-error thresholds of a job: its schedule's, else its project's, else the defaults.
    pub fn spider_thresholds_for(
        &self,
        project: &str,
        schedule_id: Option<&str>,
    ) -> ::alerts::spider_error::SpiderErrorThresholds {
        schedule_id
            .and_then(|s| self.spider_thresholds.get(&format!("schedule:{s}")))
            .or_else(|| self.spider_thresholds.get(&format!("project:{project}")))
            .cloned()
            .unwrap_or_default()
    }

    /// The alert engine (default before the first step).
    pub fn alert_engine(&self) -> Option<&AlertEngine> {
        self.alert_engine.get(&self::alerts::ENGINE_KEY.to_string())
    }

    /// A digest of the whole replicated state: equal on two replicas iff their tables are equal.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        digest_table(&mut h, &self.schedules);
        digest_table(&mut h, &self.fires);
        digest_table(&mut h, &self.nodes);
        digest_table(&mut h, &self.projects);
        digest_table(&mut h, &self.jobs);
        digest_table(&mut h, &self.users);
        digest_table(&mut h, &self.tokens);
        digest_table(&mut h, &self.alerts);
        digest_table(&mut h, &self.alert_channels);
        digest_table(&mut h, &self.alert_rules);
        digest_table(&mut h, &self.silences);
        digest_table(&mut h, &self.spider_thresholds);
        digest_table(&mut h, &self.alert_engine);
        hex::encode(h.finalize())
    }
}

fn digest_table<K, V>(h: &mut Sha256, t: &Table<K, V>)
where
    K: Ord + Clone + serde::Serialize + serde::de::DeserializeOwned,
    V: serde::Serialize + serde::de::DeserializeOwned,
{
    h.update(t.name().as_bytes());
    h.update((t.len() as u64).to_be_bytes());
    for (k, v) in t.iter() {
        // serde_json of these plain types cannot fail (string keys, no non-finite floats).
        let k = serde_json::to_vec(k).unwrap_or_default();
        let v = serde_json::to_vec(v).unwrap_or_default();
        h.update((k.len() as u64).to_be_bytes());
        h.update(&k);
        h.update((v.len() as u64).to_be_bytes());
        h.update(&v);
    }
}

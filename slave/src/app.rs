//! The shared state every handler and background task sees, and project lookup.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::eggs::EggStore;
use crate::jobs::{JobBook, JobSpec};
use crate::runner::Runner;

/// Shared slave state. The job book sits behind a std `Mutex`: critical sections are short and
/// never span an `.await`.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub eggs: EggStore,
    pub runner: Runner,
    book: Mutex<JobBook>,
    /// Wakes the dispatcher: a job was queued or a slot was freed.
    pub wake: Notify,
    /// Cancelled when the slave shuts down.
    pub shutdown: CancellationToken,
    /// Host metrics sampler (CPU and rates need two samples).
    pub metrics: crate::metrics::Sampler,
    /// The `dbs_dir` lock, held while this slave serves (released by `serve` on exit).
    pub dir_lock: Mutex<Option<std::fs::File>>,
}

impl App {
    pub fn new(config: Config, book: JobBook, shutdown: CancellationToken) -> Self {
        let eggs = EggStore::new(config.eggs_dir.clone());
        let runner = Runner::new(&config, eggs.clone());
        App {
            config,
            eggs,
            runner,
            book: Mutex::new(book),
            wake: Notify::new(),
            shutdown,
            metrics: crate::metrics::Sampler::new(),
            dir_lock: Mutex::new(None),
        }
    }

    /// The job book. A poisoned lock is recovered: the book's invariants hold between calls.
    pub fn book(&self) -> MutexGuard<'_, JobBook> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Projects with eggs plus `[settings]` projects.
    pub fn projects(&self) -> Vec<String> {
        let mut out = self.eggs.projects();
        for (p, _) in &self.config.settings {
            if !out.contains(p) {
                out.push(p.clone());
            }
        }
        out
    }

    /// Whether Scrapyd would have a queue for this project.
    pub fn project_exists(&self, project: &str) -> bool {
        scrapyd_wire::versions::check_component(project).is_ok()
            && (self.eggs.root().join(project).is_dir() || self.config.settings_module(project).is_some())
    }

    /// The log file of a job, whether or not it exists.
    pub fn log_path(&self, spec: &JobSpec) -> Option<PathBuf> {
        let dir = self.config.logs_dir.as_ref()?;
        Some(dir.join(&spec.project).join(&spec.spider).join(format!("{}.log", spec.id)))
    }

    /// The items file of a job when items_dir is local.
    pub fn items_path(&self, spec: &JobSpec) -> Option<PathBuf> {
        let dir = self.config.local_items_dir()?;
        Some(dir.join(&spec.project).join(&spec.spider).join(format!("{}.jl", spec.id)))
    }

    /// `/logs/p/s/j.log` if the file exists.
    pub fn log_url(&self, spec: &JobSpec, files: &mut FileIndex) -> Option<String> {
        self.log_path(spec)
            .filter(|p| files.exists(p))
            .map(|_| format!("/logs/{}/{}/{}.log", spec.project, spec.spider, spec.id))
    }

    /// `/items/p/s/j.jl` if items are local and the file exists.
    pub fn items_url(&self, spec: &JobSpec, files: &mut FileIndex) -> Option<String> {
        self.items_path(spec)
            .filter(|p| files.exists(p))
            .map(|_| format!("/items/{}/{}/{}.jl", spec.project, spec.spider, spec.id))
    }
}

/// File-existence answers for one request: each spider directory is listed once instead of
/// one `stat` per job (listjobs with 10,000 finished jobs stays fast).
#[derive(Debug, Default)]
pub struct FileIndex {
    dirs: HashMap<PathBuf, HashSet<OsString>>,
}

impl FileIndex {
    /// Whether `path` existed when its directory was first listed in this request.
    pub fn exists(&mut self, path: &Path) -> bool {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return false };
        if !self.dirs.contains_key(dir) {
            let names =
                std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
            self.dirs.insert(dir.to_path_buf(), names);
        }
        self.dirs.get(dir).is_some_and(|set| set.contains(name))
    }
}

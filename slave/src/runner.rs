//! Running Scrapy: the embedded Python runner, `scrapy list` with its cache, and the crawl
//! command line.
//!
//! The runner (`runner.py`, compiled into the binary) is passed with `python -c`, so nothing has
//! to be installed next to the interpreter except Scrapy. Arguments are passed as an argv vector,
//! never through a shell.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use scrapyd_wire::pyjson::{obj, Json};
use tokio::process::Command;

use crate::config::Config;
use crate::eggs::EggStore;
use crate::error::{Error, Result};
use crate::jobs::JobSpec;

/// The Python runner source, shipped in the binary.
pub const RUNNER_PY: &str = include_str!("runner.py");

/// Builds runner processes and caches spider lists per (project, resolved version).
#[derive(Debug)]
pub struct Runner {
    python: PathBuf,
    eggs: EggStore,
    settings: Vec<(String, String)>,
    cache: Mutex<HashMap<(String, String), Vec<String>>>,
}

/// What a crawl needs, with every path resolved.
#[derive(Debug)]
pub struct CrawlPlan {
    pub command: Command,
    pub log_file: Option<PathBuf>,
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Runner {
    pub fn new(config: &Config, eggs: EggStore) -> Self {
        Runner {
            python: config.python.clone(),
            eggs,
            settings: config.settings.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A runner command for `project` at `version` (latest if `None`), and the resolved version.
    fn base(&self, project: &str, version: Option<&str>) -> Result<(Command, String)> {
        let mut cmd = Command::new(&self.python);
        cmd.arg("-c").arg(RUNNER_PY);
        cmd.env("SCRAPY_PROJECT", project);
        let resolved = match self.eggs.get(project, version)? {
            Some((name, path)) => {
                cmd.env("SPIDER_SLAVE_EGG", absolute(&path));
                name
            }
            None => {
                if let Some(v) = version {
                    return Err(Error::VersionNotFound(v.to_string()));
                }
                if !self.settings.iter().any(|(p, _)| p == project) {
                    return Err(Error::ProjectNotFound(project.to_string()));
                }
                String::new()
            }
        };
        if let Some(v) = version {
            cmd.env("SCRAPYD_EGG_VERSION", v);
        }
        if let Some((_, module)) = self.settings.iter().find(|(p, _)| p == project) {
            cmd.env("SCRAPY_SETTINGS_MODULE", module);
        }
        cmd.kill_on_drop(false);
        Ok((cmd, resolved))
    }

    /// Runs `scrapy list` (bypassing the cache) and caches the result.
    pub async fn refresh_spiders(&self, project: &str, version: Option<&str>) -> Result<Vec<String>> {
        let (mut cmd, resolved) = self.base(project, version)?;
        cmd.args(["list", "-s", "LOG_STDOUT=0"]).env("PYTHONIOENCODING", "UTF-8");
        cmd.stdin(std::process::Stdio::null());
        let out =
            cmd.output().await.map_err(|e| Error::Runner(format!("cannot run {}: {e}", self.python.display())))?;
        if !out.status.success() {
            let text = if out.stderr.is_empty() { &out.stdout } else { &out.stderr };
            return Err(Error::Runner(String::from_utf8_lossy(text).into_owned()));
        }
        let spiders: Vec<String> =
            String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect();
        if let Ok(mut c) = self.cache.lock() {
            c.insert((project.to_string(), resolved), spiders.clone());
        }
        Ok(spiders)
    }

    /// Cached spider list for `project` at `version`, running `scrapy list` on a miss.
    pub async fn spiders(&self, project: &str, version: Option<&str>) -> Result<Vec<String>> {
        let (_, resolved) = self.base(project, version)?;
        let hit = self.cache.lock().ok().and_then(|c| c.get(&(project.to_string(), resolved)).cloned());
        match hit {
            Some(s) => Ok(s),
            None => self.refresh_spiders(project, version).await,
        }
    }

    /// Forgets cached lists of a project (all versions).
    pub fn evict(&self, project: &str) {
        if let Ok(mut c) = self.cache.lock() {
            c.retain(|(p, _), _| p != project);
        }
    }

    /// The crawl command, as Scrapyd builds it: user settings, then LOG_FILE, FEEDS, JOBDIR,
    /// then `_job`, the user's spider arguments and `_version`.
    pub fn crawl(&self, config: &Config, spec: &JobSpec) -> Result<CrawlPlan> {
        let (mut cmd, _) = self.base(&spec.project, spec.version.as_deref())?;
        cmd.arg("crawl").arg(&spec.spider);
        for (k, v) in &spec.settings {
            cmd.arg("-s").arg(format!("{k}={v}"));
        }
        let mut log_file = None;
        if let Some(logs) = &config.logs_dir {
            let path = prepare_file(config, logs, spec, "log")?;
            cmd.arg("-s").arg(format!("LOG_FILE={}", path.display()));
            log_file = Some(path);
        }
        if !config.items_dir.is_empty() {
            let uri = match config.local_items_dir() {
                Some(dir) => format!("file://{}", prepare_file(config, &dir, spec, "jl")?.display()),
                None => format!(
                    "{}/{}/{}/{}.jl",
                    config.items_dir.trim_end_matches('/'),
                    spec.project,
                    spec.spider,
                    spec.id
                ),
            };
            let feeds = obj([(uri, obj([("format", "jsonlines")]))]);
            cmd.arg("-s").arg(format!("FEEDS={}", feeds.dumps()));
        }
        if let Some(jobs) = &config.jobs_dir {
            let dir = absolute(jobs).join(&spec.project).join(&spec.spider).join(&spec.id);
            cmd.arg("-s").arg(format!("JOBDIR={}", dir.display()));
        }
        cmd.arg("-a").arg(format!("_job={}", spec.id));
        for (k, v) in &spec.args {
            cmd.arg("-a").arg(format!("{k}={v}"));
        }
        if let Some(v) = &spec.version {
            cmd.arg("-a").arg(format!("_version={v}"));
        }
        Ok(CrawlPlan { command: cmd, log_file })
    }
}

/// `<dir>/<project>/<spider>/<job>.<ext>`, creating the directory and pruning old files beyond
/// `jobs_to_keep` (by modification time; 0 keeps everything).
fn prepare_file(config: &Config, dir: &Path, spec: &JobSpec, ext: &str) -> Result<PathBuf> {
    let parent = absolute(dir).join(&spec.project).join(&spec.spider);
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
    if config.jobs_to_keep > 0 {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&parent)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        m.is_file().then(|| (m.modified().ok().unwrap_or(std::time::UNIX_EPOCH), e.path()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if files.len() > config.jobs_to_keep {
            files.sort();
            let excess = files.len() - config.jobs_to_keep;
            for (_, p) in files.into_iter().take(excess) {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    Ok(parent.join(format!("{}.{ext}", spec.id)))
}

/// Text of `Json` kept for callers that need the FEEDS value alone.
pub fn feeds_json(uri: &str) -> String {
    obj([(uri.to_string(), obj([("format", Json::from("jsonlines"))]))]).dumps()
}

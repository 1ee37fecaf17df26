//! A real `spider-slave` beside the stand-ins: real Scrapy processes for real fires.
//!
//! It listens on the bridge (like the stand-ins), registered under the tag `real` (stand-ins
//! carry `standin`), so only the schedule meant for it runs there. The workload's egg holds a
//! real spider, `jt`, which appends one JSON line `{"job": <job id>, "unix_ms": <start>}` to the
//! file named by its `run_log` argument when Scrapy starts it. Those lines are the evidence:
//! the harness turns each into a started [`Delivery`], so the same checkers judge them (a job
//! id that ran twice is a duplicate start), and nothing of the slave's own opinion is trusted.
//!
//! The slave needs a Python with Scrapy: [`find_python`] looks for one where the project's
//! setup puts it, and says what to set when there is none (the run then has no real slave,
//! and its `real_slave` verdict is unknown with that reason).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Stdio;

use anyhow::Context;

use crate::net::sh;
use crate::standin::Delivery;
use crate::standin::FaultMode;

/// The node id (and `Delivery::slave`) of the real slave.
pub const NAME: &str = "real-1";
/// Its tag, and the stand-ins' tag, for node selectors.
pub const TAG: &str = "real";
pub const STANDIN_TAG: &str = "standin";

/// The real slave's binary: `$SPIDER_SLAVE_BIN`, or `spider-slave` next to the master binary.
pub fn binary(master_bin: &Path) -> Result<PathBuf, String> {
    let bin = std::env::var_os("SPIDER_SLAVE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| master_bin.with_file_name("spider-slave"));
    if !bin.is_file() {
        return Err(format!("{} not found (build the workspace in release mode)", bin.display()));
    }
    Ok(bin)
}

/// The Python the real slave runs Scrapy with ([`crate::python::find`] for `scrapy`).
pub fn find_python() -> Result<PathBuf, String> {
    crate::python::find("scrapy", "the real spider-slave")
}

pub struct RealSlave {
    pub url: String,
    /// The spiders' run log (an absolute path, passed as the `run_log` spider argument).
    pub run_log: PathBuf,
    child: Child,
}

impl RealSlave {
    /// Starts `spider-slave` on `ip` (a free port), its files under `dir`, in its own process
    /// group (its Scrapy children go with it).
    pub fn start(bin: &Path, python: &Path, ip: &str, dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        let port = std::net::TcpListener::bind(format!("{ip}:0"))?.local_addr()?.port();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("slave.log"))?;
        let child = std::process::Command::new(bin)
            .arg("--python")
            .arg(python)
            .args(["--bind-address", ip, "--http-port", &port.to_string()])
            .args(["--set", &format!("node_name={NAME}"), "--set", "poll_interval=1", "--set", "max_proc=4"])
            .current_dir(&dir)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        Ok(RealSlave { url: format!("http://{ip}:{port}"), run_log: dir.join("runs.jsonl"), child })
    }

    /// Every run the spiders logged, as started deliveries of `project`'s `spider` (oldest
    /// first). A line that is not a run record is an error: the log is the evidence.
    pub fn runs(&self, project: &str, spider: &str) -> anyhow::Result<Vec<Delivery>> {
        let text = match std::fs::read_to_string(&self.run_log) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?,
        };
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("run log line {line:?}"))?;
            let (Some(job), Some(unix_ms)) = (v["job"].as_str(), v["unix_ms"].as_u64()) else {
                anyhow::bail!("run log line without job or unix_ms: {line}");
            };
            out.push(Delivery {
                unix_ms,
                slave: NAME.to_string(),
                job_id: job.to_string(),
                project: project.to_string(),
                spider: spider.to_string(),
                peer: String::new(),
                idempotency_key: None,
                started: true,
                mode: FaultMode::Healthy,
            });
        }
        out.sort_by_key(|d| d.unix_ms);
        Ok(out)
    }
}

impl Drop for RealSlave {
    fn drop(&mut self) {
        // The whole group: the slave and any Scrapy process it launched.
        let _ = sh(&["kill", "-KILL", "--", &format!("-{}", self.child.id())]);
        let _ = self.child.wait();
    }
}

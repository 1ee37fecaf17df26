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

use std::ffi::OsString;
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

/// The Python the real slave runs Scrapy with: `$SPIDER_PYTHON` if set; else the venv the
/// project's setup makes (`scripts/setup.sh`): `$SPIDER_VENV/bin/python`, then
/// `$HOME/.cache/spider-platform/venv/bin/python` — the first that exists and can
/// `import scrapy`. `Err` says what was tried and what to set.
pub fn find_python() -> Result<PathBuf, String> {
    find_python_with(|k| std::env::var_os(k), imports_scrapy)
}

/// [`find_python`] over a given environment and a given check of a candidate.
fn find_python_with(
    var: impl Fn(&str) -> Option<OsString>,
    check: impl Fn(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    if let Some(p) = var("SPIDER_PYTHON").filter(|p| !p.is_empty()).map(PathBuf::from) {
        return match check(&p) {
            Ok(()) => Ok(p),
            Err(why) => Err(format!(
                "SPIDER_PYTHON={} {why}: point SPIDER_PYTHON at a Python with Scrapy, or unset it to use \
                 the project's venv (scripts/setup.sh makes one at ~/.cache/spider-platform/venv)",
                p.display()
            )),
        };
    }
    let mut tried = vec!["SPIDER_PYTHON is not set".to_string()];
    let mut candidates = Vec::new();
    match var("SPIDER_VENV").filter(|v| !v.is_empty()) {
        Some(v) => candidates.push(PathBuf::from(v).join("bin").join("python")),
        None => tried.push("SPIDER_VENV is not set".into()),
    }
    match var("HOME").filter(|h| !h.is_empty()) {
        Some(h) => candidates.push(PathBuf::from(h).join(".cache/spider-platform/venv/bin/python")),
        None => tried.push("HOME is not set".into()),
    }
    for p in candidates {
        match check(&p) {
            Ok(()) => return Ok(p),
            Err(why) => tried.push(format!("{} {why}", p.display())),
        }
    }
    Err(format!(
        "no Python with Scrapy for the real spider-slave ({}): set SPIDER_PYTHON to a Python that can \
         `import scrapy`, or SPIDER_VENV to its venv (scripts/setup.sh makes one at \
         ~/.cache/spider-platform/venv; under sudo, pass the variable on the command line: \
         `sudo SPIDER_PYTHON=… jepsen-tests …`)",
        tried.join("; ")
    ))
}

/// Whether `python` exists and runs `import scrapy`; `Err` says which failed.
fn imports_scrapy(python: &Path) -> Result<(), String> {
    if !python.exists() {
        return Err("does not exist".into());
    }
    let out = std::process::Command::new(python)
        .args(["-c", "import scrapy"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("does not run ({e})"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
    Err(format!("cannot import scrapy ({last})"))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// `find_python_with` over `env`, where only the paths in `good` import Scrapy.
    fn find(env: &[(&str, &str)], good: &[&str]) -> Result<PathBuf, String> {
        let env: BTreeMap<String, OsString> = env.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        find_python_with(
            |k| env.get(k).cloned(),
            |p| if good.iter().any(|g| Path::new(g) == p) { Ok(()) } else { Err("does not exist".into()) },
        )
    }

    #[test]
    fn the_python_defaults_to_the_setup_venv() {
        let home_venv = "/home/u/.cache/spider-platform/venv/bin/python";
        assert_eq!(find(&[("HOME", "/home/u")], &[home_venv]), Ok(PathBuf::from(home_venv)));
        let env = [("HOME", "/home/u"), ("SPIDER_VENV", "/v")];
        assert_eq!(find(&env, &["/v/bin/python", home_venv]), Ok(PathBuf::from("/v/bin/python")));
        assert_eq!(find(&env, &[home_venv]), Ok(PathBuf::from(home_venv)), "a broken SPIDER_VENV falls through");
        let explicit = [("HOME", "/home/u"), ("SPIDER_PYTHON", "/usr/bin/python3")];
        assert_eq!(find(&explicit, &["/usr/bin/python3", home_venv]), Ok(PathBuf::from("/usr/bin/python3")));
    }

    #[test]
    fn without_a_python_it_says_what_to_set() {
        let e = find(&[("HOME", "/home/u")], &[]).expect_err("nothing imports scrapy");
        assert!(e.contains("SPIDER_PYTHON is not set"), "{e}");
        assert!(e.contains("/home/u/.cache/spider-platform/venv/bin/python does not exist"), "{e}");
        assert!(e.contains("set SPIDER_PYTHON to a Python"), "{e}");
        // An explicit SPIDER_PYTHON that fails is reported, not replaced by the venv.
        let env = [("HOME", "/home/u"), ("SPIDER_PYTHON", "/nope")];
        let e = find(&env, &["/home/u/.cache/spider-platform/venv/bin/python"]).expect_err("explicit and broken");
        assert!(e.starts_with("SPIDER_PYTHON=/nope does not exist"), "{e}");
    }
}

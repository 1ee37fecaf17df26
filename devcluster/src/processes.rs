//! Child processes of `up`: each in its own process group, output to `<dir>/logs/<name>.log`.
//! A child that exits is reported, never restarted; `stop_all` sends SIGTERM to every group,
//! then SIGKILL to those still there after the grace period.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;

/// A child that exited (on its own or because we stopped it).
#[derive(Debug)]
pub struct Exit {
    pub name: String,
    pub pid: u32,
    pub status: std::io::Result<ExitStatus>,
    pub log: PathBuf,
}

#[derive(Debug, Clone)]
struct Running {
    pid: u32,
    log: PathBuf,
}

/// The children `up` started and still considers running.
#[derive(Clone)]
pub struct Supervisor {
    running: Arc<Mutex<BTreeMap<String, Running>>>,
    exits: mpsc::UnboundedSender<Exit>,
}

impl Supervisor {
    /// A supervisor and the stream of child exits.
    pub fn new() -> (Supervisor, mpsc::UnboundedReceiver<Exit>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Supervisor { running: Arc::default(), exits: tx }, rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `cmd` as `name` in a new process group, appending its output to `log`. Returns the pid.
    pub fn spawn(&self, name: &str, mut cmd: tokio::process::Command, log: &Path) -> anyhow::Result<u32> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let err = out.try_clone().with_context(|| format!("cannot open {}", log.display()))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0).kill_on_drop(false);
        let mut child = cmd.spawn().with_context(|| format!("cannot start {name}"))?;
        let pid = child.id().context("child exited at once")?;
        self.lock().insert(name.to_string(), Running { pid, log: log.to_path_buf() });
        let (me, name) = (self.clone(), name.to_string());
        tokio::spawn(async move {
            let status = child.wait().await;
            let log = me.lock().remove(&name).map(|r| r.log).unwrap_or_default();
            let _ = me.exits.send(Exit { name, pid, status, log });
        });
        Ok(pid)
    }

    /// Pids of the children still running, by name.
    pub fn pids(&self) -> BTreeMap<String, u32> {
        self.lock().iter().map(|(n, r)| (n.clone(), r.pid)).collect()
    }

    /// SIGTERM to every child's process group; SIGKILL after `grace` to those left.
    /// Returns once every child has been reaped (or a last deadline passed).
    pub async fn stop_all(&self, grace: Duration) {
        for (name, pid) in self.pids() {
            signal_group(pid, libc::SIGTERM, &name);
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.lock().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = self.pids();
        for (name, pid) in &left {
            eprintln!("up: {name} (pid {pid}) ignored SIGTERM for {grace:?}; killing it");
            signal_group(*pid, libc::SIGKILL, name);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.lock().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Signals the process group led by `pid` (each child leads its own).
fn signal_group(pid: u32, sig: libc::c_int, name: &str) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else { return };
    // SAFETY: killpg only sends a signal; the group is one we created for this child.
    if unsafe { libc::killpg(pgid, sig) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            eprintln!("up: cannot signal {name} (pid {pid}): {e}");
        }
    }
}

/// "exit status 1", "killed by signal 9", …
pub fn describe(status: &std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            _ => s.to_string(),
        },
        Err(e) => format!("unknown exit ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exits_are_reported_and_stop_reaps_every_group() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (sup, mut exits) = Supervisor::new();
        let mut quick = tokio::process::Command::new("sh");
        quick.args(["-c", "echo hi; exit 3"]);
        sup.spawn("quick", quick, &tmp.path().join("quick.log")).expect("spawn");
        let e = exits.recv().await.expect("exit");
        assert_eq!((e.name.as_str(), describe(&e.status).as_str()), ("quick", "exit status 3"));
        assert_eq!(std::fs::read_to_string(tmp.path().join("quick.log")).expect("log"), "hi\n");
        let mut stubborn = tokio::process::Command::new("sh");
        stubborn.args(["-c", "trap '' TERM; sleep 30 & wait"]);
        sup.spawn("stubborn", stubborn, &tmp.path().join("s.log")).expect("spawn");
        sup.stop_all(Duration::from_millis(300)).await;
        assert!(sup.pids().is_empty());
        assert_eq!(exits.recv().await.expect("exit").name, "stubborn");
    }
}

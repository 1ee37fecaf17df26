//! The cluster under test: release-built `spider-master` processes, one per test host, each
//! started with `ip netns exec` in its own namespace with its own data dir and log file.

use std::collections::BTreeMap;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Stdio;

use anyhow::Context;

use crate::net::sh;
use crate::net::Net;

pub const PORT: u16 = 7700;
pub const SECRET: &str = "jepsen-cluster-secret-0123456789";
pub const TOKEN: &str = "jepsen-admin-token";
/// `[alerts] failover_settle_ms` of every master: a new leader announces its failover this
/// soon after it wins (the alert checker owes a mail only to leaders that held longer).
pub const FAILOVER_SETTLE_MS: u64 = 500;

/// Finds the `spider-master` binary: `$SPIDER_MASTER_BIN`, or next to this executable's
/// target directory (`target/release/`).
pub fn master_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("SPIDER_MASTER_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(3) {
        let candidate = dir.join("spider-master");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    anyhow::bail!("spider-master binary not found near {} (build with cargo build --release)", exe.display())
}

pub struct Cluster {
    pub bin: PathBuf,
    pub out: PathBuf,
    pub procs: BTreeMap<u8, Child>,
}

impl Cluster {
    pub fn url(net: &Net, i: u8) -> String {
        format!("http://{}:{PORT}", net.host(i).ip)
    }

    fn data_dir_in(out: &Path, i: u8) -> PathBuf {
        out.join(format!("n{i}-data"))
    }

    /// Master `i`'s RocksDB directory.
    pub fn data_dir(&self, i: u8) -> PathBuf {
        Self::data_dir_in(&self.out, i)
    }

    /// Deletes master `i`'s data dir (it must not be running): it restarts as a blank master.
    pub fn wipe(&self, i: u8) -> anyhow::Result<()> {
        anyhow::ensure!(!self.is_running(i), "master {i} is running");
        match std::fs::remove_dir_all(self.data_dir(i)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Whether the harness started master `i` and has not killed it (a paused one counts).
    pub fn is_running(&self, i: u8) -> bool {
        self.procs.contains_key(&i)
    }

    /// The masters started and not killed, in id order.
    pub fn running(&self) -> Vec<u8> {
        self.procs.keys().copied().collect()
    }

    fn write_config(net: &Net, out: &Path, i: u8) -> anyhow::Result<PathBuf> {
        let peers: String = net.hosts.iter().map(|h| format!("{} = \"http://{}:{PORT}\"\n", h.index, h.ip)).collect();
        let text = format!(
            "node_id = {i}\nlisten = \"{ip}:{PORT}\"\nadvertise = \"http://{ip}:{PORT}\"\ndata_dir = \"{dir}\"\n\
             cluster_secret = \"{SECRET}\"\nadmin_token = \"{TOKEN}\"\n\n[peers]\n{peers}\n[raft]\nheartbeat_ms = 100\n\
             election_timeout_min_ms = 500\nelection_timeout_max_ms = 1000\nsnapshot_after_logs = 100\n\
             max_in_snapshot_log_to_keep = 50\n\n[scheduler]\ndebug_clock = true\n\n\
             [alerts]\nfailover_settle_ms = {FAILOVER_SETTLE_MS}\n",
            ip = net.host(i).ip,
            dir = Self::data_dir_in(out, i).display(),
        );
        let path = out.join(format!("n{i}.toml"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    pub fn start(net: &Net, out: &Path) -> anyhow::Result<Self> {
        let mut c = Cluster { bin: master_binary()?, out: out.to_path_buf(), procs: BTreeMap::new() };
        for h in &net.hosts {
            c.launch(net, h.index)?;
        }
        Ok(c)
    }

    /// Starts (or restarts) master `i` from its data dir.
    pub fn launch(&mut self, net: &Net, i: u8) -> anyhow::Result<()> {
        use std::os::unix::process::CommandExt;
        let config = Self::write_config(net, &self.out, i)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.out.join(format!("n{i}.log")))?;
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &net.host(i).netns])
            .arg(&self.bin)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("spawning spider-master")?;
        self.procs.insert(i, child);
        Ok(())
    }

    /// SIGKILL of master `i`.
    pub fn kill(&mut self, i: u8) -> anyhow::Result<()> {
        if let Some(mut c) = self.procs.remove(&i) {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    fn signal(&self, i: u8, sig: &str) -> anyhow::Result<()> {
        let pid = self.procs.get(&i).map(|c| c.id()).context("not running")?;
        sh(&["kill", sig, &pid.to_string()])?;
        Ok(())
    }

    /// SIGSTOP: the process freezes; peers see silence, not a closed connection.
    pub fn pause(&self, i: u8) -> anyhow::Result<()> {
        self.signal(i, "-STOP")
    }

    pub fn resume(&self, i: u8) -> anyhow::Result<()> {
        self.signal(i, "-CONT")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, c) in self.procs.iter_mut() {
            let _ = sh(&["kill", "-CONT", &c.id().to_string()]);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

//! `spider-up` command-line arguments.

use std::path::PathBuf;

/// Start a local dev cluster in the foreground: 3 masters, 2 spider-slaves, a demo site and a
/// deployed demo project; writes `<dir>/cluster.json`. Ctrl-C stops everything.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "spider-up", version)]
pub struct UpArgs {
    /// Data directory (configs, Raft data, slave dirs, logs, venv, cluster.json).
    #[arg(long, env = "SPIDER_DEV_DIR", default_value = "./.spider-dev")]
    pub dir: PathBuf,
    /// Wipe the data directory first (only one `up` created) instead of reusing it.
    #[arg(long)]
    pub fresh: bool,
    /// Python interpreter with Scrapy for the slaves; default: `<dir>/venv`, created if needed.
    #[arg(long, env = "SPIDER_PYTHON")]
    pub python: Option<PathBuf>,
    /// The spider-master executable; default: `spider-master` next to this executable.
    #[arg(long, env = "SPIDER_MASTER_BIN")]
    pub master_bin: Option<PathBuf>,
    /// The spider-slave executable; default: `spider-slave` next to this executable.
    #[arg(long, env = "SPIDER_SLAVE_BIN")]
    pub slave_bin: Option<PathBuf>,
    /// Deadline, in seconds, for each start-up phase (leader election, deployment, ...).
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Seconds to wait after SIGTERM before children are killed with SIGKILL.
    #[arg(long, default_value_t = 10)]
    pub stop_grace_secs: u64,
}

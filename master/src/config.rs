//! `MasterConfig`: everything a master needs to start, from a TOML file, environment
//! variables and command-line flags (later sources win), validated once at start-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;

/// The name config code and tests know the cluster secret's type by.
pub use crate::secrets::Secret as ClusterSecret;
use crate::secrets::Secret;

/// Raft timing and snapshot knobs. Defaults suit a 3-node LAN cluster on modest machines and
/// bound failover: a dead leader is replaced about `election_timeout_max_ms` after its last
/// heartbeat (issue 5's goal: a cron tick at most 1 s late across a failover).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftTiming {
    /// Leader heartbeat interval.
    pub heartbeat_ms: u64,
    /// Election timeout is drawn from [min, max).
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after this many log entries since the last one.
    pub snapshot_after_logs: u64,
    /// Keep this many entries after a snapshot (so slow followers avoid a snapshot).
    pub max_in_snapshot_log_to_keep: u64,
    /// Deadline of one snapshot transfer (snapshots carry eggs: megabytes).
    pub install_snapshot_timeout_ms: u64,
    /// Deadline of every other Raft RPC.
    pub rpc_timeout_ms: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        Self {
            heartbeat_ms: 50,
            election_timeout_min_ms: 250,
            election_timeout_max_ms: 500,
            snapshot_after_logs: 5000,
            max_in_snapshot_log_to_keep: 1000,
            install_snapshot_timeout_ms: 30_000,
            rpc_timeout_ms: 1000,
        }
    }
}

/// How masters watch and drive the slaves. Defaults suit a LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaveTiming {
    /// Deadline of one request to a slave (egg uploads get ten times this).
    pub request_timeout_ms: u64,
    /// The leader checks every slave's `daemonstatus.json` this often.
    pub health_interval_ms: u64,
    /// Consecutive failed checks before a slave is committed as down (one success brings it up).
    pub down_after_failures: u32,
    /// The leader's deployer reconciles eggs on the slaves this often.
    pub deploy_interval_ms: u64,
    /// The leader collects `listjobs.json` from every live slave this often.
    pub collect_interval_ms: u64,
    /// Every master polls each slave's `/metrics.json` this often (0 turns it off).
    pub metrics_interval_ms: u64,
    /// Samples kept per slave in memory (at 5 s, 720 = one hour).
    pub metrics_samples: usize,
}

impl Default for SlaveTiming {
    fn default() -> Self {
        Self {
            request_timeout_ms: 5_000,
            health_interval_ms: 2_000,
            down_after_failures: 3,
            deploy_interval_ms: 3_000,
            collect_interval_ms: 2_000,
            metrics_interval_ms: 5_000,
            metrics_samples: 720,
        }
    }
}

/// The leader's cron scheduler: its debug clock and its timing knobs. Defaults are the values
/// the scheduler was tuned with (issue 5's benchmarks); tests shrink or stretch them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Debug only: allow `POST /api/v1/debug/clock {"offset_ms": n}` (admin) to shift this
    /// master's scheduler clock, for the fault-injection suite. Off in every default; when off,
    /// the endpoint answers 404.
    pub debug_clock: bool,
    /// Calls to slaves in flight at once for deliveries and cancels (a delivery holds a permit
    /// only while it talks to a slave, never across a commit).
    pub dispatches_in_flight: usize,
    /// A delivery that ended without a committed outcome is not started again before this.
    pub retry_cooldown_ms: u64,
    /// How often the leader scans the whole fire ledger for fired ticks nobody is delivering
    /// (an outcome that could not be committed; a fire the ledger's journal could not name).
    /// Recovery only: newly applied fires are delivered at once, whoever committed them.
    pub orphan_scan_ms: u64,
    /// How late a tick may be and still count as on time (the planner fires such a tick under
    /// every misfire policy if it came due while this leader was planning).
    pub on_time_ms: u64,
    /// Deadline of one write through any master (`Proposer::propose`: forwarding to the
    /// leader, waiting for one) and of a follower's linearizable read. The run-now and cancel
    /// requests wait this long at most.
    pub propose_timeout_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            debug_clock: false,
            dispatches_in_flight: 32,
            retry_cooldown_ms: 5_000,
            orphan_scan_ms: 5_000,
            on_time_ms: 10_000,
            propose_timeout_ms: 10_000,
        }
    }
}

/// The alerter (leader only) and its links. Channels, rules, silences and spider-error
/// thresholds are replicated state, set through the API; these are per-master knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// The dashboard's public URL (behind the load balancer), for links in alerts.
    pub public_url: String,
    /// How often the leader's alerter looks for new events.
    pub scan_interval_ms: u64,
    /// Lines from the end of a failed job's log put in its alert.
    pub log_lines: usize,
    /// A new leader judges jobs that ended at most this long ago (older ones were judged by
    /// its predecessors, or are too old to wake anyone for).
    pub lookback_ms: u64,
    /// The failover alert waits this long after an election (or less, once the scheduler has
    /// caught up) so it can list the fires the leaderless time made late or passed over.
    pub failover_settle_ms: u64,
    /// Metric thresholds watched on every node, from the metrics the master already polls.
    pub metrics: Vec<MetricThreshold>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".into(),
            scan_interval_ms: 1_000,
            log_lines: 20,
            lookback_ms: 3_600_000,
            failover_settle_ms: 3_000,
            metrics: vec![],
        }
    }
}

/// "`metric` at or above `at_least` for `for_ms` on a node" fires; it resolves once the value
/// stayed below for `keep_firing_ms` (against flapping).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricThreshold {
    /// `cpu` (percent), `memory` (percent), `disk` (percent used) or `load` (1-minute average).
    pub metric: String,
    pub at_least: f64,
    pub for_ms: u64,
    #[serde(default)]
    pub keep_firing_ms: u64,
}

/// One master's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterConfig {
    /// This master's Raft node id; unique in the cluster, > 0.
    pub node_id: u64,
    /// Address to bind the HTTP server (API and Raft RPC) to; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Base URL other masters and clients use to reach this one, e.g. `http://10.0.0.1:7000`.
    /// Defaults to `http://<listen>` (with the bound port when `listen` has port 0).
    #[serde(default)]
    pub advertise: Option<String>,
    /// Every initial voter of the cluster, this one included: node id → advertised base URL.
    /// Empty for a master that will be added to an existing cluster through the API.
    #[serde(default, with = "peer_map")]
    pub peers: BTreeMap<u64, String>,
    /// Where the RocksDB store and snapshots live.
    pub data_dir: PathBuf,
    /// Shared by all masters; authenticates Raft RPC and forwarded writes.
    pub cluster_secret: Secret,
    /// Bearer token with the admin role for the API. If absent, one is generated at first start
    /// and written to `<data_dir>/admin-token` (mode 0600).
    #[serde(default)]
    pub admin_token: Option<Secret>,
    #[serde(default)]
    pub raft: RaftTiming,
    #[serde(default)]
    pub slaves: SlaveTiming,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Largest accepted egg upload, bytes.
    #[serde(default = "default_max_egg_bytes")]
    pub max_egg_bytes: usize,
}

fn default_max_egg_bytes() -> usize {
    32 * 1024 * 1024
}

/// TOML table keys are strings: `peers` is written `1 = "http://..."` and read into numeric ids.
mod peer_map {
    use std::collections::BTreeMap;

    use serde::de::Error;
    use serde::Deserialize;
    use serde::Deserializer;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(peers: &BTreeMap<u64, String>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(peers.iter().map(|(k, v)| (k.to_string(), v)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u64, String>, D::Error> {
        let raw = BTreeMap::<String, String>::deserialize(d)?;
        raw.into_iter()
            .map(|(k, v)| match k.parse::<u64>() {
                Ok(id) => Ok((id, v)),
                Err(_) => Err(D::Error::custom(format!("peers: {k:?} is not a node id (a positive integer)"))),
            })
            .collect()
    }
}

/// A configuration that cannot work; the message says which field and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl MasterConfig {
    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// Checks everything that can be checked before binding sockets or opening the store.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, t) in self.alerts.metrics.iter().enumerate() {
            if !["cpu", "memory", "disk", "load"].contains(&t.metric.as_str()) {
                return Err(ConfigError(format!(
                    "alerts.metrics[{i}].metric: {:?} is not cpu, memory, disk or load",
                    t.metric
                )));
            }
            if !t.at_least.is_finite() || t.at_least < 0.0 {
                return Err(ConfigError(format!("alerts.metrics[{i}].at_least: must be a number >= 0")));
            }
        }
        if self.node_id == 0 {
            return Err(ConfigError("node_id must be > 0".into()));
        }
        if self.cluster_secret.0.len() < 16 {
            return Err(ConfigError("cluster_secret must be at least 16 characters".into()));
        }
        if !self.peers.is_empty() && !self.peers.contains_key(&self.node_id) {
            return Err(ConfigError(format!("peers must include this node (node_id {})", self.node_id)));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (id, url) in &self.peers {
            if *id == 0 {
                return Err(ConfigError("peers: node id 0 is not allowed".into()));
            }
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(ConfigError(format!("peers.{id}: {url:?} is not an http(s) URL")));
            }
            if !seen.insert(url.trim_end_matches('/')) {
                return Err(ConfigError(format!("peers: {url} is listed for two node ids")));
            }
        }
        let t = &self.raft;
        if t.heartbeat_ms == 0 || t.heartbeat_ms * 2 > t.election_timeout_min_ms {
            return Err(ConfigError(
                "raft.heartbeat_ms must be > 0 and at most half of election_timeout_min_ms".into(),
            ));
        }
        if t.election_timeout_min_ms >= t.election_timeout_max_ms {
            return Err(ConfigError("raft.election_timeout_min_ms must be below election_timeout_max_ms".into()));
        }
        let sc = &self.scheduler;
        if sc.dispatches_in_flight == 0 || sc.retry_cooldown_ms == 0 || sc.orphan_scan_ms == 0 {
            return Err(ConfigError(
                "scheduler.dispatches_in_flight, retry_cooldown_ms and orphan_scan_ms must be > 0".into(),
            ));
        }
        if sc.on_time_ms == 0 || sc.propose_timeout_ms == 0 {
            return Err(ConfigError("scheduler.on_time_ms and propose_timeout_ms must be > 0".into()));
        }
        let s = &self.slaves;
        if s.request_timeout_ms == 0 || s.health_interval_ms == 0 || s.deploy_interval_ms == 0 {
            return Err(ConfigError(
                "slaves.request_timeout_ms, health_interval_ms and deploy_interval_ms must be > 0".into(),
            ));
        }
        if s.collect_interval_ms == 0 || s.down_after_failures == 0 || s.metrics_samples == 0 {
            return Err(ConfigError(
                "slaves.collect_interval_ms, down_after_failures and metrics_samples must be > 0".into(),
            ));
        }
        if self.max_egg_bytes == 0 || self.max_egg_bytes > raft_store::state::projects::MAX_EGG_BYTES {
            return Err(ConfigError(format!(
                "max_egg_bytes must be between 1 and {} (the store's hard limit)",
                raft_store::state::projects::MAX_EGG_BYTES
            )));
        }
        if let Some(dir) = self.data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            if dir.exists() && !dir.is_dir() {
                return Err(ConfigError(format!("data_dir parent {} is not a directory", dir.display())));
            }
        }
        if self.data_dir.exists() && !self.data_dir.is_dir() {
            return Err(ConfigError(format!("data_dir {} is not a directory", self.data_dir.display())));
        }
        Ok(())
    }

    /// The openraft configuration derived from the timing knobs.
    pub fn openraft_config(&self) -> Result<openraft::Config, ConfigError> {
        let t = &self.raft;
        let c = openraft::Config {
            cluster_name: "spider-platform".into(),
            heartbeat_interval: t.heartbeat_ms,
            election_timeout_min: t.election_timeout_min_ms,
            election_timeout_max: t.election_timeout_max_ms,
            install_snapshot_timeout: t.install_snapshot_timeout_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(t.snapshot_after_logs),
            max_in_snapshot_log_to_keep: t.max_in_snapshot_log_to_keep,
            // A restarted leader must not believe it still leads (openraft #1467/#1511).
            enable_leader_restore: Some(false),
            // A master cut off from the others must not inflate its term and, on rejoining,
            // depose a healthy leader (found by the jepsen suite: 2–3 extra terms per heal).
            enable_pre_vote: Some(true),
            ..Default::default()
        };
        c.validate().map_err(|e| ConfigError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../deploy/master.example.toml");

    #[test]
    fn the_example_config_is_valid() {
        let c = MasterConfig::from_toml(EXAMPLE).expect("parses");
        c.validate().expect("validates");
        assert_eq!(c.peers.len(), 3);
        assert!(!c.scheduler.debug_clock, "the debug clock is off in the example");
        assert_eq!(c.scheduler, SchedulerConfig::default(), "the example documents the defaults");
        assert_eq!(c.raft, RaftTiming::default());
        c.openraft_config().expect("openraft accepts the timing");
    }

    fn err(edit: impl Fn(&mut MasterConfig)) -> String {
        let mut c = MasterConfig::from_toml(EXAMPLE).expect("parses");
        edit(&mut c);
        c.validate().expect_err("must be refused").to_string()
    }

    #[test]
    fn invalid_configs_say_what_is_wrong() {
        assert!(err(|c| c.cluster_secret = ClusterSecret(String::new())).contains("cluster_secret"));
        assert!(err(|c| c.node_id = 0).contains("node_id"));
        assert!(err(|c| c.node_id = 7).contains("peers must include"));
        assert!(err(|c| {
            c.peers.insert(4, "http://10.0.0.1:7000".into());
        })
        .contains("two node ids"));
        assert!(err(|c| {
            c.peers.insert(4, "10.0.0.4:7000".into());
        })
        .contains("not an http(s) URL"));
        assert!(err(|c| c.raft.heartbeat_ms = 400).contains("heartbeat_ms"));
        assert!(err(|c| c.data_dir = "/etc/hostname".into()).contains("not a directory"));
        assert!(err(|c| c.scheduler.dispatches_in_flight = 0).contains("dispatches_in_flight"));
        assert!(err(|c| c.scheduler.propose_timeout_ms = 0).contains("propose_timeout_ms"));
    }

    #[test]
    fn duplicate_ids_and_unknown_fields_are_parse_errors() {
        let dup = EXAMPLE.replace("3 = \"http://10.0.0.3:7000\"", "2 = \"http://10.0.0.3:7000\"");
        assert!(MasterConfig::from_toml(&dup).expect_err("duplicate").to_string().contains("duplicate"));
        let unknown = format!("{EXAMPLE}\n[raft2]\nx = 1\n");
        assert!(MasterConfig::from_toml(&unknown).is_err());
    }

    #[test]
    fn a_written_config_reads_back_equal() {
        let c = MasterConfig::from_toml(EXAMPLE).expect("parses");
        let text = toml::to_string(&c).expect("serialises");
        assert_eq!(MasterConfig::from_toml(&text).expect("reparses"), c);
        let bad = EXAMPLE.replace("1 = \"http://10.0.0.1:7000\"", "one = \"http://10.0.0.1:7000\"");
        assert!(MasterConfig::from_toml(&bad).expect_err("bad id").to_string().contains("not a node id"));
    }

    #[test]
    fn the_secret_is_never_printed() {
        let c = MasterConfig::from_toml(EXAMPLE).expect("parses");
        assert!(!format!("{c:?}").contains("change-me"));
    }
}

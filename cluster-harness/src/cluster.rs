//! [`TestCluster`]: real masters in this process, each with a temp data dir and a listener on a
//! loopback port the kernel chose, started through master's own `boot::start_on`. Every step
//! that changes the cluster is followed by a wait on its Raft metrics or state, never a sleep.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use master::boot::RunningMaster;
use master::config::ClusterSecret;
use master::config::MasterConfig;
use master::config::RaftTiming;
use master::node::MasterNode;
use master::propose::Proposed;
use raft_store::Applied;
use raft_store::Command;

use crate::wait::eventually;

pub const SECRET: &str = "test-cluster-secret-0123456789";
pub const ADMIN: &str = "test-admin-token";

/// Raft timings for tests: elections in well under a second.
pub fn timing() -> RaftTiming {
    RaftTiming {
        heartbeat_ms: 100,
        election_timeout_min_ms: 400,
        election_timeout_max_ms: 800,
        snapshot_after_logs: 5000,
        max_in_snapshot_log_to_keep: 1000,
        install_snapshot_timeout_ms: 30_000,
        rpc_timeout_ms: 1000,
    }
}

/// One master slot of a test cluster: its config survives restarts.
pub struct Slot {
    pub config: MasterConfig,
    pub running: Option<RunningMaster>,
}

pub struct TestCluster {
    pub slots: BTreeMap<u64, Slot>,
    /// Kept so the data dirs live as long as the cluster.
    pub _dirs: Vec<tempfile::TempDir>,
    pub http: reqwest::Client,
}

/// Master `id`'s config in a test cluster: test timings, the test secret and admin token.
pub fn config(
    id: u64,
    addr: std::net::SocketAddr,
    peers: BTreeMap<u64, String>,
    dir: &std::path::Path,
) -> MasterConfig {
    MasterConfig {
        node_id: id,
        listen: addr,
        advertise: Some(format!("http://{addr}")),
        peers,
        data_dir: dir.to_path_buf(),
        cluster_secret: ClusterSecret(SECRET.into()),
        admin_token: Some(ClusterSecret(ADMIN.into())),
        raft: timing(),
        slaves: master::config::SlaveTiming {
            health_interval_ms: 200,
            down_after_failures: 2,
            deploy_interval_ms: 300,
            collect_interval_ms: 300,
            metrics_interval_ms: 300,
            request_timeout_ms: 3_000,
            metrics_samples: 100,
        },
        scheduler: Default::default(),
        // Short settle and scan times: alert tests wait on mail, not on timers.
        alerts: master::config::AlertsConfig { scan_interval_ms: 200, failover_settle_ms: 500, ..Default::default() },
        max_egg_bytes: 8 * 1024 * 1024,
    }
}

impl TestCluster {
    /// Starts `n` masters configured as one cluster (each config passed through `tweak`);
    /// returns once a leader is elected.
    pub async fn start(n: u64, tweak: impl Fn(&mut MasterConfig)) -> Self {
        crate::init_tracing();
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listeners.insert(id, l);
        }
        let peers: BTreeMap<u64, String> =
            listeners.iter().map(|(id, l)| (*id, format!("http://{}", l.local_addr().expect("addr")))).collect();
        let mut slots = BTreeMap::new();
        let mut dirs = Vec::new();
        for (id, l) in listeners {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut c = config(id, l.local_addr().expect("addr"), peers.clone(), dir.path());
            tweak(&mut c);
            let running = master::start_on(c.clone(), l).await.expect("start master");
            slots.insert(id, Slot { config: c, running: Some(running) });
            dirs.push(dir);
        }
        let cluster = Self { slots, _dirs: dirs, http: reqwest::Client::builder().no_proxy().build().expect("client") };
        cluster.leader().await;
        cluster
    }

    pub fn node(&self, id: u64) -> &RunningMaster {
        self.slots[&id].running.as_ref().expect("node is running")
    }

    /// The shared handle of running master `id`.
    pub fn master(&self, id: u64) -> &Arc<MasterNode> {
        &self.node(id).node
    }

    pub fn url(&self, id: u64) -> String {
        format!("http://{}", self.slots[&id].config.listen)
    }

    pub fn running_ids(&self) -> Vec<u64> {
        self.slots.iter().filter(|(_, s)| s.running.is_some()).map(|(id, _)| *id).collect()
    }

    /// The leader every running master agrees on (one of them), or `Err` with what each saw.
    fn agreed_leader(&self) -> Result<u64, String> {
        let ids = self.running_ids();
        let leaders: Vec<Option<u64>> = ids.iter().map(|id| self.master(*id).metrics().current_leader).collect();
        match leaders.first() {
            Some(Some(l)) if ids.contains(l) && leaders.iter().all(|x| x == &Some(*l)) => Ok(*l),
            _ => Err(format!("{leaders:?}")),
        }
    }

    /// Waits until every running master agrees on one leader among the running ones.
    pub async fn leader(&self) -> u64 {
        eventually("one leader agreed by all running masters", Duration::from_secs(20), || async {
            self.agreed_leader()
        })
        .await
    }

    /// Like [`leader`](Self::leader), polled every 5 ms, `None` after `timeout` (for a bench
    /// that reports a lost leader instead of failing).
    pub async fn try_leader(&self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(l) = self.agreed_leader() {
                return Some(l);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// A running master that considers itself leader, polled every millisecond (a failover's
    /// time to a new leader is measured with it); `None` after `timeout`.
    pub async fn self_declared_leader(&self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            for id in self.running_ids() {
                if self.master(id).metrics().current_leader == Some(id) {
                    return Some(id);
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    }

    pub fn follower(&self, leader: u64) -> u64 {
        *self.running_ids().iter().find(|id| **id != leader).expect("a follower")
    }

    /// Stops a master (graceful: its sockets close, its data stays).
    pub async fn stop(&mut self, id: u64) {
        if let Some(r) = self.slots.get_mut(&id).and_then(|s| s.running.take()) {
            r.shutdown().await;
        }
    }

    /// Restarts a stopped master from its data dir on the same address.
    pub async fn restart(&mut self, id: u64) {
        let slot = self.slots.get_mut(&id).expect("slot");
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(slot.config.listen).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(cause = %e, "address still in use");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind {}: {e}", slot.config.listen),
            }
        };
        slot.running = Some(master::start_on(slot.config.clone(), listener).await.expect("restart master"));
    }

    /// Waits until every running master applied at least `index` and all have one digest.
    pub async fn converged(&self, index: u64) -> String {
        let ids = self.running_ids();
        eventually("replicas converged", Duration::from_secs(20), || async {
            let seen: Vec<(Option<u64>, String)> = ids
                .iter()
                .map(|id| {
                    let n = self.master(*id);
                    (n.state.last_applied().map(|l| l.index()), n.state.digest())
                })
                .collect();
            let all_applied = seen.iter().all(|(a, _)| a.is_some_and(|a| a >= index));
            let one_digest = seen.windows(2).all(|w| w[0].1 == w[1].1);
            if all_applied && one_digest {
                Ok(seen[0].1.clone())
            } else {
                Err(format!("{seen:?}"))
            }
        })
        .await
    }

    /// Waits until no running master has a snapshot due (its newest covers all but fewer than
    /// its `snapshot_after_logs` applied entries); returns the seconds waited (at most `timeout`).
    pub async fn snapshots_built(&self, timeout: Duration) -> f64 {
        let started = Instant::now();
        while started.elapsed() < timeout {
            let due = self.running_ids().into_iter().any(|id| {
                let every = self.slots[&id].config.raft.snapshot_after_logs;
                let m = self.master(id).metrics();
                let applied = m.last_applied.map(|l| l.index).unwrap_or(0);
                let snap = m.snapshot.map(|l| l.index).unwrap_or(0);
                applied.saturating_sub(snap) >= every
            });
            if !due {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        started.elapsed().as_secs_f64()
    }

    /// Proposes `cmd` through the agreed leader (waited for up to 30 s); its `Applied` answer.
    pub async fn propose(&self, cmd: Command) -> Applied {
        let id = self.try_leader(Duration::from_secs(30)).await.expect("a leader");
        match self.master(id).proposer.propose(cmd).await {
            Ok(Proposed { applied, .. }) => applied,
            Err(e) => panic!("propose: {e:?}"),
        }
    }

    pub async fn shutdown(mut self) {
        for id in self.running_ids() {
            self.stop(id).await;
        }
    }
}

/// Wall-clock now in Unix ms, as the masters see it.
pub fn now_ms() -> i64 {
    master::clock::WallClock::now_ms_i64()
}

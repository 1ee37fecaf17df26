//! A test cluster of masters: temp dirs, listeners on port 0, waiting on conditions.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use std::time::Instant;

use master::config::ClusterSecret;
use master::config::MasterConfig;
use master::config::RaftTiming;
use master::node::RunningMaster;

pub const SECRET: &str = "test-cluster-secret-0123456789";
pub const ADMIN: &str = "test-admin-token";

static TRACING: std::sync::Once = std::sync::Once::new();

pub fn init_tracing() {
    TRACING.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Waits until `f` returns `Some`, polling; panics with `what` and the last value seen.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match f().await {
            Ok(v) => return v,
            Err(seen) => last = seen,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
}

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
        max_egg_bytes: 8 * 1024 * 1024,
    }
}

impl TestCluster {
    /// Starts `n` masters configured as one cluster; returns once a leader is elected.
    pub async fn start(n: u64, tweak: impl Fn(&mut MasterConfig)) -> Self {
        init_tracing();
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
            let running = master::node::start_on(c.clone(), l).await.expect("start master");
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

    pub fn url(&self, id: u64) -> String {
        format!("http://{}", self.slots[&id].config.listen)
    }

    pub fn running_ids(&self) -> Vec<u64> {
        self.slots.iter().filter(|(_, s)| s.running.is_some()).map(|(id, _)| *id).collect()
    }

    /// Waits until every running master agrees on one leader among the running ones.
    pub async fn leader(&self) -> u64 {
        let ids = self.running_ids();
        eventually("one leader agreed by all running masters", Duration::from_secs(20), || async {
            let leaders: Vec<Option<u64>> = ids.iter().map(|id| self.node(*id).node.metrics().current_leader).collect();
            match leaders.first() {
                Some(Some(l)) if ids.contains(l) && leaders.iter().all(|x| x == &Some(*l)) => Ok(*l),
                _ => Err(format!("{leaders:?}")),
            }
        })
        .await
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
        slot.running = Some(master::node::start_on(slot.config.clone(), listener).await.expect("restart master"));
    }

    /// Waits until every running master applied at least `index` and all have one digest.
    pub async fn converged(&self, index: u64) -> String {
        let ids = self.running_ids();
        eventually("replicas converged", Duration::from_secs(20), || async {
            let seen: Vec<(Option<u64>, String)> = ids
                .iter()
                .map(|id| {
                    let n = &self.node(*id).node;
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

    pub async fn shutdown(mut self) {
        for id in self.running_ids() {
            self.stop(id).await;
        }
    }
}

/// An authenticated request: its status and JSON body (a JSON string if the body is not JSON).
pub async fn call(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let r = req.bearer_auth(ADMIN).send().await.expect("request");
    let s = r.status().as_u16();
    let t = r.text().await.expect("body");
    (s, serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
}

/// `method /api/v1{path}` on master `id`, with an optional JSON body.
pub async fn api(
    c: &TestCluster,
    id: u64,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut r = c.http.request(method, format!("{}/api/v1{path}", c.url(id)));
    if let Some(b) = body {
        r = r.json(&b);
    }
    call(r).await
}

/// Wall-clock now in Unix ms, as the masters see it.
pub fn now_ms() -> i64 {
    master::propose::now_ms() as i64
}

//! Boot and shutdown of one master: open the store, build Raft, bind the HTTP server, start
//! cluster formation and the leader supervisor. `start` is used by `main` and by tests alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use raft_store::typ::Raft;
use raft_store::StateHandle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::ClusterSecret;
use crate::config::ConfigError;
use crate::config::MasterConfig;
use crate::propose::Proposer;
use crate::raft_net::client::NetworkFactory;
use crate::raft_net::client::PeerOverrides;

/// Everything a request handler or a leader service needs from this master.
pub struct MasterNode {
    pub id: u64,
    pub config: MasterConfig,
    /// The base URL other masters reach this one at.
    pub advertise: String,
    pub raft: Raft,
    pub state: StateHandle,
    pub proposer: Proposer,
    /// Client for peers and slaves (every call sets its own deadline).
    pub http: reqwest::Client,
    /// The admin API token (from config, or generated and kept in the data dir).
    pub admin_token: ClusterSecret,
    /// Test hook: per-peer address overrides for Raft traffic.
    pub peer_overrides: PeerOverrides,
    /// This master's in-memory metrics series of every slave.
    pub slave_metrics: crate::metrics_poller::SlaveMetrics,
    /// Rounds of slave health checks this master ran as leader (observability, and tests that
    /// prove a steady cluster writes nothing).
    pub health_rounds: std::sync::atomic::AtomicU64,
    /// The scheduler's wall clock (a debug offset only if `scheduler.debug_clock`).
    pub clock: Arc<crate::scheduler::clock::SystemClock>,
}

/// A master that is running; dropping it does not stop it, [`RunningMaster::shutdown`] does.
pub struct RunningMaster {
    pub node: Arc<MasterNode>,
    pub local_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// Why a master could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] raft_store::Error),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start raft: {0}")]
    Raft(String),
    #[error("admin token file {path}: {source}")]
    Token { path: std::path::PathBuf, source: std::io::Error },
}

/// Reads or creates the admin token kept at `<data_dir>/admin-token`.
fn admin_token(config: &MasterConfig) -> Result<ClusterSecret, StartError> {
    if let Some(t) = &config.admin_token {
        return Ok(t.clone());
    }
    let path = config.data_dir.join("admin-token");
    let err = |source| StartError::Token { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(ClusterSecret(t.trim().to_string())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let token = format!("spt_{}", hex::encode(bytes));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(err)?;
        f.write_all(token.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    tracing::info!(path = %path.display(), "generated the admin API token");
    Ok(ClusterSecret(token))
}

/// Starts a master: binds `config.listen`, then as [`start_on`].
pub async fn start(config: MasterConfig) -> Result<RunningMaster, StartError> {
    config.validate()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind { addr: config.listen, source })?;
    start_on(config, listener).await
}

/// Starts a master on an already bound listener (tests bind port 0 first to learn the address).
/// Returns once the server listens.
pub async fn start_on(config: MasterConfig, listener: tokio::net::TcpListener) -> Result<RunningMaster, StartError> {
    config.validate()?;
    let raft_config = Arc::new(config.openraft_config()?);
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| raft_store::Error::Io { path: config.data_dir.clone(), source })?;
    let (log, sm) = raft_store::open(&config.data_dir.join("raft"))?;
    let state = sm.handle();
    let admin_token = admin_token(&config)?;

    let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let advertise = config.advertise.clone().unwrap_or_else(|| format!("http://{local_addr}"));

    let http = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_millis(config.raft.rpc_timeout_ms))
        .build()
        .map_err(|e| StartError::Raft(e.to_string()))?;
    let overrides = PeerOverrides::default();
    let network = NetworkFactory::new(
        http.clone(),
        config.cluster_secret.clone(),
        overrides.clone(),
        Duration::from_millis(config.raft.rpc_timeout_ms),
    );
    let raft =
        Raft::new(config.node_id, raft_config, network, log, sm).await.map_err(|e| StartError::Raft(e.to_string()))?;
    let proposer = Proposer::new(raft.clone(), http.clone(), config.cluster_secret.clone(), Duration::from_secs(10));

    let node = Arc::new(MasterNode {
        id: config.node_id,
        advertise,
        raft,
        state,
        proposer,
        http,
        admin_token,
        peer_overrides: overrides,
        slave_metrics: Default::default(),
        health_rounds: Default::default(),
        clock: Arc::new(crate::scheduler::clock::SystemClock::new(config.scheduler.debug_clock)),
        config,
    });
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();

    let app = crate::api::router(node.clone()).merge(crate::raft_net::server::router(node.clone()));
    let server_shutdown = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { server_shutdown.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(cause = %e, "HTTP server stopped");
        }
    }));
    tasks.push(tokio::spawn(crate::bootstrap::run(node.clone(), shutdown.child_token())));
    tasks.push(tokio::spawn(crate::leader::supervisor::run(node.clone(), shutdown.child_token())));
    tasks.push(tokio::spawn(crate::metrics_poller::run(node.clone(), shutdown.child_token())));
    tracing::info!(node_id = node.id, %local_addr, advertise = %node.advertise, "master started");
    Ok(RunningMaster { node, local_addr, shutdown, tasks })
}

impl RunningMaster {
    /// Stops everything this master started, in reverse order, and waits for it.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        if let Err(e) = self.node.raft.shutdown().await {
            tracing::warn!(cause = %e, "raft shutdown");
        }
        for t in self.tasks.into_iter().rev() {
            let _ = t.await;
        }
        tracing::info!(node_id = self.node.id, "master stopped");
    }

    /// The cancellation token that stops this master.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

impl MasterNode {
    /// A copy of the current Raft metrics (role, term, leader, log positions, membership).
    pub fn metrics(&self) -> raft_store::typ::RaftMetrics {
        use openraft::type_config::async_runtime::WatchReceiver;
        self.raft.metrics().borrow_watched().clone()
    }
}

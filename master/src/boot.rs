//! The one composer of a master: store → Raft → routers → tasks, and the same in reverse on
//! shutdown. `main` and the tests start a master only through [`start`] / [`start_on`].
//!
//! Start order (each step may use what the steps before it built):
//!
//! 1. the store (`raft_store::open` on `<data_dir>/raft`) and the admin token file;
//! 2. Raft (`raft_net::client` as its network) and the [`Proposer`], then the [`MasterNode`];
//! 3. the HTTP server: the API router and the `/raft/*` router (with the membership routes
//!    of `cluster::membership`) on the bound listener;
//! 4. tasks: cluster formation (`cluster::bootstrap`), the leader supervisor with the
//!    leader-service table ([`leader_services`]), the slave metrics poller.
//!
//! [`RunningMaster::shutdown`] stops the tasks and the server in reverse order, each with its
//! own token, then Raft; everything shares one deadline ([`SHUTDOWN_DEADLINE`]) after which
//! what is still running is aborted, so a stuck task cannot hold a process exit forever.
//!
//! **Architecture Invariant:** this is the only module that names every part; the leader
//! supervisor gets the service table from here and never names a service itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use raft_store::typ::Raft;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::clock::OffsetClock;
use crate::config::ConfigError;
use crate::config::MasterConfig;
use crate::leader::Service;
use crate::node::MasterNode;
use crate::node::PeerOverrides;
use crate::propose::Proposer;
use crate::raft_net::client::NetworkFactory;
use crate::secrets::TokenFileError;

/// How long a whole shutdown may take before what is still running is aborted.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Every leader-only service, by name: the supervisor starts all of them for each term this
/// master leads (quorum-confirmed) and stops them when the term ends.
pub fn leader_services() -> Vec<(&'static str, Service)> {
    vec![
        ("slave-health", |ctx| Box::pin(crate::slaves::health::run(ctx))),
        ("egg-deployer", |ctx| Box::pin(crate::slaves::deployer::run(ctx))),
        ("job-collector", |ctx| Box::pin(crate::slaves::collector::run(ctx))),
        ("scheduler", |ctx| Box::pin(crate::scheduler::runtime::run(ctx))),
        ("alerter", |ctx| Box::pin(crate::alerter::run(ctx))),
    ]
}

/// One task of a running master, with the token that stops it.
struct Task {
    name: &'static str,
    token: CancellationToken,
    handle: JoinHandle<()>,
}

/// A master that is running; dropping it does not stop it, [`RunningMaster::shutdown`] does.
pub struct RunningMaster {
    pub node: Arc<MasterNode>,
    pub local_addr: SocketAddr,
    /// Parent of every task's token: cancelling it stops them all at once.
    shutdown: CancellationToken,
    /// In start order.
    tasks: Vec<Task>,
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
    #[error(transparent)]
    Token(#[from] TokenFileError),
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
    // 1. The store.
    let raft_config = Arc::new(config.openraft_config()?);
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| raft_store::Error::Io { path: config.data_dir.clone(), source })?;
    let (log, sm) = raft_store::open(&config.data_dir.join("raft"))?;
    let state = sm.handle();
    let admin_token = crate::secrets::admin_token(config.admin_token.as_ref(), &config.data_dir)?;

    let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let advertise = config.advertise.clone().unwrap_or_else(|| format!("http://{local_addr}"));

    // 2. Raft, the proposer, the node handle.
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
    let proposer = Proposer::new(
        raft.clone(),
        http.clone(),
        config.cluster_secret.clone(),
        Duration::from_millis(config.scheduler.propose_timeout_ms),
    );
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
        clock: Arc::new(OffsetClock::new(config.scheduler.debug_clock)),
        leader_contact: Default::default(),
        alerter_stall: Default::default(),
        config,
    });

    // 3. The routers on the listener.
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    let raft_routes = crate::raft_net::server::router(node.clone(), crate::cluster::membership::peer_routes());
    let app = crate::api::router(node.clone()).merge(raft_routes);
    let server_token = shutdown.child_token();
    let stop_serving = server_token.clone();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stop_serving.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(cause = %e, "HTTP server stopped");
        }
    });
    tasks.push(Task { name: "http-server", token: server_token, handle: server });

    // 4. The tasks.
    let mut spawn = |name: &'static str, run: &dyn Fn(CancellationToken) -> JoinHandle<()>| {
        let token = shutdown.child_token();
        tasks.push(Task { name, token: token.clone(), handle: run(token) });
    };
    spawn("bootstrap", &|t| tokio::spawn(crate::cluster::bootstrap::run(node.clone(), t)));
    spawn("leader-supervisor", &|t| tokio::spawn(crate::leader::supervisor::run(node.clone(), leader_services(), t)));
    spawn("metrics-poller", &|t| tokio::spawn(crate::slaves::poller::run(node.clone(), t)));
    tracing::info!(node_id = node.id, %local_addr, advertise = %node.advertise, "master started");
    Ok(RunningMaster { node, local_addr, shutdown, tasks })
}

impl RunningMaster {
    /// Stops everything this master started, in reverse start order — the tasks, the HTTP
    /// server, then Raft — within [`SHUTDOWN_DEADLINE`] in all; a part still running at the
    /// deadline is aborted (and logged).
    pub async fn shutdown(self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_DEADLINE;
        for mut task in self.tasks.into_iter().rev() {
            task.token.cancel();
            if tokio::time::timeout_at(deadline, &mut task.handle).await.is_err() {
                tracing::warn!(
                    node_id = self.node.id,
                    task = task.name,
                    "still running at the shutdown deadline: aborted"
                );
                task.handle.abort();
            }
        }
        self.shutdown.cancel();
        match tokio::time::timeout_at(deadline, self.node.raft.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(cause = %e, "raft shutdown"),
            Err(_) => tracing::warn!(node_id = self.node.id, "raft still running at the shutdown deadline"),
        }
        tracing::info!(node_id = self.node.id, "master stopped");
    }

    /// The cancellation token that stops every task of this master at once (Raft stops with
    /// [`RunningMaster::shutdown`] only).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

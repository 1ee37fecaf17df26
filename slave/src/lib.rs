//! spider-slave: a drop-in Scrapyd replacement that runs real Scrapy spiders.
//!
//! Layout (one role per module):
//! - `config`: typed configuration read like Scrapyd (`scrapyd.conf`, `SCRAPYD_*`).
//! - `api/`: the Scrapyd web services: routing and method rules (`mod`), `projects`, `jobs`.
//!   The wire rules they answer by (Python JSON, the envelope, parameters, version names, egg
//!   checks) are the shared `scrapyd_wire` crate's.
//! - `auth`: basic auth over every path.
//! - `html/`: the pages clients scrape (`/`, `/jobs`, directory listings).
//! - `static_files`: `/logs/…` and `/items/…` with Range support.
//! - `eggs`: egg storage (validation and version names: `scrapyd_wire`).
//! - `runner` (+ `runner.py`): the Python side: `scrapy list` and the crawl command line.
//! - `queue`, `jobs`, `journal`: pending queue, job book and its crash-safe journal.
//! - `launcher`, `procinfo`: starting, watching, signalling and re-adopting crawl processes.
//! - `outcome`, `exceptions`: what job logs say. `metrics`: host and job metrics.
//!
//! Architecture invariant: of the workspace crates, this one depends only on `scrapyd-wire`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod eggs;
pub mod error;
pub mod exceptions;
pub mod html;
pub mod jobs;
pub mod journal;
pub mod launcher;
pub mod metrics;
pub mod outcome;
pub mod procinfo;
pub mod queue;
pub mod runner;
pub mod static_files;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use error::{Error, Result};

/// Builds the whole HTTP application for `app`.
pub fn router(app: Arc<App>) -> Router {
    let limit =
        usize::try_from(app.config.max_egg_size.saturating_mul(3).saturating_add(1 << 20)).unwrap_or(usize::MAX);
    api::router(&app)
        .merge(html::router())
        .merge(static_files::router(&app))
        .merge(metrics::router(&app))
        .merge(exceptions::router())
        .fallback(html::not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), auth::guard))
        .layer(axum::middleware::from_fn(trace_request))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

pub use app::App;

/// One debug line per request (method, path, status, time). Headers are not logged, so
/// credentials never reach the log.
async fn trace_request(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(%method, path, status = resp.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    resp
}

/// Opens the job book (replaying the journal) and builds the shared state.
pub fn build_app(config: Config, shutdown: CancellationToken) -> Result<Arc<App>> {
    config.validate()?;
    let dir = (config.dbs_dir.as_os_str() != ":memory:").then(|| config.dbs_dir.clone());
    let lock = dir.as_deref().map(journal::lock_dir).transpose()?;
    let book = jobs::JobBook::open(dir.as_deref(), config.finished_to_keep)?;
    let app = Arc::new(App::new(config, book, shutdown));
    if let Ok(mut l) = app.dir_lock.lock() {
        *l = lock;
    }
    Ok(app)
}

/// Serves the slave on `listener` (and the Unix socket, if configured) until `shutdown`
/// completes. Crawl processes are left running and recorded, to be re-adopted by the next start.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let token = CancellationToken::new();
    let app = build_app(config, token.clone())?;
    serve(app, Some(listener), shutdown).await
}

/// Serves an already built [`App`] (see [`run`]).
pub async fn serve(
    app: Arc<App>,
    listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let token = app.shutdown.clone();
    let dispatcher = tokio::spawn(launcher::run(app.clone()));
    let relay = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        relay.cancel();
    });
    let mut servers = tokio::task::JoinSet::new();
    if let Some(l) = listener {
        let router = router(app.clone());
        let t = token.clone();
        servers.spawn(async move {
            axum::serve(l, router).with_graceful_shutdown(async move { t.cancelled().await }).await
        });
    }
    if let Some(path) = app.config.unix_socket_path.clone() {
        let _ = std::fs::remove_file(&path);
        let ul = tokio::net::UnixListener::bind(&path).map_err(|e| Error::io(format!("bind {}", path.display()), e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660));
        }
        let router = router(app.clone());
        let t = token.clone();
        servers.spawn(async move {
            axum::serve(ul, router).with_graceful_shutdown(async move { t.cancelled().await }).await
        });
    }
    while let Some(res) = servers.join_next().await {
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::io("serve", e)),
            Err(e) => tracing::error!(cause = %e, "server task failed"),
        }
    }
    token.cancel();
    let _ = dispatcher.await;
    if let Err(e) = app.book().compact() {
        tracing::warn!(cause = %e, "cannot compact the journal at shutdown");
    }
    if let Ok(mut l) = app.dir_lock.lock() {
        l.take();
    }
    Ok(())
}

//! `spider-slave`: parses the command line, sets up tracing, and runs the slave.

use std::path::PathBuf;

use clap::Parser;

/// A drop-in Scrapyd replacement that runs real Scrapy spiders.
#[derive(Debug, Parser)]
#[command(name = "spider-slave", version)]
struct Cli {
    /// Extra configuration file, read after the usual scrapyd.conf locations.
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Override `bind_address`.
    #[arg(long)]
    bind_address: Option<String>,
    /// Override `http_port`.
    #[arg(long)]
    http_port: Option<u16>,
    /// Override the Python interpreter that runs spiders (e.g. a venv's bin/python).
    #[arg(long, env = "SPIDER_SLAVE_PYTHON")]
    python: Option<PathBuf>,
    /// Override `eggs_dir`, `logs_dir`, `dbs_dir`, etc.: `--set key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    match start(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spider-slave: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn start(cli: Cli) -> slave::Result<()> {
    let mut config = slave::Config::load(cli.config.as_deref())?;
    if let Some(b) = cli.bind_address {
        config.bind_address = b;
    }
    if let Some(p) = cli.http_port {
        config.http_port = p;
    }
    if let Some(p) = cli.python {
        config.python = p;
    }
    for kv in &cli.set {
        let (k, v) =
            kv.split_once('=').ok_or_else(|| slave::Error::Config(format!("--set {kv}: expected KEY=VALUE")))?;
        config.set(k.trim(), v.trim())?;
    }
    config.validate()?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| slave::Error::io("start runtime", e))?;
    rt.block_on(async move {
        let listener = if config.bind_address.is_empty() {
            None
        } else {
            let addr = format!("{}:{}", config.bind_address, config.http_port);
            let l = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| slave::Error::io(format!("bind {addr}"), e))?;
            if let Ok(a) = l.local_addr() {
                tracing::info!(address = %a, node = %config.node_name, auth = config.auth_enabled(), "spider-slave listening");
                // Tests and scripts read this line to learn the port when http_port = 0.
                println!("spider-slave listening on http://{a}");
            }
            Some(l)
        };
        let app = slave::build_app(config, tokio_util::sync::CancellationToken::new())?;
        slave::serve(app, listener, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down; crawl processes keep running and will be re-adopted");
}

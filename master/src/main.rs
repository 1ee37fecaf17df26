//! `spider-master`: parses the command line, sets up logging, runs a master.

use std::path::PathBuf;

use clap::Parser;
use clap::Subcommand;
use master::config::MasterConfig;

#[derive(Parser)]
#[command(name = "spider-master", version, about = "A Raft replica of the spider-platform control plane")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a master from a TOML config file (see deploy/master.example.toml).
    Run {
        /// The config file.
        #[arg(long, env = "SPIDER_MASTER_CONFIG")]
        config: PathBuf,
        /// Overrides `node_id`.
        #[arg(long, env = "SPIDER_MASTER_NODE_ID")]
        node_id: Option<u64>,
        /// Overrides `listen`.
        #[arg(long, env = "SPIDER_MASTER_LISTEN")]
        listen: Option<std::net::SocketAddr>,
        /// Overrides `data_dir`.
        #[arg(long, env = "SPIDER_MASTER_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Overrides `cluster_secret` (prefer the environment: flags show in `ps`).
        #[arg(long, env = "SPIDER_CLUSTER_SECRET", hide_env_values = true)]
        cluster_secret: Option<String>,
    },
}

fn load(
    path: &PathBuf,
    node_id: Option<u64>,
    listen: Option<std::net::SocketAddr>,
    data_dir: Option<PathBuf>,
    secret: Option<String>,
) -> anyhow::Result<MasterConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut c = MasterConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(v) = node_id {
        c.node_id = v;
    }
    if let Some(v) = listen {
        c.listen = v;
    }
    if let Some(v) = data_dir {
        c.data_dir = v;
    }
    if let Some(v) = secret {
        c.cluster_secret = master::config::ClusterSecret(v);
    }
    c.validate()?;
    Ok(c)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run { config, node_id, listen, data_dir, cluster_secret } => {
            match load(&config, node_id, listen, data_dir, cluster_secret) {
                Err(e) => Err(e),
                Ok(cfg) => match master::boot::start(cfg).await {
                    Err(e) => Err(anyhow::anyhow!(e)),
                    Ok(running) => {
                        wait_for_signal().await;
                        running.shutdown().await;
                        Ok(())
                    }
                },
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spider-master: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

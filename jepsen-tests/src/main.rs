//! `jepsen-tests smoke --out DIR`: the short fault-injection set (needs root).

use std::path::PathBuf;

use clap::Parser;
use clap::Subcommand;

#[derive(Parser)]
#[command(name = "jepsen-tests", about = "Fault injection against a real spider-platform cluster")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Leader kill, leader pause, leader-in-minority partition; writes results.json and report.html.
    Smoke {
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Smoke { out } => match jepsen_tests::scenario::smoke(&out).await {
            Ok(r) => {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
                if r["valid"] == true {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("jepsen-tests: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

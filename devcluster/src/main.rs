//! `spider-up`: parses the command line and runs the dev cluster until Ctrl-C (see the crate doc).

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = devcluster::UpArgs::parse();
    match devcluster::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spider-up: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `jepsen-tests smoke --out DIR` (the short set) and
//! `jepsen-tests run --scenario NAME --seed N --time 30m --out DIR` (long seeded runs).
//! Both need root (network namespaces, iptables). Exit status 0 only when the verdict is valid.
//! Scenario names are parsed here, once ([`Scenario`]); the real slave's Python is looked for
//! here too ([`realslave::find_python`]), and its absence said before the run starts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use clap::Subcommand;
use jepsen_tests::realslave;
use jepsen_tests::scenario::RunConfig;
use jepsen_tests::scenario::Scenario;

#[derive(Parser)]
#[command(name = "jepsen-tests", about = "Fault injection against a real spider-platform cluster")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Leader kill, leader pause, leader-in-minority partition, each with the cron workload.
    /// The real spider-slave uses SPIDER_PYTHON, else $SPIDER_VENV/bin/python, else
    /// ~/.cache/spider-platform/venv/bin/python (the venv scripts/setup.sh makes).
    Smoke {
        #[arg(long)]
        out: PathBuf,
    },
    /// A long seeded run: the workload the whole time, fault windows of the scenario's kinds.
    Run {
        /// One fault kind: kill-leader, pause-leader, leader-minority, slave-5xx, slave-slow,
        /// slave-ambiguous, or any nemesis fault (kill-random, kill-all, pause-random,
        /// isolate-leader, leader-majority, majority-ring, bridge, one-way, proxy-delay[:ms],
        /// proxy-stall, proxy-drop-after[:bytes], clock-bump[:ms], clock-strobe[:ms:flips:period],
        /// membership-re-add[:leader]); a family (process, partition, proxy, clock, membership,
        /// slave: its kinds in seeded shuffled rounds); mixed (every kind), mixed-basic (the
        /// first six), or none (no faults).
        #[arg(long)]
        scenario: Scenario,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How long the workload runs: 90s, 5m, 30m, 1h.
        #[arg(long, default_value = "2m", value_parser = jepsen_tests::parse_duration)]
        time: Duration,
        #[arg(long)]
        out: PathBuf,
    },
    /// Judges a stored run again from its history.jsonl (rewrites results.json and report.html).
    Check {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn exit(results: anyhow::Result<serde_json::Value>) -> std::process::ExitCode {
    match results {
        Ok(r) => {
            let brief = serde_json::json!({
                "valid": r["valid"], "faults_injected": r["faults_injected"],
                "fires_checked": r["fires_checked"], "anomalies": r["anomalies"], "checkers": r["checkers"],
            });
            println!("{}", serde_json::to_string_pretty(&brief).unwrap_or_default());
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
    }
}

/// The real slave's Python, or `None` after saying on stderr why there is none and what follows.
fn python() -> Option<std::path::PathBuf> {
    match realslave::find_python() {
        Ok(p) => Some(p),
        Err(why) => {
            eprintln!(
                "jepsen-tests: {why}\njepsen-tests: the runs go on without a real spider-slave; its checker \
                 (real_slave) will say unknown, so the verdict cannot be valid"
            );
            None
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Smoke { out } => {
            python();
            exit(jepsen_tests::scenario::smoke(&out).await)
        }
        Cmd::Check { dir } => exit(jepsen_tests::scenario::recheck(&dir)),
        Cmd::Run { scenario, seed, time, out } => {
            let mut cfg = RunConfig::new(&scenario.name, scenario.faults, seed, time, &out);
            cfg.python = python();
            exit(jepsen_tests::scenario::run(&cfg).await)
        }
    }
}

//! cluster-harness (dev-only, `publish = false`): the one in-process cluster of masters that
//! master's integration tests and the scheduler bench share, so a change to how a master boots
//! or is waited on is made once.
//!
//! - [`cluster`]: [`TestCluster`] — `n` real masters in this process (temp dirs, listeners on
//!   port 0, fast test timings unless a tweak says otherwise), stop/restart on the same address,
//!   and the waits on their Raft metrics and state (one agreed leader, convergence, snapshots).
//! - [`http`]: authenticated `/api/v1` calls against one of its masters.
//! - [`stand_in`]: the recording stand-in slave — a tiny Scrapyd-compatible server that records
//!   when each `schedule.json` arrives — and its registration.
//! - [`wait`]: [`eventually`], the poll-until-true helper with a deadline that reports what it
//!   last saw (no test sleeps and hopes).
//! - [`smtp_sink`]: [`SmtpSink`] — a real SMTP server (aiosmtpd running `spider-up`'s
//!   `devcluster/src/mail_sink.py`) that stores each message; read back parsed as [`Mail`],
//!   waited for, stopped and started again on the same port.
//! - [`python`]: [`venv_python`], the project's Python (`SPIDER_PYTHON` or the setup venv).
//! - [`bench`]: what the benches share — percentiles, the process's CPU and disk counters,
//!   samples of the leader's log, proposals that wait out an election.
//!
//! Real-process clusters are not here: `spider-up` (crate `devcluster`) runs the real binaries,
//! and master's failover test reuses its layout and provisioning.
//!
//! The scheduler bench is this crate's example (`examples/sched_bench.rs`), not master's: it is
//! a client of this harness and of master's public API only, like the integration tests, so it
//! sits next to the harness it drives and the `master` crate holds no dev tooling of its own.
//!
//! Cargo allows the edge `master` (dev-dependency, integration tests only) → `cluster-harness`
//! → `master`: the tests link the one `master` library this crate was built against.

pub mod bench;
pub mod cluster;
pub mod http;
pub mod python;
pub mod smtp_sink;
pub mod stand_in;
pub mod wait;

pub use cluster::*;
pub use http::*;
pub use python::venv_python;
pub use smtp_sink::Mail;
pub use smtp_sink::SmtpSink;
pub use wait::eventually;

static TRACING: std::sync::Once = std::sync::Once::new();

/// Installs a `warn` (or `RUST_LOG`) subscriber writing to the test's captured output, once per
/// process; a subscriber installed earlier (a bench's own) is kept.
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

//! devcluster: `spider-up`, a local dev cluster in the foreground — 3 masters (the real
//! `spider-master run --config`), 2 real `spider-slave`s, a demo site served in-process, the demo
//! project deployed through the API and a demo schedule, an SMTP sink that stores alert mail in
//! `<dir>/mail/` with demo alert rules sending there; `<dir>/cluster.json` says where everything
//! is. `scripts/up.sh` builds and execs it.
//!
//! - [`args`]: the command line.
//! - [`bins`]: where the real `spider-master` and `spider-slave` executables are.
//! - [`layout`]: the data dir, its ports, secrets and master configs (reused across restarts), and
//!   the command lines of the masters, the slaves and the SMTP sink (`mail_sink.py`).
//! - [`venv`]: the slaves' Python with Scrapy (and aiosmtpd for the SMTP sink).
//! - [`processes`]: children in their own process groups, reported when they exit, stopped together.
//! - [`demo`]: the demo site and egg.
//! - [`provision`]: the API calls (idempotent), demo alerting included.
//! - [`report`]: `cluster.json` and the printed summary.
//! - [`run`]: start-up in order, then the foreground wait and the stop.
//!
//! Architecture Invariant: this crate drives the masters as a user would — child processes and
//! their HTTP API. From the `master` crate it uses the config types only (to write each master's
//! TOML); it never links a master in-process (that is `cluster-harness`, for tests and benches).
//! The library half exists so that master's real-process failover test can reuse the layout,
//! the demo egg and the provisioning calls.

pub mod args;
pub mod bins;
pub mod demo;
pub mod layout;
pub mod processes;
pub mod provision;
pub mod report;
pub mod run;
pub mod venv;

pub use args::UpArgs;
pub use run::run;

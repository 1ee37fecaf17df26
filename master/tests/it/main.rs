//! master integration tests: real masters in this process on loopback ports, temp dirs (the
//! shared `cluster-harness`, re-exported by `fixtures`); real spider-slaves (in-process) and
//! real Scrapyd (child process) as workers.

mod alerts;
mod alerts_api;
mod alerts_fleet;
mod api_input;
mod cluster;
mod fixtures;
mod run_now_and_cancel;
mod sched_runtime;
mod schedules;
mod slaves;
mod workers;

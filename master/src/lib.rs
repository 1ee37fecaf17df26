//! spider-master: one replica of the spider-platform control plane.
//!
//! - [`boot`]: the one composer — store → Raft → routers → tasks, and shutdown in reverse
//!   (`start` / `start_on` are shared by `main` and the tests).
//! - [`node`]: `MasterNode`, the handle every handler and service shares.
//! - [`config`]: `MasterConfig`, validated once at start-up; [`clock`]: the wall clock;
//!   [`secrets`]: the secret type, its constant-time comparison, the admin token file.
//! - [`propose`]: getting a command into the log from any master (forwarding), and
//!   linearizable reads.
//! - [`raft_net`]: Raft between masters over HTTP, authenticated with the cluster secret.
//! - [`cluster`]: forming a fresh cluster, membership changes, the state digest.
//! - [`api`]: the HTTP front door (`/api/v1`, `/healthz`, `/leader`, `/`): routing, extraction,
//!   error mapping.
//! - [`ops`]: the operations every front door shares (no HTTP inside).
//! - [`views`]: domain → wire shapes, the only serde face of `raft_store` types.
//! - [`auth`]: bearer tokens → `Principal`, and the one route → role table.
//! - [`leader`]: the leader-service framework — supervisor, the term's capability, the
//!   batching committer.
//! - [`scheduler`]: the cron scheduler (pure planner + the leader service that fires).
//! - [`slaves`]: the Scrapyd client, per-master slave metrics, and the leader services that
//!   watch and drive the slaves (health, deployer, collector).
//!
//! Layering (no import cycles; the unit test `layering_test` checks it over these sources): `node` imports only
//! `config`, `clock`, `secrets`, `propose`, `slaves::{client, metrics}`; `leader` imports
//! `node` and names no service; services (`scheduler`, `slaves::{health, deployer,
//! collector}`) import `leader`, `node`, `slaves::client` and raft-store, never `api`;
//! front doors (`api`) call `ops` and `views`; `raft_net` names no service and no front door;
//! only `boot` names them all.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod alerter;
pub mod api;
pub mod auth;
pub mod boot;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod leader;
pub mod node;
pub mod ops;
pub mod propose;
pub mod raft_net;
pub mod scheduler;
pub mod secrets;
pub mod slaves;
pub mod views;

pub use boot::start;
pub use boot::start_on;

#[cfg(test)]
mod layering_test;

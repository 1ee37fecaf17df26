//! spider-master: one replica of the spider-platform control plane.
//!
//! - [`config`]: `MasterConfig`, validated once at start-up.
//! - [`node`]: boot and shutdown (`start` is shared by `main` and the tests).
//! - [`raft_net`]: Raft between masters over HTTP, authenticated with the cluster secret.
//! - [`bootstrap`]: forming a fresh cluster.
//! - [`propose`]: getting a command into the log from any master (forwarding), and
//!   linearizable reads.
//! - [`api`]: the HTTP front door (`/api/v1`, `/healthz`, `/leader`, `/`): routing, extraction,
//!   error mapping.
//! - [`ops`]: the operations every front door shares (no HTTP inside).
//! - [`views`]: domain → wire shapes, the only serde face of `raft_store` types.
//! - [`auth`]: bearer tokens → `Principal`, and the one route → role table.
//! - [`leader`]: leader-only services and their supervisor.
//! - [`scheduler`]: the cron planner (pure) for the leader.
//! - [`cron_eval`]: cron expressions and time zones (Unix semantics, DST rules) behind the planner.
//! - [`slave_client`]: the Scrapyd API as the masters use it (spider-slave and real Scrapyd).
//! - [`metrics_poller`]: every master's in-memory metrics series of every slave.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod cron_eval;
pub mod leader;
pub mod metrics_poller;
pub mod node;
pub mod ops;
pub mod propose;
pub mod raft_net;
pub mod scheduler;
pub mod slave_client;
pub mod views;

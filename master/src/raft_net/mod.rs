//! Raft between masters over HTTP: `client` implements openraft's network traits with
//! reqwest (and asks peers for their clocks), `server` answers `/raft/*` with axum, `auth`
//! checks the cluster secret.
//!
//! Every RPC carries `Authorization: Bearer <cluster secret>`; every call is bounded by a
//! deadline (openraft's `RPCOption` TTL), so a partition that swallows a response cannot wedge
//! replication. Snapshots travel as one binary body (they carry eggs: megabytes).
//!
//! This module names no service and no front door: routes that belong to another part (the
//! membership changes of `cluster::membership`) are handed to [`server::router`] by `boot`.

pub mod auth;
pub mod client;
pub mod server;

use serde::Deserialize;
use serde::Serialize;

/// What `GET /raft/clock` answers: a master's scheduler clock, for a leader's clock check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockReading {
    pub node_id: u64,
    /// The master's scheduler "now" (its wall clock plus any debug offset), Unix ms.
    pub clock_ms: i64,
}

/// Frames a snapshot transfer body: u32 BE length of the JSON `(vote, meta)`, the JSON, then
/// the snapshot bytes.
pub(crate) fn frame_snapshot(meta_json: &[u8], snapshot: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(4 + meta_json.len() + snapshot.len());
    body.extend_from_slice(&(meta_json.len() as u32).to_be_bytes());
    body.extend_from_slice(meta_json);
    body.extend_from_slice(snapshot);
    body
}

/// Splits a body made by [`frame_snapshot`]; `None` if it is malformed.
pub(crate) fn unframe_snapshot(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let meta = body.get(4..4usize.checked_add(len)?)?;
    Some((meta, &body[4 + len..]))
}

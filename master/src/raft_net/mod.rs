//! Raft between masters over HTTP: `client` implements openraft's network traits with
//! reqwest, `server` answers `/raft/*` with axum, `auth` checks the cluster secret.
//!
//! Every RPC carries `Authorization: Bearer <cluster secret>`; every call is bounded by a
//! deadline (openraft's `RPCOption` TTL), so a partition that swallows a response cannot wedge
//! replication. Snapshots travel as one binary body (they carry eggs: megabytes).

pub mod auth;
pub mod client;
pub mod server;

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

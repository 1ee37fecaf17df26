//! The cron scheduler (issue 5), run by the leader.
//!
//! Split as a sans-I/O planner and a runtime (openraft's engine/runtime split):
//! [`plan`] turns the replicated state and "now" into a list of [`plan::Action`]s — pure,
//! unit- and property-tested against `raft_store::apply`. The runtime (proposing the actions
//! through Raft, then dispatching) builds on it.

pub mod plan;

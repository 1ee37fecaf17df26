//! The cron scheduler (issue 5), run by the leader.
//!
//! Split as a sans-I/O planner and a runtime (openraft's engine/runtime split):
//! [`plan`] turns the replicated state and "now" into a list of [`plan::Action`]s — pure,
//! unit- and property-tested against `raft_store::apply`. [`runtime`] is the leader service
//! that commits those actions through Raft and then has [`dispatch`] deliver the accepted fires
//! to slaves; [`reconcile`] settles a previous leader's unfinished fires first; [`clock`] is the
//! only source of "now".

pub mod agenda;
pub mod clock;
pub mod clock_guard;
pub mod dispatch;
pub mod outcomes;
pub mod plan;
pub mod reconcile;
pub mod runtime;

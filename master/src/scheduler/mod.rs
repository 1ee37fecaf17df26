//! The cron scheduler (issue 5), a leader service.
//!
//! Split as a sans-I/O planner and a runtime (openraft's engine/runtime split):
//!
//! - pure: [`cron`] (what a stored trigger means: cron expressions, time zones, DST),
//!   [`plan`] (schedules + "now" → fire/skip/cancel actions, property-tested against
//!   `raft_store::apply`), [`agenda`] (each schedule's next due tick, kept incrementally),
//!   [`ledger`] (the reads of the fire ledger and the cancel requests), [`placement`] (which
//!   slave a fire may go to);
//! - I/O: [`runtime`] (the leader service's loop: plan → commit → dispatch), [`dispatch`]
//!   (everything said to a slave about a job, and committing its outcome), [`reconcile`] (a new
//!   leader settles its predecessors' unfinished fires first), [`clock_guard`] (no planning on
//!   a clock that jumped or disagrees with the peers);
//! - [`clock`]: the scheduler's only source of "now".
//!
//! Built on the leader framework (`leader::term`, `leader::committer`); imports no front door.

pub mod agenda;
pub mod clock;
pub mod clock_guard;
pub mod cron;
pub mod dispatch;
pub mod ledger;
pub mod placement;
pub mod plan;
pub mod reconcile;
pub mod runtime;

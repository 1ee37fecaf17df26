//! Debug aids for the fault-injection suite. Each exists only when the configuration enables it.

use super::OpsError;
use crate::auth::Principal;
use crate::node::MasterNode;
use crate::scheduler::clock::Clock;

/// Largest accepted clock offset: a year either way.
pub const MAX_OFFSET_MS: i64 = 366 * 24 * 3600 * 1000;

/// The scheduler clock after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockState {
    pub offset_ms: i64,
    /// The scheduler's "now", Unix ms.
    pub now_ms: i64,
}

/// Whether this master's scheduler clock may be shifted (`[scheduler] debug_clock = true`).
pub fn clock_adjustable(node: &MasterNode) -> bool {
    node.clock.adjustable()
}

/// Shifts this master's scheduler clock by `offset_ms` from the system clock. `NotFound` when
/// the debug clock is off (as if the operation did not exist).
pub fn set_clock_offset(node: &MasterNode, offset_ms: i64, by: &Principal) -> Result<ClockState, OpsError> {
    let absent = || OpsError::NotFound("/api/v1/debug/clock".into());
    if !clock_adjustable(node) {
        return Err(absent());
    }
    if offset_ms.abs() > MAX_OFFSET_MS {
        return Err(OpsError::invalid("offset_ms", format!("must be within ±{MAX_OFFSET_MS} ms")));
    }
    node.clock.set_offset_ms(offset_ms).map_err(|_| absent())?;
    tracing::warn!(node_id = node.id, offset_ms, by = %by.username, "scheduler clock offset set (debug)");
    Ok(ClockState { offset_ms: node.clock.offset_ms(), now_ms: node.clock.now_ms() })
}

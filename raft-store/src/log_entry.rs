//! `LogEntry`: the application payload of a Raft log entry.

use std::fmt;

use serde::Deserialize;
use serde::Serialize;

use crate::command::Command;

/// A command stamped by the leader that proposed it.
///
/// `proposed_at_ms` is the only notion of time `apply` has: the proposing leader's wall clock
/// (Unix ms) when it proposed. Every replica applies the same stamp, so derived times (created,
/// updated, decided) are identical everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub proposed_at_ms: u64,
    pub command: Command,
}

impl LogEntry {
    pub fn new(proposed_at_ms: u64, command: Command) -> Self {
        Self { proposed_at_ms, command }
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @{}", self.command, self.proposed_at_ms)
    }
}

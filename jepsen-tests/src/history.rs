//! What the harness observed: per-master role/term/leader samples and nemesis events, with
//! times relative to the run's start. Written as JSON lines next to the results.

use serde::Deserialize;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A master answered `/healthz`.
    Observed { at_ms: u64, node: u8, state: String, term: u64, leader: Option<u64>, applied: Option<u64> },
    /// A fault was installed (`installed: true`) or could not be (`false`).
    Fault { at_ms: u64, kind: String, target: u8, installed: bool },
    /// A fault was removed.
    Healed { at_ms: u64, kind: String, target: u8 },
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct History {
    pub events: Vec<Event>,
}

//! raft-store integration tests: one binary, one module per concern.

mod bad_input;
mod conformance;
mod durability;
mod fixtures;
mod golden;
mod properties;

//! master integration tests: real masters in this process on loopback ports, temp dirs.

mod cluster;
mod fixtures;

//! The masters as a group: forming a fresh cluster ([`bootstrap`]), adding and removing masters
//! at runtime ([`membership`]), and the digest of what this master applied ([`digest`]).
//!
//! Front doors call these; `raft_net` gets [`membership::peer_routes`] from `boot` and never
//! names this module.

pub mod bootstrap;
pub mod digest;
pub mod membership;

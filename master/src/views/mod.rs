//! Wire shapes of `/api/v1` answers: domain (`raft_store` state, `ops` results) → JSON DTOs.
//! This is the ONLY serde face of `raft_store` types toward clients: a change to how state is
//! stored changes no answer unless a view is changed too.
//!
//! - [`schedules`]: `ScheduleView` (spec, next fire times), trigger/misfire/overlap bodies (also
//!   read by requests), `RunNow`.
//! - [`fires`]: `FireView`, the fire history.
//! - [`jobs`]: `JobView`, `JobStateView` (also the `?state=` filter).
//! - [`nodes`]: `NodeView` (never the password).
//! - [`projects`]: `ProjectView`, `VersionView`, `DeploymentView`.
//! - [`cluster`]: `ClusterInfo`, `Member`, `StateDigest`, `HealthView`.
//! - [`alerts`]: `AlertView` (the ledger), `DeliveryView`, channels (secrets as `***`), rules,
//!   silences, thresholds.
//!
//! **Invariant:** field names and order are what clients read today; each view has a test
//! pinning its JSON text.

pub mod alerts;
pub mod cluster;
pub mod fires;
pub mod jobs;
pub mod nodes;
pub mod projects;
pub mod schedules;

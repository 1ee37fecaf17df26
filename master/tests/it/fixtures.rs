//! The test cluster of masters and the waits, from the shared harness (crate `cluster-harness`,
//! also used by the scheduler bench), under the name these tests import.

pub use cluster_harness::api;
pub use cluster_harness::call;
pub use cluster_harness::config;
pub use cluster_harness::eventually;
pub use cluster_harness::now_ms;
pub use cluster_harness::TestCluster;
pub use cluster_harness::ADMIN;
pub use cluster_harness::SECRET;

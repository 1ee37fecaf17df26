//! The alerting endpoints (the operations are `ops::alerts`, the answers `views::alerts`):
//!
//! - [`ledger`]: `/alerts` (list with filters and paging, one with its deliveries, ack,
//!   resolve) and `/alert-deliveries`.
//! - [`channels`]: `/channels` (create or replace with `PUT`, secrets write-only) and the test
//!   send `/channels/{name}/test`.
//! - [`config`]: `/alert-rules`, `/silences`, `/spider-thresholds`.
//!
//! Alert ids hold `:` (`node:s1:down:1733300000000`, `failover:term-7`): a path segment takes
//! them as they are, or percent-encoded.

pub mod channels;
pub mod config;
pub mod ledger;

use super::routing::Routes;

pub fn routes() -> Routes {
    Routes::new().merge(ledger::routes()).merge(channels::routes()).merge(config::routes())
}

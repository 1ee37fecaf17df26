//! Alerting: what the alert engine decided (the ledger of alerts and their deliveries), and the
//! configuration an operator changes at runtime — channels, routing rules, silences, and the
//! spider-error thresholds of projects and schedules.
//!
//! - [`ledger`]: alerts (list with filters and paging, one with its deliveries, ack, resolve),
//!   the delivery log, and the summary `/cluster` shows.
//! - [`channels`]: channels (secrets kept across a read-edit-write, removed when left out) and
//!   the test send, run on this master through the alerter's own pipeline.
//! - [`rules`], [`silences`], [`thresholds`]: the rest of the configuration.
//!
//! Every write is validated here with the `alerts` crate's own checks before it is proposed, so
//! bad input is refused with its field and never reaches the log; `apply` checks again (it is
//! the authority: another write may have landed in between) and its refusal maps through
//! [`OpsError::from_rejection`].

pub mod channels;
pub mod ledger;
pub mod rules;
pub mod silences;
pub mod thresholds;

use alerts::config::ConfigError;

use super::OpsError;

impl From<ConfigError> for OpsError {
    fn from(e: ConfigError) -> Self {
        OpsError::Invalid { field: e.field, message: e.message }
    }
}

/// The page size asked for: `limit` (default `default`), 1 to `max`.
fn page_size(limit: Option<usize>, default: usize, max: usize) -> Result<usize, OpsError> {
    match limit.unwrap_or(default) {
        n if n == 0 || n > max => Err(OpsError::invalid("limit", format!("must be between 1 and {max}"))),
        n => Ok(n),
    }
}

/// "Now" of an alerting request, Unix ms.
fn now_ms() -> u64 {
    crate::clock::WallClock::now_ms()
}

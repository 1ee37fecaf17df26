//! Alerting for spider-platform: what happened, whether to tell someone, how to say it, how to deliver it.
//!
//! The crate is self-contained (it depends on no other workspace crate). The master drives it from a
//! leader service and commits its decisions through Raft; everything that decides is pure (time comes in
//! as Unix ms), everything that does IO is a plain async function with a typed error.
//!
//! Layout:
//! - `event`: the closed [`event::AlertEvent`] enum, severities, labels, the deterministic alert id.
//! - `scrapy_log`: ERROR/CRITICAL count, last lines and the stats dict of a Scrapy log.
//! - `spider_error`: the pure "is this finished job a spider error" decision.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod event;
pub mod scrapy_log;
pub mod spider_error;

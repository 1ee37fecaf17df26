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
//! - `config`: channels, rules, inhibition rules; validation errors that name the field.
//! - `route`: rules (kinds + label filter → channels, streak policy, group-by, timers).
//! - `silence`: silences and inhibition rules (pure predicates).
//! - `group`: [`group::AlertState::step`], the deterministic decision state machine.
//! - `delivery`: the per-channel delivery log: rate limit, retries with backoff, give-up, uncertain resends.
//! - `render`: subject/text/HTML from minijinja templates, operator overrides, digests.
//! - `sample`: sample events of every kind (template validation, "send test").
//! - `smtp`, `webhook`: the two senders. `secret`: the write-only secret type.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod config;
pub mod delivery;
pub mod event;
pub mod group;
pub mod render;
pub mod route;
pub mod sample;
pub mod scrapy_log;
pub mod secret;
pub mod silence;
pub mod smtp;
pub mod spider_error;
pub mod webhook;

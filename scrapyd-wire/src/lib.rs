//! scrapyd-wire: Scrapyd's wire rules, written once for every crate that speaks Scrapyd.
//!
//! spider-slave serves the Scrapyd API with these rules; spider-master uses them to talk to slaves
//! (version names) and to check uploads (eggs), and its Scrapyd facade will answer with them.
//!
//! Layout (one rule per module):
//! - `pyjson`: an ordered JSON value written byte for byte like Python's `json.dumps`.
//! - `envelope`: Scrapyd's answer: key order, `status`/`node_name`, HTTP 200 errors, trailing
//!   newline, CORS headers, OPTIONS; [`envelope::Verb`], an endpoint's method rule.
//! - `params`: request parameters the way Twisted's `request.args` sees them (query,
//!   urlencoded, multipart; first value wins except where every value is asked for).
//! - `versions`: version sanitising, Scrapyd's "latest" order, the one-path-component guard.
//! - `egg`: egg validation (size, ZIP, ZIP bombs, names, the `scrapy` → `settings` entry point)
//!   with a typed [`egg::EggError`], and [`egg::EggBuilder`], the one way code and tests build
//!   an egg.
//!
//! Errors are typed per rule ([`params::ParamError`], [`egg::EggError`],
//! [`versions::DirectoryTraversal`]); each caller maps them to its own error type and wording.
//!
//! Architecture invariant: depends on no workspace crate, holds no state and does no I/O beyond
//! the request body it is handed and the files [`egg::EggBuilder::dir`] is pointed at.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod egg;
pub mod envelope;
pub mod params;
pub mod pyjson;
pub mod versions;

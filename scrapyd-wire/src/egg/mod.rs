//! Eggs: `check` decides whether bytes are a Scrapy egg within limits ([`validate`]),
//! `build` makes one ([`EggBuilder`]).

mod build;
mod check;

pub use build::EggBuilder;
pub use check::{settings_module, validate, CheckedEgg, EggError, EggLimits, ENTRY_POINTS};

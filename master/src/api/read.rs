//! Old home of the name rule, kept so callers outside `api` that still name this path
//! (`up::demo`) build; the rule is `ops::names`. Remove once they use `ops::check_name`.

pub use crate::ops::check_name;

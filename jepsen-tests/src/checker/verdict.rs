//! A checker's answer ([`Verdict`]: valid, invalid or unknown, with the evidence in words) and
//! how several combine ([`overall`]). Every checker module returns these; none imports another
//! checker to do so.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `true`, `false`, or `null` (unknown: the fault it needed never happened).
    pub valid: Option<bool>,
    pub details: String,
}

impl Verdict {
    pub fn valid(details: impl Into<String>) -> Self {
        Verdict { valid: Some(true), details: details.into() }
    }

    pub fn invalid(details: impl Into<String>) -> Self {
        Verdict { valid: Some(false), details: details.into() }
    }

    pub fn unknown(details: impl Into<String>) -> Self {
        Verdict { valid: None, details: details.into() }
    }
}

/// `false` if any verdict is invalid, else `None` if any is unknown, else `true`.
pub fn overall<'a>(vs: impl IntoIterator<Item = &'a Verdict>) -> Option<bool> {
    let mut out = Some(true);
    for v in vs {
        match v.valid {
            Some(false) => return Some(false),
            None => out = None,
            Some(true) => {}
        }
    }
    out
}

/// The first eight of `v`, comma separated, and how many more (for a verdict's details).
pub(crate) fn list<T: std::fmt::Display>(v: &[T]) -> String {
    let shown: Vec<String> = v.iter().take(8).map(|x| x.to_string()).collect();
    let more = if v.len() > 8 { format!(" and {} more", v.len() - 8) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

//! The crate's one error type, [`Error`], and how it reads in a Scrapyd envelope.
//!
//! Scrapyd answers API errors with HTTP 200 and a `message`; the text of each variant is the exact
//! message Scrapyd gives (see SCRAPYD-API.md §1 "Error message forms"). Variants that Scrapyd
//! reports as `"<ExceptionClass>: <str>"` carry that prefix in their `Display`. The shared wire
//! rules' typed errors (`scrapyd_wire`: parameters, eggs, path components) become variants here,
//! worded as Scrapyd words them, and [`Error::envelope`] is the one way an error is answered.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::Response;
use scrapyd_wire::egg::EggError;
use scrapyd_wire::envelope::{self, Verb};
use scrapyd_wire::params::ParamError;
use scrapyd_wire::versions::DirectoryTraversal;

/// Everything that can go wrong in the slave, from request parsing to process spawning.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required request parameter is absent.
    #[error("'{0}' parameter is required")]
    MissingParam(String),
    /// A parameter could not be decoded or converted (UTF-8, float).
    #[error("{name} is invalid: {reason}")]
    InvalidParam { name: String, reason: String },
    #[error("project '{0}' not found")]
    ProjectNotFound(String),
    #[error("version '{0}' not found")]
    VersionNotFound(String),
    #[error("spider '{0}' not found")]
    SpiderNotFound(String),
    #[error("egg is not a ZIP file (if using curl, use egg=@path not egg=path)")]
    NotAZip,
    /// A name that would escape its directory (`../p`, `a/b`, empty).
    #[error("DirectoryTraversalError: {0}")]
    DirectoryTraversal(String),
    /// The egg is larger than `max_egg_size`, or expands past the ZIP-bomb limits.
    #[error("EggTooLargeError: {0}")]
    EggTooLarge(String),
    /// The egg is a ZIP but not a usable Scrapy egg (no `scrapy` → `settings` entry point, corrupt).
    #[error("BadEggError: {0}")]
    BadEgg(String),
    /// `scrapy list` failed; carries its stderr (or stdout).
    #[error("RunnerError: {0}")]
    Runner(String),
    /// A `setting` value without `=`, worded like Python's `dict()` failure.
    #[error("ValueError: dictionary update sequence element #{0} has length 1; 2 is required")]
    SettingWithoutEquals(usize),
    /// An unknown signal name for cancel.
    #[error("ValueError: invalid signal '{0}'")]
    InvalidSignal(String),
    #[error("UnsupportedMethod: Expected one of {0}")]
    UnsupportedMethod(&'static str),
    #[error("OSError: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration error: {0}")]
    Config(String),
    #[error("journal error in {path}: {reason}")]
    Journal { path: PathBuf, reason: String },
}

impl Error {
    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }

    /// The Scrapyd error answer for this error (HTTP 200). Failures of our own (I/O, the
    /// journal) are logged here, once; the client's mistakes are not.
    pub fn envelope(&self, node_name: &str, verb: Verb) -> Response<Body> {
        if matches!(self, Error::Io { .. } | Error::Journal { .. }) {
            tracing::error!(cause = %self, "request failed");
        }
        envelope::error(node_name, &self.to_string(), verb)
    }
}

impl From<ParamError> for Error {
    fn from(e: ParamError) -> Self {
        match e {
            ParamError::Missing(name) => Error::MissingParam(name),
            ParamError::Invalid { name, reason } => Error::InvalidParam { name, reason },
            ParamError::BodyRejected(reason) => Error::EggTooLarge(format!("request body rejected: {reason}")),
        }
    }
}

impl From<DirectoryTraversal> for Error {
    fn from(e: DirectoryTraversal) -> Self {
        Error::DirectoryTraversal(e.0)
    }
}

/// Scrapyd's wording of a refused egg (`max_egg_size` / `max_egg_unpacked` name our settings).
impl From<EggError> for Error {
    fn from(e: EggError) -> Self {
        match e {
            EggError::TooLarge { size, limit } => {
                Error::EggTooLarge(format!("egg is {size} bytes, the limit is {limit} bytes (max_egg_size)"))
            }
            EggError::NotAZip(_) => Error::NotAZip,
            EggError::ZipBomb { limit, .. } => Error::EggTooLarge(format!(
                "egg expands to more than {limit} bytes (max_egg_unpacked); refusing a possible ZIP bomb"
            )),
            EggError::TooManyEntries { entries, limit } => {
                Error::EggTooLarge(format!("egg has {entries} members, the limit is {limit}"))
            }
            EggError::NoEntryPoints => {
                Error::BadEgg("egg has no EGG-INFO/entry_points.txt with a [scrapy] settings entry point".into())
            }
            e @ (EggError::DamagedEntry { .. }
            | EggError::EscapingEntry(_)
            | EggError::UnreadableEntryPoints(_)
            | EggError::NoSettings) => Error::BadEgg(e.to_string()),
        }
    }
}

/// The crate's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_errors_read_as_scrapyd_words_them() {
        let cases: [(Error, &str); 8] = [
            (ParamError::Missing("project".into()).into(), "'project' parameter is required"),
            (ParamError::BodyRejected("length limit exceeded".into()).into(), "EggTooLargeError: request body rejected: length limit exceeded"),
            (DirectoryTraversal("../p".into()).into(), "DirectoryTraversalError: ../p"),
            (EggError::NotAZip("invalid Zip archive".into()).into(), "egg is not a ZIP file (if using curl, use egg=@path not egg=path)"),
            (EggError::TooLarge { size: 102400, limit: 65536 }.into(), "EggTooLargeError: egg is 102400 bytes, the limit is 65536 bytes (max_egg_size)"),
            (EggError::ZipBomb { unpacked: 5 << 20, limit: 1 << 20 }.into(), "EggTooLargeError: egg expands to more than 1048576 bytes (max_egg_unpacked); refusing a possible ZIP bomb"),
            (EggError::NoEntryPoints.into(), "BadEggError: egg has no EGG-INFO/entry_points.txt with a [scrapy] settings entry point"),
            (EggError::NoSettings.into(), "BadEggError: EGG-INFO/entry_points.txt has no 'settings' entry point in group [scrapy]"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        let damaged: Error = EggError::DamagedEntry { index: 3, reason: "x".into() }.into();
        assert_eq!(damaged.to_string(), "BadEggError: corrupt ZIP member #3: x");
    }
}

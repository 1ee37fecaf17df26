//! The crate's one error type, [`Error`], and how it reads in a Scrapyd envelope.
//!
//! Scrapyd answers API errors with HTTP 200 and a `message`; the text of each variant is the exact
//! message Scrapyd gives (see SCRAPYD-API.md §1 "Error message forms"). Variants that Scrapyd
//! reports as `"<ExceptionClass>: <str>"` carry that prefix in their `Display`.

use std::path::PathBuf;

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
}

/// The crate's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

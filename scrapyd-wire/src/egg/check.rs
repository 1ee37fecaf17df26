//! Egg validation: is an upload a Scrapy egg we can run, within the caller's limits?
//!
//! Checked in memory, without unpacking, in this order: the size, that it is a ZIP, the number
//! of members, then each member (readable, no name that escapes the egg), the total unpacked
//! size (ZIP bombs: the members' declared sizes, summed), and last the `scrapy` → `settings`
//! entry point in `EGG-INFO/entry_points.txt`. The first failure is returned as an
//! [`EggError`]; spider-slave words it as Scrapyd does, spider-master as its API does.

use std::io::{Cursor, Read};

/// Where an egg declares its entry points.
pub const ENTRY_POINTS: &str = "EGG-INFO/entry_points.txt";

/// At most this much of `entry_points.txt` is read: its declared size may lie.
const ENTRY_POINTS_READ_LIMIT: u64 = 1024 * 1024;

/// Limits applied to an egg; each caller takes its own from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EggLimits {
    /// Largest accepted egg in bytes.
    pub max_size: u64,
    /// Largest total uncompressed size of all members.
    pub max_unpacked: u64,
    /// Most members (`usize::MAX`: no limit, as in Scrapyd).
    pub max_entries: usize,
}

/// What validation learned about an accepted egg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEgg {
    /// The module named by `[scrapy] settings = …`.
    pub settings_module: String,
    /// Number of ZIP members.
    pub entries: usize,
    /// Sum of the members' uncompressed sizes.
    pub unpacked: u64,
}

/// Why an egg was refused. `Display` is a plain description; callers with a contract on the
/// wording map the variants themselves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EggError {
    /// Larger than [`EggLimits::max_size`].
    #[error("egg is {size} bytes, the limit is {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    /// Not a ZIP archive; carries the ZIP reader's reason.
    #[error("egg is not a ZIP file: {0}")]
    NotAZip(String),
    /// More members than [`EggLimits::max_entries`].
    #[error("egg has {entries} entries, at most {limit}")]
    TooManyEntries { entries: usize, limit: usize },
    /// A member that cannot be read (corrupt header, unsupported compression, encrypted).
    #[error("corrupt ZIP member #{index}: {reason}")]
    DamagedEntry { index: usize, reason: String },
    /// A member whose name is absolute or has a `..` component.
    #[error("entry {0:?} escapes the egg")]
    EscapingEntry(String),
    /// The members' uncompressed sizes sum past [`EggLimits::max_unpacked`].
    #[error("egg unpacks to {unpacked} bytes, more than {limit}")]
    ZipBomb { unpacked: u64, limit: u64 },
    /// No `EGG-INFO/entry_points.txt`.
    #[error("egg has no {ENTRY_POINTS}")]
    NoEntryPoints,
    /// `EGG-INFO/entry_points.txt` could not be read as UTF-8 text.
    #[error("unreadable {ENTRY_POINTS}: {0}")]
    UnreadableEntryPoints(String),
    /// `EGG-INFO/entry_points.txt` has no `settings` entry in group `[scrapy]`.
    #[error("{ENTRY_POINTS} has no 'settings' entry point in group [scrapy]")]
    NoSettings,
}

/// Reads the settings module from an egg's `entry_points.txt` (`[scrapy] settings = m`; an
/// `m:attr` form names module `m`).
pub fn settings_module(entry_points: &str) -> Option<String> {
    let mut in_scrapy = false;
    for line in entry_points.lines() {
        let t = line.trim();
        if let Some(sec) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            in_scrapy = sec.trim() == "scrapy";
            continue;
        }
        if in_scrapy {
            if let Some((k, v)) = t.split_once('=') {
                if k.trim() == "settings" {
                    let module = v.split(':').next().unwrap_or("").trim();
                    if !module.is_empty() {
                        return Some(module.to_string());
                    }
                }
            }
        }
    }
    None
}

/// Whether a member name would land outside the directory an egg is unpacked into.
fn escapes(name: &str) -> bool {
    name.starts_with('/') || name.starts_with('\\') || name.split(['/', '\\']).any(|c| c == "..")
}

/// Checks that `bytes` is a ZIP within `limits` that carries the Scrapy entry point.
pub fn validate(bytes: &[u8], limits: EggLimits) -> Result<CheckedEgg, EggError> {
    let size = bytes.len() as u64;
    if size > limits.max_size {
        return Err(EggError::TooLarge { size, limit: limits.max_size });
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| EggError::NotAZip(e.to_string()))?;
    let entries = archive.len();
    if entries > limits.max_entries {
        return Err(EggError::TooManyEntries { entries, limit: limits.max_entries });
    }
    let mut unpacked: u64 = 0;
    for index in 0..entries {
        let file = archive.by_index(index).map_err(|e| EggError::DamagedEntry { index, reason: e.to_string() })?;
        if escapes(file.name()) {
            return Err(EggError::EscapingEntry(file.name().to_string()));
        }
        unpacked = unpacked.saturating_add(file.size());
    }
    if unpacked > limits.max_unpacked {
        return Err(EggError::ZipBomb { unpacked, limit: limits.max_unpacked });
    }
    let mut text = String::new();
    archive
        .by_name(ENTRY_POINTS)
        .map_err(|_| EggError::NoEntryPoints)?
        .take(ENTRY_POINTS_READ_LIMIT)
        .read_to_string(&mut text)
        .map_err(|e| EggError::UnreadableEntryPoints(e.to_string()))?;
    let settings_module = settings_module(&text).ok_or(EggError::NoSettings)?;
    Ok(CheckedEgg { settings_module, entries, unpacked })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egg::EggBuilder;

    const LIMITS: EggLimits = EggLimits { max_size: 1 << 20, max_unpacked: 1 << 20, max_entries: 100 };

    fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        files.iter().fold(EggBuilder::new(), |b, (name, data)| b.file(*name, data)).build().unwrap()
    }

    #[test]
    fn a_scrapy_egg_is_accepted() {
        let egg = EggBuilder::scrapy("proj", "proj.settings").file("proj/__init__.py", "").build().unwrap();
        let checked = validate(&egg, LIMITS).unwrap();
        assert_eq!(checked.settings_module, "proj.settings");
        assert_eq!(checked.entries, 3);
    }

    #[test]
    fn each_refusal_is_typed() {
        let ep = |text: &str| zip(&[(ENTRY_POINTS, text.as_bytes()), ("proj/__init__.py", b"")]);
        assert!(matches!(validate(b"not a zip", LIMITS), Err(EggError::NotAZip(_))));
        assert_eq!(validate(&zip(&[("proj/__init__.py", b"")]), LIMITS), Err(EggError::NoEntryPoints));
        assert_eq!(validate(&ep("[other]\nsettings=x\n"), LIMITS), Err(EggError::NoSettings));
        assert_eq!(validate(&ep("[scrapy]\nsettings =\n"), LIMITS), Err(EggError::NoSettings));
        assert_eq!(
            validate(&zip(&[(ENTRY_POINTS, b"\xff")]), LIMITS).map_err(|e| e.to_string()).unwrap_err(),
            "unreadable EGG-INFO/entry_points.txt: stream did not contain valid UTF-8"
        );
        let small = EggLimits { max_size: 10, ..LIMITS };
        let egg = ep("[scrapy]\nsettings = p.s\n");
        assert_eq!(validate(&egg, small), Err(EggError::TooLarge { size: egg.len() as u64, limit: 10 }));
        for name in ["../evil.py", "/etc/x", "a/../../b", "a\\..\\b"] {
            let egg = zip(&[(ENTRY_POINTS, b"[scrapy]\nsettings = p.s\n"), (name, b"")]);
            assert_eq!(validate(&egg, LIMITS), Err(EggError::EscapingEntry(name.to_string())), "{name}");
        }
        assert!(validate(&zip(&[(ENTRY_POINTS, b"[scrapy]\nsettings = p.s\n"), ("a..b.py", b"")]), LIMITS).is_ok());
        let few = EggLimits { max_entries: 1, ..LIMITS };
        assert_eq!(validate(&egg, few), Err(EggError::TooManyEntries { entries: 2, limit: 1 }));
    }

    #[test]
    fn a_zip_bomb_is_refused_by_declared_sizes() {
        let bomb = zip(&[(ENTRY_POINTS, b"[scrapy]\nsettings = x\n"), ("bomb.bin", &vec![0u8; 4 << 20])]);
        assert!(bomb.len() < 64 * 1024);
        let limits = EggLimits { max_unpacked: 1 << 20, ..LIMITS };
        match validate(&bomb, limits) {
            Err(EggError::ZipBomb { unpacked, limit }) => assert_eq!((unpacked > 4 << 20, limit), (true, 1 << 20)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn entry_points_forms() {
        assert_eq!(settings_module("[scrapy]\nsettings = a.b\n").as_deref(), Some("a.b"));
        assert_eq!(settings_module("[ scrapy ]\n settings=a.b:obj \n").as_deref(), Some("a.b"));
        assert_eq!(settings_module("[console_scripts]\nx = y\n[scrapy]\nother = z\n"), None);
        assert_eq!(settings_module("settings = a.b\n"), None);
    }
}

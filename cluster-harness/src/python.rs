//! The project's Python (the venv `scripts/setup.sh` makes, with Scrapy, Scrapyd and aiosmtpd):
//! `SPIDER_PYTHON`, else `$HOME/.cache/spider-platform/venv/bin/python`.

use std::ffi::OsString;
use std::path::PathBuf;

/// Where the Python is, from the values of `SPIDER_PYTHON` and `HOME` (an empty one is unset).
fn python_from(spider_python: Option<OsString>, home: Option<OsString>) -> PathBuf {
    match spider_python.filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(home.unwrap_or_default()).join(".cache/spider-platform/venv/bin/python"),
    }
}

/// The venv Python; an error saying how to get it when the file is not there (a test that needs
/// it should fail with that message, not skip).
pub fn venv_python() -> anyhow::Result<PathBuf> {
    let p = python_from(std::env::var_os("SPIDER_PYTHON"), std::env::var_os("HOME"));
    if !p.exists() {
        anyhow::bail!(
            "no Python at {}: set SPIDER_PYTHON, or create the venv with \
             `bash -c 'source scripts/setup.sh && ensure_venv'`",
            p.display()
        );
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spider_python_wins_else_the_venv_under_home() {
        let home = Some(OsString::from("/home/u"));
        let venv = PathBuf::from("/home/u/.cache/spider-platform/venv/bin/python");
        assert_eq!(python_from(None, home.clone()), venv);
        assert_eq!(python_from(Some(OsString::new()), home.clone()), venv);
        assert_eq!(python_from(Some("/usr/bin/python3".into()), home), PathBuf::from("/usr/bin/python3"));
    }
}

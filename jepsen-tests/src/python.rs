//! The Python the harness's helpers run with: the real spider-slave's Scrapy
//! ([`crate::realslave`]) and the SMTP sink's aiosmtpd ([`crate::mailsink`]). Both are looked for
//! the same way, where the project's setup puts them, and a missing one is said in words (what
//! was tried, what to set): the checker that needed it then says `unknown`, never `valid`.

use std::ffi::OsString;
use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;

/// A Python that can `import module`, for `purpose` (words for the error): `$SPIDER_PYTHON` if
/// set; else the venv the project's setup makes (`scripts/setup.sh`): `$SPIDER_VENV/bin/python`,
/// then `$HOME/.cache/spider-platform/venv/bin/python` — the first that exists and imports it.
/// `Err` says what was tried and what to set.
pub fn find(module: &str, purpose: &str) -> Result<PathBuf, String> {
    find_with(module, purpose, |k| std::env::var_os(k), |p| imports(p, module))
}

/// [`find`] over a given environment and a given check of a candidate.
fn find_with(
    module: &str,
    purpose: &str,
    var: impl Fn(&str) -> Option<OsString>,
    check: impl Fn(&Path) -> Result<(), String>,
) -> Result<PathBuf, String> {
    if let Some(p) = var("SPIDER_PYTHON").filter(|p| !p.is_empty()).map(PathBuf::from) {
        return match check(&p) {
            Ok(()) => Ok(p),
            Err(why) => Err(format!(
                "SPIDER_PYTHON={} {why}: point SPIDER_PYTHON at a Python that can `import {module}`, or unset it \
                 to use the project's venv (scripts/setup.sh makes one at ~/.cache/spider-platform/venv)",
                p.display()
            )),
        };
    }
    let mut tried = vec!["SPIDER_PYTHON is not set".to_string()];
    let mut candidates = Vec::new();
    match var("SPIDER_VENV").filter(|v| !v.is_empty()) {
        Some(v) => candidates.push(PathBuf::from(v).join("bin").join("python")),
        None => tried.push("SPIDER_VENV is not set".into()),
    }
    match var("HOME").filter(|h| !h.is_empty()) {
        Some(h) => candidates.push(PathBuf::from(h).join(".cache/spider-platform/venv/bin/python")),
        None => tried.push("HOME is not set".into()),
    }
    for p in candidates {
        match check(&p) {
            Ok(()) => return Ok(p),
            Err(why) => tried.push(format!("{} {why}", p.display())),
        }
    }
    Err(format!(
        "no Python that can `import {module}` for {purpose} ({}): set SPIDER_PYTHON to a Python that can \
         `import {module}`, or SPIDER_VENV to its venv (scripts/setup.sh makes one at \
         ~/.cache/spider-platform/venv; under sudo, pass the variable on the command line: \
         `sudo SPIDER_PYTHON=… jepsen-tests …`)",
        tried.join("; ")
    ))
}

/// Whether `python` exists and runs `import module`; `Err` says which failed.
pub fn imports(python: &Path, module: &str) -> Result<(), String> {
    if !python.exists() {
        return Err("does not exist".into());
    }
    let out = std::process::Command::new(python)
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("does not run ({e})"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
    Err(format!("cannot import {module} ({last})"))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// `find_with` over `env`, where only the paths in `good` import the module.
    fn find(env: &[(&str, &str)], good: &[&str]) -> Result<PathBuf, String> {
        let env: BTreeMap<String, OsString> = env.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        find_with(
            "scrapy",
            "the real spider-slave",
            |k| env.get(k).cloned(),
            |p| if good.iter().any(|g| Path::new(g) == p) { Ok(()) } else { Err("does not exist".into()) },
        )
    }

    #[test]
    fn the_python_defaults_to_the_setup_venv() {
        let home_venv = "/home/u/.cache/spider-platform/venv/bin/python";
        assert_eq!(find(&[("HOME", "/home/u")], &[home_venv]), Ok(PathBuf::from(home_venv)));
        let env = [("HOME", "/home/u"), ("SPIDER_VENV", "/v")];
        assert_eq!(find(&env, &["/v/bin/python", home_venv]), Ok(PathBuf::from("/v/bin/python")));
        assert_eq!(find(&env, &[home_venv]), Ok(PathBuf::from(home_venv)), "a broken SPIDER_VENV falls through");
        let explicit = [("HOME", "/home/u"), ("SPIDER_PYTHON", "/usr/bin/python3")];
        assert_eq!(find(&explicit, &["/usr/bin/python3", home_venv]), Ok(PathBuf::from("/usr/bin/python3")));
    }

    #[test]
    fn without_a_python_it_says_what_to_set() {
        let e = find(&[("HOME", "/home/u")], &[]).expect_err("nothing imports scrapy");
        assert!(e.contains("SPIDER_PYTHON is not set"), "{e}");
        assert!(e.contains("/home/u/.cache/spider-platform/venv/bin/python does not exist"), "{e}");
        assert!(e.contains("set SPIDER_PYTHON to a Python that can `import scrapy`"), "{e}");
        assert!(e.contains("for the real spider-slave"), "{e}");
        // An explicit SPIDER_PYTHON that fails is reported, not replaced by the venv.
        let env = [("HOME", "/home/u"), ("SPIDER_PYTHON", "/nope")];
        let e = find(&env, &["/home/u/.cache/spider-platform/venv/bin/python"]).expect_err("explicit and broken");
        assert!(e.starts_with("SPIDER_PYTHON=/nope does not exist"), "{e}");
    }

    #[test]
    fn a_missing_module_is_named() {
        let e = imports(Path::new("/bin/sh-that-is-not-here"), "aiosmtpd").expect_err("no such python");
        assert_eq!(e, "does not exist");
    }
}

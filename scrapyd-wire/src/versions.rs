//! Version names: Scrapyd's sanitising and its "latest" ordering, plus the path-component guard.
//!
//! Sanitising replaces every character outside `[A-Za-z0-9_-]` with `_` (so `1.0` and `1_0`
//! collide, as in Scrapyd). Ordering follows Scrapyd: if every stem parses as a version it is
//! sorted as versions, otherwise as plain strings. Our parser accepts the forms sanitised stems
//! can still have: digits with an optional leading `v` (the usual `int(time.time())` versions),
//! compared numerically. Anything else falls back to string order, like Scrapyd.
//!
//! Masters name a version on a slave with [`sanitize`] too: it is what `listversions.json`
//! answers for an uploaded version.

use std::cmp::Ordering;

/// A name that would escape its directory (`../p`, `a/b`, empty); the text is Scrapyd's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DirectoryTraversalError: {0}")]
pub struct DirectoryTraversal(pub String);

/// Replaces every character outside `[A-Za-z0-9_-]` with `_`.
pub fn sanitize(version: &str) -> String {
    version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// Checks that `name` is one safe path component (Twisted `FilePath.child` semantics).
pub fn check_component(name: &str) -> Result<(), DirectoryTraversal> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || name.contains('\0');
    if bad {
        return Err(DirectoryTraversal(name.to_string()));
    }
    Ok(())
}

fn numeric(v: &str) -> Option<u128> {
    let digits = v.strip_prefix('v').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Sorts sanitised version stems oldest first, so the last one is "latest".
pub fn sort_versions(versions: &mut [String]) {
    let all_numeric = versions.iter().all(|v| numeric(v).is_some());
    if all_numeric {
        versions.sort_by(|a, b| match (numeric(a), numeric(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => Ordering::Equal,
        });
    } else {
        versions.sort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitise_and_order() {
        assert_eq!(sanitize("2.0"), "2_0");
        assert_eq!(sanitize("r-1_a"), "r-1_a");
        assert_eq!(sanitize("1.0-abc_D"), "1_0-abc_D");
        assert_eq!(sanitize("r42"), "r42");
        assert_eq!(sanitize("ü/x"), "__x");
        let mut v: Vec<String> = ["1_10", "1_9", "r156", "r99"].iter().map(|s| s.to_string()).collect();
        sort_versions(&mut v);
        assert_eq!(v, ["1_10", "1_9", "r156", "r99"]);
        let mut n: Vec<String> = ["100", "99", "1000"].iter().map(|s| s.to_string()).collect();
        sort_versions(&mut n);
        assert_eq!(n, ["99", "100", "1000"]);
    }

    #[test]
    fn traversal() {
        assert!(check_component("../p").is_err());
        assert!(check_component("a/b").is_err());
        assert!(check_component("").is_err());
        assert!(check_component("proj").is_ok());
        assert_eq!(check_component("../p").unwrap_err().to_string(), "DirectoryTraversalError: ../p");
    }
}

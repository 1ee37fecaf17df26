//! Secrets this master holds or checks: the cluster secret (peers), the admin API token, and
//! the stored digests of users' API tokens.
//!
//! - [`Secret`]: a string that never prints (`Debug` is redacted) and compares in constant time.
//! - [`secret_matches`]: the one comparison of a presented secret with ours.
//! - [`admin_token`]: the admin token from the config, or the one generated at first start and
//!   kept in `<data_dir>/admin-token` (mode 0600).

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::Serialize;
use sha2::Digest;
use sha2::Sha256;

/// A secret string (the cluster secret, a bearer token). Never printed; `==` takes the same
/// time wherever the two differ.
#[derive(Clone, Default, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        secret_matches(self, &other.0)
    }
}

impl Secret {
    /// Whether `presented` is this secret (constant time).
    pub fn matches(&self, presented: &str) -> bool {
        secret_matches(self, presented)
    }
}

/// Compares a presented secret with ours in constant time (over their SHA-256 digests, so the
/// time does not depend on the lengths either).
pub fn secret_matches(ours: &Secret, presented: &str) -> bool {
    let a = Sha256::digest(ours.0.as_bytes());
    let b = Sha256::digest(presented.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The admin token file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("admin token file {path}: {source}")]
pub struct TokenFileError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The admin API token: `configured` if set, else the one kept at `<data_dir>/admin-token`,
/// generated (24 random bytes, `spt_<hex>`) and written with mode 0600 at first start.
pub fn admin_token(configured: Option<&Secret>, data_dir: &std::path::Path) -> Result<Secret, TokenFileError> {
    if let Some(t) = configured {
        return Ok(t.clone());
    }
    let path = data_dir.join("admin-token");
    let err = |source| TokenFileError { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(Secret(t.trim().to_string())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let token = format!("spt_{}", hex::encode(bytes));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(err)?;
        f.write_all(token.as_bytes()).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    tracing::info!(path = %path.display(), "generated the admin API token");
    Ok(Secret(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value_and_never_print() {
        let s = Secret("correct horse battery".into());
        assert!(s.matches("correct horse battery"));
        assert!(!s.matches("correct horse batter"));
        assert!(!s.matches(""));
        assert_eq!(s, Secret("correct horse battery".into()));
        assert_ne!(s, Secret("other".into()));
        assert!(!format!("{s:?}").contains("horse"));
    }

    #[test]
    fn the_admin_token_is_generated_once_and_then_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = admin_token(None, dir.path()).expect("generated");
        assert!(first.0.starts_with("spt_") && first.0.len() == 4 + 48, "{}", first.0.len());
        assert_eq!(admin_token(None, dir.path()).expect("read back"), first);
        let configured = Secret("from-config".into());
        assert_eq!(admin_token(Some(&configured), dir.path()).expect("configured"), configured);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("admin-token")).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

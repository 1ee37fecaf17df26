//! The name rule of nodes, projects, versions and tags.

use super::OpsError;

/// Names of nodes, projects and versions: what Scrapyd and a file system both accept without
/// escaping — ASCII letters, digits, `_`, `-`, `.`, not starting with `.` or `-`, 1–64 chars.
pub fn check_name(field: &str, value: &str) -> Result<(), OpsError> {
    if value.is_empty() || value.len() > 64 {
        return Err(OpsError::invalid(field, "must be 1 to 64 characters"));
    }
    if value.starts_with('.') || value.starts_with('-') {
        return Err(OpsError::invalid(field, format!("{value:?} must not start with '.' or '-'")));
    }
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(OpsError::invalid(field, format!("{value:?} contains {c:?}; allowed are letters, digits, _ - .")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_reject_traversal_and_odd_characters() {
        assert!(check_name("project", "demo_1.2-x").is_ok());
        for bad in ["", "../p", "a/b", ".hidden", "-x", "sp ace", "é", &"x".repeat(65)] {
            assert!(check_name("project", bad).is_err(), "{bad:?} accepted");
        }
    }
}

//! Egg storage: `eggs_dir/<project>/<sanitised version>.egg`, checked before anything is written.
//!
//! An upload is validated in memory first (`scrapyd_wire::egg::validate`, called by the
//! `addversion` handler) and then written here to a temp file and renamed into place, so a
//! rejected or interrupted upload never touches the versions already stored. Version names and
//! their "latest" order are `scrapyd_wire::versions`'.

use std::io::Write;
use std::path::{Path, PathBuf};

use scrapyd_wire::versions::{check_component, sanitize, sort_versions};

use crate::error::{Error, Result};

/// The filesystem egg store. Holds only its root; every call goes to the disk, so eggs dropped
/// in by hand are seen at once (as in Scrapyd).
#[derive(Debug, Clone)]
pub struct EggStore {
    root: PathBuf,
}

impl EggStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        EggStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores an already validated egg, replacing any egg with the same sanitised version.
    pub fn put(&self, project: &str, version: &str, bytes: &[u8]) -> Result<PathBuf> {
        check_component(project)?;
        let dir = self.root.join(project);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let path = dir.join(format!("{}.egg", sanitize(version)));
        let tmp = dir.join(format!(".{}.egg.tmp-{}", sanitize(version), uuid::Uuid::new_v4().simple()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(format!("write {}", path.display()), e));
        }
        Ok(path)
    }

    /// Sanitised versions of a project, oldest first ("latest" last). Unknown project: empty.
    pub fn versions(&self, project: &str) -> Result<Vec<String>> {
        check_component(project)?;
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.root.join(project)) {
            for entry in rd.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".egg") {
                    if !stem.starts_with('.') {
                        out.push(stem.to_string());
                    }
                }
            }
        }
        sort_versions(&mut out);
        Ok(out)
    }

    /// Resolves a requested version (or the latest) to its egg path and sanitised name.
    pub fn get(&self, project: &str, version: Option<&str>) -> Result<Option<(String, PathBuf)>> {
        check_component(project)?;
        let name = match version {
            Some(v) => sanitize(v),
            None => match self.versions(project)?.pop() {
                Some(v) => v,
                None => return Ok(None),
            },
        };
        let path = self.root.join(project).join(format!("{name}.egg"));
        Ok(path.is_file().then_some((name, path)))
    }

    /// Projects that have an egg directory.
    pub fn projects(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.root) {
            for entry in rd.flatten() {
                if entry.path().is_dir() {
                    out.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// Deletes one version; the project goes too when its last egg does.
    pub fn delete_version(&self, project: &str, version: &str) -> Result<()> {
        check_component(project)?;
        let path = self.root.join(project).join(format!("{}.egg", sanitize(version)));
        if !path.is_file() {
            return Err(Error::VersionNotFound(version.to_string()));
        }
        std::fs::remove_file(&path).map_err(|e| Error::io(format!("remove {}", path.display()), e))?;
        if self.versions(project)?.is_empty() {
            let _ = std::fs::remove_dir_all(self.root.join(project));
        }
        Ok(())
    }

    /// Deletes a project's directory.
    pub fn delete_project(&self, project: &str) -> Result<()> {
        check_component(project)?;
        let dir = self.root.join(project);
        if !dir.is_dir() {
            return Err(Error::ProjectNotFound(project.to_string()));
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(format!("remove {}", dir.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let s = EggStore::new(dir.path());
        s.put("p", "1.0", b"x").unwrap();
        s.put("p", "2", b"y").unwrap();
        assert_eq!(s.versions("p").unwrap(), ["1_0", "2"]);
        assert_eq!(s.get("p", None).unwrap().unwrap().0, "2");
        assert_eq!(s.get("p", Some("1.0")).unwrap().unwrap().0, "1_0");
        assert!(s.put("../p", "1", b"x").is_err());
        s.delete_version("p", "1.0").unwrap();
        s.delete_version("p", "2").unwrap();
        assert!(s.projects().is_empty());
    }
}

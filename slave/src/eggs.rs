//! Egg storage: `eggs_dir/<project>/<sanitised version>.egg`, checked before anything is written.
//!
//! An upload is validated in memory (ZIP, size, ZIP-bomb limits, the `scrapy` → `settings`
//! entry point) and then written to a temp file and renamed into place, so a rejected or
//! interrupted upload never touches the versions already stored.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::versions::{check_component, sanitize, sort_versions};

/// Limits applied to an uploaded egg.
#[derive(Debug, Clone, Copy)]
pub struct EggLimits {
    /// Largest accepted upload in bytes.
    pub max_size: u64,
    /// Largest total uncompressed size of all members.
    pub max_unpacked: u64,
}

/// The filesystem egg store. Holds only its root; every call goes to the disk, so eggs dropped
/// in by hand are seen at once (as in Scrapyd).
#[derive(Debug, Clone)]
pub struct EggStore {
    root: PathBuf,
}

/// Reads the settings module from an egg's `EGG-INFO/entry_points.txt` (`[scrapy] settings = m`).
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

/// Checks that `bytes` is a ZIP within `limits` that carries the Scrapy entry point.
pub fn validate(bytes: &[u8], limits: EggLimits) -> Result<String> {
    if bytes.len() as u64 > limits.max_size {
        return Err(Error::EggTooLarge(format!(
            "egg is {} bytes, the limit is {} bytes (max_egg_size)",
            bytes.len(),
            limits.max_size
        )));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| Error::NotAZip)?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).map_err(|e| Error::BadEgg(format!("corrupt ZIP member #{i}: {e}")))?;
        total = total.saturating_add(file.size());
        if total > limits.max_unpacked {
            return Err(Error::EggTooLarge(format!(
                "egg expands to more than {} bytes (max_egg_unpacked); refusing a possible ZIP bomb",
                limits.max_unpacked
            )));
        }
    }
    let mut text = String::new();
    {
        let entry = archive.by_name("EGG-INFO/entry_points.txt").map_err(|_| {
            Error::BadEgg("egg has no EGG-INFO/entry_points.txt with a [scrapy] settings entry point".into())
        })?;
        // Bounded read: the declared size may lie.
        let mut limited = entry.take(1024 * 1024);
        limited
            .read_to_string(&mut text)
            .map_err(|e| Error::BadEgg(format!("unreadable EGG-INFO/entry_points.txt: {e}")))?;
    }
    settings_module(&text).ok_or_else(|| {
        Error::BadEgg("EGG-INFO/entry_points.txt has no 'settings' entry point in group [scrapy]".into())
    })
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

    fn egg(entry_points: Option<&str>) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            if let Some(ep) = entry_points {
                w.start_file("EGG-INFO/entry_points.txt", opts).unwrap();
                w.write_all(ep.as_bytes()).unwrap();
            }
            w.start_file("proj/__init__.py", opts).unwrap();
            w.finish().unwrap();
        }
        buf.into_inner()
    }

    const LIMITS: EggLimits = EggLimits { max_size: 1 << 20, max_unpacked: 1 << 20 };

    #[test]
    fn validation() {
        assert_eq!(validate(&egg(Some("[scrapy]\nsettings = proj.settings\n")), LIMITS).unwrap(), "proj.settings");
        assert!(matches!(validate(b"not a zip", LIMITS), Err(Error::NotAZip)));
        assert!(matches!(validate(&egg(None), LIMITS), Err(Error::BadEgg(_))));
        assert!(matches!(validate(&egg(Some("[other]\nsettings=x\n")), LIMITS), Err(Error::BadEgg(_))));
        let small = EggLimits { max_size: 10, max_unpacked: 1 << 20 };
        assert!(matches!(validate(&egg(None), small), Err(Error::EggTooLarge(_))));
    }

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

//! [`EggBuilder`]: the one way this workspace builds an egg (a ZIP) without Python.
//!
//! `EggBuilder::scrapy(name, settings)` starts a runnable Scrapy egg: `EGG-INFO/PKG-INFO` (which
//! Scrapyd's `pkg_resources` needs to see a distribution) and `EGG-INFO/entry_points.txt` with
//! `[scrapy] settings = …`; add the package with [`EggBuilder::dir`] or [`EggBuilder::file`].
//! `EggBuilder::new()` starts a bare ZIP, for eggs meant to be refused. The bytes are
//! deterministic (members in insertion order, fixed timestamps), so the same sources give the
//! same egg and the same sha256.

use std::io::{Cursor, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::check::ENTRY_POINTS;

/// Files and directories [`EggBuilder::dir`] leaves out, as `bdist_egg` does.
fn skipped(name: &str) -> bool {
    name == "__pycache__" || name == "build" || name == "dist" || name.ends_with(".egg-info") || name.ends_with(".pyc")
}

/// An egg under construction: named members in order, then [`EggBuilder::build`].
#[derive(Debug, Clone)]
pub struct EggBuilder {
    files: Vec<(String, Vec<u8>)>,
    method: CompressionMethod,
}

impl Default for EggBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EggBuilder {
    /// A ZIP with no members yet (deflated).
    pub fn new() -> Self {
        EggBuilder { files: Vec::new(), method: CompressionMethod::Deflated }
    }

    /// A Scrapy egg for distribution `name` whose settings module is `settings_module`.
    pub fn scrapy(name: &str, settings_module: &str) -> Self {
        EggBuilder::new()
            .file("EGG-INFO/PKG-INFO", format!("Metadata-Version: 1.0\nName: {name}\nVersion: 1.0\n"))
            .file(ENTRY_POINTS, format!("[scrapy]\nsettings = {settings_module}\n"))
    }

    /// Adds (or replaces, in place) the member `path` (`/`-separated, relative).
    pub fn file(mut self, path: impl Into<String>, contents: impl AsRef<[u8]>) -> Self {
        let path = path.into();
        let contents = contents.as_ref().to_vec();
        match self.files.iter_mut().find(|(p, _)| *p == path) {
            Some((_, c)) => *c = contents,
            None => self.files.push((path, contents)),
        }
        self
    }

    /// Adds every file under `root` as `prefix/<relative path>` (`prefix` may be empty), in
    /// name order, leaving out `__pycache__`, `build`, `dist`, `*.egg-info` and `*.pyc`.
    pub fn dir(mut self, prefix: &str, root: &Path) -> std::io::Result<Self> {
        let mut names: Vec<_> = std::fs::read_dir(root)?.collect::<Result<_, _>>()?;
        names.sort_by_key(|e| e.file_name());
        for entry in names {
            let name = entry.file_name().to_string_lossy().into_owned();
            if skipped(&name) {
                continue;
            }
            let member = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            if entry.file_type()?.is_dir() {
                self = self.dir(&member, &entry.path())?;
            } else {
                let contents = std::fs::read(entry.path())?;
                self = self.file(member, contents);
            }
        }
        Ok(self)
    }

    /// Stores members uncompressed instead of deflating them.
    pub fn stored(mut self) -> Self {
        self.method = CompressionMethod::Stored;
        self
    }

    /// The member names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(p, _)| p.as_str())
    }

    /// The egg's bytes.
    pub fn build(&self) -> std::io::Result<Vec<u8>> {
        let opts = SimpleFileOptions::default().compression_method(self.method).last_modified_time(DateTime::default());
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (path, contents) in &self.files {
            zip.start_file(path.as_str(), opts)?;
            zip.write_all(contents)?;
        }
        Ok(zip.finish()?.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::egg::{validate, EggLimits};

    fn read(egg: &[u8], name: &str) -> String {
        let mut z = zip::ZipArchive::new(Cursor::new(egg)).unwrap();
        let mut s = String::new();
        z.by_name(name).unwrap().read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn a_scrapy_egg_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("demo");
        std::fs::create_dir_all(pkg.join("spiders/__pycache__")).unwrap();
        std::fs::write(pkg.join("__init__.py"), "").unwrap();
        std::fs::write(pkg.join("settings.py"), "BOT_NAME = 'demo'\n").unwrap();
        std::fs::write(pkg.join("spiders/__init__.py"), "").unwrap();
        std::fs::write(pkg.join("spiders/__pycache__/x.pyc"), "").unwrap();
        std::fs::write(pkg.join("spiders/a.pyc"), "").unwrap();
        let b = EggBuilder::scrapy("demo", "demo.settings").dir("demo", &pkg).unwrap();
        assert_eq!(
            b.names().collect::<Vec<_>>(),
            [
                "EGG-INFO/PKG-INFO",
                "EGG-INFO/entry_points.txt",
                "demo/__init__.py",
                "demo/settings.py",
                "demo/spiders/__init__.py"
            ]
        );
        let egg = b.build().unwrap();
        assert_eq!(egg, b.build().unwrap(), "deterministic");
        assert_eq!(read(&egg, "demo/settings.py"), "BOT_NAME = 'demo'\n");
        assert!(read(&egg, "EGG-INFO/PKG-INFO").contains("Name: demo\n"));
        let limits = EggLimits { max_size: 1 << 20, max_unpacked: 1 << 20, max_entries: 10 };
        assert_eq!(validate(&egg, limits).unwrap().settings_module, "demo.settings");
    }

    #[test]
    fn a_file_replaces_one_of_the_same_name() {
        let egg = EggBuilder::scrapy("x", "x.settings").file(ENTRY_POINTS, "[other]\n").stored().build().unwrap();
        assert_eq!(read(&egg, ENTRY_POINTS), "[other]\n");
        let z = zip::ZipArchive::new(Cursor::new(&egg[..])).unwrap();
        assert_eq!(z.len(), 2);
        assert!(egg.windows(8).any(|w| w == b"[other]\n"), "stored, not deflated");
    }
}

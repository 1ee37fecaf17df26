//! The demo: a two-page quotes site served in-process on loopback, and the demo Scrapy
//! project (the slave's test fixture) built into an egg with the slaves' Python.

use std::path::Path;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::Context;
use axum::http::header;
use axum::routing::get;
use sha2::Digest;

pub const PROJECT: &str = "demo";
pub const SPIDER: &str = "quotes";

const INDEX: &str = include_str!("../../scripts/demo-site/index.html");
const PAGE2: &str = include_str!("../../scripts/demo-site/page2.html");

/// The demo project's files, relative to its root.
const PROJECT_FILES: &[(&str, &str)] = &[
    ("setup.py", include_str!("../../slave/tests/fixtures/demo/setup.py")),
    ("scrapy.cfg", include_str!("../../slave/tests/fixtures/demo/scrapy.cfg")),
    ("demo/__init__.py", include_str!("../../slave/tests/fixtures/demo/demo/__init__.py")),
    ("demo/settings.py", include_str!("../../slave/tests/fixtures/demo/demo/settings.py")),
    ("demo/spiders/__init__.py", include_str!("../../slave/tests/fixtures/demo/demo/spiders/__init__.py")),
    ("demo/spiders/demo_spiders.py", include_str!("../../slave/tests/fixtures/demo/demo/spiders/demo_spiders.py")),
];

/// Serves the demo site on `127.0.0.1:port` until the process ends.
pub async fn serve_site(port: u16) -> anyhow::Result<()> {
    let html = |body: &'static str| move || async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body) };
    let app = axum::Router::new()
        .route("/", get(html(INDEX)))
        .route("/index.html", get(html(INDEX)))
        .route("/page2.html", get(html(PAGE2)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("demo site: cannot bind 127.0.0.1:{port} (in use? try --fresh)"))?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("up: the demo site stopped: {e}");
        }
    });
    Ok(())
}

/// The egg version: derived from the project sources, so a re-run finds its egg already there.
pub fn egg_version() -> String {
    let mut h = sha2::Sha256::new();
    for (path, text) in PROJECT_FILES {
        h.update(path.as_bytes());
        h.update([0u8]);
        h.update(text.as_bytes());
        h.update([0u8]);
    }
    format!("1.0-{}", &hex::encode(h.finalize())[..12])
}

/// Writes the project to `<dir>/demo-project` and builds its egg there with `python`;
/// the build's output goes to `log`. Returns the egg's path.
pub async fn build_egg(dir: &Path, python: &Path, log: &Path) -> anyhow::Result<PathBuf> {
    let root = dir.join("demo-project");
    for sub in ["dist", "build"] {
        if root.join(sub).exists() {
            std::fs::remove_dir_all(root.join(sub)).with_context(|| format!("cannot clean {}", root.display()))?;
        }
    }
    for (rel, text) in PROJECT_FILES {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let out = std::fs::File::create(log).with_context(|| format!("cannot write {}", log.display()))?;
    let err = out.try_clone()?;
    let status = tokio::process::Command::new(python)
        .args(["setup.py", "bdist_egg", "-d", "dist"])
        .current_dir(&root)
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .await
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !status.success() {
        anyhow::bail!("building the demo egg failed ({status}); see {}", log.display());
    }
    let egg = std::fs::read_dir(root.join("dist"))
        .with_context(|| format!("no dist directory in {}", root.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "egg"));
    egg.with_context(|| format!("the build wrote no .egg; see {}", log.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masters' rule for project and version names (master's `ops::check_name`),
    /// copied: this crate reaches the masters over HTTP only, never their internals.
    fn is_valid_name(value: &str) -> bool {
        (1..=64).contains(&value.len())
            && !value.starts_with('.')
            && !value.starts_with('-')
            && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    }

    #[test]
    fn the_version_is_stable_and_a_valid_name() {
        let v = egg_version();
        assert_eq!(v, egg_version());
        assert!(is_valid_name(&v), "{v}");
        for bad in ["", "../p", "a/b", ".hidden", "-x", "sp ace", "é", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "the copied rule accepts {bad:?}");
        }
    }

    #[tokio::test]
    async fn the_site_serves_both_pages() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        serve_site(port).await.expect("serve");
        let body = reqwest::get(format!("http://127.0.0.1:{port}/")).await.expect("get").text().await.expect("text");
        assert!(body.contains("page2.html"));
        let r = reqwest::get(format!("http://127.0.0.1:{port}/page2.html")).await.expect("get");
        assert!(r.status().is_success());
    }
}

//! Test harness: the Python interpreter, fixture eggs, a local site to crawl, slaves in-process
//! and as a binary, and `eventually` (tests wait on conditions, never sleep).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::Path as UrlPath;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use scrapyd_wire::egg::EggBuilder;
use serde_json::Value;
use tokio::net::TcpListener;

/// The Python with Scrapy: `SPIDER_PYTHON`, else the project's venv. Panics with a clear
/// message if neither exists (tests never skip silently).
pub fn python() -> PathBuf {
    let p = std::env::var_os("SPIDER_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_default();
        Path::new(&home).join(".cache/spider-platform/venv/bin/python")
    });
    assert!(
        p.exists(),
        "Python interpreter {} not found: set SPIDER_PYTHON or run scripts/setup.sh to create the venv",
        p.display()
    );
    p
}

/// An executable next to the Python interpreter (e.g. `scrapyd-deploy`).
pub fn venv_bin(name: &str) -> PathBuf {
    let p = python().parent().map(|d| d.join(name)).unwrap_or_default();
    assert!(p.exists(), "{} not found in the venv: install it in scripts/setup.sh", p.display());
    p
}

/// Polls `f` until it returns `Ok`, or panics after `timeout` with the last thing it saw.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Copies the fixture project into `dest`.
pub fn copy_fixture(dest: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo");
    copy_dir(&src, dest);
}

fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "__pycache__" || name == "build" || name.to_string_lossy().ends_with(".egg-info") {
            continue;
        }
        let to = dest.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// The fixture project's package built once into an egg (what `setup.py bdist_egg` would
/// package; `t50_clients` still builds one with the real tools).
pub fn demo_egg() -> &'static [u8] {
    static EGG: OnceLock<Vec<u8>> = OnceLock::new();
    EGG.get_or_init(|| {
        let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo/demo");
        EggBuilder::scrapy("demo", "demo.settings").dir("demo", &pkg).unwrap().build().unwrap()
    })
}

/// A local site: `/page/{n}` (two quotes, a next link up to page 3), `/endless/{n}` (always a
/// next link), `/hang` (never answers).
pub async fn start_site() -> String {
    let app = Router::new()
        .route(
            "/page/{n}",
            get(|UrlPath(n): UrlPath<u32>| async move {
                let next = if n < 3 { format!("<a class=\"next\" href=\"/page/{}\">next</a>", n + 1) } else { String::new() };
                Html(format!(
                    "<html><body><div class=\"quote\"><span class=\"text\">quote {n}a</span></div><div class=\"quote\"><span class=\"text\">quote {n}b</span></div>{next}</body></html>"
                ))
            }),
        )
        .route(
            "/endless/{n}",
            get(|UrlPath(n): UrlPath<u32>| async move {
                Html(format!("<html><body><a class=\"next\" href=\"/endless/{}\">next</a></body></html>", n + 1))
            }),
        )
        .route(
            "/hang",
            get(|| async {
                std::future::pending::<()>().await;
                ""
            }),
        );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

/// A slave running inside the test process.
pub struct Slave {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub app: std::sync::Arc<slave::App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<slave::Result<()>>>,
}

/// A config rooted in `dir`, port 0, the test Python, one slot per CPU × 4.
pub fn config_in(dir: &Path) -> slave::Config {
    slave::Config {
        bind_address: "127.0.0.1".into(),
        http_port: 0,
        node_name: "test-node".into(),
        eggs_dir: dir.join("eggs"),
        logs_dir: Some(dir.join("logs")),
        dbs_dir: dir.join("dbs"),
        items_dir: dir.join("items").display().to_string(),
        python: python(),
        ..Default::default()
    }
}

impl Slave {
    pub async fn start() -> Slave {
        Slave::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut slave::Config)) -> Slave {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config_in(dir.path());
        tweak(&mut c);
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let app = slave::build_app(c, tokio_util::sync::CancellationToken::new()).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(slave::serve(app.clone(), Some(l), async move {
            let _ = rx.await;
        }));
        Slave { url, dir, app, stop: Some(tx), task: Some(task) }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        let r = reqwest::get(format!("{}{}", self.url, path)).await.unwrap();
        let text = r.text().await.unwrap();
        assert!(text.ends_with('\n'), "JSON answer without trailing newline: {text:?}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let r = reqwest::Client::new().post(format!("{}{}", self.url, path)).form(form).send().await.unwrap();
        let text = r.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// Uploads the demo egg as a multipart file part.
    pub async fn deploy(&self, project: &str, version: &str) -> Value {
        deploy_bytes(&self.url, project, version, demo_egg().to_vec()).await
    }

    /// Polls status.json until the job reaches `state`.
    pub async fn wait_state(&self, job: &str, state: &str, timeout: Duration) {
        let url = self.url.clone();
        eventually(timeout, &format!("job {job} to be {state}"), || {
            let url = url.clone();
            async move {
                let v: Value = reqwest::get(format!("{url}/status.json?job={job}"))
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                if v["currstate"] == state {
                    Ok(())
                } else {
                    Err(v.to_string())
                }
            }
        })
        .await
    }
}

impl Drop for Slave {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn deploy_bytes(url: &str, project: &str, version: &str, egg: Vec<u8>) -> Value {
    let form = reqwest::multipart::Form::new()
        .text("project", project.to_string())
        .text("version", version.to_string())
        .part("egg", reqwest::multipart::Part::bytes(egg).file_name("project.egg"));
    let r = reqwest::Client::new().post(format!("{url}/addversion.json")).multipart(form).send().await.unwrap();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The real `spider-slave` binary, with a scrapyd.conf written into its working directory.
pub struct SlaveProcess {
    pub child: Child,
    pub url: String,
}

impl SlaveProcess {
    /// Starts the binary in `dir` (which holds `scrapyd.conf`) and waits for its listening line.
    pub fn start(dir: &Path) -> SlaveProcess {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_spider-slave"))
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start spider-slave");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines.next().expect("spider-slave exited before listening").unwrap();
            if let Some(u) = line.strip_prefix("spider-slave listening on ") {
                break u.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        SlaveProcess { child, url }
    }

    /// SIGTERM, then wait for the exit.
    pub fn stop(mut self) {
        unsafe_kill(self.child.id(), 15);
        let _ = self.child.wait();
    }
}

impl Drop for SlaveProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// Reads a job's log, or "" if absent.
pub fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

//! Real workers for the master's tests: spider-slave in-process (the real crate, running real
//! Scrapy from `SPIDER_PYTHON`) and real Scrapyd from PyPI as a child process; the demo egg.

use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::fixtures::eventually;

/// The Python with Scrapy (and Scrapyd): `SPIDER_PYTHON`, else the project's venv.
pub fn python() -> PathBuf {
    let p = std::env::var_os("SPIDER_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache/spider-platform/venv/bin/python")
    });
    assert!(p.exists(), "Python {} not found: set SPIDER_PYTHON or run scripts/setup.sh", p.display());
    p
}

/// The demo Scrapy project (the slave's fixture), built once into an egg.
pub fn demo_egg() -> &'static [u8] {
    static EGG: OnceLock<Vec<u8>> = OnceLock::new();
    EGG.get_or_init(|| {
        let pkg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../slave/tests/fixtures/demo/demo");
        let egg = scrapyd_wire::egg::EggBuilder::scrapy("demo", "demo.settings").dir("demo", &pkg).expect("fixture");
        egg.build().expect("egg")
    })
}

/// A spider-slave running in this process; it can be stopped and started again on its address.
pub struct InProcessSlave {
    pub url: String,
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<slave::Result<()>>>,
}

impl InProcessSlave {
    pub async fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let mut s = Self { url: format!("http://{addr}"), addr, dir, stop: None, task: None };
        s.serve(name, l);
        s
    }

    fn serve(&mut self, name: &str, l: TcpListener) {
        let d = self.dir.path();
        let c = slave::Config {
            bind_address: "127.0.0.1".into(),
            http_port: 0,
            node_name: name.into(),
            eggs_dir: d.join("eggs"),
            logs_dir: Some(d.join("logs")),
            dbs_dir: d.join("dbs"),
            items_dir: d.join("items").display().to_string(),
            python: python(),
            ..Default::default()
        };
        let app = slave::build_app(c, tokio_util::sync::CancellationToken::new()).expect("slave app");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.task = Some(tokio::spawn(slave::serve(app, Some(l), async move {
            let _ = rx.await;
        })));
        self.stop = Some(tx);
    }

    /// Stops serving (the address stops answering); data stays.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Serves again on the same address, from the same data.
    pub async fn restart(&mut self, name: &str) {
        let addr = self.addr;
        let l = eventually("the slave's port to be free again", Duration::from_secs(10), || async move {
            TcpListener::bind(addr).await.map_err(|e| e.to_string())
        })
        .await;
        self.serve(name, l);
    }
}

/// Real Scrapyd 1.6 (from the venv) as a child process on a free loopback port.
pub struct Scrapyd {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Scrapyd {
    pub async fn start() -> Self {
        let scrapyd = python().parent().map(|d| d.join("scrapyd")).unwrap_or_default();
        assert!(scrapyd.exists(), "{} not found: scripts/setup.sh installs scrapyd==1.6.0", scrapyd.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("scrapyd.conf"),
            format!("[scrapyd]\nbind_address = 127.0.0.1\nhttp_port = {port}\neggs_dir = eggs\nlogs_dir = logs\ndbs_dir = dbs\n"),
        )
        .expect("scrapyd.conf");
        let log = std::fs::File::create(dir.path().join("scrapyd.log")).expect("log");
        let child = Command::new(scrapyd)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start scrapyd");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().expect("client");
        let probe = format!("{url}/daemonstatus.json");
        eventually("Scrapyd to answer daemonstatus.json", Duration::from_secs(60), || {
            let (http, probe) = (http.clone(), probe.clone());
            async move {
                match http.get(&probe).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        Self { url, child, _dir: dir }
    }
}

impl Drop for Scrapyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP server that accepts connections and never answers (a crawl of it runs until cancelled).
pub async fn hanging_site() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = l.accept().await {
            held.push(sock);
        }
    });
    format!("http://{addr}/")
}

//! By-hand benchmark of run-now: `POST /api/v1/schedules/{id}/run` → the crawl process started
//! on a real spider-slave running real Scrapy.
//!
//! An in-process cluster of 3 masters (production timings) and one in-process spider-slave
//! (the `slave` crate, Python from `SPIDER_PYTHON` or the project's venv) with the slave's demo
//! project deployed. One schedule whose own tick is far away is run now `--runs` times, one run
//! at a time (each crawl fails to connect and ends within a second or two; the next run starts
//! once it has, so no run waits for a free slot). For each run the latency is the slave's
//! `start_time` of the job (set when the slave takes it to spawn the process) minus the instant
//! the request was sent; both clocks are this machine's.
//!
//! ```text
//! cargo run --release -p master --example runnow_bench -- --runs 50 --via follower
//! ```
//!
//! Before issue 15 a run-now fire was delivered only by the leader's recovery scan (every 5 s,
//! asking every slave first); now the leader delivers every newly applied fire at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use clap::Parser;
use master::boot::RunningMaster;
use master::config::ClusterSecret;
use master::config::MasterConfig;
use serde_json::json;
use serde_json::Value;

#[derive(Parser, Debug)]
#[command(about = "Run-now latency: the API request to the crawl process started on a real spider-slave")]
struct Args {
    /// Run-now requests, one at a time.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Which master receives the requests: `leader` or `follower` (forwarded to the leader).
    #[arg(long, default_value = "follower")]
    via: String,
}

const SECRET: &str = "bench-cluster-secret-0123456789";
const ADMIN: &str = "bench-admin-token";

/// Unix µs of this machine's clock.
fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

fn python() -> PathBuf {
    std::env::var_os("SPIDER_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache/spider-platform/venv/bin/python")
    })
}

/// The slave's demo Scrapy project, built into an egg with the venv's Python.
fn demo_egg() -> anyhow::Result<Vec<u8>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../slave/tests/fixtures/demo");
    let dir = tempfile::tempdir()?;
    let proj = dir.path().join("demo");
    copy_dir(&src, &proj)?;
    let out = dir.path().join("dist");
    let st = Command::new(python())
        .args(["setup.py", "-q", "bdist_egg", "-d"])
        .arg(&out)
        .current_dir(&proj)
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(st.success(), "bdist_egg failed");
    let egg = std::fs::read_dir(&out)?.next().ok_or_else(|| anyhow::anyhow!("no egg built"))??.path();
    Ok(std::fs::read(egg)?)
}

fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let name = e.file_name();
        if name == "__pycache__" || name == "build" || name.to_string_lossy().ends_with(".egg-info") {
            continue;
        }
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest.join(&name))?;
        } else {
            std::fs::copy(e.path(), dest.join(&name))?;
        }
    }
    Ok(())
}

/// Polls `f` every `every` until it answers `Some`, at most `timeout`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(v) = f().await {
            return Ok(v);
        }
        tokio::time::sleep(every).await;
    }
    anyhow::bail!("timed out after {timeout:?} waiting for {what}")
}

struct Bench {
    http: reqwest::Client,
    masters: BTreeMap<u64, (SocketAddr, RunningMaster)>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Bench {
    async fn start() -> anyhow::Result<Self> {
        let mut listeners = BTreeMap::new();
        for id in 1..=3u64 {
            listeners.insert(id, tokio::net::TcpListener::bind("127.0.0.1:0").await?);
        }
        let mut peers = BTreeMap::new();
        for (id, l) in &listeners {
            peers.insert(*id, format!("http://{}", l.local_addr()?));
        }
        let mut masters = BTreeMap::new();
        let mut dirs = Vec::new();
        for (id, l) in listeners {
            let dir = tempfile::tempdir()?;
            let addr = l.local_addr()?;
            let config = MasterConfig {
                node_id: id,
                listen: addr,
                advertise: Some(format!("http://{addr}")),
                peers: peers.clone(),
                data_dir: dir.path().to_path_buf(),
                cluster_secret: ClusterSecret(SECRET.into()),
                admin_token: Some(ClusterSecret(ADMIN.into())),
                raft: Default::default(),
                slaves: Default::default(),
                scheduler: Default::default(),
                alerts: Default::default(),
                max_egg_bytes: 32 * 1024 * 1024,
            };
            let running = master::start_on(config, l).await?;
            masters.insert(id, (addr, running));
            dirs.push(dir);
        }
        let http = reqwest::Client::builder().no_proxy().build()?;
        Ok(Self { http, masters, _dirs: dirs })
    }

    async fn leader(&self) -> anyhow::Result<u64> {
        wait_for("a leader", Duration::from_secs(30), Duration::from_millis(10), || async {
            let seen: Vec<Option<u64>> = self.masters.values().map(|(_, m)| m.node.metrics().current_leader).collect();
            match seen.first() {
                Some(Some(l)) if seen.iter().all(|x| x == &Some(*l)) => Some(*l),
                _ => None,
            }
        })
        .await
    }

    fn url(&self, id: u64) -> String {
        format!("http://{}/api/v1", self.masters[&id].0)
    }

    async fn api(&self, id: u64, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.url(id))).bearer_auth(ADMIN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        match r.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.json().await.unwrap_or(Value::Null))
            }
            Err(e) => (0, Value::String(e.to_string())),
        }
    }

    async fn shutdown(self) {
        for (_, (_, m)) in self.masters {
            m.shutdown().await;
        }
    }
}

/// The job's `start_time` on the slave (Unix µs), once it is running or finished; and whether
/// it has finished.
async fn slave_job(http: &reqwest::Client, slave: &str, job: &str) -> Option<(i64, bool)> {
    let v: Value = http.get(format!("{slave}/listjobs.json")).send().await.ok()?.json().await.ok()?;
    for (list, done) in [("running", false), ("finished", true)] {
        for j in v[list].as_array().into_iter().flatten() {
            if j["id"] == job {
                let t =
                    chrono::NaiveDateTime::parse_from_str(j["start_time"].as_str()?, "%Y-%m-%d %H:%M:%S%.f").ok()?;
                let local = chrono::TimeZone::from_local_datetime(&chrono::Local, &t).single()?;
                return Some((local.timestamp_micros(), done));
            }
        }
    }
    None
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    anyhow::ensure!(python().exists(), "no Python at {}: set SPIDER_PYTHON", python().display());
    let bench = Bench::start().await?;
    let leader = bench.leader().await?;
    let target = match args.via.as_str() {
        "leader" => leader,
        _ => *bench.masters.keys().find(|id| **id != leader).unwrap_or(&leader),
    };

    // One real spider-slave in this process.
    let slave_dir = tempfile::tempdir()?;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let slave_url = format!("http://{}", l.local_addr()?);
    let d = slave_dir.path();
    let config = slave::Config {
        bind_address: "127.0.0.1".into(),
        http_port: 0,
        node_name: "bench".into(),
        eggs_dir: d.join("eggs"),
        logs_dir: Some(d.join("logs")),
        dbs_dir: d.join("dbs"),
        items_dir: d.join("items").display().to_string(),
        python: python(),
        ..Default::default()
    };
    let app = slave::build_app(config, tokio_util::sync::CancellationToken::new())?;
    let (stop_slave, stopped) = tokio::sync::oneshot::channel::<()>();
    let slave_task = tokio::spawn(slave::serve(app, Some(l), async move {
        let _ = stopped.await;
    }));

    let (st, v) = bench.api(leader, reqwest::Method::POST, "/nodes", Some(json!({"id": "s1", "url": slave_url}))).await;
    anyhow::ensure!(st == 201, "register the slave: {st} {v}");
    let form = reqwest::multipart::Form::new()
        .text("version", "1")
        .part("egg", reqwest::multipart::Part::bytes(demo_egg()?).file_name("demo.egg"));
    let r = bench.http.post(format!("{}/projects/demo/versions", bench.url(leader))).bearer_auth(ADMIN);
    let st = r.multipart(form).send().await?.status().as_u16();
    anyhow::ensure!(st == 201, "upload the egg: {st}");
    wait_for("the egg deployed on the slave", Duration::from_secs(120), Duration::from_millis(100), || async {
        let (_, p) = bench.api(leader, reqwest::Method::GET, "/projects", None).await;
        let deployed = p.as_array().into_iter().flatten().any(|p| {
            p["versions"].as_array().into_iter().flatten().any(|v| v["deployments"]["s1"]["kind"] == "deployed")
        });
        deployed.then_some(())
    })
    .await?;

    // A URL nothing listens on: the demo spider fails to connect and finishes at once.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}/", l.local_addr()?)
    };
    let far = now_us() / 1000 + 3_600_000;
    let body = json!({
        "project": "demo", "spider": "quotes", "args": {"url": refused},
        "trigger": {"kind": "once", "at_ms": far},
        "misfire": {"kind": "fire_once", "starting_deadline_ms": 60000},
    });
    let (st, v) = bench.api(leader, reqwest::Method::POST, "/schedules", Some(body)).await;
    anyhow::ensure!(st == 201, "create the schedule: {st} {v}");
    let sid = v["id"].as_str().unwrap_or_default().to_string();

    println!("run-now → crawl process started, {} runs through master {target} (leader {leader})", args.runs);
    let mut started_ms = Vec::new();
    let mut api_ms = Vec::new();
    for i in 0..args.runs {
        let sent = now_us();
        let (st, v) = bench.api(target, reqwest::Method::POST, &format!("/schedules/{sid}/run"), None).await;
        let answered = now_us();
        anyhow::ensure!(st == 202, "run {i}: {st} {v}");
        let job = v["job_id"].as_str().unwrap_or_default().to_string();
        let (start, _) = wait_for("the crawl to start", Duration::from_secs(30), Duration::from_millis(1), || {
            slave_job(&bench.http, &slave_url, &job)
        })
        .await?;
        let late = (start - sent) as f64 / 1000.0;
        started_ms.push(late);
        api_ms.push((answered - sent) as f64 / 1000.0);
        println!("  run {i:3}: {job}: accepted after {:7.1} ms, process started after {late:7.1} ms", api_ms[i]);
        // The next run starts once this crawl has ended (no run waits for a free slot).
        wait_for("the crawl to end", Duration::from_secs(60), Duration::from_millis(20), || async {
            slave_job(&bench.http, &slave_url, &job).await.filter(|(_, done)| *done)
        })
        .await?;
    }
    started_ms.sort_by(f64::total_cmp);
    api_ms.sort_by(f64::total_cmp);
    for (what, v) in [("accepted (202)", &api_ms), ("process started", &started_ms)] {
        println!("{what:>16}: p50 {:8.1} ms   p99 {:8.1} ms   max {:8.1} ms", pct(v, 0.5), pct(v, 0.99), pct(v, 1.0));
    }
    let _ = stop_slave.send(());
    let _ = slave_task.await;
    bench.shutdown().await;
    Ok(())
}

//! Storage benchmark (run by hand, not a test):
//!
//! ```text
//! cargo run --release -p raft-store --example store_bench -- [--entries N] [--etcd PATH]
//! ```
//!
//! Prints (1) Raft log appends per second with every append durable (WAL fsynced before the
//! flush callback), one entry per append and in batches of 64; (2) state-machine apply
//! commands per second (`Fire` commands, applied and persisted in batches of 64); and, when
//! an `etcd` binary is found (Debian's `etcd-server`), (3) the same machine's single-member
//! etcd put rate through its HTTP gateway, sequential and 64 in flight, with the ratios.

use std::time::Duration;
use std::time::Instant;

use base64::Engine;
use openraft::entry::RaftEntry;
use openraft::storage::IOFlushed;
use openraft::storage::RaftLogStorage;
use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use openraft::type_config::TypeConfigExt;
use raft_store::command::Command;
use raft_store::state::*;
use raft_store::typ::Entry;
use raft_store::LogEntry;
use raft_store::Tick;
use raft_store::TypeConfig;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn fire_entry(index: u64) -> Entry {
    let cmd = Command::Fire(Tick { schedule_id: "sch-1".into(), tick_ms: index as i64 * 1000, schedule_version: 1 });
    Entry::new_normal(log_id::<TypeConfig>(1, 1, index), LogEntry::new(index, cmd))
}

async fn bench_append(batch: usize, total: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let (mut log, _sm) = raft_store::open(dir.path())?;
    let start = Instant::now();
    let mut index = 1;
    while index <= total as u64 {
        let entries: Vec<Entry> = (index..index + batch as u64).map(fire_entry).collect();
        let (tx, rx) = TypeConfig::oneshot();
        log.append(entries, IOFlushed::signal(tx)).await?;
        rx.await??;
        index += batch as u64;
    }
    Ok((index - 1) as f64 / start.elapsed().as_secs_f64())
}

async fn bench_apply(total: usize) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let (_log, mut sm) = raft_store::open(dir.path())?;
    let spec = ScheduleSpec {
        project: "demo".into(),
        spider: "quotes".into(),
        egg_version: None,
        args: Default::default(),
        settings: Default::default(),
        priority: 0,
        node_selector: vec![],
        trigger: Trigger::Cron { expr: "* * * * * *".into(), timezone: "UTC".into() },
        misfire: MisfirePolicy::Skip,
        overlap: OverlapPolicy::Allow,
    };
    let create = Entry::new_normal(log_id::<TypeConfig>(1, 1, 1), LogEntry::new(0, Command::CreateSchedule { spec }));
    sm.apply(futures::stream::iter(vec![Ok((create, None))])).await?;
    let start = Instant::now();
    let mut index = 2u64;
    while index < total as u64 + 2 {
        let batch: Vec<_> = (index..index + 64).map(|i| Ok((fire_entry(i), None))).collect();
        sm.apply(futures::stream::iter(batch)).await?;
        index += 64;
    }
    Ok((index - 2) as f64 / start.elapsed().as_secs_f64())
}

/// A single-member etcd on loopback, stopped on drop.
struct Etcd {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_etcd(bin: &str) -> anyhow::Result<Etcd> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let peer = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let child = std::process::Command::new(bin)
        .args(["--data-dir", &dir.path().display().to_string()])
        .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-cluster", &format!("default=http://127.0.0.1:{peer}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let etcd = Etcd { child, url, _dir: dir };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("{}/health", etcd.url)).send().await {
            if r.status().is_success() {
                return Ok(etcd);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "etcd did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bench_etcd(etcd: &Etcd, concurrency: usize, total: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    let start = Instant::now();
    let per = total / concurrency;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let client = client.clone();
        let url = format!("{}/v3/kv/put", etcd.url);
        let value = b64.encode(serde_json::to_vec(&fire_entry(1))?);
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let key = base64::engine::general_purpose::STANDARD.encode(format!("k{c}-{i}"));
                let body = serde_json::json!({ "key": key, "value": value });
                let r = client.post(&url).json(&body).send().await?;
                anyhow::ensure!(r.status().is_success(), "etcd put: {}", r.status());
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per * concurrency) as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = arg("--entries").and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let single = bench_append(1, n).await?;
    let batched = bench_append(64, n * 8).await?;
    let apply = bench_apply(n * 16).await?;
    println!("raft-store log append, fsync per append, 1 entry/append:   {single:>10.0} entries/s");
    println!("raft-store log append, fsync per append, 64 entries/append: {batched:>10.0} entries/s");
    println!("raft-store apply (Fire, persisted, 64/batch):               {apply:>10.0} commands/s");

    let etcd_bin = arg("--etcd").or_else(|| which("etcd"));
    match etcd_bin {
        None => println!("etcd: not found (apt-get install etcd-server) — no comparison"),
        Some(bin) => {
            let etcd = start_etcd(&bin).await?;
            let seq = bench_etcd(&etcd, 1, n).await?;
            let conc = bench_etcd(&etcd, 64, n * 4).await?;
            println!("etcd put (single member, HTTP gateway), sequential:        {seq:>10.0} puts/s");
            println!("etcd put (single member, HTTP gateway), 64 in flight:      {conc:>10.0} puts/s");
            println!("ratio raft-store 1-entry append / etcd sequential put:     {:>10.2}x", single / seq);
            println!("ratio raft-store 64-entry append / etcd 64-in-flight put:  {:>10.2}x", batched / conc);
        }
    }
    Ok(())
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::path::Path::new(p).is_file())
}

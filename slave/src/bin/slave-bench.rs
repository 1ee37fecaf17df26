//! slave-bench: spider-slave side by side with real Scrapyd 1.6, in one run, on loopback.
//!
//! Run by hand (not a test):
//!   cargo build --release -p slave
//!   $CARGO_TARGET_DIR/release/slave-bench [--samples 20] [--requests 2000]
//! Needs SPIDER_PYTHON (default ~/.cache/spider-platform/venv/bin/python) with scrapy and
//! scrapyd 1.6 installed. Measures: schedule.json → process started latency (p50/p99),
//! schedule.json requests/s, listjobs.json latency with 10,000 finished jobs, idle RSS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn python() -> PathBuf {
    std::env::var_os("SPIDER_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/spider-platform/venv/bin/python")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn build_egg(tmp: &Path) -> Vec<u8> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo");
    let proj = tmp.join("demo-src");
    copy_dir(&src, &proj);
    let out = tmp.join("dist");
    let st = Command::new(python())
        .args(["setup.py", "-q", "bdist_egg", "-d"])
        .arg(&out)
        .current_dir(&proj)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "bdist_egg failed");
    std::fs::read(std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path()).unwrap()
}

fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let to = dest.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Slave,
    Scrapyd,
}

struct Server {
    kind: Kind,
    child: Child,
    url: String,
}

impl Server {
    fn start(kind: Kind, dir: &Path, extra: &str) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let conf = format!(
            "[scrapyd]\nbind_address = 127.0.0.1\nhttp_port = {port}\nmax_proc = 1\nfinished_to_keep = 10000\npython = {}\n{extra}",
            python().display()
        );
        std::fs::write(dir.join("scrapyd.conf"), conf).unwrap();
        let mut cmd = match kind {
            Kind::Slave => {
                let exe = std::env::current_exe().unwrap().with_file_name("spider-slave");
                Command::new(exe)
            }
            Kind::Scrapyd => {
                let mut c = Command::new(python());
                c.args(["-m", "scrapyd", "--pidfile="]);
                c
            }
        };
        let child =
            cmd.current_dir(dir).env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::blocking::get(format!("{url}/daemonstatus.json")).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { kind, child, url }
    }

    fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn post(c: &reqwest::blocking::Client, url: &str, form: &[(&str, &str)]) -> Value {
    c.post(url).form(form).send().unwrap().json().unwrap()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[idx.min(v.len() - 1)]
}

fn deploy(c: &reqwest::blocking::Client, s: &Server, egg: &[u8]) {
    let form = reqwest::blocking::multipart::Form::new()
        .text("project", "demo")
        .text("version", "1")
        .part("egg", reqwest::blocking::multipart::Part::bytes(egg.to_vec()).file_name("demo.egg"));
    let v: Value = c.post(format!("{}/addversion.json", s.url)).multipart(form).send().unwrap().json().unwrap();
    assert_eq!(v["status"], "ok", "{v}");
}

/// schedule.json → status running, in ms, one job at a time (each killed before the next).
fn start_latency(c: &reqwest::blocking::Client, s: &Server, samples: usize, site: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..samples {
        let id = format!("lat{i}");
        let t0 = Instant::now();
        let v = post(
            c,
            &format!("{}/schedule.json", s.url),
            &[("project", "demo"), ("spider", "endless"), ("jobid", &id), ("url", site)],
        );
        assert_eq!(v["status"], "ok", "{v}");
        // Started = listed as running with a pid (the process exists), or already finished.
        loop {
            let v: Value = c.get(format!("{}/listjobs.json?project=demo", s.url)).send().unwrap().json().unwrap();
            let running =
                v["running"].as_array().into_iter().flatten().any(|j| j["id"] == id.as_str() && j["pid"].is_u64());
            let finished = v["finished"].as_array().into_iter().flatten().any(|j| j["id"] == id.as_str());
            if running || finished {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        out.push(t0.elapsed().as_secs_f64() * 1000.0);
        post(c, &format!("{}/cancel.json", s.url), &[("project", "demo"), ("job", &id), ("signal", "KILL")]);
        loop {
            let st: Value = c.get(format!("{}/status.json?job={id}", s.url)).send().unwrap().json().unwrap();
            if st["currstate"] == "finished" {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    out
}

/// schedule.json requests per second with 8 client threads, while a blocker holds the slot.
fn schedule_rate(s: &Server, requests: usize, hang: &str) -> f64 {
    let c = reqwest::blocking::Client::new();
    post(
        &c,
        &format!("{}/schedule.json", s.url),
        &[("project", "demo"), ("spider", "endless"), ("jobid", "blocker"), ("url", hang)],
    );
    let threads = 8;
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        for t in 0..threads {
            let url = s.url.clone();
            sc.spawn(move || {
                let c = reqwest::blocking::Client::new();
                for i in 0..requests / threads {
                    let id = format!("r{t}-{i}");
                    let v = post(
                        &c,
                        &format!("{url}/schedule.json"),
                        &[("project", "demo"), ("spider", "quotes"), ("jobid", &id)],
                    );
                    assert_eq!(v["status"], "ok");
                }
            });
        }
    });
    let rate = requests as f64 / t0.elapsed().as_secs_f64();
    post(&c, &format!("{}/delproject.json", s.url), &[("project", "demo")]);
    post(&c, &format!("{}/cancel.json", s.url), &[("project", "demo"), ("job", "blocker"), ("signal", "KILL")]);
    rate
}

fn listjobs_latency(s: &Server, n: usize) -> Vec<f64> {
    let c = reqwest::blocking::Client::new();
    let first: Value = c.get(format!("{}/listjobs.json", s.url)).send().unwrap().json().unwrap();
    let count = first["finished"].as_array().map_or(0, Vec::len);
    assert!(count >= 10_000, "{:?}: only {count} finished jobs loaded", s.kind as u8);
    (0..n)
        .map(|_| {
            let t0 = Instant::now();
            let _ = c.get(format!("{}/listjobs.json", s.url)).send().unwrap().bytes().unwrap();
            t0.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

fn seed_slave(dir: &Path) {
    use slave::jobs::{FinishedJob, JobSpec};
    use slave::journal::{Event, Journal};
    let now = chrono::Local::now().fixed_offset();
    let events: Vec<Event> = (0..10_000u64)
        .map(|i| Event::Finished {
            job: FinishedJob {
                seq: i + 1,
                spec: JobSpec {
                    id: format!("seed{i}"),
                    project: "demo".into(),
                    spider: "quotes".into(),
                    version: None,
                    settings: vec![],
                    args: vec![],
                    priority: 0.0,
                },
                pid: None,
                start_time: now,
                end_time: now,
                outcome: slave::outcome::Outcome::bare(slave::outcome::Ending::Success),
                rendered: Default::default(),
            },
        })
        .collect();
    let dbs = dir.join("dbs");
    std::fs::create_dir_all(&dbs).unwrap();
    Journal::rewrite(&dbs, &events).unwrap();
}

fn seed_scrapyd(dir: &Path) {
    let dbs = dir.join("dbs");
    std::fs::create_dir_all(&dbs).unwrap();
    let script = "import sqlite3,sys,datetime\nc=sqlite3.connect(sys.argv[1])\nc.execute('CREATE TABLE IF NOT EXISTS finished_jobs (id integer PRIMARY KEY, project text, spider text, job text, start_time datetime, end_time datetime)')\nn=datetime.datetime.now()\nc.executemany('INSERT INTO finished_jobs (project, spider, job, start_time, end_time) VALUES (?,?,?,?,?)',[('demo','quotes','seed%d'%i,n,n) for i in range(10000)])\nc.commit()\n";
    let st = Command::new(python()).arg("-c").arg(script).arg(dbs.join("jobs.db")).status().unwrap();
    assert!(st.success());
}

fn start_site(rt: &tokio::runtime::Runtime) -> String {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/hang",
            get(|| async {
                std::future::pending::<()>().await;
                ""
            }),
        )
        .route("/endless", get(|| async { axum::response::Html("<a class=\"next\" href=\"/hang\">n</a>") }));
    let l = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = l.local_addr().unwrap();
    rt.spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let samples = arg("--samples", 20);
    let requests = arg("--requests", 2000);
    assert!(python().exists(), "no Python at {}: set SPIDER_PYTHON", python().display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let site = start_site(&rt);
    let tmp = tempfile::tempdir().unwrap();
    let egg = build_egg(tmp.path());
    let c = reqwest::blocking::Client::new();
    let mut results = Vec::new();
    let kinds: &[Kind] =
        if std::env::args().any(|a| a == "--slave-only") { &[Kind::Slave] } else { &[Kind::Slave, Kind::Scrapyd] };
    for &kind in kinds {
        let name = if kind == Kind::Slave { "spider-slave" } else { "scrapyd 1.6" };
        eprintln!("== {name}");
        let dir = tmp.path().join(format!("{name}-fresh").replace(' ', "_"));
        let s = Server::start(kind, &dir, "");
        deploy(&c, &s, &egg);
        let rss = s.rss_kib();
        let mut lat = start_latency(&c, &s, samples, &format!("{site}/endless"));
        let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));
        let rate = schedule_rate(&s, requests, &format!("{site}/hang"));
        drop(s);
        let dir = tmp.path().join(format!("{name}-seeded").replace(' ', "_"));
        let extra = if kind == Kind::Slave {
            seed_slave(&dir);
            ""
        } else {
            seed_scrapyd(&dir);
            "jobstorage = scrapyd.jobstorage.SqliteJobStorage\n"
        };
        let s = Server::start(kind, &dir, extra);
        let mut lj = listjobs_latency(&s, 50);
        let lj50 = percentile(&mut lj, 0.5);
        drop(s);
        eprintln!("{name}: start p50 {p50:.1} ms p99 {p99:.1} ms; schedule {rate:.0} req/s; listjobs(10k) p50 {lj50:.1} ms; idle RSS {rss} KiB");
        results.push((name, p50, p99, rate, lj50, rss));
    }
    println!(
        "{:<14} {:>14} {:>14} {:>16} {:>20} {:>12}",
        "server", "start p50 ms", "start p99 ms", "schedule req/s", "listjobs 10k p50 ms", "idle RSS KiB"
    );
    for (n, a, b, r, l, m) in &results {
        println!("{n:<14} {a:>14.1} {b:>14.1} {r:>16.0} {l:>20.1} {m:>12}");
    }
    if results.len() < 2 {
        return;
    }
    let (s, d) = (&results[0], &results[1]);
    println!(
        "ratios (scrapyd / slave): start p99 {:.1}x faster, schedule {:.1}x the req/s, listjobs {:.1}x faster, RSS {:.1}x smaller",
        d.2 / s.2,
        s.3 / d.3,
        d.4 / s.4,
        d.5 as f64 / s.5 as f64
    );
    println!(
        "goals: start p99 < 50 ms: {}; >= 10x req/s: {}; <= 1/10 listjobs: {}; <= 1/4 RSS: {}",
        s.2 < 50.0,
        s.3 >= 10.0 * d.3,
        s.4 * 10.0 <= d.4,
        s.5 * 4 <= d.5
    );
}

//! The cron workload: stand-ins registered as slaves, a minimal egg deployed to them, *steady*
//! second-level schedules (never paused or deleted: judged for lost ticks and lateness) with a
//! mix of misfire and overlap policies, and client tasks that create, update, pause, resume and
//! delete *churn* schedules and read every schedule linearizably through random masters.
//!
//! Every client operation is recorded as an invoke and a completion ([`crate::history::Phase`]);
//! timeouts and 5xx are `info`. Setup steps retry until a deadline (they wait on conditions:
//! registered, deployed); client operations never retry (a retry would hide an `info`).

use std::io::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use anyhow::Context;
use reqwest::Method;
use serde_json::json;
use serde_json::Value;

use crate::client::Answer;
use crate::client::Api;
use crate::client::Recorder;
use crate::history::Event;
use crate::history::OpKind;
use crate::history::Phase;
use crate::mailsink::MailSink;
use crate::realslave::RealSlave;
use crate::realslave::NAME as REAL;
use crate::realslave::STANDIN_TAG;
use crate::realslave::TAG as REAL_TAG;
use crate::standin::StandIn;

/// How often the real slave's schedule fires (each fire is a real Scrapy process).
pub const REAL_PERIOD_S: u64 = 10;

/// The project and spider every schedule runs.
pub const PROJECT: &str = "jt";
pub const SPIDER: &str = "jt";
/// Client process ids of setup and of the final reads (client tasks are 1..).
const SETUP: u32 = 0;
const FINAL: u32 = 1000;

/// A small seeded generator (SplitMix64): the same seed gives the same run plan.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi.saturating_sub(lo) + 1)
    }

    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        (!v.is_empty()).then(|| &v[(self.next_u64() % v.len() as u64) as usize])
    }
}

/// The spider `jt`: on a real slave, appends `{"job", "unix_ms"}` to its `run_log` argument
/// when Scrapy starts it (see `realslave`), then ends without a request.
const SPIDER_PY: &str = r#"import json
import time

import scrapy


class JtSpider(scrapy.Spider):
    name = "jt"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        run_log = getattr(self, "run_log", None)
        if run_log:
            line = json.dumps({"job": getattr(self, "_job", None), "unix_ms": int(time.time() * 1000)})
            with open(run_log, "a") as f:
                f.write(line + "\n")

    def start_requests(self):
        return []
"#;

/// A minimal Scrapy egg: a ZIP with `EGG-INFO/entry_points.txt` naming the settings module,
/// and one real spider ([`SPIDER_PY`]).
pub fn egg() -> anyhow::Result<Vec<u8>> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in [
        ("EGG-INFO/entry_points.txt", "[scrapy]\nsettings = jt.settings\n"),
        ("EGG-INFO/PKG-INFO", "Metadata-Version: 1.0\nName: jt\nVersion: 1.0\n"),
        ("jt/__init__.py", ""),
        ("jt/settings.py", "BOT_NAME = 'jt'\nSPIDER_MODULES = ['jt.spiders']\n"),
        ("jt/spiders/__init__.py", ""),
        ("jt/spiders/jt.py", SPIDER_PY),
    ] {
        z.start_file(name, opts)?;
        z.write_all(text.as_bytes())?;
    }
    Ok(z.finish()?.into_inner())
}

/// A schedule to create: cron period in seconds and policies.
#[derive(Debug, Clone)]
pub struct Plan {
    pub period_s: u64,
    pub misfire: Value,
    pub overlap: &'static str,
    /// For the real slave: its spiders' run log (`run_log` argument). `None`: the stand-ins.
    pub real_log: Option<String>,
}

impl Plan {
    /// The history event of a schedule created from this plan (`created`: the API's answer).
    fn created(&self, at_ms: u64, id: &str, created: &Value, steady: bool) -> Event {
        Event::Schedule {
            at_ms,
            id: id.to_string(),
            period_ms: self.period_s * 1000,
            misfire: self.misfire_name(),
            overlap: self.overlap.to_string(),
            created_at_ms: created["created_at_ms"].as_u64().unwrap_or(0),
            steady,
        }
    }

    fn misfire_name(&self) -> String {
        self.misfire["kind"].as_str().unwrap_or("?").to_string()
    }

    fn body(&self) -> Value {
        let mut body = json!({
            "project": PROJECT,
            "spider": SPIDER,
            "trigger": {"kind": "cron", "expr": format!("*/{} * * * * *", self.period_s)},
            "misfire": self.misfire,
            "overlap": self.overlap,
            "node_selector": [crate::realslave::STANDIN_TAG],
        });
        if let Some(log) = &self.real_log {
            body["node_selector"] = json!([crate::realslave::TAG]);
            body["args"] = json!({"run_log": log});
        }
        body
    }
}

fn fire_all() -> Value {
    json!({"kind": "fire_all", "cap": 1000})
}
fn fire_once() -> Value {
    json!({"kind": "fire_once", "starting_deadline_ms": 60_000})
}
fn skip() -> Value {
    json!({"kind": "skip"})
}

/// The steady schedules: every misfire policy with overlap `allow` (judged for lost ticks), and
/// two with `forbid` (judged for overlaps).
pub fn steady_plans() -> Vec<Plan> {
    vec![
        Plan { period_s: 1, misfire: fire_all(), overlap: "allow", real_log: None },
        Plan { period_s: 1, misfire: fire_once(), overlap: "allow", real_log: None },
        Plan { period_s: 2, misfire: skip(), overlap: "allow", real_log: None },
        Plan { period_s: 3, misfire: fire_all(), overlap: "allow", real_log: None },
        Plan { period_s: 2, misfire: fire_once(), overlap: "forbid", real_log: None },
        Plan { period_s: 1, misfire: skip(), overlap: "forbid", real_log: None },
    ]
}

/// The schedules the client tasks work on.
#[derive(Debug, Default)]
pub struct Pool {
    pub steady: Vec<String>,
    /// Churn schedules not known to be deleted.
    pub churn: Vec<String>,
    /// Every schedule created with an acknowledgement.
    pub all: Vec<String>,
}

pub type SharedPool = Arc<Mutex<Pool>>;

fn pool<T>(p: &SharedPool, f: impl FnOnce(&mut Pool) -> T) -> T {
    f(&mut p.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Runs one client operation on `node` and records it. Returns the answer.
pub async fn op(
    api: &Api,
    rec: &Recorder,
    process: u32,
    node: u8,
    f: OpKind,
    key: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    rec.push(Event::Op {
        at_ms: rec.now(),
        process,
        phase: Phase::Invoke,
        f,
        key: key.map(str::to_string),
        node,
        version: None,
        paused: None,
        error: None,
    });
    let id = key.unwrap_or_default();
    let answer = match f {
        OpKind::Create => api.call(node, Method::POST, "/schedules", body).await,
        OpKind::Update => api.call(node, Method::PATCH, &format!("/schedules/{id}"), body).await,
        OpKind::Pause => api.call(node, Method::POST, &format!("/schedules/{id}/pause"), None).await,
        OpKind::Resume => api.call(node, Method::POST, &format!("/schedules/{id}/resume"), None).await,
        OpKind::Delete => api.call(node, Method::DELETE, &format!("/schedules/{id}"), None).await,
        OpKind::Read => api.call(node, Method::GET, &format!("/schedules/{id}?consistency=linearizable"), None).await,
    };
    let (phase, view, error) = match &answer {
        Answer::Ok(_, v) => (Phase::Ok, Some(v), None),
        // A linearizable read of a missing schedule is a read that saw "absent".
        Answer::Fail(404, _) if f == OpKind::Read => (Phase::Ok, None, None),
        Answer::Fail(s, b) => (Phase::Fail, None, Some(format!("HTTP {s}: {b}"))),
        Answer::Info(e) => (Phase::Info, None, Some(e.clone())),
    };
    let key = match f {
        OpKind::Create => view.and_then(|v| v["id"].as_str()).map(str::to_string),
        _ => key.map(str::to_string),
    };
    rec.push(Event::Op {
        at_ms: rec.now(),
        process,
        phase,
        f,
        key,
        node,
        version: view.and_then(|v| v["version"].as_u64()),
        paused: view.and_then(|v| v["paused"].as_bool()),
        error,
    });
    answer
}

/// Creates a schedule from `plan`, recording it; retries (new creates) until `deadline`.
async fn create(
    api: &Api,
    rec: &Recorder,
    rng: &mut Rng,
    process: u32,
    plan: &Plan,
    steady: bool,
    deadline: Instant,
) -> anyhow::Result<String> {
    loop {
        let node = rng.pick(&api.masters).map(|m| m.0).unwrap_or(1);
        if let Answer::Ok(_, v) = op(api, rec, process, node, OpKind::Create, None, Some(&plan.body())).await {
            let id = v["id"].as_str().context("create answered without an id")?.to_string();
            rec.push(plan.created(rec.now(), &id, &v, steady));
            return Ok(id);
        }
        anyhow::ensure!(Instant::now() < deadline, "could not create a schedule before the deadline");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Calls `f` on random masters until it answers `Ok` (or 409: already there), or fails at
/// the deadline.
async fn until_ok(
    api: &Api,
    rng: &mut Rng,
    what: &str,
    deadline: Instant,
    mut f: impl AsyncFnMut(u8) -> Answer,
) -> anyhow::Result<Value> {
    loop {
        let node = rng.pick(&api.masters).map(|m| m.0).unwrap_or(1);
        let last = match f(node).await {
            Answer::Ok(_, v) => return Ok(v),
            Answer::Fail(409, b) => return Ok(json!({"conflict": b})),
            other => other,
        };
        anyhow::ensure!(Instant::now() < deadline, "{what}: no success before the deadline (last: {last:?})");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Alerting as an operator sets it up (admin token, any master): the mail channel `jt-mail`
/// to the SMTP sink (plain SMTP, quick retries) and the rule `failover` routing failover
/// alerts to it; then [`Event::AlertsConfigured`]. A 4xx is final (no retry).
async fn configure_alerts(
    api: &Api,
    rec: &Recorder,
    rng: &mut Rng,
    sink: &MailSink,
    deadline: Instant,
) -> anyhow::Result<()> {
    let channel = json!({
        "type": "email", "host": sink.host, "port": sink.port, "security": "none",
        "from": "jepsen <jt@spider.test>", "to": ["oncall@spider.test"],
        "retry": {"backoff_ms": [500, 1000, 2000, 2000, 2000, 2000, 2000, 2000]},
    });
    let rule = json!({"name": "failover", "kinds": ["failover"], "channels": ["jt-mail"]});
    for (path, body) in [("/channels/jt-mail", &channel), ("/alert-rules/failover", &rule)] {
        loop {
            let node = rng.pick(&api.masters).map(|m| m.0).unwrap_or(1);
            match api.call(node, Method::PUT, path, Some(body)).await {
                Answer::Ok(..) => break,
                Answer::Fail(status, b) => anyhow::bail!("PUT {path}: HTTP {status}: {b}"),
                Answer::Info(e) => {
                    anyhow::ensure!(Instant::now() < deadline, "PUT {path}: no answer before the deadline ({e})")
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    rec.push(Event::AlertsConfigured { at_ms: rec.now() });
    Ok(())
}

/// Configures alerting to the SMTP sink when there is one, registers the stand-ins, deploys
/// the egg, creates the steady schedules and a scripted pause and delete (so those checkers
/// always have something to judge).
///
/// With a real slave, it is registered too (tag `real`), and one steady `fire_all` schedule
/// every [`REAL_PERIOD_S`] runs the real spider there.
pub async fn setup(
    api: &Api,
    rec: &Recorder,
    standins: &[StandIn],
    real: Option<&RealSlave>,
    mail: Option<&MailSink>,
    rng: &mut Rng,
) -> anyhow::Result<SharedPool> {
    let deadline = Instant::now() + Duration::from_secs(60);
    if let Some(sink) = mail {
        configure_alerts(api, rec, rng, sink, deadline).await?;
    }
    let mut nodes: Vec<(String, Value)> = standins
        .iter()
        .map(|s| (s.name.clone(), json!({"id": s.name, "url": s.url, "max_proc": 1000, "tags": [STANDIN_TAG]})))
        .collect();
    if let Some(r) = real {
        nodes.push((REAL.to_string(), json!({"id": REAL, "url": r.url, "max_proc": 4, "tags": [REAL_TAG]})));
    }
    for (_, body) in &nodes {
        until_ok(api, rng, "registering a slave", deadline, async |n| {
            api.call(n, Method::POST, "/nodes", Some(body)).await
        })
        .await?;
    }
    let egg = egg()?;
    until_ok(api, rng, "uploading the egg", deadline, async |n| api.upload_egg(n, PROJECT, "r1", egg.clone()).await)
        .await?;
    loop {
        let node = rng.pick(&api.masters).map(|m| m.0).unwrap_or(1);
        if let Answer::Ok(_, v) =
            api.call(node, Method::GET, &format!("/projects/{PROJECT}?consistency=linearizable"), None).await
        {
            let d = &v["versions"][0]["deployments"];
            if nodes.iter().all(|(name, _)| d[name]["kind"] == "deployed") {
                break;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the egg was not deployed to every slave in time");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let p: SharedPool = Arc::default();
    for plan in steady_plans() {
        let id = create(api, rec, rng, SETUP, &plan, true, deadline).await?;
        pool(&p, |p| {
            p.steady.push(id.clone());
            p.all.push(id);
        });
    }
    if let Some(r) = real {
        let plan = Plan {
            period_s: REAL_PERIOD_S,
            misfire: fire_all(),
            overlap: "allow",
            real_log: Some(r.run_log.display().to_string()),
        };
        let id = create(api, rec, rng, SETUP, &plan, true, deadline).await?;
        pool(&p, |p| p.all.push(id));
    }
    let churn = Plan { period_s: 1, misfire: fire_all(), overlap: "allow", real_log: None };
    let paused = create(api, rec, rng, SETUP, &churn, false, deadline).await?;
    let deleted = create(api, rec, rng, SETUP, &churn, false, deadline).await?;
    for (f, id) in [(OpKind::Pause, &paused), (OpKind::Delete, &deleted)] {
        until_ok(api, rng, "the scripted pause/delete", deadline, async |n| {
            op(api, rec, SETUP, n, f, Some(id), None).await
        })
        .await?;
    }
    pool(&p, |p| {
        p.churn.push(paused.clone());
        p.all.extend([paused, deleted]);
    });
    Ok(p)
}

/// One client task: random operations on random masters until `stop` turns true.
pub async fn client(
    api: Api,
    rec: Recorder,
    p: SharedPool,
    process: u32,
    seed: u64,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut rng = Rng::new(seed);
    let churn_plans = [
        Plan { period_s: 1, misfire: fire_all(), overlap: "allow", real_log: None },
        Plan { period_s: 1, misfire: skip(), overlap: "allow", real_log: None },
        Plan { period_s: 2, misfire: fire_once(), overlap: "forbid", real_log: None },
    ];
    while !*stop.borrow() {
        let node = rng.pick(&api.masters).map(|m| m.0).unwrap_or(1);
        let (steady, churn) = pool(&p, |p| (p.steady.clone(), p.churn.clone()));
        let any: Vec<String> = steady.iter().chain(churn.iter()).cloned().collect();
        let roll = rng.range(0, 99);
        match roll {
            0..=9 if churn.len() < 6 => {
                let Some(plan) = rng.pick(&churn_plans).cloned() else { continue };
                if let Answer::Ok(_, v) = op(&api, &rec, process, node, OpKind::Create, None, Some(&plan.body())).await
                {
                    if let Some(id) = v["id"].as_str() {
                        rec.push(plan.created(rec.now(), id, &v, false));
                        pool(&p, |p| {
                            p.churn.push(id.to_string());
                            p.all.push(id.to_string());
                        });
                    }
                }
            }
            10..=29 => {
                let Some(id) = rng.pick(&any).cloned() else { continue };
                let body = json!({"priority": rng.range(0, 100)});
                op(&api, &rec, process, node, OpKind::Update, Some(&id), Some(&body)).await;
            }
            30..=49 => {
                let f = if roll < 40 { OpKind::Pause } else { OpKind::Resume };
                let Some(id) = rng.pick(&churn).cloned() else { continue };
                op(&api, &rec, process, node, f, Some(&id), None).await;
            }
            50..=54 if churn.len() > 2 => {
                let Some(id) = rng.pick(&churn).cloned() else { continue };
                if let Answer::Ok(..) = op(&api, &rec, process, node, OpKind::Delete, Some(&id), None).await {
                    pool(&p, |p| p.churn.retain(|c| c != &id));
                }
            }
            _ => {
                let Some(id) = rng.pick(&any).cloned() else { continue };
                op(&api, &rec, process, node, OpKind::Read, Some(&id), None).await;
            }
        }
        // Pacing between operations (not waiting for anything to settle).
        tokio::time::sleep(Duration::from_millis(rng.range(100, 400))).await;
    }
}

/// The final reads: every schedule ever acknowledged, read linearizably until a master
/// answers (a 404 counts), recorded like any read.
pub async fn final_reads(
    api: &Api,
    rec: &Recorder,
    p: &SharedPool,
    rng: &mut Rng,
    deadline: Instant,
) -> anyhow::Result<()> {
    let all = pool(p, |p| p.all.clone());
    for id in all {
        until_ok(api, rng, "a final read", deadline, async |n| {
            match op(api, rec, FINAL, n, OpKind::Read, Some(&id), None).await {
                Answer::Fail(404, _) => Answer::Ok(200, Value::Null),
                a => a,
            }
        })
        .await?;
    }
    Ok(())
}

/// Pauses every schedule the cluster lists (including ones whose create was indeterminate),
/// so that the state stops changing and replicas can be compared.
pub async fn pause_all(api: &Api, rec: &Recorder, rng: &mut Rng, deadline: Instant) -> anyhow::Result<()> {
    let list = until_ok(api, rng, "listing schedules", deadline, async |n| {
        api.call(n, Method::GET, "/schedules?consistency=linearizable", None).await
    })
    .await?;
    for s in list.as_array().into_iter().flatten().filter(|s| s["paused"] == false) {
        let Some(id) = s["id"].as_str() else { continue };
        until_ok(api, rng, "pausing for the final comparison", deadline, async |n| {
            op(api, rec, FINAL, n, OpKind::Pause, Some(id), None).await
        })
        .await?;
    }
    Ok(())
}

/// Samples every master's applied index and state digest (`/api/v1/cluster/digest`) until all
/// agree twice in a row
/// (or the deadline passes); records the last samples as [`Event::Final`].
pub async fn converge(api: &Api, rec: &Recorder, deadline: Instant) {
    let mut previous = None;
    loop {
        let mut samples = Vec::new();
        for (n, _) in &api.masters {
            // The master's own digest of its whole replicated state, with the applied index it
            // belongs to (read together on the master).
            let (applied, d) = match api.call(*n, Method::GET, "/cluster/digest", None).await {
                Answer::Ok(_, v) => (v["last_applied"].as_u64(), v["digest"].as_str().unwrap_or("?").to_string()),
                other => (None, format!("unreadable: {other:?}")),
            };
            let count = match api.call(*n, Method::GET, "/schedules", None).await {
                Answer::Ok(_, v) => v.as_array().map_or(0, Vec::len),
                _ => 0,
            };
            samples.push((*n, applied, d, count));
        }
        let key: Vec<_> = samples.iter().map(|(_, a, d, _)| (*a, d.clone())).collect();
        let agree = key.windows(2).all(|w| w[0] == w[1]) && key.iter().all(|(a, _)| a.is_some());
        if (agree && previous.as_ref() == Some(&key)) || Instant::now() > deadline {
            for (node, applied, digest, schedules) in samples {
                rec.push(Event::Final { at_ms: rec.now(), node, applied, digest, schedules });
            }
            return;
        }
        previous = agree.then_some(key);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_egg_has_a_scrapy_entry_point() {
        let bytes = egg().expect("egg");
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut z.by_name("EGG-INFO/entry_points.txt").expect("entry points"), &mut text)
            .expect("read");
        assert!(text.contains("[scrapy]") && text.contains("settings = jt.settings"));
    }

    #[test]
    fn the_generator_is_seeded() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.range(1, 6)).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..5).map(|_| r.range(1, 6)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (1..=6).contains(x)));
        assert_ne!(a, {
            let mut r = Rng::new(8);
            (0..5).map(|_| r.range(1, 6)).collect::<Vec<_>>()
        });
    }
}

//! The recording stand-in slave: a tiny Scrapyd-compatible axum server on loopback that answers
//! what the masters' health checker, deployer and dispatcher ask, and records when each
//! `schedule.json` arrives (receive time, job id). It runs no crawl: a job it was sent reads as
//! `finished`, any other as `unknown`. Any number of stand-ins share one [`Recorder`].
//!
//! By default `listjobs.json` lists nothing, so a master's collector declares every delivered
//! job lost after its grace. With [`Recorder::list_jobs`] each stand-in lists the jobs it
//! received as spider-slave does (with its outcome fields): finished at once with exit code 0,
//! or, for a job in [`Recorder::planned`], running until the plan's time and then finished
//! with the plan's exit code — a job that fails as the collector and the alerter see it.

use std::collections::HashMap;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use axum::extract::Query;
use axum::extract::State as AxState;
use axum::routing::get;
use axum::routing::post;
use axum::Form;
use axum::Json;
use raft_store::state::NodeSpec;
use raft_store::state::NodeStatus;
use raft_store::Applied;
use raft_store::Command;
use serde_json::json;
use serde_json::Value;

use crate::cluster::now_ms;
use crate::cluster::TestCluster;

/// What the stand-ins saw, shared by all of them.
#[derive(Default)]
pub struct Recorder {
    /// (receive time ms, job id) per `schedule.json`, in arrival order.
    pub log: Vec<(i64, String)>,
    /// Every job id received.
    pub known: HashSet<String>,
    /// List the jobs received in `listjobs.json` (off: the listing is empty).
    pub list_jobs: bool,
    /// How listed jobs end, by job id; a job without a plan finished at once, exit code 0.
    pub planned: HashMap<String, Planned>,
    /// (stand-in, job id, project, spider) of each job received once, in arrival order.
    received: Vec<(String, String, String, String)>,
}

/// How a listed job ends: running until `finish_at_ms` (Unix ms), then finished.
#[derive(Debug, Clone)]
pub struct Planned {
    pub finish_at_ms: i64,
    pub exit_code: i32,
    pub finish_reason: String,
}

/// Finished jobs a stand-in lists, newest first (Scrapyd's `finished_to_keep`, made larger).
const FINISHED_KEPT: usize = 1000;

pub type Rec = Arc<Mutex<Recorder>>;

#[derive(Clone)]
struct StandIn {
    name: String,
    rec: Rec,
}

fn ok(extra: Value) -> Json<Value> {
    let mut v = json!({"status": "ok", "node_name": "bench"});
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    Json(v)
}

async fn daemonstatus(AxState(s): AxState<StandIn>) -> Json<Value> {
    ok(json!({"node_name": s.name, "pending": 0, "running": 0, "finished": 0}))
}

async fn listjobs(AxState(s): AxState<StandIn>) -> Json<Value> {
    let (mut running, mut finished) = (Vec::new(), Vec::new());
    let now = now_ms();
    {
        let r = s.rec.lock().expect("lock");
        let listed = if r.list_jobs { r.received.as_slice() } else { &[] };
        for (_, id, project, spider) in listed.iter().rev().filter(|(node, ..)| *node == s.name) {
            let job = json!({"id": id, "project": project, "spider": spider});
            match r.planned.get(id) {
                Some(p) if p.finish_at_ms > now => running.push(job),
                _ if finished.len() >= FINISHED_KEPT => {}
                Some(p) => finished.push((job, p.exit_code, p.finish_reason.clone())),
                None => finished.push((job, 0, "finished".to_string())),
            }
        }
    }
    let finished: Vec<Value> = finished
        .into_iter()
        .map(|(mut job, exit_code, reason)| {
            if let Value::Object(m) = &mut job {
                m.insert("exit_code".into(), json!(exit_code));
                m.insert("finish_reason".into(), json!(reason));
            }
            job
        })
        .collect();
    ok(json!({"node_name": s.name, "pending": [], "running": running, "finished": finished}))
}

async fn status(AxState(s): AxState<StandIn>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let known = q.get("job").is_some_and(|j| s.rec.lock().expect("lock").known.contains(j));
    ok(json!({"currstate": if known { "finished" } else { "unknown" }}))
}

async fn schedule(AxState(s): AxState<StandIn>, Form(form): Form<Vec<(String, String)>>) -> Json<Value> {
    let at = now_ms();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let jobid = field("jobid");
    let mut r = s.rec.lock().expect("lock");
    r.log.push((at, jobid.clone()));
    if r.known.insert(jobid.clone()) {
        r.received.push((s.name.clone(), jobid.clone(), field("project"), field("spider")));
    }
    ok(json!({"jobid": jobid}))
}

/// Starts a stand-in named `name` recording into `rec`; its base URL.
pub async fn start_stand_in(name: &str, rec: Rec) -> String {
    let state = StandIn { name: name.to_string(), rec };
    let app = axum::Router::new()
        .route("/daemonstatus.json", get(daemonstatus))
        .route("/listjobs.json", get(listjobs))
        .route("/status.json", get(status))
        .route("/listprojects.json", get(|| async { ok(json!({"projects": []})) }))
        .route("/listversions.json", get(|| async { ok(json!({"versions": []})) }))
        .route("/addversion.json", post(|| async { ok(json!({"spiders": 1})) }))
        .route("/schedule.json", post(schedule))
        .with_state(state);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind stand-in");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

/// Registers the stand-ins at `urls` as nodes `s1`, `s2`, … with `max_proc` slots each, and
/// waits (up to 60 s) until the leader's health checker has them all up.
pub async fn register(cluster: &TestCluster, urls: &[String], max_proc: u32) {
    for (i, url) in urls.iter().enumerate() {
        let spec =
            NodeSpec { url: url.clone(), username: None, password: None, tags: vec![], max_proc: Some(max_proc) };
        let r = cluster.propose(Command::RegisterNode { id: format!("s{}", i + 1), spec }).await;
        assert!(!matches!(r, Applied::Rejected(_)), "register: {r:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let id = cluster.try_leader(Duration::from_secs(30)).await.expect("a leader");
        let up = cluster
            .master(id)
            .state
            .read(|s| s.nodes.values().filter(|n| matches!(n.status, NodeStatus::Up { .. })).count() == urls.len());
        if up {
            return;
        }
        assert!(Instant::now() < deadline, "stand-ins never marked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

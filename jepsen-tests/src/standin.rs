//! The recording Scrapyd stand-in: a slave that lives inside the harness, answers every
//! endpoint the master calls, and records every `schedule.json` it receives (time, job id,
//! project, spider, peer address, `Idempotency-Key`, and whether the job started).
//!
//! It behaves like Scrapyd given a `jobid`, except that a repeated job id does not start a
//! second run: both deliveries are recorded, and only the first starts. A job "runs" for
//! `job_ms`, then finishes (so overlap policies have something to overlap with).
//!
//! Fault modes ([`FaultMode`]) are switched at runtime and apply to `schedule.json` only, so
//! the master keeps judging the slave healthy and keeps choosing it: `Error5xx` answers 503
//! without starting anything; `Slow` starts the job and answers after `slow_ms` (longer than
//! the master's dispatch timeout); `Ambiguous` starts the job and breaks the connection
//! instead of answering. [`StandIn::inject_duplicate_start`] records a second start of a job
//! that already started: the harness's own fault, for the honesty self-test.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::post;
use axum::Form;
use axum::Json;
use axum::Router;
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;
use serde_json::Value;

/// Finished jobs `listjobs.json` lists (the newest).
const FINISHED_LISTED: usize = 200;

/// How `schedule.json` misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    Healthy,
    /// 503, nothing started.
    Error5xx,
    /// The job starts; the answer comes after `slow_ms`.
    Slow,
    /// The job starts; the connection breaks instead of an answer.
    Ambiguous,
}

/// One `schedule.json` request as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Unix ms when it arrived.
    pub unix_ms: u64,
    /// The stand-in's name (the node id it is registered under).
    pub slave: String,
    pub job_id: String,
    pub project: String,
    pub spider: String,
    /// Address of the master that sent it.
    pub peer: String,
    pub idempotency_key: Option<String>,
    /// Whether this delivery started a run (false: a repeated job id, or a 5xx answer).
    pub started: bool,
    /// The fault mode in force when it arrived.
    pub mode: FaultMode,
}

#[derive(Debug, Clone)]
struct Job {
    project: String,
    spider: String,
    start_ms: u64,
    end_ms: u64,
}

struct Inner {
    name: String,
    mode: FaultMode,
    job_ms: u64,
    slow_ms: u64,
    jobs: BTreeMap<String, Job>,
    deliveries: Vec<Delivery>,
    /// project → versions (named as Scrapyd lists them).
    eggs: BTreeMap<String, BTreeSet<String>>,
}

/// A running stand-in. Cloning shares it.
#[derive(Clone)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
    pub name: String,
}

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn scrapyd_time(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

fn ok(extra: Value) -> Response {
    let mut v = json!({"status": "ok"});
    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    Json(v).into_response()
}

fn api_error(message: &str) -> Response {
    Json(json!({"status": "error", "message": message})).into_response()
}

impl StandIn {
    /// Starts a stand-in named `name` on `ip` (port chosen by the system); jobs run `job_ms`.
    pub async fn start(name: &str, ip: &str, job_ms: u64) -> anyhow::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner {
            name: name.to_string(),
            mode: FaultMode::Healthy,
            job_ms,
            slow_ms: 7_000,
            jobs: BTreeMap::new(),
            deliveries: Vec::new(),
            eggs: BTreeMap::new(),
        }));
        let s = StandIn { inner, url: String::new(), name: name.to_string() };
        let app = Router::new()
            .route("/daemonstatus.json", get(daemonstatus))
            .route("/addversion.json", post(addversion))
            .route("/listprojects.json", get(listprojects))
            .route("/listversions.json", get(listversions))
            .route("/listspiders.json", get(listspiders))
            .route("/delversion.json", post(delversion))
            .route("/delproject.json", post(delproject))
            .route("/schedule.json", post(schedule))
            .route("/listjobs.json", get(listjobs))
            .route("/status.json", get(status))
            .route("/cancel.json", post(cancel))
            .with_state(s.clone());
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0")).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        Ok(StandIn { url: format!("http://{addr}"), ..s })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        // A poisoned lock means a handler panicked mid-update; the records are still the best
        // evidence we have.
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn set_mode(&self, mode: FaultMode) {
        self.with(|i| i.mode = mode);
    }

    pub fn mode(&self) -> FaultMode {
        self.with(|i| i.mode)
    }

    /// How long a `Slow` answer takes (default 7 s, past the master's 5 s dispatch timeout).
    pub fn set_slow_ms(&self, ms: u64) {
        self.with(|i| i.slow_ms = ms);
    }

    /// Every delivery so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.with(|i| i.deliveries.clone())
    }

    /// Records a second start of the newest job that started here (the harness's own
    /// duplicate dispatch). Returns its job id, or `None` if nothing has started yet.
    pub fn inject_duplicate_start(&self) -> Option<String> {
        self.with(|i| {
            let first = i.deliveries.iter().rev().find(|d| d.started)?.clone();
            let now = unix_ms();
            if let Some(j) = i.jobs.get_mut(&first.job_id) {
                j.end_ms = j.end_ms.max(now + i.job_ms);
            }
            let dup = Delivery { unix_ms: now, peer: "harness".into(), ..first };
            let id = dup.job_id.clone();
            i.deliveries.push(dup);
            Some(id)
        })
    }
}

async fn daemonstatus(State(s): State<StandIn>) -> Response {
    s.with(|i| {
        let now = unix_ms();
        let running = i.jobs.values().filter(|j| j.end_ms > now).count();
        ok(json!({"node_name": i.name, "pending": 0, "running": running, "finished": i.jobs.len() - running}))
    })
}

#[derive(Deserialize)]
struct ProjectQuery {
    project: Option<String>,
    #[serde(rename = "_version")]
    version: Option<String>,
}

async fn addversion(State(s): State<StandIn>, mut form: axum::extract::Multipart) -> Response {
    let (mut project, mut version) = (None, None);
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        let text = field.text().await.unwrap_or_default();
        match name.as_str() {
            "project" => project = Some(text),
            "version" => version = Some(text),
            _ => {}
        }
    }
    let (Some(p), Some(v)) = (project, version) else { return api_error("project and version are required") };
    let listed: String =
        v.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    s.with(|i| i.eggs.entry(p.clone()).or_default().insert(listed));
    ok(json!({"project": p, "version": v, "spiders": 1}))
}

async fn listprojects(State(s): State<StandIn>) -> Response {
    s.with(|i| ok(json!({"projects": i.eggs.keys().collect::<Vec<_>>()})))
}

async fn listversions(State(s): State<StandIn>, Query(q): Query<ProjectQuery>) -> Response {
    let p = q.project.unwrap_or_default();
    s.with(|i| ok(json!({"versions": i.eggs.get(&p).map(|v| v.iter().collect::<Vec<_>>()).unwrap_or_default()})))
}

async fn listspiders(State(s): State<StandIn>, Query(q): Query<ProjectQuery>) -> Response {
    let p = q.project.unwrap_or_default();
    let known = s.with(|i| i.eggs.get(&p).is_some_and(|v| q.version.as_ref().is_none_or(|x| v.contains(x))));
    if known {
        ok(json!({"spiders": ["jt"]}))
    } else {
        api_error("no such project or version")
    }
}

async fn delversion(State(s): State<StandIn>, Form(f): Form<BTreeMap<String, String>>) -> Response {
    let (p, v) = (f.get("project").cloned().unwrap_or_default(), f.get("version").cloned().unwrap_or_default());
    s.with(|i| {
        if let Some(vs) = i.eggs.get_mut(&p) {
            vs.remove(&v);
        }
    });
    ok(json!({}))
}

async fn delproject(State(s): State<StandIn>, Form(f): Form<BTreeMap<String, String>>) -> Response {
    let p = f.get("project").cloned().unwrap_or_default();
    s.with(|i| i.eggs.remove(&p));
    ok(json!({}))
}

async fn schedule(
    State(s): State<StandIn>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (job_id, project, spider) = (field("jobid"), field("project"), field("spider"));
    if job_id.is_empty() || project.is_empty() || spider.is_empty() {
        return api_error("project, spider and jobid are required");
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (mode, slow_ms) = s.with(|i| {
        let now = unix_ms();
        let started = i.mode != FaultMode::Error5xx && !i.jobs.contains_key(&job_id);
        if started {
            let job = Job { project: project.clone(), spider: spider.clone(), start_ms: now, end_ms: now + i.job_ms };
            i.jobs.insert(job_id.clone(), job);
        }
        i.deliveries.push(Delivery {
            unix_ms: now,
            slave: i.name.clone(),
            job_id: job_id.clone(),
            project,
            spider,
            peer: peer.to_string(),
            idempotency_key: key,
            started,
            mode: i.mode,
        });
        (i.mode, i.slow_ms)
    });
    match mode {
        FaultMode::Healthy => ok(json!({"jobid": job_id})),
        FaultMode::Error5xx => (StatusCode::SERVICE_UNAVAILABLE, "stand-in fault: 503").into_response(),
        FaultMode::Slow => {
            tokio::time::sleep(Duration::from_millis(slow_ms)).await;
            ok(json!({"jobid": job_id}))
        }
        FaultMode::Ambiguous => {
            // A body that fails before its first byte: hyper aborts the connection, so the
            // master gets no answer for a request whose job did start.
            let broken = futures::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("stand-in fault: connection dropped"))
            });
            Response::new(axum::body::Body::from_stream(broken))
        }
    }
}

fn job_json(id: &str, j: &Job, now: u64) -> Value {
    let mut v = json!({"id": id, "project": j.project, "spider": j.spider, "start_time": scrapyd_time(j.start_ms)});
    if j.end_ms <= now {
        v["end_time"] = json!(scrapyd_time(j.end_ms));
    }
    v
}

async fn listjobs(State(s): State<StandIn>, Query(q): Query<ProjectQuery>) -> Response {
    s.with(|i| {
        let now = unix_ms();
        let mine = i.jobs.iter().filter(|(_, j)| q.project.as_ref().is_none_or(|p| &j.project == p));
        let (running, finished): (Vec<_>, Vec<_>) = mine.partition(|(_, j)| j.end_ms > now);
        let mut finished: Vec<_> = finished.into_iter().collect();
        finished.sort_by_key(|(_, j)| j.end_ms);
        let skip = finished.len().saturating_sub(FINISHED_LISTED);
        ok(json!({
            "node_name": i.name,
            "pending": [],
            "running": running.iter().map(|(id, j)| job_json(id, j, now)).collect::<Vec<_>>(),
            "finished": finished[skip..].iter().map(|(id, j)| job_json(id, j, now)).collect::<Vec<_>>(),
        }))
    })
}

#[derive(Deserialize)]
struct JobQuery {
    job: Option<String>,
}

async fn status(State(s): State<StandIn>, Query(q): Query<JobQuery>) -> Response {
    let id = q.job.unwrap_or_default();
    s.with(|i| {
        let state = match i.jobs.get(&id) {
            Some(j) if j.end_ms > unix_ms() => "running",
            Some(_) => "finished",
            None => "unknown",
        };
        ok(json!({"currstate": state}))
    })
}

async fn cancel(State(s): State<StandIn>, Form(f): Form<BTreeMap<String, String>>) -> Response {
    let id = f.get("job").cloned().unwrap_or_default();
    s.with(|i| {
        let now = unix_ms();
        let prev = match i.jobs.get_mut(&id) {
            Some(j) if j.end_ms > now => {
                j.end_ms = now;
                "running"
            }
            _ => "",
        };
        ok(json!({"prevstate": prev}))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, form: &[(&str, &str)], key: Option<&str>) -> reqwest::Result<reqwest::Response> {
        let mut r = reqwest::Client::builder().no_proxy().build()?.post(url).form(form);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.timeout(Duration::from_secs(5)).send().await
    }

    #[tokio::test]
    async fn a_repeated_job_id_is_recorded_but_starts_once() {
        let s = StandIn::start("s1", "127.0.0.1", 60_000).await.expect("stand-in");
        let url = format!("{}/schedule.json", s.url);
        let form = [("project", "p"), ("spider", "jt"), ("jobid", "sc1-t1000")];
        for _ in 0..2 {
            let r = post(&url, &form, Some("sc1-t1000")).await.expect("post");
            let v: Value = r.json().await.expect("json");
            assert_eq!(v["jobid"], "sc1-t1000");
        }
        let d = s.deliveries();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].started, d[1].started), (true, false));
        assert_eq!(d[0].idempotency_key.as_deref(), Some("sc1-t1000"));
        let http = reqwest::Client::builder().no_proxy().build().expect("client");
        let st: Value = http
            .get(format!("{}/status.json?job=sc1-t1000", s.url))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        assert_eq!(st["currstate"], "running");
        assert_eq!(s.inject_duplicate_start().as_deref(), Some("sc1-t1000"));
        assert_eq!(s.deliveries().iter().filter(|d| d.started).count(), 2);
    }

    #[tokio::test]
    async fn fault_modes_answer_as_promised() {
        let s = StandIn::start("s1", "127.0.0.1", 10).await.expect("stand-in");
        let url = format!("{}/schedule.json", s.url);
        s.set_mode(FaultMode::Error5xx);
        let r = post(&url, &[("project", "p"), ("spider", "jt"), ("jobid", "a-t1")], None).await.expect("post");
        assert_eq!(r.status(), 503);
        s.set_mode(FaultMode::Ambiguous);
        let r = post(&url, &[("project", "p"), ("spider", "jt"), ("jobid", "a-t2")], None).await;
        let answered = match r {
            Ok(resp) => resp.text().await.is_ok(),
            Err(_) => false,
        };
        assert!(!answered, "an ambiguous dispatch must not get a complete answer");
        let d = s.deliveries();
        assert_eq!(
            d.iter().map(|d| (d.job_id.as_str(), d.started)).collect::<Vec<_>>(),
            [("a-t1", false), ("a-t2", true)]
        );
    }
}

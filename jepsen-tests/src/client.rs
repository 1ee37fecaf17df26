//! The harness's HTTP client for the masters' API (`/api/v1`, bearer [`crate::cluster::TOKEN`]),
//! and the shared recorder that timestamps events into the history.
//!
//! Answers are sorted the way a Jepsen client sorts them: 2xx is [`Answer::Ok`]; 4xx is
//! [`Answer::Fail`] (the request was refused: nothing happened); everything else — 5xx,
//! timeouts, broken connections — is [`Answer::Info`]: the operation may or may not have
//! happened.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

use crate::cluster::TOKEN;
use crate::fault::Fault;
use crate::history::Event;
use crate::history::History;

/// A master's answer, sorted by what it proves.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Ok(u16, Value),
    Fail(u16, String),
    Info(String),
}

/// Clients of every master.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// (index, base URL) of each master.
    pub masters: Vec<(u8, String)>,
}

impl Api {
    pub fn new(masters: Vec<(u8, String)>, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().no_proxy().timeout(timeout).build()?;
        Ok(Api { http, masters })
    }

    fn base(&self, node: u8) -> String {
        self.masters.iter().find(|(i, _)| *i == node).map(|(_, u)| u.clone()).unwrap_or_default()
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> Answer {
        let resp = match r.bearer_auth(TOKEN).send().await {
            Ok(r) => r,
            Err(e) => return Answer::Info(if e.is_timeout() { "timed out".into() } else { e.to_string() }),
        };
        let status = resp.status().as_u16();
        let text = match resp.text().await {
            Ok(t) => t,
            Err(e) => return Answer::Info(format!("HTTP {status}, body lost: {e}")),
        };
        match status {
            200..=299 => Answer::Ok(status, serde_json::from_str(&text).unwrap_or(Value::Null)),
            400..=499 => Answer::Fail(status, text.chars().take(300).collect()),
            _ => Answer::Info(format!("HTTP {status}: {}", text.chars().take(300).collect::<String>())),
        }
    }

    /// `method /api/v1{path}` on master `node`, with an optional JSON body.
    pub async fn call(&self, node: u8, method: reqwest::Method, path: &str, body: Option<&Value>) -> Answer {
        let mut r = self.http.request(method, format!("{}/api/v1{path}", self.base(node)));
        if let Some(b) = body {
            r = r.json(b);
        }
        self.send(r).await
    }

    /// Uploads an egg as version `version` of `project` through master `node`.
    pub async fn upload_egg(&self, node: u8, project: &str, version: &str, egg: Vec<u8>) -> Answer {
        let part = match reqwest::multipart::Part::bytes(egg)
            .file_name(format!("{project}.egg"))
            .mime_str("application/zip")
        {
            Ok(p) => p,
            Err(e) => return Answer::Info(e.to_string()),
        };
        let form = reqwest::multipart::Form::new().text("version", version.to_string()).part("egg", part);
        let url = format!("{}/api/v1/projects/{project}/versions", self.base(node));
        self.send(self.http.post(url).multipart(form)).await
    }

    /// `/healthz` of master `node` (no auth; 503 still carries the body).
    pub async fn health(&self, node: u8) -> Option<Value> {
        let r = self.http.get(format!("{}/healthz", self.base(node))).send().await.ok()?;
        r.json().await.ok()
    }
}

/// Appends timestamped events to the run's history; shared by every task.
#[derive(Clone)]
pub struct Recorder {
    pub history: Arc<Mutex<History>>,
    pub start: Instant,
}

impl Recorder {
    /// Starts the history with [`Event::Start`] stamped now.
    pub fn new(seed: u64, scenario: &str, requested: Vec<Fault>) -> Self {
        let start = Instant::now();
        let unix_ms = crate::standin::unix_ms();
        let first = Event::Start { unix_ms, seed, scenario: scenario.to_string(), requested };
        Recorder { history: Arc::new(Mutex::new(History { events: vec![first] })), start }
    }

    /// Milliseconds since the run started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn push(&self, e: Event) {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).events.push(e);
    }

    /// Applies `f` to the history so far.
    pub fn read<T>(&self, f: impl FnOnce(&History) -> T) -> T {
        f(&self.history.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn snapshot(&self) -> History {
        self.read(|h| h.clone())
    }
}

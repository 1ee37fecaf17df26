//! Provisioning the cluster through its HTTP API with the admin token: wait for a leader,
//! register the slaves, upload the demo egg, wait for it on every slave, create the demo
//! schedule. Every step finds what an earlier run made and reuses it.

use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::json;
use serde_json::Value;
use tokio::time::Instant;

use crate::demo;

/// A client for the masters' API.
pub struct Api {
    http: reqwest::Client,
    token: String,
    masters: Vec<String>,
    /// The master requests go to (any master serves; writes are forwarded to the leader).
    base: String,
    timeout: Duration,
}

/// Sleeps one polling step, or fails when `deadline` has passed.
async fn tick(deadline: Instant, what: &str) -> anyhow::Result<()> {
    if Instant::now() >= deadline {
        anyhow::bail!("timed out waiting for {what}");
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    Ok(())
}

impl Api {
    pub fn new(masters: Vec<String>, token: String, timeout: Duration) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let base = masters.first().cloned().context("no masters")?;
        Ok(Api { http, token, masters, base, timeout })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Sends the request `build` makes, again while the cluster answers 503 (no leader for a
    /// moment) or cannot be reached, until the deadline; returns the status and JSON body.
    async fn send(&self, build: impl Fn() -> reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
        let deadline = Instant::now() + self.timeout;
        loop {
            match build().bearer_auth(&self.token).send().await {
                Ok(resp) if resp.status() != StatusCode::SERVICE_UNAVAILABLE => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    return Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))));
                }
                Ok(resp) if Instant::now() >= deadline => anyhow::bail!("the cluster answers {}", resp.status()),
                Err(e) if Instant::now() >= deadline => return Err(e.into()),
                _ => tick(deadline, "the cluster to answer").await?,
            }
        }
    }

    /// Waits until every master answers `/healthz` and one of them `/leader`; uses the leader.
    pub async fn wait_for_leader(&mut self) -> anyhow::Result<String> {
        let deadline = Instant::now() + self.timeout;
        let mut last = String::new();
        loop {
            let mut healthy = 0;
            let mut leader = None;
            for m in &self.masters {
                let ok = |p: &str| {
                    let r = self.http.get(format!("{m}{p}")).timeout(Duration::from_secs(2)).send();
                    async move { r.await.is_ok_and(|r| r.status().is_success()) }
                };
                if ok("/healthz").await {
                    healthy += 1;
                }
                if ok("/leader").await {
                    leader = Some(m.clone());
                }
            }
            let now = format!(
                "{healthy}/{} masters healthy, leader: {}",
                self.masters.len(),
                leader.as_deref().unwrap_or("none")
            );
            if now != last {
                eprintln!("up: {now}");
                last = now;
            }
            if let (Some(l), true) = (leader, healthy == self.masters.len()) {
                self.base = l.clone();
                return Ok(l);
            }
            tick(deadline, "a leader (see the master logs)").await?;
        }
    }

    /// Registers a slave, or reuses (and if needed updates) the node already registered.
    pub async fn register_slave(&self, name: &str, url: &str) -> anyhow::Result<()> {
        let body = json!({"id": name, "url": url, "tags": ["dev"]});
        let (status, v) = self.send(|| self.http.post(self.url("/nodes")).json(&body)).await?;
        if status.is_success() {
            eprintln!("up: registered {name} ({url})");
            return Ok(());
        }
        if status != StatusCode::CONFLICT {
            anyhow::bail!("registering {name}: {status} {v}");
        }
        let (status, v) = self.send(|| self.http.get(self.url(&format!("/nodes/{name}")))).await?;
        if !status.is_success() {
            anyhow::bail!("reading node {name}: {status} {v}");
        }
        if v.get("url").and_then(Value::as_str) != Some(url) {
            let (status, v) =
                self.send(|| self.http.patch(self.url(&format!("/nodes/{name}"))).json(&json!({"url": url}))).await?;
            if !status.is_success() {
                anyhow::bail!("updating node {name}: {status} {v}");
            }
            eprintln!("up: updated {name} to {url}");
        } else {
            eprintln!("up: {name} already registered");
        }
        Ok(())
    }

    /// The project's view, or `None` when it does not exist.
    async fn project(&self, project: &str) -> anyhow::Result<Option<Value>> {
        let (status, v) = self.send(|| self.http.get(self.url(&format!("/projects/{project}")))).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(v)),
            s => anyhow::bail!("reading project {project}: {s} {v}"),
        }
    }

    fn version<'a>(project: &'a Value, version: &str) -> Option<&'a Value> {
        project.get("versions")?.as_array()?.iter().find(|v| v.get("version").and_then(Value::as_str) == Some(version))
    }

    /// Whether `version` of `project` is already stored.
    pub async fn has_version(&self, project: &str, version: &str) -> anyhow::Result<bool> {
        Ok(self.project(project).await?.is_some_and(|p| Self::version(&p, version).is_some()))
    }

    /// Uploads an egg (multipart `egg`, `version`).
    pub async fn upload_egg(&self, project: &str, version: &str, egg: Vec<u8>) -> anyhow::Result<()> {
        let form = || {
            let part = reqwest::multipart::Part::bytes(egg.clone()).file_name(format!("{project}-{version}.egg"));
            reqwest::multipart::Form::new().text("version", version.to_string()).part("egg", part)
        };
        let url = self.url(&format!("/projects/{project}/versions"));
        let (status, v) = self.send(|| self.http.post(&url).multipart(form())).await?;
        if !status.is_success() {
            anyhow::bail!("uploading {project} {version}: {status} {v}");
        }
        eprintln!("up: uploaded {project} {version}");
        Ok(())
    }

    /// Waits until the deployer reports `version` deployed on every slave in `slaves`.
    pub async fn wait_deployed(&self, project: &str, version: &str, slaves: &[String]) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.timeout;
        let mut last = String::new();
        loop {
            let p = self.project(project).await?;
            let deployments = p.as_ref().and_then(|p| Self::version(p, version)).and_then(|v| v.get("deployments"));
            let kind = |s: &str| {
                deployments
                    .and_then(|d| d.get(s))
                    .and_then(|d| d.get("kind"))
                    .and_then(Value::as_str)
                    .unwrap_or("pending")
            };
            let now = slaves.iter().map(|s| format!("{s}: {}", kind(s))).collect::<Vec<_>>().join(", ");
            if now != last {
                eprintln!("up: deployment of {project} {version}: {now}");
                last = now;
            }
            if slaves.iter().all(|s| kind(s) == "deployed") {
                return Ok(());
            }
            tick(deadline, "the egg on every slave (see the leader's log)").await?;
        }
    }

    /// Creates the demo schedule unless one for the demo spider exists; its id.
    pub async fn ensure_schedule(&self, site_url: &str) -> anyhow::Result<String> {
        let (status, v) = self.send(|| self.http.get(self.url("/schedules"))).await?;
        if !status.is_success() {
            anyhow::bail!("listing schedules: {status} {v}");
        }
        let list = v.as_array().or_else(|| v.get("schedules").and_then(Value::as_array)).cloned().unwrap_or_default();
        let field = |s: &Value, k: &str| {
            s.get(k).or_else(|| s.get("spec").and_then(|sp| sp.get(k))).and_then(Value::as_str).map(str::to_string)
        };
        if let Some(s) = list.iter().find(|s| {
            field(s, "project").as_deref() == Some(demo::PROJECT) && field(s, "spider").as_deref() == Some(demo::SPIDER)
        }) {
            let id = field(s, "id").unwrap_or_default();
            eprintln!("up: demo schedule {id} already exists");
            return Ok(id);
        }
        let body = json!({
            "project": demo::PROJECT,
            "spider": demo::SPIDER,
            "trigger": {"kind": "cron", "expr": "*/1 * * * *", "timezone": "UTC"},
            "args": {"url": site_url},
        });
        let (status, v) = self.send(|| self.http.post(self.url("/schedules")).json(&body)).await?;
        if !status.is_success() {
            anyhow::bail!("creating the demo schedule: {status} {v}");
        }
        let id = field(&v, "id").unwrap_or_default();
        eprintln!("up: created demo schedule {id} (every minute)");
        Ok(id)
    }
}

/// Waits until something accepts TCP connections on `addr` (`host:port`).
pub async fn wait_tcp(addr: &str, what: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let connect = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), connect).await {
            return Ok(());
        }
        tick(deadline, what).await?;
    }
}

/// Waits until `url` answers 2xx.
pub async fn wait_http(url: &str, what: &str, timeout: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + timeout;
    loop {
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tick(deadline, what).await?;
    }
}

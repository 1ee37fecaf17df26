//! Provisioning the cluster through its HTTP API with the admin token: wait for a leader,
//! point demo alerting at the SMTP sink, register the slaves, upload the demo egg, wait for it
//! on every slave, create the demo schedule. Every step finds what an earlier run made and
//! reuses it (or is a `PUT`).

use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::json;
use serde_json::Value;
use tokio::time::Instant;

use crate::demo;

/// The demo mail channel's name; every demo alert rule routes to it.
pub const DEMO_CHANNEL: &str = "demo-mail";
/// Sender and recipient of the demo alert mail (all of it lands in the SMTP sink).
pub const DEMO_FROM: &str = "spider-platform <alerts@spider-platform.localhost>";
pub const DEMO_TO: &str = "oncall@spider-platform.localhost";
/// The demo alert rules: name and the event kinds it routes (recoveries are implied).
pub const DEMO_RULES: &[(&str, &[&str])] = &[
    ("failover", &["failover"]),
    ("spider-errors", &["spider_error"]),
    ("nodes", &["node_down"]),
    ("deploys", &["deploy_failed", "dispatch_failed"]),
];

/// The `PUT` requests that configure demo alerting: the mail channel to the sink on
/// `127.0.0.1:smtp_port`, then each rule. Paths are under `/api/v1`.
pub fn demo_alerting_requests(smtp_port: u16) -> Vec<(String, Value)> {
    let channel = json!({
        "type": "email",
        "host": "127.0.0.1",
        "port": smtp_port,
        "security": "none",
        "from": DEMO_FROM,
        "to": [DEMO_TO],
    });
    let mut out = vec![(format!("/channels/{DEMO_CHANNEL}"), channel)];
    out.extend(DEMO_RULES.iter().map(|(name, kinds)| {
        (format!("/alert-rules/{name}"), json!({"name": name, "kinds": kinds, "channels": [DEMO_CHANNEL]}))
    }));
    out
}

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

    /// Configures demo alerting ([`demo_alerting_requests`]): `Ok(true)` once every `PUT`
    /// answered 2xx. A master without the alerting API answers 404: that is a warning (printed
    /// once) and `Ok(false)`, so `up` works on builds from before it; any other status is an error.
    pub async fn ensure_demo_alerting(&self, smtp_port: u16) -> anyhow::Result<bool> {
        for (path, body) in demo_alerting_requests(smtp_port) {
            let (status, v) = self.send(|| self.http.put(self.url(&path)).json(&body)).await?;
            if status == StatusCode::NOT_FOUND {
                eprintln!("up: warning: alerting API not available: demo mail channel not configured");
                return Ok(false);
            }
            if !status.is_success() {
                anyhow::bail!("configuring demo alerting: PUT /api/v1{path}: {status} {v}");
            }
        }
        let rules = DEMO_RULES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        eprintln!(
            "up: demo alerting: rules {rules} mail {DEMO_TO} through channel {DEMO_CHANNEL} (127.0.0.1:{smtp_port})"
        );
        Ok(true)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::Mutex;

    use axum::http::HeaderMap;
    use axum::http::Method;
    use axum::http::Uri;

    use super::*;

    /// (method, path, authorization, JSON body) of each request the stand-in API received.
    type Seen = Arc<Mutex<Vec<(String, String, String, Value)>>>;

    /// A real HTTP server on loopback standing in for the masters' API: records every request
    /// and answers `answer(path)`.
    async fn api_answering(answer: fn(&str) -> (u16, &'static str)) -> (Api, Seen) {
        let seen = Seen::default();
        let rec = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let rec = rec.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let v = serde_json::from_str(&body).unwrap_or(Value::String(body));
                rec.lock().expect("lock").push((method.to_string(), uri.path().to_string(), auth, v));
                let (status, text) = answer(uri.path());
                (StatusCode::from_u16(status).expect("status"), text)
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(l, app).await });
        let api = Api::new(vec![url], "tok".into(), Duration::from_secs(5)).expect("api");
        (api, seen)
    }

    #[tokio::test]
    async fn demo_alerting_puts_the_channel_then_every_rule() {
        let (api, seen) = api_answering(|_| (200, "{}")).await;
        assert!(api.ensure_demo_alerting(2525).await.expect("configured"));
        let seen = seen.lock().expect("lock").clone();
        let paths: Vec<&str> = seen.iter().map(|(_, p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/api/v1/channels/demo-mail",
                "/api/v1/alert-rules/failover",
                "/api/v1/alert-rules/spider-errors",
                "/api/v1/alert-rules/nodes",
                "/api/v1/alert-rules/deploys"
            ]
        );
        assert!(seen.iter().all(|(m, _, a, _)| m == "PUT" && a == "Bearer tok"), "{seen:?}");
        assert_eq!(
            seen[0].3,
            json!({"type": "email", "host": "127.0.0.1", "port": 2525, "security": "none",
                   "from": "spider-platform <alerts@spider-platform.localhost>",
                   "to": ["oncall@spider-platform.localhost"]})
        );
        assert_eq!(seen[1].3, json!({"name": "failover", "kinds": ["failover"], "channels": ["demo-mail"]}));
        assert_eq!(seen[2].3, json!({"name": "spider-errors", "kinds": ["spider_error"], "channels": ["demo-mail"]}));
        assert_eq!(seen[3].3, json!({"name": "nodes", "kinds": ["node_down"], "channels": ["demo-mail"]}));
        assert_eq!(
            seen[4].3,
            json!({"name": "deploys", "kinds": ["deploy_failed", "dispatch_failed"], "channels": ["demo-mail"]})
        );
        // Idempotent: the same PUTs again.
        assert!(api.ensure_demo_alerting(2525).await.expect("again"));
    }

    #[tokio::test]
    async fn a_master_without_the_alerting_api_is_a_warning_not_a_failure() {
        let (api, seen) = api_answering(|_| (404, r#"{"error":"not found"}"#)).await;
        assert!(!api.ensure_demo_alerting(2525).await.expect("not a failure"));
        assert_eq!(seen.lock().expect("lock").len(), 1, "stops at the first 404");
        let (api, _) = api_answering(|p| if p.contains("alert-rules") { (404, "") } else { (200, "{}") }).await;
        assert!(!api.ensure_demo_alerting(2525).await.expect("not a failure"));
    }

    #[tokio::test]
    async fn any_other_refusal_is_an_error_with_status_and_body() {
        let (api, _) =
            api_answering(|p| if p.ends_with("/nodes") { (400, "unknown kind node_down") } else { (200, "{}") }).await;
        let e = api.ensure_demo_alerting(2525).await.expect_err("refused").to_string();
        assert!(
            e.contains("/api/v1/alert-rules/nodes") && e.contains("400") && e.contains("unknown kind node_down"),
            "{e}"
        );
    }
}

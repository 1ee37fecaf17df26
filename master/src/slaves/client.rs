//! `SlaveClient`: the master's side of the Scrapyd HTTP API, for spider-slave and real Scrapyd.
//!
//! Every call has a deadline. Scrapyd answers API errors with HTTP 200 and
//! `{"status": "error", "message": …}`; those become [`SlaveError::Api`], distinct from a slave
//! that cannot be reached ([`SlaveError::Unreachable`]) or answers something that is not
//! Scrapyd ([`SlaveError::BadReply`]). spider-slave's extra fields (job outcomes, `/metrics.json`)
//! are read when present and their absence (real Scrapyd) is not an error.

use std::collections::BTreeMap;
use std::time::Duration;

use raft_store::state::JobOutcome;
use raft_store::state::Node;
use serde::Deserialize;
use serde_json::Value;

/// Why a call to a slave failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaveError {
    /// No answer (connection refused, timeout, reset). The request may or may not have arrived.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The slave answered with an HTTP error status (401 for wrong credentials, 5xx…).
    #[error("HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// Scrapyd's `{"status": "error"}` with its message.
    #[error("{0}")]
    Api(String),
    /// An answer that is not the Scrapyd JSON we expect.
    #[error("unexpected answer: {0}")]
    BadReply(String),
}

impl SlaveError {
    /// Whether the endpoint does not exist on this slave (real Scrapyd has no `/metrics.json`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, SlaveError::Http { status: 404, .. })
    }
}

/// `daemonstatus.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DaemonStatus {
    #[serde(default)]
    pub node_name: String,
    #[serde(default)]
    pub pending: u64,
    #[serde(default)]
    pub running: u64,
    #[serde(default)]
    pub finished: u64,
}

/// One job as `listjobs.json` lists it (Scrapyd fields, plus spider-slave's outcome fields).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SlaveJob {
    pub id: String,
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub spider: String,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub signal: Option<i32>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub items_scraped: Option<u64>,
    #[serde(default)]
    pub responses_received: Option<u64>,
    #[serde(default)]
    pub errors: Option<u64>,
    #[serde(default)]
    pub log_counts: Option<BTreeMap<String, u64>>,
}

impl SlaveJob {
    /// The outcome fields, if the slave sent any (spider-slave does, Scrapyd does not).
    pub fn outcome(&self) -> Option<JobOutcome> {
        let any = self.exit_code.is_some()
            || self.signal.is_some()
            || self.finish_reason.is_some()
            || self.items_scraped.is_some()
            || self.log_counts.is_some();
        any.then(|| JobOutcome {
            exit_code: self.exit_code,
            signal: self.signal,
            finish_reason: self.finish_reason.clone(),
            items: self.items_scraped,
            responses: self.responses_received,
            errors: self.errors,
            log_counts: self.log_counts.clone().unwrap_or_default(),
        })
    }
}

/// `listjobs.json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct JobLists {
    #[serde(default)]
    pub pending: Vec<SlaveJob>,
    #[serde(default)]
    pub running: Vec<SlaveJob>,
    #[serde(default)]
    pub finished: Vec<SlaveJob>,
}

/// What a `schedule.json` asks for.
#[derive(Debug, Clone, Default)]
pub struct ScheduleRequest<'a> {
    pub project: &'a str,
    pub spider: &'a str,
    /// The job id to use (Scrapyd's `jobid`).
    pub job_id: Option<&'a str>,
    /// Egg version (Scrapyd's `_version`).
    pub version: Option<&'a str>,
    pub priority: Option<i32>,
    pub args: Option<&'a BTreeMap<String, String>>,
    pub settings: Option<&'a BTreeMap<String, String>>,
    /// Sent as the `Idempotency-Key` header (spider-slave de-duplicates on it; Scrapyd ignores it).
    pub idempotency_key: Option<&'a str>,
}

/// Parses Scrapyd's time format (`2024-05-01 12:00:00.123456`, the slave's local time, which we
/// take as UTC: masters and slaves of one cluster are expected to run in UTC) to Unix ms.
pub fn parse_time_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()?;
    u64::try_from(t.and_utc().timestamp_millis()).ok()
}

/// A client for one slave (its URL and credentials from the registry).
#[derive(Clone)]
pub struct SlaveClient {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, String)>,
    timeout: Duration,
}

impl SlaveClient {
    pub fn new(http: reqwest::Client, node: &Node, timeout: Duration) -> Self {
        let auth = node
            .spec
            .username
            .as_ref()
            .map(|u| (u.clone(), node.spec.password.as_ref().map(|p| p.expose().to_string()).unwrap_or_default()));
        Self { http, base: node.spec.url.trim_end_matches('/').to_string(), auth, timeout }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn req(&self, method: reqwest::Method, path: &str, timeout: Duration) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, self.url(path)).timeout(timeout);
        if let Some((u, p)) = &self.auth {
            r = r.basic_auth(u, Some(p));
        }
        r
    }

    /// Sends, then checks the HTTP status and Scrapyd's `status` field.
    async fn call(&self, r: reqwest::RequestBuilder) -> Result<Value, SlaveError> {
        let resp = r.send().await.map_err(|e| SlaveError::Unreachable(describe(&e)))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| SlaveError::Unreachable(describe(&e)))?;
        if !status.is_success() {
            return Err(SlaveError::Http { status: status.as_u16(), body: clip(&text) });
        }
        let v: Value = serde_json::from_str(&text).map_err(|_| SlaveError::BadReply(clip(&text)))?;
        match v.get("status").and_then(Value::as_str) {
            Some("ok") => Ok(v),
            Some("error") => {
                Err(SlaveError::Api(v.get("message").and_then(Value::as_str).unwrap_or("error").to_string()))
            }
            _ => Err(SlaveError::BadReply(clip(&text))),
        }
    }

    fn field<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, SlaveError> {
        let text = clip(&v.to_string());
        serde_json::from_value(v).map_err(|e| SlaveError::BadReply(format!("{e}: {text}")))
    }

    pub async fn daemonstatus(&self) -> Result<DaemonStatus, SlaveError> {
        let v = self.call(self.req(reqwest::Method::GET, "daemonstatus.json", self.timeout)).await?;
        Self::field(v)
    }

    /// Uploads an egg; returns the number of spiders the slave found in it.
    pub async fn addversion(&self, project: &str, version: &str, egg: Vec<u8>) -> Result<u64, SlaveError> {
        let part = reqwest::multipart::Part::bytes(egg)
            .file_name(format!("{project}.egg"))
            .mime_str("application/octet-stream")
            .map_err(|e| SlaveError::BadReply(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .text("project", project.to_string())
            .text("version", version.to_string())
            .part("egg", part);
        let v =
            self.call(self.req(reqwest::Method::POST, "addversion.json", self.timeout * 10).multipart(form)).await?;
        Ok(v.get("spiders").and_then(Value::as_u64).unwrap_or(0))
    }

    pub async fn listprojects(&self) -> Result<Vec<String>, SlaveError> {
        let v = self.call(self.req(reqwest::Method::GET, "listprojects.json", self.timeout)).await?;
        Self::field(v.get("projects").cloned().unwrap_or(Value::Null))
    }

    pub async fn listversions(&self, project: &str) -> Result<Vec<String>, SlaveError> {
        let r = self.req(reqwest::Method::GET, "listversions.json", self.timeout).query(&[("project", project)]);
        let v = self.call(r).await?;
        Self::field(v.get("versions").cloned().unwrap_or(Value::Null))
    }

    /// `listspiders.json` of a version (runs `scrapy list` on the slave: slow, so a long deadline).
    pub async fn listspiders(&self, project: &str, version: &str) -> Result<Vec<String>, SlaveError> {
        let r = self
            .req(reqwest::Method::GET, "listspiders.json", self.timeout * 6)
            .query(&[("project", project), ("_version", version)]);
        let v = self.call(r).await?;
        Self::field(v.get("spiders").cloned().unwrap_or(Value::Null))
    }

    pub async fn delversion(&self, project: &str, version: &str) -> Result<(), SlaveError> {
        let r = self
            .req(reqwest::Method::POST, "delversion.json", self.timeout)
            .form(&[("project", project), ("version", version)]);
        self.call(r).await.map(|_| ())
    }

    pub async fn delproject(&self, project: &str) -> Result<(), SlaveError> {
        let r = self.req(reqwest::Method::POST, "delproject.json", self.timeout).form(&[("project", project)]);
        self.call(r).await.map(|_| ())
    }

    /// The last `max_bytes` of a job's log (`/logs/<project>/<spider>/<job>.log`, a Range
    /// request; the whole file if the slave ignores ranges). A partial first line is dropped.
    pub async fn log_tail(&self, project: &str, spider: &str, job: &str, max_bytes: u64) -> Result<String, SlaveError> {
        let path = format!("logs/{project}/{spider}/{job}.log");
        let r = self.req(reqwest::Method::GET, &path, self.timeout).header("Range", format!("bytes=-{max_bytes}"));
        let resp = r.send().await.map_err(|e| SlaveError::Unreachable(describe(&e)))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| SlaveError::Unreachable(describe(&e)))?;
        if !status.is_success() {
            return Err(SlaveError::Http { status: status.as_u16(), body: clip(&String::from_utf8_lossy(&bytes)) });
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let partial = status == reqwest::StatusCode::PARTIAL_CONTENT && bytes.len() as u64 >= max_bytes;
        Ok(match (partial, text.find('\n')) {
            (true, Some(i)) => text[i + 1..].to_string(),
            _ => text,
        })
    }

    /// `listjobs.json` for one project, or for all (spider-slave and Scrapyd ≥ 1.3 accept no project).
    pub async fn listjobs(&self, project: Option<&str>) -> Result<JobLists, SlaveError> {
        let mut r = self.req(reqwest::Method::GET, "listjobs.json", self.timeout);
        if let Some(p) = project {
            r = r.query(&[("project", p)]);
        }
        Self::field(self.call(r).await?)
    }

    /// `status.json` of a job: `Ok(None)` if the slave does not know it. Older Scrapyd without
    /// `status.json` (404) falls back to searching `listjobs.json` of the project.
    pub async fn job_state(&self, project: &str, job_id: &str) -> Result<Option<String>, SlaveError> {
        let r = self.req(reqwest::Method::GET, "status.json", self.timeout).query(&[("job", job_id)]);
        match self.call(r).await {
            Ok(v) => {
                let state = v.get("currstate").and_then(Value::as_str).unwrap_or("");
                Ok((!state.is_empty() && state != "unknown").then(|| state.to_string()))
            }
            Err(e) if e.is_not_found() => {
                let jobs = self.listjobs(Some(project)).await?;
                let find = |list: &[SlaveJob]| list.iter().any(|j| j.id == job_id);
                Ok(if find(&jobs.pending) {
                    Some("pending".into())
                } else if find(&jobs.running) {
                    Some("running".into())
                } else if find(&jobs.finished) {
                    Some("finished".into())
                } else {
                    None
                })
            }
            Err(e) => Err(e),
        }
    }

    /// `schedule.json`; returns the job id the slave gave the job.
    pub async fn schedule(&self, s: &ScheduleRequest<'_>) -> Result<String, SlaveError> {
        let mut form: Vec<(String, String)> =
            vec![("project".into(), s.project.into()), ("spider".into(), s.spider.into())];
        if let Some(j) = s.job_id {
            form.push(("jobid".into(), j.into()));
        }
        if let Some(v) = s.version {
            form.push(("_version".into(), v.into()));
        }
        if let Some(p) = s.priority {
            form.push(("priority".into(), p.to_string()));
        }
        for (k, v) in s.settings.into_iter().flatten() {
            form.push(("setting".into(), format!("{k}={v}")));
        }
        for (k, v) in s.args.into_iter().flatten() {
            form.push((k.clone(), v.clone()));
        }
        let mut r = self.req(reqwest::Method::POST, "schedule.json", self.timeout).form(&form);
        if let Some(key) = s.idempotency_key {
            r = r.header("Idempotency-Key", key);
        }
        let v = self.call(r).await?;
        v.get("jobid")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| SlaveError::BadReply(clip(&v.to_string())))
    }

    /// `cancel.json`; returns the job's previous state (`pending`, `running`, or empty if finished).
    pub async fn cancel(&self, project: &str, job_id: &str) -> Result<String, SlaveError> {
        let r =
            self.req(reqwest::Method::POST, "cancel.json", self.timeout).form(&[("project", project), ("job", job_id)]);
        let v = self.call(r).await?;
        Ok(v.get("prevstate").and_then(Value::as_str).unwrap_or("").to_string())
    }

    /// spider-slave's `/metrics.json` (host metrics). Real Scrapyd answers 404: see
    /// [`SlaveError::is_not_found`].
    pub async fn metrics(&self) -> Result<Value, SlaveError> {
        let resp = self
            .req(reqwest::Method::GET, "metrics.json", self.timeout)
            .send()
            .await
            .map_err(|e| SlaveError::Unreachable(describe(&e)))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| SlaveError::Unreachable(describe(&e)))?;
        if !status.is_success() {
            return Err(SlaveError::Http { status: status.as_u16(), body: clip(&text) });
        }
        serde_json::from_str(&text).map_err(|_| SlaveError::BadReply(clip(&text)))
    }
}

/// A reqwest error without the URL's credentials (reqwest prints URLs; ours carry none, since
/// basic auth goes in a header) and with its cause chain.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.trim().to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s[..end].trim())
}

/// The name under which Scrapyd (and spider-slave) store and list an egg version: every
/// character outside `[A-Za-z0-9_-]` becomes `_` (`1.0-abc` is listed as `1_0-abc`). The rule
/// is `scrapyd_wire`'s, shared with spider-slave.
pub use scrapyd_wire::versions::sanitize as scrapyd_version_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrapyd_times_parse() {
        assert_eq!(parse_time_ms("1970-01-01 00:00:01.5"), Some(1500));
        assert_eq!(parse_time_ms("1970-01-01 00:01:00"), Some(60_000));
        assert_eq!(parse_time_ms("not a time"), None);
    }

    #[test]
    fn outcome_only_when_the_slave_sent_one() {
        let scrapyd: SlaveJob = serde_json::from_str(r#"{"id":"a","project":"p","spider":"s"}"#).expect("json");
        assert_eq!(scrapyd.outcome(), None);
        let ours: SlaveJob =
            serde_json::from_str(r#"{"id":"a","exit_code":0,"finish_reason":"finished","items_scraped":3}"#)
                .expect("json");
        let o = ours.outcome().expect("outcome");
        assert_eq!((o.exit_code, o.items, o.finish_reason.as_deref()), (Some(0), Some(3), Some("finished")));
    }

    #[test]
    fn long_bodies_are_clipped_on_a_char_boundary() {
        let s = "é".repeat(400);
        let c = clip(&s);
        assert!(c.len() <= 304 && c.ends_with('…'));
    }
}

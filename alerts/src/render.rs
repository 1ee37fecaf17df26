//! Turning a notification into a subject, a plain-text body and an HTML body with minijinja.
//!
//! This module owns the six template names ([`TEMPLATE_NAMES`]), the embedded defaults
//! (`alerts/templates/`), operator overrides (validated when set: unknown name, syntax error, or an error
//! while rendering every sample event, each with the template name and line) and the template context:
//! `alert` (one alert, with `url`/`job_url` into the dashboard via the public base URL) for a single
//! notification, or `alerts`/`total`/`omitted` for a digest, truncated to `digest_max_listed`. HTML
//! templates (`*.html`) are auto-escaped; undefined variables are errors (`SemiStrict`), so a typo in an
//! override is caught at set time rather than in the middle of an outage.

use std::collections::BTreeMap;

use minijinja::Environment;

use minijinja::UndefinedBehavior;

use minijinja::Value;
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;

use crate::event::AlertEvent;

use crate::event::AlertStatus;

use crate::event::Severity;
use crate::group::Notification;
use crate::group::NotifiedAlert;
use crate::sample;

pub const TEMPLATE_NAMES: [&str; 6] =
    ["subject.txt", "body.txt", "body.html", "digest_subject.txt", "digest_body.txt", "digest_body.html"];

const DEFAULTS: [(&str, &str); 6] = [
    ("subject.txt", include_str!("../templates/subject.txt")),
    ("body.txt", include_str!("../templates/body.txt")),
    ("body.html", include_str!("../templates/body.html")),
    ("digest_subject.txt", include_str!("../templates/digest_subject.txt")),
    ("digest_body.txt", include_str!("../templates/digest_body.txt")),
    ("digest_body.html", include_str!("../templates/digest_body.html")),
];

/// A rendered message, ready for SMTP or a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedMessage {
    /// One line, at most 250 characters.
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenderConfig {
    /// The dashboard's public URL (behind the load balancer), e.g. `https://spiders.example.org`.
    pub public_base_url: String,
    /// Operator templates by name (one of [`TEMPLATE_NAMES`]) → minijinja source.
    pub overrides: BTreeMap<String, String>,
    /// A digest lists at most this many alerts, then says how many more there were.
    pub digest_max_listed: usize,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            public_base_url: "http://localhost:8080".into(),
            overrides: BTreeMap::new(),
            digest_max_listed: 50,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("unknown template {name:?}; known templates: {}", TEMPLATE_NAMES.join(", "))]
    UnknownTemplate { name: String },
    #[error("template {name}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Template { name: String, line: Option<usize>, message: String },
}

impl RenderError {
    fn from_jinja(name: &str, e: &minijinja::Error) -> Self {
        let mut message = e.kind().to_string();
        if let Some(d) = e.detail() {
            message = format!("{message}: {d}");
        }
        RenderError::Template { name: name.to_string(), line: e.line(), message }
    }
}

pub struct Renderer {
    env: Environment<'static>,
    cfg: RenderConfig,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_filter("datetime", |ms: u64| ms_to_rfc3339(ms));
    env.add_filter("duration", |ms: i64| human_duration(ms));
    env
}

impl Renderer {
    /// A renderer with the defaults replaced by `cfg.overrides`, each validated.
    pub fn new(cfg: RenderConfig) -> Result<Self, RenderError> {
        let mut env = base_env();
        for (name, src) in DEFAULTS {
            env.add_template(name, src).map_err(|e| RenderError::from_jinja(name, &e))?;
        }
        let overrides = cfg.overrides.clone();
        let mut r = Renderer { env, cfg: RenderConfig { overrides: BTreeMap::new(), ..cfg } };
        for (name, src) in overrides {
            r.set_override(&name, &src)?;
        }
        Ok(r)
    }

    pub fn config(&self) -> &RenderConfig {
        &self.cfg
    }

    /// Replace one template. On error nothing changes.
    pub fn set_override(&mut self, name: &str, source: &str) -> Result<(), RenderError> {
        let Some(&known) = TEMPLATE_NAMES.iter().find(|n| **n == name) else {
            return Err(RenderError::UnknownTemplate { name: name.to_string() });
        };
        let mut candidate = self.env.clone();
        candidate.add_template_owned(known, source.to_string()).map_err(|e| RenderError::from_jinja(known, &e))?;
        let probe = Renderer { env: candidate, cfg: self.cfg.clone() };
        for n in sample::sample_notifications(1_700_000_000_000) {
            let digest = n.alerts.len() != 1;
            if digest == known.starts_with("digest_") {
                probe.render_one(known, &probe.context(&n)).map(|_| ())?;
            }
        }
        self.env = probe.env;
        self.cfg.overrides.insert(known.to_string(), source.to_string());
        Ok(())
    }

    /// Go back to the embedded default for `name`.
    pub fn clear_override(&mut self, name: &str) -> Result<(), RenderError> {
        let Some((n, src)) = DEFAULTS.iter().find(|(n, _)| *n == name) else {
            return Err(RenderError::UnknownTemplate { name: name.to_string() });
        };
        self.env.add_template(n, src).map_err(|e| RenderError::from_jinja(n, &e))?;
        self.cfg.overrides.remove(*n);
        Ok(())
    }

    pub fn render(&self, n: &Notification) -> Result<RenderedMessage, RenderError> {
        let ctx = self.context(n);
        let prefix = if n.alerts.len() == 1 { "" } else { "digest_" };
        let subject = self.render_one(&format!("{prefix}subject.txt"), &ctx)?;
        let subject: String = subject.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(250).collect();
        Ok(RenderedMessage {
            subject,
            text: self.render_one(&format!("{prefix}body.txt"), &ctx)?,
            html: self.render_one(&format!("{prefix}body.html"), &ctx)?,
        })
    }

    fn render_one(&self, name: &str, ctx: &Value) -> Result<String, RenderError> {
        let t = self.env.get_template(name).map_err(|e| RenderError::from_jinja(name, &e))?;
        t.render(ctx).map_err(|e| RenderError::from_jinja(name, &e))
    }

    fn base(&self) -> &str {
        self.cfg.public_base_url.trim_end_matches('/')
    }

    fn alert_view(&self, a: &NotifiedAlert) -> serde_json::Value {
        let ev = &a.event;
        let tripped: Vec<String> = match ev {
            AlertEvent::SpiderError(e) => e.tripped.iter().map(|t| t.to_string()).collect(),
            _ => vec![],
        };
        json!({
            "id": a.alert_id,
            "kind": ev.kind(),
            "status": a.status,
            "severity": if a.status == AlertStatus::Resolved { Severity::Info } else { ev.severity() },
            "summary": match (&a.status, &a.resolved_by) {
                (AlertStatus::Resolved, Some(r)) => r.summary(),
                _ => ev.summary(),
            },
            "labels": ev.labels(),
            "at": ms_to_rfc3339(ev.at_ms()),
            "event": ev,
            "tripped": tripped,
            "resolved_by": a.resolved_by,
            "resolved_by_summary": a.resolved_by.as_ref().map(AlertEvent::summary),
            "url": format!("{}/alerts/{}", self.base(), path_segment(a.alert_id.as_str())),
            "job_url": ev.job_id().map(|j| format!("{}/jobs/{}", self.base(), path_segment(j))),
        })
    }

    fn context(&self, n: &Notification) -> Value {
        let max = self.cfg.digest_max_listed.max(1);
        let listed: Vec<serde_json::Value> = n.alerts.iter().take(max).map(|a| self.alert_view(a)).collect();
        let max_severity = n
            .alerts
            .iter()
            .map(|a| if a.status == AlertStatus::Resolved { Severity::Info } else { a.event.severity() })
            .max()
            .unwrap_or(Severity::Info);
        let ctx = json!({
            "alert": listed.first(),
            "alerts": listed,
            "total": n.alerts.len(),
            "omitted": n.alerts.len().saturating_sub(max),
            "max_severity": max_severity,
            "notification": {
                "id": n.id, "rule": n.rule, "group_key": n.group_key,
                "group_labels": n.group_labels, "repeat": n.repeat,
            },
            "dashboard_url": self.base(),
            "alerts_url": format!("{}/alerts", self.base()),
        });
        Value::from_serialize(&ctx)
    }
}

/// Unix ms → `2024-01-02T03:04:05Z`.
pub fn ms_to_rfc3339(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// `65_000` → `1m 5s`.
pub fn human_duration(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

fn path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[path = "render_test.rs"]
mod render_test;

//! Sending a notification as an HTTP POST: generic signed JSON, Alertmanager, Slack and Chinese IM robots.
//!
//! This module owns [`WebhookConfig`], the body of each [`WebhookFormat`], the Standard Webhooks signature
//! ([`sign`]: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64 HMAC-SHA256(id.ts.body)>` with
//! a `whsec_<base64>` key) and [`send`]. The `webhook-id` is derived from the notification id, so a resend
//! after a failover carries the same key. The timestamp is passed in (no clock read here). An answer other
//! than 2xx (or a robot's `errcode != 0`) is an error carrying the body verbatim, retryable for 5xx/429.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::Hmac;
use hmac::Mac;
use serde::Deserialize;
use serde::Serialize;
use serde_json::json;
use serde_json::Value;
use sha2::Sha256;

use crate::config::ConfigError;
use crate::event::AlertStatus;
use crate::group::Notification;
use crate::render::ms_to_rfc3339;
use crate::render::RenderedMessage;
use crate::secret::Secret;

/// The body shape the receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// Our JSON (`type`, `timestamp`, `data`), signed the Standard Webhooks way when a secret is set.
    Generic,
    /// Alertmanager's webhook body (`version: "4"`, `groupKey`, `alerts[]`...).
    Alertmanager,
    /// Slack incoming webhook: `{"text": ...}`.
    Slack,
    /// DingTalk custom robot, markdown message; signed (`timestamp` + `sign` query) when a secret is set.
    Dingtalk,
    /// Feishu/Lark custom bot, text message; signed (`timestamp` + `sign` in the body) when a secret is set.
    Feishu,
    /// WeCom (WeChat Work) group robot, markdown message.
    Wecom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    pub format: WebhookFormat,
    /// Generic: a Standard Webhooks key `whsec_<base64>`. DingTalk/Feishu: the robot's signing secret.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Default 10 s.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_timeout() -> u64 {
    10_000
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|e| ConfigError::new("url", format!("bad URL {:?}: {e}", self.url)))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(ConfigError::new("url", "must be http or https"));
        }
        if let (WebhookFormat::Generic, Some(s)) = (self.format, &self.secret) {
            standard_webhooks_key(s).map_err(|m| ConfigError::new("secret", m))?;
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("timeout_ms", "must be positive"));
        }
        Ok(())
    }
}

/// Decode a `whsec_<base64>` key (the prefix is optional, as in the Standard Webhooks libraries).
pub fn standard_webhooks_key(secret: &Secret) -> Result<Vec<u8>, String> {
    let raw = secret.expose();
    let b64 = raw.strip_prefix("whsec_").unwrap_or(raw);
    let key = B64.decode(b64).map_err(|e| format!("not a whsec_<base64> key: {e}"))?;
    if key.len() < 16 {
        return Err("key must be at least 16 bytes".into());
    }
    Ok(key)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub fn sign(key: &[u8], webhook_id: &str, timestamp_s: u64, body: &[u8]) -> Result<String, WebhookError> {
    let mut mac = hmac_sha256(key)?;
    mac.update(format!("{webhook_id}.{timestamp_s}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

fn hmac_sha256(key: &[u8]) -> Result<Hmac<Sha256>, WebhookError> {
    // HMAC accepts keys of any length; the error exists only in the generic `KeyInit` signature.
    Hmac::<Sha256>::new_from_slice(key).map_err(|e| WebhookError::Config(format!("HMAC key: {e}")))
}

/// The `webhook-id` for a notification: `msg_` + its header-safe id.
pub fn webhook_id(n: &Notification) -> String {
    format!("msg_{}", n.id_token())
}

/// DingTalk/Feishu robot signature: base64 HMAC-SHA256 over `"{timestamp}\n{secret}"`.
/// DingTalk keys the HMAC with the secret and timestamps in ms; Feishu keys it with that string, signs
/// an empty message and timestamps in seconds.
fn robot_sign(format: WebhookFormat, secret: &str, timestamp: u64) -> Result<String, WebhookError> {
    let string_to_sign = format!("{timestamp}\n{secret}");
    let (key, msg) = match format {
        WebhookFormat::Feishu => (string_to_sign.as_bytes().to_vec(), Vec::new()),
        _ => (secret.as_bytes().to_vec(), string_to_sign.into_bytes()),
    };
    let mut mac = hmac_sha256(&key)?;
    mac.update(&msg);
    Ok(B64.encode(mac.finalize().into_bytes()))
}

/// The JSON body for `format`. `external_url` is the dashboard's public base URL.
pub fn body(format: WebhookFormat, n: &Notification, msg: &RenderedMessage, external_url: &str, now_ms: u64) -> Value {
    let status = if n.only_resolved() { "resolved" } else { "firing" };
    let text = format!("{}\n\n{}", msg.subject, msg.text);
    match format {
        WebhookFormat::Generic => json!({
            "type": format!("alert.{status}"),
            "timestamp": ms_to_rfc3339(now_ms),
            "data": {
                "notification_id": n.id,
                "rule": n.rule,
                "group_key": n.group_key,
                "group_labels": n.group_labels,
                "repeat": n.repeat,
                "subject": msg.subject,
                "alerts": n.alerts.iter().map(|a| json!({
                    "id": a.alert_id,
                    "status": a.status,
                    "kind": a.event.kind(),
                    "severity": a.event.severity(),
                    "labels": a.event.labels(),
                    "summary": a.event.summary(),
                    "event": a.event,
                    "resolved_by": a.resolved_by,
                })).collect::<Vec<_>>(),
            }
        }),
        WebhookFormat::Alertmanager => {
            let common = |f: &dyn Fn(&crate::event::Labels) -> Option<String>| {
                let vals: Vec<Option<String>> = n.alerts.iter().map(|a| f(&a.event.labels())).collect();
                match vals.first() {
                    Some(Some(v)) if vals.iter().all(|x| x.as_deref() == Some(v.as_str())) => Some(v.clone()),
                    _ => None,
                }
            };
            let mut common_labels = serde_json::Map::new();
            for (k, v) in [
                ("project", common(&|l| l.project.clone())),
                ("spider", common(&|l| l.spider.clone())),
                ("node", common(&|l| l.node.clone())),
            ] {
                if let Some(v) = v {
                    common_labels.insert(k.into(), Value::String(v));
                }
            }
            json!({
                "version": "4",
                "groupKey": n.group_key,
                "truncatedAlerts": 0,
                "status": status,
                "receiver": n.rule,
                "groupLabels": n.group_labels,
                "commonLabels": common_labels,
                "commonAnnotations": {},
                "externalURL": external_url,
                "alerts": n.alerts.iter().map(|a| {
                    let l = a.event.labels();
                    let mut labels = serde_json::Map::new();
                    labels.insert("alertname".into(), json!(a.event.kind()));
                    labels.insert("severity".into(), json!(a.event.severity()));
                    for (k, v) in [("project", l.project), ("spider", l.spider), ("node", l.node)] {
                        if let Some(v) = v { labels.insert(k.into(), json!(v)); }
                    }
                    let ends = match (&a.status, &a.resolved_by) {
                        (AlertStatus::Resolved, Some(r)) => ms_to_rfc3339(r.at_ms()),
                        (AlertStatus::Resolved, None) => ms_to_rfc3339(a.event.at_ms()),
                        _ => "0001-01-01T00:00:00Z".to_string(),
                    };
                    json!({
                        "status": a.status,
                        "labels": labels,
                        "annotations": { "summary": a.event.summary() },
                        "startsAt": ms_to_rfc3339(a.event.at_ms()),
                        "endsAt": ends,
                        "generatorURL": format!("{}/alerts/{}", external_url.trim_end_matches('/'), a.alert_id),
                        "fingerprint": a.alert_id.header_token(),
                    })
                }).collect::<Vec<_>>(),
            })
        }
        WebhookFormat::Slack => json!({ "text": text }),
        WebhookFormat::Dingtalk => {
            json!({ "msgtype": "markdown", "markdown": { "title": msg.subject, "text": format!("### {}\n\n{}", msg.subject, msg.text) } })
        }
        WebhookFormat::Feishu => json!({ "msg_type": "text", "content": { "text": text } }),
        // WeCom caps markdown content at 4096 bytes.
        WebhookFormat::Wecom => {
            json!({ "msgtype": "markdown", "markdown": { "content": truncate_bytes(&text, 4096) } })
        }
    }
}

fn truncate_bytes(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("invalid webhook config: {0}")]
    Config(String),
    #[error("webhook request failed: {0}")]
    Transport(String),
    #[error("webhook answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// HTTP 200 but the robot's JSON says no (`errcode`/`code` not 0).
    #[error("webhook robot refused the message: {body}")]
    Refused { body: String },
}

impl WebhookError {
    pub fn is_retryable(&self) -> bool {
        match self {
            WebhookError::Config(_) | WebhookError::Refused { .. } => false,
            WebhookError::Transport(_) => true,
            WebhookError::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
        }
    }
}

/// POST `n` (rendered as `msg`) to the webhook. `now_ms` stamps `webhook-timestamp` and robot signatures.
pub async fn send(
    client: &reqwest::Client,
    cfg: &WebhookConfig,
    n: &Notification,
    msg: &RenderedMessage,
    external_url: &str,
    now_ms: u64,
) -> Result<u16, WebhookError> {
    let mut body_json = body(cfg.format, n, msg, external_url, now_ms);
    let mut url = reqwest::Url::parse(&cfg.url).map_err(|e| WebhookError::Config(e.to_string()))?;
    let mut req_headers: Vec<(&str, String)> = vec![("content-type", "application/json".into())];
    match (cfg.format, &cfg.secret) {
        (WebhookFormat::Dingtalk, Some(s)) => {
            let sign = robot_sign(cfg.format, s.expose(), now_ms)?;
            url.query_pairs_mut().append_pair("timestamp", &now_ms.to_string()).append_pair("sign", &sign);
        }
        (WebhookFormat::Feishu, Some(s)) => {
            let ts = now_ms / 1000;
            if let Some(obj) = body_json.as_object_mut() {
                obj.insert("timestamp".into(), json!(ts.to_string()));
                obj.insert("sign".into(), json!(robot_sign(cfg.format, s.expose(), ts)?));
            }
        }
        _ => {}
    }
    let bytes = serde_json::to_vec(&body_json).map_err(|e| WebhookError::Config(e.to_string()))?;
    if matches!(cfg.format, WebhookFormat::Generic | WebhookFormat::Alertmanager) {
        let id = webhook_id(n);
        let ts = now_ms / 1000;
        if let Some(s) = &cfg.secret {
            let key = standard_webhooks_key(s).map_err(WebhookError::Config)?;
            req_headers.push(("webhook-signature", sign(&key, &id, ts, &bytes)?));
        }
        req_headers.push(("webhook-id", id.clone()));
        req_headers.push(("webhook-timestamp", ts.to_string()));
        req_headers.push(("idempotency-key", id));
    }
    let mut req = client.post(url).timeout(Duration::from_millis(cfg.timeout_ms)).body(bytes);
    for (k, v) in req_headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(|e| WebhookError::Transport(error_chain(&e)))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(WebhookError::Status { status, body: text });
    }
    if matches!(cfg.format, WebhookFormat::Dingtalk | WebhookFormat::Feishu | WebhookFormat::Wecom) {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let code =
                v.get("errcode").or_else(|| v.get("code")).or_else(|| v.get("StatusCode")).and_then(Value::as_i64);
            if code.is_some_and(|c| c != 0) {
                return Err(WebhookError::Refused { body: text });
            }
        }
    }
    Ok(status)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example in the Standard Webhooks specification.
        let key = standard_webhooks_key(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).unwrap_or_default();
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#).ok();
        assert_eq!(sig.as_deref().unwrap_or_default(), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn bad_secret_and_url_name_their_field() {
        let cfg = WebhookConfig { url: "ftp://x".into(), format: WebhookFormat::Generic, secret: None, timeout_ms: 1 };
        assert_eq!(cfg.validate().err().map(|e| e.field), Some("url".into()));
        let cfg = WebhookConfig { url: "http://x/".into(), secret: Some(Secret::new("whsec_!!")), ..cfg };
        assert_eq!(cfg.validate().err().map(|e| e.field), Some("secret".into()));
    }

    #[test]
    fn dingtalk_signature_matches_its_documented_algorithm() {
        // hmac_sha256(key=secret, msg="{ts}\n{secret}"), base64 — computed independently with Python's hmac.
        let s = robot_sign(WebhookFormat::Dingtalk, "SEC123", 1_700_000_000_000).ok();
        assert_eq!(s.as_deref().unwrap_or_default(), "lkcPI1uoxBY1gUnCnnPH1Kkru0Hqjo7rFpA3haIVhEQ=");
    }
}

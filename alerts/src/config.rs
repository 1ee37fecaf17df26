//! The alerting configuration an operator writes: channels, rules, inhibition rules, and its validation.
//!
//! This module owns [`AlertConfig`] and [`ConfigError`]. Validation runs once when a config (or one
//! channel/rule/silence) is set, and every error names the field it is about as a path
//! (`channels.ops-mail.smtp.to[1]`), so the API can answer 400 with it and leave the state unchanged.
//! Channel-specific fields live with their sender (`smtp::SmtpConfig`, `webhook::WebhookConfig`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::route::Rule;
use crate::silence::InhibitRule;
use crate::smtp::SmtpConfig;
use crate::webhook::WebhookConfig;
use serde::Serialize;

/// A validation failure: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `rules[2].channels[0]`.
    pub field: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, message: impl fmt::Display) -> Self {
        ConfigError { field: field.into(), message: message.to_string() }
    }

    /// Prefix the field path with the enclosing field.
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

/// Everything the alerter needs to decide and deliver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertConfig {
    /// Channels by name; rules refer to these names.
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Routing rules, all evaluated for every event (an event may go out through several rules).
    pub rules: Vec<Rule>,
    /// Inhibition rules. `None` means the built-in default: a firing node-down mutes that node's spider
    /// errors (see `silence::default_inhibit_rules`).
    pub inhibit_rules: Option<Vec<InhibitRule>>,
}

impl AlertConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, ch) in &self.channels {
            validate_name(name).map_err(|m| ConfigError::new(format!("channels.{name}"), m))?;
            ch.validate().map_err(|e| e.within(&format!("channels.{name}")))?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            rule.validate().map_err(|e| e.within(&at))?;
            if !seen.insert(rule.name.as_str()) {
                return Err(ConfigError::new(format!("{at}.name"), format!("duplicate rule name {:?}", rule.name)));
            }
            for (j, ch) in rule.channels.iter().enumerate() {
                if !self.channels.contains_key(ch) {
                    return Err(ConfigError::new(
                        format!("{at}.channels[{j}]"),
                        format!("unknown channel {ch:?} (known: {})", self.channel_names().join(", ")),
                    ));
                }
            }
        }
        if let Some(rules) = &self.inhibit_rules {
            for (i, r) in rules.iter().enumerate() {
                r.validate().map_err(|e| e.within(&format!("inhibit_rules[{i}]")))?;
            }
        }
        Ok(())
    }

    fn channel_names(&self) -> Vec<&str> {
        self.channels.keys().map(String::as_str).collect()
    }
}

/// Names of channels and rules: used in ids and delivery keys, so keep them to a safe alphabet.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("name must be 1 to 64 characters".into());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
        return Err(format!("name {name:?} may only contain letters, digits, '-', '_' and '.'"));
    }
    Ok(())
}

/// One delivery channel and the policies around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelConfig {
    #[serde(flatten)]
    pub kind: ChannelKind,
    /// At most this many notifications per window on this channel; excess ones wait (not dropped).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Retry schedule for failed deliveries that may succeed later.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Whether notifications that only resolve alerts go out on this channel (Alertmanager `send_resolved`).
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_true() -> bool {
    true
}

impl ChannelConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        match &self.kind {
            ChannelKind::Email(c) => c.validate().map_err(|e| e.within("smtp"))?,
            ChannelKind::Webhook(c) => c.validate().map_err(|e| e.within("webhook"))?,
        }
        if let Some(r) = &self.rate_limit {
            if r.max_notifications == 0 {
                return Err(ConfigError::new("rate_limit.max_notifications", "must be at least 1"));
            }
            if r.per_ms == 0 {
                return Err(ConfigError::new("rate_limit.per_ms", "must be positive"));
            }
        }
        if self.retry.backoff_ms.len() > 32 {
            return Err(ConfigError::new("retry.backoff_ms", "at most 32 retries"));
        }
        if let Some(i) = self.retry.backoff_ms.iter().position(|&d| d == 0) {
            return Err(ConfigError::new(format!("retry.backoff_ms[{i}]"), "delay must be positive"));
        }
        Ok(())
    }
}

/// The transport of a channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChannelKind {
    Email(SmtpConfig),
    Webhook(WebhookConfig),
}

/// A sliding-window rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub max_notifications: u32,
    pub per_ms: u64,
}

/// Delays before each retry of a failed delivery; after the last one the delivery is given up
/// (dead-lettered, visible, resendable by hand).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub backoff_ms: Vec<u64>,
}

impl Default for RetryPolicy {
    /// 10 s, 30 s, 1 min, 5 min, 15 min, 1 h: about 1 h 21 min of trying.
    fn default() -> Self {
        RetryPolicy { backoff_ms: vec![10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::smtp::SmtpSecurity;

    fn mail() -> ChannelConfig {
        ChannelConfig {
            kind: ChannelKind::Email(SmtpConfig {
                host: "smtp.example.org".into(),
                port: 587,
                security: SmtpSecurity::Starttls,
                username: None,
                password: None,
                from: "alerts@example.org".into(),
                to: vec!["oncall@example.org".into()],
                cc: vec![],
                message_id_domain: None,
                timeout_ms: 1000,
            }),
            rate_limit: None,
            retry: RetryPolicy::default(),
            send_resolved: true,
        }
    }

    #[test]
    fn errors_name_the_field_path() {
        let mut cfg = AlertConfig {
            channels: BTreeMap::from([("ops".to_string(), mail())]),
            rules: vec![Rule::new("jobs", &[EventKind::SpiderError], &["ops", "pager"])],
            inhibit_rules: None,
        };
        let e = cfg.validate().err();
        assert_eq!(e.as_ref().map(|e| e.field.as_str()), Some("rules[0].channels[1]"));
        assert!(e.map(|e| e.to_string()).unwrap_or_default().contains("unknown channel \"pager\" (known: ops)"));
        cfg.rules[0].channels.pop();
        assert!(cfg.validate().is_ok());
        if let Some(ChannelConfig { kind: ChannelKind::Email(s), .. }) = cfg.channels.get_mut("ops") {
            s.to = vec![];
        }
        assert_eq!(cfg.validate().err().map(|e| e.field), Some("channels.ops.smtp.to".into()));
    }

    #[test]
    fn channel_json_shape_and_redacted_password() {
        let json = r#"{"type":"email","host":"h","port":25,"security":"none","username":"u","password":"p4ss",
            "from":"a@example.org","to":["b@example.org"],"rate_limit":{"max_notifications":5,"per_ms":60000}}"#;
        let ch: ChannelConfig = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert!(ch.validate().is_ok());
        assert!(ch.send_resolved && ch.retry == RetryPolicy::default());
        let back = serde_json::to_string(&ch).unwrap_or_default();
        assert!(back.contains(r#""password":"***""#) && !back.contains("p4ss"), "{back}");
    }
}

//! Sending a rendered notification by email with `lettre` (tokio, rustls).
//!
//! This module owns [`SmtpConfig`] (server, security, optional login, from/to/cc) with its validation, and
//! [`send`], one SMTP transaction per call. The `Message-ID` is derived from the notification id, so every
//! resend of the same notification carries the same one and a receiver can drop the duplicate. A failure
//! returns the server's reply verbatim in [`SmtpError`], classified as retryable or not. It decides
//! nothing and keeps no connection pool (alert mail is rare; a fresh connection per send is simpler to
//! reason about across failovers).

use std::time::Duration;

use lettre::message::header::HeaderName;

use crate::config::ConfigError;
use crate::event::header_token;
use crate::render::RenderedMessage;
use crate::secret::Secret;
use lettre::message::header::HeaderValue;
use lettre::message::Mailbox;
use lettre::message::MultiPart;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::transport::smtp::client::TlsParameters;
use lettre::AsyncSmtpTransport;
use lettre::AsyncTransport;
use lettre::Message;
use lettre::Tokio1Executor;
use serde::Deserialize;
use serde::Serialize;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain text (a local relay or a test sink only).
    None,
    /// Plain connection upgraded with STARTTLS; fails if the server does not offer it (no downgrade).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    ImplicitTls,
}

/// An email channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    #[serde(default)]
    pub username: Option<String>,
    /// Write-only: serialized as `***`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// `Name <addr>` or `addr`.
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// Right-hand side of the `Message-ID`; default: the domain of `from`.
    #[serde(default)]
    pub message_id_domain: Option<String>,
    /// Connect/command timeout. Default 30 s.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_timeout() -> u64 {
    30_000
}

impl SmtpConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.trim().is_empty() {
            return Err(ConfigError::new("host", "must not be empty"));
        }
        if self.port == 0 {
            return Err(ConfigError::new("port", "must be 1..65535"));
        }
        parse_mailbox(&self.from).map_err(|m| ConfigError::new("from", m))?;
        if self.to.is_empty() {
            return Err(ConfigError::new("to", "at least one recipient is needed"));
        }
        for (i, a) in self.to.iter().enumerate() {
            parse_mailbox(a).map_err(|m| ConfigError::new(format!("to[{i}]"), m))?;
        }
        for (i, a) in self.cc.iter().enumerate() {
            parse_mailbox(a).map_err(|m| ConfigError::new(format!("cc[{i}]"), m))?;
        }
        match (&self.username, &self.password) {
            (Some(_), None) => return Err(ConfigError::new("password", "username given without a password")),
            (None, Some(_)) => return Err(ConfigError::new("username", "password given without a username")),
            _ => {}
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("timeout_ms", "must be positive"));
        }
        Ok(())
    }

    /// The `Message-ID` for a notification: `<token@domain>`.
    pub fn message_id(&self, notification_id: &str) -> String {
        let domain = self
            .message_id_domain
            .clone()
            .or_else(|| parse_mailbox(&self.from).ok().map(|m| m.email.domain().to_string()))
            .unwrap_or_else(|| "spider-platform.invalid".to_string());
        format!("<{}@{}>", header_token(notification_id), domain)
    }
}

fn parse_mailbox(s: &str) -> Result<Mailbox, String> {
    s.parse::<Mailbox>().map_err(|e| format!("bad email address {s:?}: {e}"))
}

/// Why a send failed.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The config could not make a message (should have been caught by `validate`).
    #[error("invalid message: {0}")]
    Build(String),
    /// No SMTP conversation happened: connection refused, DNS, timeout, TLS handshake.
    #[error("cannot reach SMTP server {host}:{port}: {detail}")]
    Connect { host: String, port: u16, detail: String },
    /// The server answered with a negative reply; `reply` is its text verbatim.
    #[error("SMTP server rejected the message: {code} {reply}")]
    Rejected { code: u16, reply: String, permanent: bool },
    /// Anything else lettre reports, verbatim.
    #[error("SMTP error: {0}")]
    Other(String),
}

impl SmtpError {
    /// Whether trying again later may succeed: 4xx replies and connection trouble, not 5xx or a bad config.
    pub fn is_retryable(&self) -> bool {
        match self {
            SmtpError::Build(_) => false,
            SmtpError::Connect { .. } | SmtpError::Other(_) => true,
            SmtpError::Rejected { permanent, .. } => !permanent,
        }
    }
}

/// What the server said on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReceipt {
    pub message_id: String,
    /// The final reply, e.g. `250 OK`.
    pub reply: String,
}

/// Build the MIME message (exposed for tests and the "preview" API).
pub fn build_message(cfg: &SmtpConfig, msg: &RenderedMessage, notification_id: &str) -> Result<Message, SmtpError> {
    let bad = |e: String| SmtpError::Build(e);
    let mut b = Message::builder()
        .from(parse_mailbox(&cfg.from).map_err(bad)?)
        .subject(msg.subject.clone())
        .message_id(Some(cfg.message_id(notification_id)));
    for a in &cfg.to {
        b = b.to(parse_mailbox(a).map_err(bad)?);
    }
    for a in &cfg.cc {
        b = b.cc(parse_mailbox(a).map_err(bad)?);
    }
    let mut m = b
        .multipart(MultiPart::alternative_plain_html(msg.text.clone(), msg.html.clone()))
        .map_err(|e| SmtpError::Build(e.to_string()))?;
    // The alert id for humans and filters (the Message-ID carries the encoded form).
    m.headers_mut()
        .insert_raw(HeaderValue::new(HeaderName::new_from_ascii_str("X-Spider-Alert-Id"), notification_id.to_string()));
    Ok(m)
}

/// Send `msg` for the notification `notification_id` through the server in `cfg`.
pub async fn send(cfg: &SmtpConfig, msg: &RenderedMessage, notification_id: &str) -> Result<SmtpReceipt, SmtpError> {
    let message = build_message(cfg, msg, notification_id)?;
    let connect_err = |detail: String| SmtpError::Connect { host: cfg.host.clone(), port: cfg.port, detail };
    let tls = match cfg.security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls | SmtpSecurity::ImplicitTls => {
            let params = TlsParameters::new(cfg.host.clone()).map_err(|e| connect_err(e.to_string()))?;
            if cfg.security == SmtpSecurity::Starttls {
                Tls::Required(params)
            } else {
                Tls::Wrapper(params)
            }
        }
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(Duration::from_millis(cfg.timeout_ms)));
    if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
        transport = transport.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
    }
    let transport = transport.build();
    match transport.send(message).await {
        Ok(resp) => Ok(SmtpReceipt {
            message_id: cfg.message_id(notification_id),
            reply: format!("{} {}", resp.code(), resp.message().collect::<Vec<_>>().join(" ")),
        }),
        Err(e) => Err(classify(e, connect_err)),
    }
}

fn classify(e: lettre::transport::smtp::Error, connect_err: impl Fn(String) -> SmtpError) -> SmtpError {
    if let Some(code) = e.status() {
        let reply = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_default();
        let code_num = code.to_string().parse::<u16>().unwrap_or(0);
        return SmtpError::Rejected { code: code_num, reply, permanent: e.is_permanent() };
    }
    let detail = error_chain(&e);
    if e.is_timeout() || e.is_tls() || detail.contains("Connection") || detail.contains("connection") {
        return connect_err(detail);
    }
    SmtpError::Other(detail)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: "Spider Alerts <alerts@example.org>".into(),
            to: vec!["oncall@example.org".into()],
            cc: vec![],
            message_id_domain: None,
            timeout_ms: 1000,
        }
    }

    #[test]
    fn validation_names_the_bad_address() {
        let mut c = cfg();
        c.to.push("not an address".into());
        let e = c.validate().err();
        assert_eq!(e.as_ref().map(|e| e.field.as_str()), Some("to[1]"));
        assert!(e.map(|e| e.message).unwrap_or_default().contains("bad email address"));
        c.to.clear();
        assert_eq!(c.validate().err().map(|e| e.field), Some("to".into()));
        let mut c = cfg();
        c.username = Some("u".into());
        assert_eq!(c.validate().err().map(|e| e.field), Some("password".into()));
    }

    #[test]
    fn message_id_is_derived_from_the_notification_id() {
        let c = cfg();
        assert_eq!(c.message_id("failover:term-7"), "<failover=3Aterm-7@example.org>");
        assert_eq!(c.message_id("failover:term-7"), c.message_id("failover:term-7"));
        assert_ne!(c.message_id("failover:term-7"), c.message_id("failover:term-8"));
    }

    #[test]
    fn password_is_not_in_debug_or_json() {
        let mut c = cfg();
        c.username = Some("u".into());
        c.password = Some(Secret::new("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&c).unwrap_or_default().contains("hunter2"));
    }
}

//! Alert channels: list, read, create or replace, delete, and the test send.
//!
//! Secrets (an SMTP password, a webhook signing key) are write-only: every answer carries the
//! redaction marker `***` (`alerts::secret::Secret` serializes so), and a write that sends the
//! marker back keeps the stored secret, so a client can read a channel, edit it and write it
//! back. A write that leaves the secret out removes it.

use std::collections::BTreeMap;

use alerts::config::AlertConfig;
use alerts::config::ChannelConfig;
use alerts::config::ChannelKind;
use alerts::event::EventKind;
use alerts::secret::Secret;
use raft_store::state::alerts::ChannelCounters;
use raft_store::state::StoredChannel;
use raft_store::Command;

use super::now_ms;
use crate::alerter::send;
use crate::auth::Principal;
use crate::node::MasterNode;
use crate::ops::commit;
use crate::ops::read_fresh;
use crate::ops::Consistency;
use crate::ops::OpsError;

/// A channel with its delivery counters.
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub name: String,
    /// Its secret inside serializes as `***`.
    pub channel: ChannelConfig,
    pub counters: ChannelCounters,
}

fn info_of(s: &raft_store::state::State, name: &str) -> Option<ChannelInfo> {
    let channel = s.alert_channels.get(&name.to_string())?.0.clone();
    let counters = s.alert_engine().and_then(|e| e.channels.get(name).cloned()).unwrap_or_default();
    Some(ChannelInfo { name: name.to_string(), channel, counters })
}

fn get_local(node: &MasterNode, name: &str) -> Result<ChannelInfo, OpsError> {
    node.state.read(|s| info_of(s, name)).ok_or_else(|| OpsError::NotFound(format!("channel {name}")))
}

/// Every channel, by name.
pub async fn list(node: &MasterNode, c: Consistency) -> Result<Vec<ChannelInfo>, OpsError> {
    c.wait(node).await?;
    Ok(node.state.read(|s| s.alert_channels.iter().filter_map(|(name, _)| info_of(s, name)).collect()))
}

/// Channel `name`.
pub async fn get(node: &MasterNode, name: &str, c: Consistency) -> Result<ChannelInfo, OpsError> {
    c.wait(node).await?;
    read_fresh(node, || get_local(node, name)).await
}

/// The secret of a channel and the field that names it in errors.
fn secret_mut(cfg: &mut ChannelConfig) -> (&mut Option<Secret>, &'static str) {
    match &mut cfg.kind {
        ChannelKind::Email(c) => (&mut c.password, "smtp.password"),
        ChannelKind::Webhook(c) => (&mut c.secret, "webhook.secret"),
    }
}

/// `cfg` with a redaction marker replaced by the secret `stored` has (the same kind of
/// channel); refused when there is none to keep.
fn keep_secret(mut cfg: ChannelConfig, stored: Option<ChannelConfig>) -> Result<ChannelConfig, OpsError> {
    let (secret, field) = secret_mut(&mut cfg);
    if !secret.as_ref().is_some_and(Secret::is_redaction_marker) {
        return Ok(cfg);
    }
    let kept = stored.and_then(|mut s| {
        let (old, old_field) = secret_mut(&mut s);
        if old_field == field {
            old.take()
        } else {
            None
        }
    });
    match kept {
        Some(k) => {
            *secret = Some(k);
            Ok(cfg)
        }
        None => {
            Err(OpsError::invalid(field, "\"***\" keeps the stored secret, but there is none to keep; send the secret"))
        }
    }
}

/// `cfg` checked as channel `name` would be in a whole alerting config, errors naming the
/// field inside the channel (`smtp.to[0]`; `name` for the name itself).
fn validate(name: &str, cfg: &ChannelConfig) -> Result<(), OpsError> {
    let probe = AlertConfig { channels: BTreeMap::from([(name.to_string(), cfg.clone())]), ..AlertConfig::default() };
    probe.validate().map_err(|e| relative(name, e.into()))
}

/// An error about `channels.<name>...` (the whole config's path) as one about the channel.
fn relative(name: &str, e: OpsError) -> OpsError {
    match e {
        OpsError::Invalid { field, message } => {
            let whole = format!("channels.{name}");
            let field = match field.strip_prefix(&whole) {
                Some("") => "name".to_string(),
                Some(rest) => rest.trim_start_matches('.').to_string(),
                None => field,
            };
            OpsError::Invalid { field, message }
        }
        other => other,
    }
}

/// Creates or replaces channel `name` (see the module doc for its secret).
pub async fn put(node: &MasterNode, name: &str, cfg: ChannelConfig, by: &Principal) -> Result<ChannelInfo, OpsError> {
    let stored = match read_fresh(node, || get_local(node, name)).await {
        Ok(i) => Some(i.channel),
        Err(OpsError::NotFound(_)) => None,
        Err(e) => return Err(e),
    };
    let created = stored.is_none();
    let cfg = keep_secret(cfg, stored)?;
    validate(name, &cfg)?;
    let cmd = Command::PutAlertChannel { name: name.to_string(), channel: StoredChannel(cfg) };
    commit(node, cmd, name).await.map_err(|e| relative(name, e))?;
    tracing::info!(channel = %name, created, by = %by.username, "alert channel written");
    get_local(node, name)
}

/// Deletes channel `name`; refused while a rule routes to it.
pub async fn delete(node: &MasterNode, name: &str, by: &Principal) -> Result<(), OpsError> {
    commit(node, Command::DeleteAlertChannel { name: name.to_string() }, name).await?;
    tracing::info!(channel = %name, by = %by.username, "alert channel deleted");
    Ok(())
}

/// What a test send achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSend {
    pub ok: bool,
    /// The server's reply (`250 …`, `HTTP 200`) or its error, verbatim.
    pub detail: String,
    /// For a failure: whether it may succeed later (the alerter would retry it).
    pub retryable: bool,
    /// The sample notification's id (the mail's `Message-ID`, the webhook's `webhook-id`
    /// derive from it).
    pub notification_id: String,
}

/// Sends a sample notification of `kind` on channel `name` from this master, through the
/// alerter's own render-and-send pipeline. Nothing is committed: it is not an alert.
pub async fn test(node: &MasterNode, name: &str, kind: EventKind, by: &Principal) -> Result<TestSend, OpsError> {
    let cfg = read_fresh(node, || get_local(node, name)).await?.channel;
    let now = now_ms();
    let event = alerts::sample::sample_events(now)
        .into_iter()
        .find(|e| e.kind() == kind)
        .ok_or_else(|| OpsError::invalid("kind", format!("no sample event of kind {kind}")))?;
    let n = alerts::sample::single(event, now);
    let a = send::attempt(&node.http, &cfg, &n, &node.config.alerts.public_url, now).await;
    tracing::info!(channel = %name, %kind, ok = a.ok, by = %by.username, "alert channel tested");
    Ok(TestSend { ok: a.ok, detail: a.detail, retryable: a.retryable, notification_id: n.id })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(password: Option<&str>) -> ChannelConfig {
        let v = serde_json::json!({"type": "email", "host": "h", "port": 25, "security": "none", "username": "u",
            "password": password, "from": "a@example.org", "to": ["b@example.org"]});
        serde_json::from_value(v).expect("channel")
    }

    fn password(c: &ChannelConfig) -> Option<&str> {
        match &c.kind {
            ChannelKind::Email(s) => s.password.as_ref().map(Secret::expose),
            ChannelKind::Webhook(_) => None,
        }
    }

    #[test]
    fn the_marker_keeps_the_stored_secret_and_absence_removes_it() {
        let kept = keep_secret(mail(Some("***")), Some(mail(Some("hunter2")))).expect("kept");
        assert_eq!(password(&kept), Some("hunter2"));
        let replaced = keep_secret(mail(Some("new")), Some(mail(Some("hunter2")))).expect("replaced");
        assert_eq!(password(&replaced), Some("new"));
        let removed = keep_secret(mail(None), Some(mail(Some("hunter2")))).expect("removed");
        assert_eq!(password(&removed), None);
        match keep_secret(mail(Some("***")), None) {
            Err(OpsError::Invalid { field, .. }) => assert_eq!(field, "smtp.password"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validation_names_the_field_inside_the_channel() {
        let mut bad = mail(Some("p"));
        if let ChannelKind::Email(s) = &mut bad.kind {
            s.to = vec!["not an address".into()];
        }
        match validate("ops", &bad) {
            Err(OpsError::Invalid { field, .. }) => assert_eq!(field, "smtp.to[0]"),
            other => panic!("{other:?}"),
        }
        match validate("bad name", &mail(Some("p"))) {
            Err(OpsError::Invalid { field, .. }) => assert_eq!(field, "name"),
            other => panic!("{other:?}"),
        }
    }
}

//! The alerting API through a real 3-master cluster: configuration CRUD through followers with
//! secrets kept write-only ([`config`]), the alert ledger — filters, paging, ack, resolve and
//! deliveries ([`ledger`]) — and the test send to a real SMTP server ([`test_send`]).

mod config;
mod ledger;
mod test_send;

use std::time::Duration;

use alerts::config::ChannelConfig;
use alerts::config::ChannelKind;
use reqwest::Method;
use serde_json::Value;

use crate::fixtures::*;

/// `GET /api/v1{path}` on master `id`: 200 and its body.
async fn get_ok(c: &TestCluster, id: u64, path: &str) -> Value {
    let (s, v) = api(c, id, Method::GET, path, None).await;
    assert_eq!(s, 200, "GET {path} on {id}: {v}");
    v
}

/// The stored channel `name` on master `id`, secrets in clear (in-process: the API never
/// shows them).
fn stored_channel(c: &TestCluster, id: u64, name: &str) -> Option<ChannelConfig> {
    c.master(id).state.read(|s| s.alert_channels.get(&name.to_string()).map(|ch| ch.0.clone()))
}

/// The stored SMTP password of channel `name` on master `id`.
fn stored_password(c: &TestCluster, id: u64, name: &str) -> Option<String> {
    match stored_channel(c, id, name)?.kind {
        ChannelKind::Email(s) => s.password.map(|p| p.expose().to_string()),
        ChannelKind::Webhook(w) => w.secret.map(|p| p.expose().to_string()),
    }
}

/// Waits until the alerter of `leader` announced its term (the `AlertStep` every new leader
/// commits first), so a test that measures the log afterwards does not see that write.
async fn alerter_started(c: &TestCluster, leader: u64) {
    let term = c.master(leader).metrics().current_term;
    eventually("the alerter's term mark", Duration::from_secs(20), || async {
        let mark = c.master(leader).state.read(|s| s.alert_engine().and_then(|e| e.leader.as_ref().map(|l| l.term)));
        if mark == Some(term) {
            Ok(())
        } else {
            Err(format!("{mark:?}"))
        }
    })
    .await;
}

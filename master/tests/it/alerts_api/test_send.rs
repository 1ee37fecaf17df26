//! The channel test send through a real SMTP server (the mail sink `spider-up` runs), its
//! refusal when the server is gone, and secrets kept out of answers and log lines.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use alerts::config::ChannelConfig;
use alerts::event::EventKind;
use alerts::render::RenderConfig;
use alerts::render::Renderer;
use alerts::sample::sample_events;
use alerts::sample::single;
use cluster_harness::venv_python;
use cluster_harness::SmtpSink;
use raft_store::state::StoredChannel;
use raft_store::Command;
use reqwest::Method;
use serde_json::json;

use super::alerter_started;
use super::get_ok;
use super::stored_password;
use crate::fixtures::*;

/// A time to stamp sample alerts with.
const NOW: u64 = 1_733_300_000_000;

/// The subject the sample alert of `kind` is mailed with.
fn sample_subject(c: &TestCluster, id: u64, kind: EventKind) -> String {
    let public_base_url = c.master(id).config.alerts.public_url.clone();
    let renderer = Renderer::new(RenderConfig { public_base_url, ..Default::default() }).expect("renderer");
    let event = sample_events(NOW).into_iter().find(|e| e.kind() == kind).expect("a sample");
    renderer.render(&single(event, NOW)).expect("render").subject
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_test_send_reaches_a_real_smtp_server_and_a_refusal_is_a_502_with_its_words() {
    let python = venv_python().expect("the project's Python (with aiosmtpd)");
    let mut sink = SmtpSink::start(&python).await.expect("SMTP sink");
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    let channel = json!({"type": "email", "host": "127.0.0.1", "port": sink.port(), "security": "none",
        "from": "alerts@example.org", "to": ["oncall@example.org"], "timeout_ms": 5000});
    let (s, v) = api(&c, f, Method::PUT, "/channels/mail", Some(channel.clone())).await;
    assert_eq!(s, 200, "{v}");

    // No body: the failover sample, sent from the master asked (a follower), committed nowhere.
    alerter_started(&c, leader).await;
    let before = c.master(leader).state.last_applied();
    let r = c.http.post(format!("{}/api/v1/channels/mail/test", c.url(f)));
    let (s, v) = call(r).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true);
    assert!(v["detail"].as_str().is_some_and(|d| d.starts_with("250")), "{v}");
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].subject, sample_subject(&c, f, EventKind::Failover));
    assert_eq!(mails[0].to, ["oncall@example.org"]);
    assert_eq!(c.master(leader).state.last_applied(), before, "a test send commits nothing");

    // Another kind, asked for.
    let (s, v) = api(&c, leader, Method::POST, "/channels/mail/test", Some(json!({"kind": "node_down"}))).await;
    assert_eq!(
        (s, v["notification_id"].as_str().map(|n| n.starts_with("node:slave-2:down:"))),
        (200, Some(true)),
        "{v}"
    );
    let mails = sink.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(mails[1].subject, sample_subject(&c, leader, EventKind::NodeDown));
    let (s, v) = api(&c, leader, Method::POST, "/channels/mail/test", Some(json!({"kind": "node_gone"}))).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("kind")), "{v}");
    let (s, _) = api(&c, leader, Method::POST, "/channels/nope/test", None).await;
    assert_eq!(s, 404);

    // The server gone: 502 with the connection error the alerter itself gets, verbatim.
    sink.stop();
    let (s, v) = api(&c, f, Method::POST, "/channels/mail/test", Some(json!({}))).await;
    assert_eq!(s, 502, "{v}");
    assert_eq!((v["ok"].as_bool(), v["retryable"].as_bool()), (Some(false), Some(true)), "{v}");
    let cfg: ChannelConfig = serde_json::from_value(channel).expect("channel");
    let n = single(sample_events(NOW).remove(0), NOW);
    let expected = master::alerter::send::attempt(&c.http, &cfg, &n, "http://localhost", NOW).await;
    assert!(!expected.ok);
    assert_eq!(v["error"].as_str(), Some(expected.detail.as_str()), "{v}");
    assert!(expected.detail.to_lowercase().contains("refused"), "{}", expected.detail);
    c.shutdown().await;
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        self.0.lock().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

// One thread: every master task (requests, Raft, the alerter) logs to this test's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn secrets_appear_in_no_answer_and_no_log_line() {
    const PASSWORD: &str = "pw-never-shown-6b1f";
    const KEY: &str = "whsec_c2VjcmV0LW5ldmVyLXNob3du";
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    let mail = json!({"type": "email", "host": "127.0.0.1", "port": 2525, "security": "none", "username": "u",
        "password": PASSWORD, "from": "alerts@example.org", "to": ["oncall@example.org"]});
    let hook = json!({"type": "webhook", "url": "http://127.0.0.1:9/", "format": "generic", "secret": KEY});
    let mut answers = Vec::new();
    for (name, body) in [("mail", mail), ("hook", hook)] {
        let (s, v) = api(&c, f, Method::PUT, &format!("/channels/{name}"), Some(body)).await;
        assert_eq!(s, 200, "{v}");
        let (s, back) = api(&c, leader, Method::PUT, &format!("/channels/{name}"), Some(v["channel"].clone())).await;
        assert_eq!(s, 200, "{back}");
        answers.extend([v, back, get_ok(&c, f, &format!("/channels/{name}")).await]);
    }
    answers.push(get_ok(&c, leader, "/channels?consistency=linearizable").await);
    answers.push(get_ok(&c, f, "/alert-deliveries?consistency=linearizable").await);
    assert_eq!(stored_password(&c, leader, "mail").as_deref(), Some(PASSWORD));
    assert_eq!(stored_password(&c, f, "hook").as_deref(), Some(KEY));

    let text = logs.text();
    assert!(text.contains("alert channel written"), "the capture works: {} bytes", text.len());
    for secret in [PASSWORD, KEY] {
        for a in &answers {
            assert!(!a.to_string().contains(secret), "an answer shows a secret: {a}");
        }
        assert!(!text.contains(secret), "a log line shows a secret");
        // What apply logs of the command (on its storage thread) carries no secret either.
        let cfg: ChannelConfig =
            serde_json::from_value(json!({"type": "webhook", "url": "http://h/", "format": "generic",
            "secret": secret}))
            .expect("channel");
        let cmd = Command::PutAlertChannel { name: "x".into(), channel: StoredChannel(cfg) };
        assert!(!format!("{cmd} {cmd:?}").contains(secret), "{cmd:?}");
    }
    c.shutdown().await;
}

//! SMTP delivery to a real aiosmtpd on loopback; the received bytes are parsed as a mail client would.

use alerts::render::RenderConfig;

use alerts::render::Renderer;
use alerts::sample::sample_events;
use alerts::sample::single;
use alerts::secret::Secret;
use alerts::smtp::send;
use alerts::smtp::SmtpConfig;
use alerts::smtp::SmtpError;
use alerts::smtp::SmtpSecurity;
use mail_parser::MessageParser;

use crate::support::free_port;

use crate::support::SmtpSink;

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "Spider Alerts <alerts@spiders.example.org>".into(),
        to: vec!["oncall@example.org".into(), "Team Lead <lead@example.org>".into()],
        cc: vec!["audit@example.org".into()],
        message_id_domain: None,
        timeout_ms: 5_000,
    }
}

fn renderer() -> Renderer {
    Renderer::new(RenderConfig { public_base_url: "https://spiders.example.org".into(), ..Default::default() })
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn spider_error_mail_arrives_with_headers_bodies_and_a_stable_message_id() {
    let sink = SmtpSink::start();
    let cfg = config(sink.port);
    cfg.validate().unwrap_or_else(|e| panic!("{e}"));
    let n = single(sample_events(1_700_000_000_000).remove(1), 1_700_000_000_000);
    let msg = renderer().render(&n).unwrap_or_else(|e| panic!("{e}"));
    let receipt = send(&cfg, &msg, &n.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(receipt.reply.starts_with("250"), "{}", receipt.reply);
    // The resend of an uncertain attempt: same Message-ID.
    send(&cfg, &msg, &n.id).await.unwrap_or_else(|e| panic!("{e}"));

    let raw = sink.wait_for_messages(2);
    let parsed: Vec<_> =
        raw.iter().map(|r| MessageParser::default().parse(r).unwrap_or_else(|| panic!("unparsable mail"))).collect();
    let m = &parsed[0];
    assert_eq!(m.message_id(), Some("job=3Ashop=2Ebooks=2E1700000000=3Aerror@spiders.example.org"));
    assert_eq!(parsed[1].message_id(), m.message_id(), "resend keeps the Message-ID");
    assert_eq!(m.subject(), Some(msg.subject.as_str()));
    assert!(m.subject().unwrap_or_default().contains("shop/books job shop.books.1700000000 failed on slave-1"));
    let to: Vec<&str> = m.to().map(|a| a.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    assert_eq!(to, vec!["oncall@example.org", "lead@example.org"]);
    let cc: Vec<&str> = m.cc().map(|a| a.iter().filter_map(|a| a.address()).collect()).unwrap_or_default();
    assert_eq!(cc, vec!["audit@example.org"]);
    assert_eq!(m.header_raw("X-Spider-Alert-Id").map(str::trim), Some("job:shop.books.1700000000:error"));
    let text = m.body_text(0).unwrap_or_default();
    for needle in ["Node:     slave-1", "Duration: 1m 5s", "ERROR/CRITICAL lines: 3", "ValueError: no books on page"] {
        assert!(text.contains(needle), "text part lacks {needle:?}:\n{text}");
    }
    let html = m.body_html(0).unwrap_or_default();
    assert!(html.contains("<h3>Last log lines</h3>"), "{html}");
    assert!(html.contains("&lt;GET https:"), "log lines are escaped in HTML: {html}");
}

#[tokio::test]
async fn server_down_is_a_clear_retryable_error() {
    let port = free_port(); // nothing listens here
    let n = single(sample_events(0).remove(0), 0);
    let msg = renderer().render(&n).unwrap_or_else(|e| panic!("{e}"));
    let err = send(&config(port), &msg, &n.id).await.err().unwrap_or_else(|| panic!("sent to a closed port"));
    assert!(matches!(err, SmtpError::Connect { .. }), "{err:?}");
    assert!(err.is_retryable());
    let text = err.to_string();
    assert!(text.starts_with(&format!("cannot reach SMTP server 127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[tokio::test]
async fn auth_refused_returns_the_server_reply_verbatim_and_good_credentials_deliver() {
    let sink = SmtpSink::start_with_auth();
    let n = single(sample_events(0).remove(3), 0);
    let msg = renderer().render(&n).unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = config(sink.port);
    cfg.username = Some("alerts".into());
    cfg.password = Some(Secret::new("wrong-password"));
    let err = send(&cfg, &msg, &n.id).await.err().unwrap_or_else(|| panic!("wrong password accepted"));
    match &err {
        SmtpError::Rejected { code, reply, permanent } => {
            assert_eq!(*code, 535);
            assert_eq!(reply, "5.7.8 Authentication credentials invalid");
            assert!(*permanent);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(err.to_string(), "SMTP server rejected the message: 535 5.7.8 Authentication credentials invalid");
    assert!(!format!("{err:?}{cfg:?}").contains("wrong-password"), "the password leaked into Debug");

    cfg.password = Some(Secret::new("right-password"));
    send(&cfg, &msg, &n.id).await.unwrap_or_else(|e| panic!("{e}"));
    let raw = sink.wait_for_messages(1);
    let m = MessageParser::default().parse(&raw[0]).unwrap_or_else(|| panic!("unparsable"));
    assert_eq!(m.message_id(), Some("node=3Aslave-2=3Adown=3A0@spiders.example.org"));
    assert!(m.subject().unwrap_or_default().contains("node slave-2 is down"), "{:?}", m.subject());
}

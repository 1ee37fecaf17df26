//! The sink against a real SMTP client (lettre, the one the alerts crate sends with).

use lettre::message::MultiPart;
use lettre::AsyncSmtpTransport;
use lettre::AsyncTransport;
use lettre::Message;
use lettre::Tokio1Executor;

use super::*;
use crate::python::venv_python;

const WAIT: Duration = Duration::from_secs(20);

async fn sink() -> SmtpSink {
    let python = venv_python().unwrap_or_else(|e| panic!("{e:#}"));
    SmtpSink::start(&python).await.unwrap_or_else(|e| panic!("{e:#}"))
}

fn mail(subject: &str) -> Message {
    Message::builder()
        .from("spider-platform <alerts@spider-platform.localhost>".parse().expect("from"))
        .to("oncall@spider-platform.localhost".parse().expect("to"))
        .to("Team Lead <lead@example.org>".parse().expect("to"))
        .bcc("audit@example.org".parse().expect("bcc"))
        .subject(subject)
        .message_id(Some("<failover.term-7@spider-platform.localhost>".into()))
        .multipart(MultiPart::alternative_plain_html(
            "master-2 leads since term 7.\n".to_string(),
            "<p>master-2 leads since <b>term 7</b>.</p>".to_string(),
        ))
        .expect("message")
}

async fn send(port: u16, m: Message) -> Result<(), lettre::transport::smtp::Error> {
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(Duration::from_secs(5)))
        .build();
    t.send(m).await.map(|_| ())
}

#[tokio::test]
async fn a_mail_sent_over_smtp_is_stored_whole_and_read_back_parsed() {
    let s = sink().await;
    assert_ne!(s.port(), 0);
    assert_eq!(s.addr().to_string(), format!("127.0.0.1:{}", s.port()));
    assert!(s.messages().is_empty());
    send(s.port(), mail("[spider-platform] Failover: master-2 leads — térm 7")).await.expect("send");

    let got = s.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "{}", s.log());
    let m = &got[0];
    assert_eq!(m.message_id.as_deref(), Some("failover.term-7@spider-platform.localhost"));
    assert_eq!(m.subject, "[spider-platform] Failover: master-2 leads — térm 7", "encoded words are decoded");
    assert_eq!(m.from, "alerts@spider-platform.localhost");
    assert_eq!(m.to, ["oncall@spider-platform.localhost", "lead@example.org"]);
    assert_eq!(m.envelope_from, "alerts@spider-platform.localhost");
    let mut rcpt = m.envelope_to.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        ["audit@example.org", "lead@example.org", "oncall@spider-platform.localhost"],
        "Bcc in the envelope"
    );
    assert!(m.header("Bcc").is_none(), "{:?}", m.headers);
    assert_eq!(m.text_body.trim_end(), "master-2 leads since term 7.");
    assert_eq!(m.html_body.as_deref(), Some("<p>master-2 leads since <b>term 7</b>.</p>"));
    assert!(m.header("content-type").is_some_and(|v| v.starts_with("multipart/alternative")), "{:?}", m.headers);
    assert_eq!(m.headers[0], ("X-Envelope-From".to_string(), "alerts@spider-platform.localhost".to_string()));

    // Stored whole, under `<unix-ms>-<seq>.eml`, no temporary file left.
    let names: Vec<String> = std::fs::read_dir(s.dir())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(arrival(&names[0]).is_some(), "{names:?}");
    assert_eq!(m.path, s.dir().join(&names[0]));
    assert_eq!(read_mails(s.dir()).expect("read").len(), 1);
}

#[tokio::test]
async fn a_sink_stopped_refuses_mail_and_started_again_takes_it_on_the_same_port() {
    let mut s = sink().await;
    let port = s.port();
    send(port, mail("first")).await.expect("send");
    s.wait_for(1, WAIT).await;

    s.stop();
    send(port, mail("while down")).await.expect_err("nothing listens");
    assert!(std::net::TcpStream::connect(s.addr()).is_err(), "the port is closed while stopped");

    s.start_again().await.expect("start again");
    assert_eq!(s.port(), port);
    assert!(s.start_again().await.is_err(), "already running");
    send(port, mail("second")).await.expect("send after restart");
    let got = s.wait_for(2, WAIT).await;
    let subjects: Vec<&str> = got.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["first", "second"], "arrival order; the mail from before the stop kept");
}

#[test]
fn only_stored_message_names_count() {
    assert_eq!(arrival("1796409355045-000003.eml"), Some((1_796_409_355_045, 3)));
    assert_eq!(arrival(".incoming-12-3.tmp"), None);
    assert_eq!(arrival("notes.eml"), None);
    assert_eq!(arrival("1796409355045-000003.eml.tmp"), None);
}

//! The alert checker on synthetic histories and synthetic `.eml` files in a temporary mail
//! directory (read back by [`read_mailbox`], so header parsing is exercised as in a run).

use std::path::Path;

use super::*;
use crate::fault::Fault;

fn observed(at_ms: u64, node: u8, state: &str, term: u64, leader: Option<u64>) -> Event {
    Event::Observed { at_ms, node, state: state.into(), term, leader, applied: None }
}

/// `leader` leads `term` from `from` to `to` (observed every 100 ms), the other two masters
/// following it.
fn lead(events: &mut Vec<Event>, from: u64, to: u64, leader: u8, term: u64) {
    for at in (from..=to).step_by(100) {
        events.push(observed(at, leader, "Leader", term, Some(u64::from(leader))));
        for other in (1..=3).filter(|n| *n != leader) {
            events.push(observed(at + 10, other, "Follower", term, Some(u64::from(leader))));
        }
    }
}

/// Term 1 by master 1 (the first leader), a kill, term 2 by 2 (held 9.4 s: its first
/// observation has no follower seen yet), term 3 by 3 (held 0.9 s: not judged), term 4 by 1
/// (held 7.9 s).
fn run() -> History {
    let mut events =
        vec![Event::MailSink { at_ms: 0, addr: "10.77.1.254:2525".into() }, Event::AlertsConfigured { at_ms: 2_000 }];
    lead(&mut events, 0, 10_000, 1, 1);
    events.push(Event::Fault { at_ms: 10_050, kind: Fault::KillLeader, target: 1, installed: true });
    lead(&mut events, 10_500, 20_000, 2, 2);
    lead(&mut events, 20_500, 21_500, 3, 3);
    lead(&mut events, 22_000, 30_000, 1, 4);
    History { events }
}

/// The master's header token of a notification id.
fn token(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                char::from(b).to_string()
            } else {
                format!("={b:02X}")
            }
        })
        .collect()
}

/// A stored message as the sink writes it, with folded headers; `alert: None` leaves out the
/// `X-Spider-Alert-Id` header, `message_id: None` uses the one derived from `alert`.
fn eml(alert: Option<&str>, message_id: Option<&str>, term: u64) -> String {
    let mid = message_id.map(str::to_string).unwrap_or_else(|| format!("<{}@spider.test>", token(alert.unwrap_or(""))));
    let alert_header = alert.map(|a| format!("X-Spider-Alert-Id: {a}\r\n")).unwrap_or_default();
    format!(
        "X-Envelope-From: jt@spider.test\r\nX-Envelope-To: oncall@spider.test\r\nFrom: jepsen <jt@spider.test>\r\n\
         Subject: [WARNING] leader changed master-1 -> master-2 (term {term},\r\n 812 ms without leader)\r\n\
         Message-ID:\r\n {mid}\r\n{alert_header}MIME-Version: 1.0\r\n\r\nbody\r\nX-Spider-Alert-Id: failover:term-99\r\n"
    )
}

fn failover(term: u64) -> String {
    eml(Some(&format!("failover:term-{term}")), None, term)
}

/// Writes `mails` as `.eml` files in a fresh directory and reads them back.
fn mailbox(mails: &[String]) -> (tempfile::TempDir, Mailbox) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, m) in mails.iter().enumerate() {
        std::fs::write(dir.path().join(format!("1700000000{i:03}-{i:06}.eml")), m).expect("write");
    }
    std::fs::write(dir.path().join(".incoming-1-9.tmp"), "half a message").expect("write");
    let read = read_mailbox(dir.path());
    (dir, read)
}

fn judge(h: &History, mails: &[String]) -> (Verdict, AlertStats) {
    let (_dir, mailbox) = mailbox(mails);
    alerts(h, &mailbox, 3)
}

#[test]
fn headers_are_unfolded_and_the_message_id_decodes_to_the_alert_id() {
    let (_dir, mails) = mailbox(&[failover(2)]);
    let mails = mails.expect("readable");
    assert_eq!(mails.len(), 1, "the temporary file is not a message");
    let m = &mails[0];
    assert_eq!(m.message_id.as_deref(), Some("<failover=3Aterm-2@spider.test>"));
    assert_eq!(m.alert_id.as_deref(), Some("failover:term-2"), "a header in the body is not a header");
    assert_eq!(
        m.subject.as_deref(),
        Some("[WARNING] leader changed master-1 -> master-2 (term 2, 812 ms without leader)")
    );
    assert_eq!(m.message_id_names().as_deref(), Some("failover:term-2"));
    assert_eq!(m.failover_term(), Some(2));
    assert_eq!(failover_term("failover:term-7:repeat-3"), None);
    assert_eq!(failover_term("failover:term-+7"), None);
    assert_eq!(failover_term("digest:failover|:3"), None);
    assert_eq!(decode_token("node=3As1=3Adown"), Some("node:s1:down".into()));
    assert_eq!(decode_token("bad=Z"), None);
    let bare = Mail::parse("x.eml", eml(None, Some("<failover=3Aterm-4@spider.test>"), 4).as_bytes());
    assert_eq!(
        (bare.alert_id.as_deref(), bare.failover_term()),
        (None, Some(4)),
        "the Message-ID alone names the term"
    );
    assert!(read_mailbox(Path::new("/nonexistent/mail")).is_err());
}

#[test]
fn held_terms_need_a_quorum_behind_the_leader_for_three_seconds() {
    let h = run();
    let led = led_terms(&h, 3);
    assert_eq!(led.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!((led[&2].leader, led[&2].held_ms), (2, 9_400));
    assert_eq!(led[&3].held_ms, 900);
    assert_eq!(judged_terms(&h, 3), vec![2, 4], "not the first leader, not a 1 s term");
    // A leader cut off in a minority keeps saying Leader while the others moved on: not held.
    let mut events = h.events.clone();
    for at in (30_100..36_000).step_by(100) {
        events.push(observed(at, 1, "Leader", 4, Some(1)));
        events.push(observed(at + 10, 2, "Candidate", 5, None));
        events.push(observed(at + 20, 3, "Candidate", 5, None));
    }
    for at in (36_000..38_000).step_by(100) {
        events.push(observed(at, 3, "Leader", 6, Some(3)));
    }
    let h = History { events };
    // Its run ends with the last observation that still had a follower behind it.
    assert_eq!(led_terms(&h, 3)[&4].held_ms, 8_000, "the minority time does not count");
    assert_eq!(led_terms(&h, 3)[&6].held_ms, 0, "nobody followed term 6");
    assert_eq!(awaited_terms(&h, 3), vec![2, 4, 6], "the final leader's alert is waited for");
}

#[test]
fn a_failover_without_mail_is_invalid_and_named() {
    let (v, stats) = judge(&run(), &[failover(2)]);
    assert_eq!(v.valid, Some(false), "{}", v.details);
    assert!(v.details.contains("no failover alert was delivered for term 4 (master 1, held 7900 ms)"), "{}", v.details);
    assert_eq!(stats.missing, vec![4]);
    let (v, stats) = judge(&run(), &[failover(2), failover(3), failover(4), failover(9)]);
    assert_eq!(v.valid, Some(true), "{}", v.details);
    assert_eq!((stats.failovers_judged, stats.mails, stats.duplicates), (2, 4, 0));
    assert_eq!((stats.unjudged_terms, stats.unobserved_terms), (vec![3], vec![9]), "reported, not judged");
}

#[test]
fn one_resend_is_counted_and_a_third_copy_is_invalid() {
    let (v, stats) = judge(&run(), &[failover(2), failover(4), failover(2)]);
    assert_eq!(v.valid, Some(true), "{}", v.details);
    assert_eq!(stats.duplicates, 1);
    assert_eq!(stats.duplicate_ids.get("<failover=3Aterm-2@spider.test>"), Some(&2));
    assert!(v.details.contains("1 duplicate Message-ID(s) (<failover=3Aterm-2@spider.test> ×2)"), "{}", v.details);
    let (v, stats) = judge(&run(), &[failover(2), failover(4), failover(2), failover(2)]);
    assert_eq!(v.valid, Some(false), "{}", v.details);
    assert!(v.details.contains("<failover=3Aterm-2@spider.test> arrived 3 times"), "{}", v.details);
    assert_eq!(stats.duplicates, 1);
}

#[test]
fn one_term_under_two_message_ids_or_an_underived_id_is_invalid() {
    let other = eml(Some("failover:term-2"), Some("<failover=3Aterm-2@elsewhere.test>"), 2);
    let (v, _) = judge(&run(), &[failover(2), failover(4), other]);
    assert_eq!(v.valid, Some(false), "{}", v.details);
    assert!(v.details.contains("one failover announced under different Message-IDs: term 2"), "{}", v.details);
    let wrong = eml(Some("failover:term-4"), Some("<failover=3Aterm-5@spider.test>"), 4);
    let (v, _) = judge(&run(), &[failover(2), wrong]);
    assert_eq!(v.valid, Some(false), "{}", v.details);
    assert!(v.details.contains("Message-ID not derived from the alert id"), "{}", v.details);
    let no_id = "X-Envelope-From: a\r\nX-Envelope-To: b\r\nX-Spider-Alert-Id: failover:term-4\r\n\r\n".to_string();
    let (v, _) = judge(&run(), &[failover(2), failover(4), no_id]);
    assert!(v.valid == Some(false) && v.details.contains("without a Message-ID"), "{}", v.details);
}

#[test]
fn without_a_sink_or_alerting_the_verdict_is_unknown() {
    let mut h = run();
    h.events.retain(|e| !matches!(e, Event::MailSink { .. }));
    let mut no_sink = h.clone();
    no_sink.events.push(Event::NoMailSink { at_ms: 0, why: "no Python that can `import aiosmtpd`".into() });
    let (v, _) = judge(&no_sink, &[failover(2), failover(4)]);
    assert_eq!(v.valid, None);
    assert!(v.details.contains("aiosmtpd"), "{}", v.details);
    assert_eq!(judge(&h, &[failover(2), failover(4)]).0.valid, None, "no sink recorded");
    let mut unconfigured = run();
    unconfigured.events.retain(|e| !matches!(e, Event::AlertsConfigured { .. }));
    assert_eq!(judge(&unconfigured, &[]).0.valid, None);
    assert_eq!(alerts(&run(), &Err("unreadable".into()), 3).0.valid, None);
    // A leader kill with no failover held long enough proves nothing.
    let mut short = run();
    short.events.retain(|e| !matches!(e, Event::Observed { term: 2 | 4, .. }));
    let (v, _) = judge(&short, &[]);
    assert_eq!(v.valid, None, "{}", v.details);
    // Without any fault, no failover is owed.
    short.events.retain(|e| !matches!(e, Event::Fault { .. }));
    assert_eq!(judge(&short, &[]).0.valid, Some(true));
}

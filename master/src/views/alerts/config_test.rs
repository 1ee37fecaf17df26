use alerts::event::EventKind;
use raft_store::state::alerts::ChannelCounters;

use super::*;

#[test]
fn a_channel_shows_its_config_with_the_secret_redacted() {
    let channel: ChannelConfig = serde_json::from_value(serde_json::json!({"type": "email", "host": "h", "port": 25,
        "security": "none", "username": "u", "password": "hunter2", "from": "a@example.org", "to": ["b@example.org"]}))
    .expect("channel");
    let info = ChannelInfo { name: "ops".into(), channel, counters: ChannelCounters::default() };
    let text = serde_json::to_string(&ChannelView::from(&info)).expect("encode");
    assert_eq!(
        text,
        concat!(
            r#"{"name":"ops","channel":{"type":"email","host":"h","port":25,"security":"none","username":"u","#,
            r#""password":"***","from":"a@example.org","to":["b@example.org"],"cc":[],"message_id_domain":null,"#,
            r#""timeout_ms":30000,"rate_limit":null,"retry":{"backoff_ms":[10000,30000,60000,300000,900000,3600000]},"#,
            r#""send_resolved":true},"counters":{"decided":0,"attempts":0,"delivered":0,"failed":0,"gave_up":0}}"#
        )
    );
    assert!(!text.contains("hunter2"));
}

#[test]
fn rules_and_thresholds_are_the_configuration_format() {
    let rules = RuleListView { rules: vec![Rule::new("nodes", &[EventKind::NodeDown], &["ops"])] };
    assert_eq!(
        serde_json::to_string(&rules).expect("encode"),
        concat!(
            r#"{"rules":[{"name":"nodes","kinds":["node_down"],"filter":{"projects":[],"spiders":[],"nodes":[],"#,
            r#""tags":[],"min_severity":null},"channels":["ops"],"after_consecutive_failures":1,"#,
            r#""notify_recovered":true,"group_by":["kind","project"],"#,
            r#""timers":{"group_wait_ms":30000,"group_interval_ms":300000,"repeat_interval_ms":14400000}}]}"#
        )
    );
    let t = ScopedThresholds { scope: "project:shop".into(), thresholds: SpiderErrorThresholds::default() };
    assert_eq!(
        serde_json::to_string(&ThresholdsView::from(&t)).expect("encode"),
        concat!(
            r#"{"scope":"project:shop","thresholds":{"max_error_lines":1,"min_items":null,"max_runtime_ms":null,"#,
            r#""ok_finish_reasons":["finished"]}}"#
        )
    );
}

#[test]
fn a_silence_has_the_matcher_shape_of_the_alerts_crate() {
    let s = Silence {
        id: "sil-9".into(),
        matchers: vec![
            Matcher::eq(MatchLabel::Node, "s1"),
            Matcher { op: MatchOp::NotEqual, ..Matcher::eq(MatchLabel::AlertId, "x") },
        ],
        starts_at_ms: 10,
        ends_at_ms: 20,
        created_by: "ana".into(),
        comment: "maintenance".into(),
    };
    let text = serde_json::to_string(&silence_view(&s, 15)).expect("encode");
    assert_eq!(
        text,
        concat!(
            r#"{"id":"sil-9","matchers":[{"label":"node","op":"equal","value":"s1"},"#,
            r#"{"label":"alert_id","op":"not_equal","value":"x"}],"starts_at_ms":10,"ends_at_ms":20,"#,
            r#""created_by":"ana","comment":"maintenance","active":true}"#
        )
    );
    // The request matcher reads what the alerts crate writes, and converts back to it.
    for m in &s.matchers {
        let back: MatcherView = serde_json::from_value(serde_json::to_value(m).expect("encode")).expect("decode");
        assert_eq!(&Matcher::from(back), m);
    }
    assert!(!silence_view(&s, 20).active);
}

#[test]
fn a_test_send_answers_ok_with_the_reply_or_the_error_verbatim() {
    let ok =
        TestSend { ok: true, detail: "250 OK".into(), retryable: false, notification_id: "failover:term-7".into() };
    match test_send_view(&ok) {
        Ok(v) => assert_eq!(
            serde_json::to_string(&v).expect("encode"),
            r#"{"ok":true,"detail":"250 OK","notification_id":"failover:term-7"}"#
        ),
        Err(v) => panic!("{v:?}"),
    }
    let refused = TestSend { ok: false, detail: "Connection refused (os error 111)".into(), retryable: true, ..ok };
    match test_send_view(&refused) {
        Err(v) => assert_eq!(
            serde_json::to_string(&v).expect("encode"),
            r#"{"ok":false,"error":"Connection refused (os error 111)","retryable":true,"notification_id":"failover:term-7"}"#
        ),
        Ok(v) => panic!("{v:?}"),
    }
}

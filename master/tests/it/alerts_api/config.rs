//! Channels, rules, silences and thresholds: written through a follower, read through every
//! master, secrets never shown, bad input refused with its field and nothing changed.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use serde_json::Value;

use super::get_ok;
use super::stored_channel;
use super::stored_password;
use crate::fixtures::*;

const PASSWORD: &str = "s3cret-hunter2";

fn mail_channel(password: Option<&str>) -> Value {
    let mut ch = json!({"type": "email", "host": "127.0.0.1", "port": 2525, "security": "none",
        "from": "alerts@example.org", "to": ["oncall@example.org"]});
    if let Some(p) = password {
        ch["username"] = json!("alerts");
        ch["password"] = json!(p);
    }
    ch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn channels_are_written_through_a_follower_and_their_secret_is_never_shown() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);

    let (s, v) = api(&c, f, Method::PUT, "/channels/ops", Some(mail_channel(Some(PASSWORD)))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["name"].as_str(), v["channel"]["password"].as_str()), (Some("ops"), Some("***")), "{v}");
    assert_eq!(v["counters"], json!({"decided": 0, "attempts": 0, "delivered": 0, "failed": 0, "gave_up": 0}));
    // Every master has it, with the secret stored and never answered.
    for id in c.running_ids() {
        let one = get_ok(&c, id, "/channels/ops").await;
        let all = get_ok(&c, id, "/channels?consistency=linearizable").await;
        assert!(!one.to_string().contains(PASSWORD) && !all.to_string().contains(PASSWORD), "{one} {all}");
        assert_eq!(all["channels"][0]["channel"]["password"], "***");
        eventually("the password replicated", Duration::from_secs(10), || async {
            match stored_password(&c, id, "ops") {
                Some(p) if p == PASSWORD => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }

    // GET, edit, PUT back through another master: the "***" keeps the stored password.
    let mut edited = get_ok(&c, leader, "/channels/ops").await["channel"].clone();
    edited["to"] = json!(["oncall@example.org", "second@example.org"]);
    let (s, v) = api(&c, leader, Method::PUT, "/channels/ops", Some(edited)).await;
    assert_eq!((s, v["channel"]["to"].as_array().map(Vec::len)), (200, Some(2)), "{v}");
    assert_eq!(stored_password(&c, leader, "ops").as_deref(), Some(PASSWORD));
    // A new password replaces it; leaving it out (with the username) removes it.
    let (s, _) = api(&c, f, Method::PUT, "/channels/ops", Some(mail_channel(Some("other")))).await;
    assert_eq!((s, stored_password(&c, f, "ops").as_deref()), (200, Some("other")));
    let (s, _) = api(&c, f, Method::PUT, "/channels/ops", Some(mail_channel(None))).await;
    assert_eq!((s, stored_password(&c, f, "ops")), (200, None));
    // Now there is no password to keep.
    let (s, v) = api(&c, f, Method::PUT, "/channels/ops", Some(mail_channel(Some("***")))).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("smtp.password")), "{v}");

    // A webhook's signing secret is write-only too.
    let hook = json!({"type": "webhook", "url": "http://127.0.0.1:9/hook", "format": "generic",
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    let (s, v) = api(&c, f, Method::PUT, "/channels/hook", Some(hook)).await;
    assert_eq!((s, v["channel"]["secret"].as_str()), (200, Some("***")), "{v}");
    let (s, _) = api(&c, leader, Method::PUT, "/channels/hook", Some(v["channel"].clone())).await;
    assert_eq!(s, 200);
    assert_eq!(stored_password(&c, leader, "hook").as_deref(), Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));

    // Unknown: 404.
    let (s, _) = api(&c, f, Method::GET, "/channels/nope", None).await;
    assert_eq!(s, 404);
    c.shutdown().await;
}

/// Everything of the alerting config the API shows, from master `id`.
async fn config_seen(c: &TestCluster, id: u64) -> Value {
    json!({
        "channels": get_ok(c, id, "/channels?consistency=linearizable").await,
        "rules": get_ok(c, id, "/alert-rules?consistency=linearizable").await,
        "silences": get_ok(c, id, "/silences?consistency=linearizable").await["silences"].as_array().map(|s| s.len()),
        "thresholds": get_ok(c, id, "/spider-thresholds?consistency=linearizable").await,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_alerting_input_is_refused_with_its_field_and_changes_nothing() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    let (s, _) = api(&c, f, Method::PUT, "/channels/ops", Some(mail_channel(Some(PASSWORD)))).await;
    assert_eq!(s, 200);
    let (s, _) =
        api(&c, f, Method::PUT, "/alert-rules/nodes", Some(json!({"kinds": ["node_down"], "channels": ["ops"]}))).await;
    assert_eq!(s, 200);
    let before = config_seen(&c, leader).await;
    let stored_before = stored_channel(&c, leader, "ops");

    let mut bad_to = mail_channel(Some(PASSWORD));
    bad_to["to"] = json!(["not an address"]);
    let mut typo = mail_channel(None);
    typo["passwrod"] = json!(PASSWORD);
    let mut bad_port = mail_channel(None);
    bad_port["port"] = json!(0);
    let bad: Vec<(Method, &str, Value, &str)> = vec![
        (Method::PUT, "/channels/ops", bad_to, "smtp.to[0]"),
        (Method::PUT, "/channels/ops", typo, "passwrod"),
        (Method::PUT, "/channels/ops", bad_port, "smtp.port"),
        (Method::PUT, "/channels/ops", json!({"type": "pager", "url": "x"}), "type"),
        (Method::PUT, "/channels/bad name", mail_channel(None), "name"),
        (Method::PUT, "/channels/ops", json!({"type": "webhook", "url": "ftp://h/", "format": "slack"}), "webhook.url"),
        (
            Method::PUT,
            "/alert-rules/nodes",
            json!({"kinds": ["node_down"], "channels": ["ops", "pager"]}),
            "channels[1]",
        ),
        (Method::PUT, "/alert-rules/nodes", json!({"name": "other", "channels": ["ops"]}), "name"),
        (Method::PUT, "/alert-rules/nodes", json!({"kinds": ["node_gone"], "channels": ["ops"]}), "kinds[0]"),
        (Method::PUT, "/alert-rules/nodes", json!({"channels": []}), "channels"),
        (Method::PUT, "/spider-thresholds/project:shop", json!({"max_error_lines": 0}), "max_error_lines"),
        (Method::PUT, "/spider-thresholds/project:shop", json!({"max_runtime_ms": 0}), "max_runtime_ms"),
        (Method::PUT, "/spider-thresholds/project:shop", json!({"max_errors": 3}), "max_errors"),
        (Method::PUT, "/spider-thresholds/shop", json!({}), "scope"),
        (
            Method::POST,
            "/silences",
            json!({"matchers": [{"label": "node", "op": "equal", "value": "s1"}],
            "duration_ms": 60000}),
            "comment",
        ),
        (Method::POST, "/silences", json!({"matchers": [], "duration_ms": 60000, "comment": "x"}), "matchers"),
        (
            Method::POST,
            "/silences",
            json!({"matchers": [{"label": "host", "op": "equal", "value": "s1"}],
            "duration_ms": 60000, "comment": "x"}),
            "matchers[0].label",
        ),
        (
            Method::POST,
            "/silences",
            json!({"matchers": [{"label": "node", "op": "equal", "value": "s1"}],
            "starts_at_ms": 1000, "ends_at_ms": 2000, "comment": "x"}),
            "ends_at_ms",
        ),
    ];
    for (method, path, body, field) in bad {
        let (s, v) = api(&c, f, method.clone(), path, Some(body.clone())).await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{method} {path} {body}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    // Read back through every master: exactly what was there before.
    for id in c.running_ids() {
        assert_eq!(config_seen(&c, id).await, before, "master {id}");
    }
    assert_eq!(stored_channel(&c, leader, "ops"), stored_before);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_silences_and_thresholds_have_their_lifecycle_through_any_master() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    let other = *c.running_ids().iter().find(|id| **id != leader && **id != f).expect("a third master");

    // A rule without a name takes the path's; it is readable through every master at once.
    let (s, _) = api(&c, f, Method::PUT, "/channels/ops", Some(mail_channel(None))).await;
    assert_eq!(s, 200);
    let (s, v) =
        api(&c, f, Method::PUT, "/alert-rules/nodes", Some(json!({"kinds": ["node_down"], "channels": ["ops"]}))).await;
    assert_eq!((s, v["name"].as_str(), v["channels"].clone()), (200, Some("nodes"), json!(["ops"])), "{v}");
    let seen = get_ok(&c, other, "/alert-rules/nodes").await;
    assert_eq!(seen, v);
    assert_eq!(get_ok(&c, leader, "/alert-rules?consistency=linearizable").await["rules"][0]["name"], "nodes");
    // The channel is in use: 409 naming the rule.
    let (s, v) = api(&c, other, Method::DELETE, "/channels/ops", None).await;
    assert_eq!(s, 409, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| m.contains("nodes")), "{v}");
    let (s, _) = api(&c, other, Method::DELETE, "/alert-rules/nodes", None).await;
    assert_eq!(s, 204);
    let (s, _) = api(&c, other, Method::GET, "/alert-rules/nodes", None).await;
    assert_eq!(s, 404);
    let (s, _) = api(&c, other, Method::DELETE, "/alert-rules/nodes", None).await;
    assert_eq!(s, 404);
    let (s, _) = api(&c, f, Method::DELETE, "/channels/ops", None).await;
    assert_eq!(s, 204);
    let (s, _) = api(&c, f, Method::DELETE, "/channels/ops", None).await;
    assert_eq!(s, 404);

    // Thresholds per scope: a field left out takes its default.
    let (s, v) = api(&c, f, Method::PUT, "/spider-thresholds/project:shop", Some(json!({"min_items": 1}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"scope": "project:shop", "thresholds": {"max_error_lines": 1, "min_items": 1, "max_runtime_ms": null,
            "ok_finish_reasons": ["finished"]}})
    );
    assert_eq!(get_ok(&c, other, "/spider-thresholds/project:shop").await, v);
    assert_eq!(get_ok(&c, leader, "/spider-thresholds?consistency=linearizable").await["thresholds"], json!([v]));
    let (s, _) = api(&c, other, Method::DELETE, "/spider-thresholds/project:shop", None).await;
    assert_eq!(s, 204);
    let (s, _) = api(&c, f, Method::DELETE, "/spider-thresholds/project:shop", None).await;
    assert_eq!(s, 404);
    assert_eq!(get_ok(&c, f, "/spider-thresholds?consistency=linearizable").await["thresholds"], json!([]));

    // A silence: its author is the caller, its id the log's; read at once through another master.
    let body = json!({"matchers": [{"label": "node", "op": "equal", "value": "s1"}], "duration_ms": 3_600_000,
        "comment": "maintenance of s1"});
    let before = now_ms() as u64;
    let (s, v) = api(&c, f, Method::POST, "/silences", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("sil-"), "{v}");
    assert_eq!((v["created_by"].as_str(), v["active"].as_bool()), (Some("admin"), Some(true)), "{v}");
    assert_eq!(v["matchers"], json!([{"label": "node", "op": "equal", "value": "s1"}]));
    let starts = v["starts_at_ms"].as_u64().expect("start");
    assert!(starts >= before && v["ends_at_ms"].as_u64() == Some(starts + 3_600_000), "{v}");
    assert_eq!(get_ok(&c, other, &format!("/silences/{id}")).await, v);
    let active = get_ok(&c, leader, "/silences?active=true&consistency=linearizable").await;
    assert_eq!(active["silences"], json!([v]));
    // Expired (204); it stays listed as inactive.
    let (s, _) = api(&c, other, Method::DELETE, &format!("/silences/{id}"), None).await;
    assert_eq!(s, 204);
    assert_eq!(get_ok(&c, other, "/silences?active=true&consistency=linearizable").await["silences"], json!([]));
    let inactive = get_ok(&c, other, "/silences?active=false&consistency=linearizable").await;
    assert_eq!(
        (inactive["silences"][0]["id"].as_str(), inactive["silences"][0]["active"].as_bool()),
        (Some(&*id), Some(false))
    );
    let (s, _) = api(&c, other, Method::DELETE, "/silences/sil-999999", None).await;
    assert_eq!(s, 404);
    c.shutdown().await;
}

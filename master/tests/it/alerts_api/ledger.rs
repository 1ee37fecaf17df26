//! The alert ledger: alerts put in by the engine (an `AlertStep` of node-down and deploy-failed
//! events, as the leader's alerter would commit), listed with filters and paging newest first,
//! acked and resolved by hand, and their deliveries.

use std::time::Duration;

use alerts::event::AlertEvent;
use alerts::event::DeployFailedEvent;
use alerts::event::NodeEvent;
use alerts::group::Input;
use raft_store::Applied;
use raft_store::Command;
use reqwest::Method;
use serde_json::json;
use serde_json::Value;

use super::get_ok;
use crate::fixtures::*;

fn node_down(node: &str, since_ms: u64) -> AlertEvent {
    AlertEvent::NodeDown(NodeEvent {
        node: node.into(),
        down_since_ms: since_ms,
        up_since_ms: None,
        failed_checks: 3,
        last_error: Some("connection refused".into()),
        lost_jobs: vec![],
    })
}

/// Puts `event` in the ledger the way the alerter does: one engine step through Raft.
async fn record(c: &TestCluster, event: AlertEvent) {
    let applied = c.propose(Command::AlertStep { leader: None, inputs: vec![Input::Event { event }] }).await;
    assert_eq!(applied, Applied::Done);
}

fn ids(v: &Value) -> Vec<&str> {
    v["alerts"].as_array().map(|a| a.iter().filter_map(|x| x["id"].as_str()).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_are_listed_with_filters_and_pages_then_acked_and_resolved_by_hand() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    for (node, since) in [("s1", 1_733_300_000_000), ("s2", 1_733_300_001_000), ("s3", 1_733_300_002_000)] {
        record(&c, node_down(node, since)).await;
    }
    let deploy = AlertEvent::DeployFailed(DeployFailedEvent {
        project: "shop".into(),
        version: "r1".into(),
        node: "s2".into(),
        at_ms: 1_733_300_003_000,
        error: "addversion: egg is not valid".into(),
    });
    record(&c, deploy).await;
    let last = c.master(leader).state.last_applied().map(|l| l.index()).unwrap_or(0);
    c.converged(last).await;

    // Newest first, paged, with the total of what matched.
    let all = get_ok(&c, f, "/alerts?kind=node_down&consistency=linearizable").await;
    assert_eq!(all["total"], 3);
    assert_eq!(ids(&all), ["node:s3:down:1733300002000", "node:s2:down:1733300001000", "node:s1:down:1733300000000"]);
    let page = get_ok(&c, f, "/alerts?kind=node_down&limit=2&consistency=linearizable").await;
    assert_eq!((ids(&page).len(), page["total"].as_u64()), (2, Some(3)));
    let rest = get_ok(&c, f, "/alerts?kind=node_down&limit=2&offset=2&consistency=linearizable").await;
    assert_eq!(ids(&rest), ["node:s1:down:1733300000000"]);
    assert_eq!(
        ids(&get_ok(&c, f, "/alerts?node=s2&consistency=linearizable").await),
        ["deploy:shop:r1:s2:failed", "node:s2:down:1733300001000"]
    );
    assert_eq!(
        ids(&get_ok(&c, f, "/alerts?project=shop&status=firing&consistency=linearizable").await),
        ["deploy:shop:r1:s2:failed"]
    );
    assert_eq!(get_ok(&c, f, "/alerts?status=resolved&consistency=linearizable").await["total"], 0);

    // One alert: its facts, labels and (no) routes; ids with ':' as they are or encoded.
    let one = get_ok(&c, f, "/alerts/node:s1:down:1733300000000").await;
    assert_eq!(
        (one["kind"].as_str(), one["severity"].as_str(), one["status"].as_str()),
        (Some("node_down"), Some("critical"), Some("firing")),
        "{one}"
    );
    assert_eq!(one["summary"], "node s1 is down (3 failed checks)");
    assert_eq!(one["event"]["last_error"], "connection refused");
    assert_eq!(one["labels"], json!({"project": null, "spider": null, "node": "s1", "tags": []}));
    assert_eq!((one["routes"].clone(), one["deliveries"].clone()), (json!({}), json!([])));
    assert_eq!(get_ok(&c, leader, "/alerts/node%3As1%3Adown%3A1733300000000").await["id"], one["id"]);
    let (s, _) = api(&c, f, Method::GET, "/alerts/node:s9:down:1", None).await;
    assert_eq!(s, 404);

    // Bad filters name the parameter.
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("status=burning", "status"),
        ("kind=node_gone", "kind"),
        ("acked=maybe", "acked"),
    ] {
        let (s, v) = api(&c, f, Method::GET, &format!("/alerts?{q}"), None).await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{q}: {v}");
    }

    // Ack through a follower (the caller's name, the comment), then resolve through another.
    let (s, v) =
        api(&c, f, Method::POST, "/alerts/node:s1:down:1733300000000/ack", Some(json!({"comment": "on it"}))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["acked"]["by"].as_str(), v["acked"]["comment"].as_str()), (Some("admin"), Some("on it")), "{v}");
    assert_eq!(v["status"], "firing");
    assert_eq!(
        ids(&get_ok(&c, leader, "/alerts?acked=true&consistency=linearizable").await),
        ["node:s1:down:1733300000000"]
    );
    assert_eq!(get_ok(&c, leader, "/alerts?acked=false&consistency=linearizable").await["total"], 3);
    // Without a body.
    let r = c.http.post(format!("{}/api/v1/alerts/failover:term-999/ack", c.url(f)));
    assert_eq!(call(r).await.0, 404);
    let r = c.http.post(format!("{}/api/v1/alerts/node:s2:down:1733300001000/ack", c.url(f)));
    let (s, v) = call(r).await;
    assert_eq!((s, v["acked"]["comment"].as_str()), (200, Some("")), "{v}");

    let (s, v) = api(
        &c,
        leader,
        Method::POST,
        "/alerts/node:s1:down:1733300000000/resolve",
        Some(json!({"comment": "rebooted"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "resolved");
    assert_eq!(
        (v["resolved_by_hand"]["by"].as_str(), v["resolved_by_hand"]["comment"].as_str()),
        (Some("admin"), Some("rebooted"))
    );
    assert_eq!(
        ids(&get_ok(&c, f, "/alerts?status=resolved&consistency=linearizable").await),
        ["node:s1:down:1733300000000"]
    );
    let (s, _) = api(&c, f, Method::POST, "/alerts/job:nope:error/resolve", Some(json!({}))).await;
    assert_eq!(s, 404);
    let (s, v) = api(&c, f, Method::POST, "/alerts/node:s3:down:1733300002000/ack", Some(json!({"note": "x"}))).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("note")), "{v}");

    // The cluster view counts them.
    let cluster = get_ok(&c, f, "/cluster").await;
    assert_eq!(
        (cluster["alerts"]["recorded"].as_u64(), cluster["alerts"]["firing"].as_u64()),
        (Some(4), Some(3)),
        "{cluster}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alert_shows_its_deliveries_and_the_delivery_log_filters_them() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    // A webhook nobody listens on, retried only after a long backoff: its one attempt fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
    let hook = json!({"type": "webhook", "url": format!("http://{closed}/hook"), "format": "generic", "timeout_ms": 2000,
        "retry": {"backoff_ms": [3_600_000]}});
    let (s, v) = api(&c, f, Method::PUT, "/channels/hook", Some(hook)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) =
        api(&c, f, Method::PUT, "/alert-rules/nodes", Some(json!({"kinds": ["node_down"], "channels": ["hook"]})))
            .await;
    assert_eq!(s, 200, "{v}");
    let id = "node:s7:down:1733300000000";
    record(&c, node_down("s7", 1_733_300_000_000)).await;

    // The leader's alerter sends it; the refusal is committed as a retry.
    let seen = eventually("the failed attempt recorded", Duration::from_secs(20), || async {
        let (_, v) = api(&c, f, Method::GET, &format!("/alerts/{id}"), None).await;
        let d = v["deliveries"][0].clone();
        if d["attempts"].as_u64() >= Some(1) && d["last_error"].is_string() && d["state"] == "queued" {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await;
    let d = &seen["deliveries"][0];
    assert_eq!((d["channel"].as_str(), d["rule"].as_str()), (Some("hook"), Some("nodes")), "{d}");
    assert_eq!((d["notification_id"].as_str(), d["id"].as_str()), (Some(id), Some(&*format!("{id}@hook"))), "{d}");
    assert_eq!(d["alert_ids"], json!([id]));
    assert!(d["due_ms"].is_u64(), "{d}");
    assert_eq!(seen["routes"]["nodes"]["outcome"], "notified", "{seen}");
    assert_eq!(seen["routes"]["nodes"]["channels"], json!(["hook"]));

    let pending = get_ok(&c, leader, "/alert-deliveries?state=pending&consistency=linearizable").await;
    assert_eq!((pending["total"].as_u64(), pending["deliveries"][0]["id"].clone()), (Some(1), d["id"].clone()));
    assert_eq!(pending["counters"]["hook"]["decided"], 1);
    assert!(pending["counters"]["hook"]["failed"].as_u64() >= Some(1), "{pending}");
    for state in ["delivered", "gave_up", "uncertain"] {
        assert_eq!(get_ok(&c, leader, &format!("/alert-deliveries?state={state}")).await["total"], 0, "{state}");
    }
    let (s, v) = api(&c, leader, Method::GET, "/alert-deliveries?state=lost", None).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("state")), "{v}");
    let cluster = get_ok(&c, f, "/cluster").await;
    assert_eq!(cluster["alerts"]["pending_deliveries"], 1, "{cluster}");
    assert_eq!(cluster["alerts"]["channels"]["hook"]["decided"], 1, "{cluster}");
    c.shutdown().await;
}

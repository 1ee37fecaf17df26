//! Alerts about the fleet, end to end: a real spider-slave going down and up (and flapping),
//! and real Scrapy crawls that fail in each way a spider error is defined — one mail each, with
//! the facts; a clean crawl, none. Mail goes to a real SMTP server (`SmtpSink`).

use std::time::Duration;
use std::time::Instant;

use alerts::event::EventKind;
use alerts::route::GroupTimers;
use alerts::route::Rule;
use alerts::spider_error::SpiderErrorThresholds;
use cluster_harness::venv_python;
use cluster_harness::Mail;
use cluster_harness::SmtpSink;
use raft_store::state::StoredChannel;
use raft_store::Applied;
use raft_store::Command;
use serde_json::json;
use serde_json::Value;

use crate::fixtures::*;
use crate::workers::*;

const WAIT: Duration = Duration::from_secs(90);

async fn sink() -> SmtpSink {
    SmtpSink::start(&venv_python().expect("venv python")).await.expect("SMTP sink")
}

fn channel(sink: &SmtpSink) -> StoredChannel {
    serde_json::from_value(json!({
        "type": "email", "host": "127.0.0.1", "port": sink.port(), "security": "none",
        "from": "spider-platform <alerts@spider.test>", "to": ["oncall@spider.test"],
        "retry": {"backoff_ms": [500, 1000]}
    }))
    .expect("channel")
}

async fn configure(c: &TestCluster, sink: &SmtpSink, rule: Rule) {
    assert_eq!(c.propose(Command::PutAlertChannel { name: "ops".into(), channel: channel(sink) }).await, Applied::Done);
    assert_eq!(c.propose(Command::PutAlertRule { rule }).await, Applied::Done);
}

fn quick(rule: Rule) -> Rule {
    Rule { timers: GroupTimers { group_wait_ms: 200, group_interval_ms: 300, repeat_interval_ms: 3_600_000 }, ..rule }
}

async fn register(c: &TestCluster, on: u64, id: &str, url: &str) {
    let (st, v) = api(c, on, reqwest::Method::POST, "/nodes", Some(json!({"id": id, "url": url}))).await;
    assert_eq!(st, 201, "{v}");
    eventually("the node up", WAIT, || async {
        let (_, n) = api(c, on, reqwest::Method::GET, &format!("/nodes/{id}"), None).await;
        if n["status"]["kind"] == "up" {
            Ok(())
        } else {
            Err(n.to_string())
        }
    })
    .await;
}

fn subjects(mails: &[Mail]) -> Vec<&str> {
    mails.iter().map(|m| m.subject.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slave_going_down_is_one_mail_and_coming_back_one_resolved_mail() {
    let sink = sink().await;
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    configure(&c, &sink, quick(Rule::new("nodes", &[EventKind::NodeDown], &["ops"]))).await;
    let mut s = InProcessSlave::start("s1").await;
    register(&c, leader, "s1", &s.url).await;
    s.stop().await;
    let mails = sink.wait_for(1, WAIT).await;
    assert!(mails[0].subject.contains("s1") && !mails[0].subject.contains("RESOLVED"), "{:?}", subjects(&mails));
    assert!(mails[0].text_body.contains("Failed checks: 2"), "the health checker's threshold: {}", mails[0].text_body);
    s.restart("s1").await;
    let mails = sink.wait_for(2, WAIT).await;
    assert!(mails[1].subject.contains("RESOLVED") && mails[1].subject.contains("s1"), "{:?}", subjects(&mails));
    // The ledger holds one alert for the outage, resolved by the node's return.
    let records = c.master(leader).state.read(|s| s.alerts.values().cloned().collect::<Vec<_>>());
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].status, alerts::event::AlertStatus::Resolved);
    assert_eq!(sink.messages().len(), 2);
    s.stop().await;
    c.shutdown().await;
}

/// A slave that flaps every second for a minute is one alert group: with the default timers
/// (the first node-down at once, then changes at most once per 5-minute group interval) the
/// minute yields at most 2 mails, not one per outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flapping_slave_is_no_mail_storm() {
    let sink = sink().await;
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    configure(&c, &sink, Rule::new("nodes", &[EventKind::NodeDown], &["ops"])).await;
    let mut s = InProcessSlave::start("s1").await;
    register(&c, leader, "s1", &s.url).await;
    let started = Instant::now();
    let mut outages = 0;
    while started.elapsed() < Duration::from_secs(60) {
        s.stop().await;
        let down = eventually("s1 down", WAIT, || async {
            let st = c.master(leader).state.read(|st| st.nodes.get(&"s1".to_string()).map(|n| n.status.clone()));
            match st {
                Some(raft_store::state::NodeStatus::Down { since_ms, .. }) => Ok(since_ms),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        outages += 1;
        s.restart("s1").await;
        eventually("s1 up", WAIT, || async {
            let st = c.master(leader).state.read(|st| st.nodes.get(&"s1".to_string()).map(|n| n.status.clone()));
            match st {
                Some(raft_store::state::NodeStatus::Up { since_ms }) if since_ms > down => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    // Every outage reached the ledger (nothing is lost, only grouped)...
    let key = "node:s1:down:";
    eventually("every outage in the ledger", WAIT, || async {
        let n = c.master(leader).state.read(|s| s.alerts.iter().filter(|(k, _)| k.starts_with(key)).count());
        if n >= outages {
            Ok(())
        } else {
            Err(format!("{n} of {outages}"))
        }
    })
    .await;
    // ...and the mails are bounded.
    let mails = sink.messages();
    assert!(outages >= 5, "the slave flapped: {outages} outages");
    assert!(
        !mails.is_empty() && mails.len() <= 2,
        "{outages} outages gave {} mails: {:?}",
        mails.len(),
        subjects(&mails)
    );
    s.stop().await;
    c.shutdown().await;
}

/// A one-page site: `/quotes` has one quote, `/empty` none.
async fn site() -> String {
    let app = axum::Router::new()
        .route("/quotes", axum::routing::get(|| async { axum::response::Html("<span class=\"text\">A quote</span>") }))
        .route("/empty", axum::routing::get(|| async { axum::response::Html("<p>nothing here</p>") }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

/// Starts `spider` on the slave directly (as any Scrapyd client would) and waits for it to end.
async fn crawl(c: &TestCluster, on: u64, slave: &InProcessSlave, spider: &str, job: &str, url: Option<&str>) -> Value {
    let mut form = vec![("project", "demo"), ("spider", spider), ("jobid", job)];
    if let Some(u) = url {
        form.push(("url", u));
    }
    let v: Value = c
        .http
        .post(format!("{}/schedule.json", slave.url))
        .form(&form)
        .send()
        .await
        .expect("schedule")
        .json()
        .await
        .expect("json");
    assert_eq!(v["status"], "ok", "{v}");
    eventually(&format!("{job} ended"), WAIT, || async {
        let (st, j) = api(c, on, reqwest::Method::GET, &format!("/jobs/{job}"), None).await;
        if st == 200 && (j["state"] == "finished" || j["state"] == "lost") {
            Ok(j)
        } else {
            Err(format!("{st} {j}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_kind_of_spider_error_is_one_mail_with_its_facts_and_a_clean_crawl_none() {
    let sink = sink().await;
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    configure(&c, &sink, quick(Rule::new("jobs", &[EventKind::SpiderError], &["ops"]))).await;
    let th = SpiderErrorThresholds { min_items: Some(1), ..Default::default() };
    let set = Command::PutSpiderThresholds { scope: "project:demo".into(), thresholds: Some(th) };
    assert_eq!(c.propose(set).await, Applied::Done);
    let s = InProcessSlave::start("s1").await;
    register(&c, f, "s1", &s.url).await;
    let form = reqwest::multipart::Form::new()
        .text("version", "1")
        .part("egg", reqwest::multipart::Part::bytes(demo_egg().to_vec()).file_name("demo.egg"));
    let r = c.http.post(format!("{}/api/v1/projects/demo/versions", c.url(f))).multipart(form);
    let (st, v) = call(r).await;
    assert_eq!(st, 201, "{v}");
    eventually("deployed on s1", WAIT, || async {
        let (_, p) = api(&c, f, reqwest::Method::GET, "/projects", None).await;
        if p.to_string().contains("\"deployed\"") {
            Ok(())
        } else {
            Err(p.to_string())
        }
    })
    .await;
    let site = site().await;
    let quotes = format!("{site}/quotes");
    let empty = format!("{site}/empty");
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/", l.local_addr().expect("addr"))
    };

    // A clean crawl, then one that raises: only the second is mailed.
    crawl(&c, f, &s, "quotes", "clean-1", Some(&quotes)).await;
    crawl(&c, f, &s, "crash", "crash-1", None).await;
    let mails = sink.wait_for(1, WAIT).await;
    let m = &mails[0];
    assert!(m.subject.contains("crash"), "{:?}", subjects(&mails));
    for fact in [
        "Project:  demo",
        "Job:      crash-1",
        "Node:     s1",
        "Exit:     1",
        "Last log lines:",
        "demo_module_that_does_not_exist",
    ] {
        assert!(m.text_body.contains(fact), "{fact:?} missing from\n{}", m.text_body);
    }
    // One that logs errors but exits 0.
    crawl(&c, f, &s, "quotes", "errors-1", Some(&refused)).await;
    let mails = sink.wait_for(2, WAIT).await;
    let m = &mails[1];
    assert!(m.text_body.contains("Job:      errors-1") && m.text_body.contains("Exit:     0"), "{}", m.text_body);
    assert!(
        m.text_body.contains("ERROR/CRITICAL lines: ") && !m.text_body.contains("ERROR/CRITICAL lines: 0"),
        "{}",
        m.text_body
    );
    assert!(
        m.text_body.contains("Scrapy stats:") && m.text_body.contains("finish_reason: finished"),
        "{}",
        m.text_body
    );
    // One that scrapes nothing (min_items 1 for the project).
    crawl(&c, f, &s, "quotes", "empty-1", Some(&empty)).await;
    let mails = sink.wait_for(3, WAIT).await;
    let m = &mails[2];
    assert!(
        m.text_body.contains("Job:      empty-1") && m.text_body.contains("ERROR/CRITICAL lines: 0"),
        "{}",
        m.text_body
    );
    assert!(m.text_body.to_lowercase().contains("items"), "{}", m.text_body);

    assert_eq!(sink.messages().len(), 3, "{:?}", subjects(&sink.messages()));
    let clean = c.master(leader).state.read(|s| s.alerts.contains(&"job:clean-1:error".to_string()));
    assert!(!clean, "a clean crawl is no alert");
    c.shutdown().await;
}

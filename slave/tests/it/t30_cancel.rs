//! Cancel: pending removal, graceful SIGINT, and a second cancel that forces the stop.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const LONG: Duration = Duration::from_secs(90);

#[tokio::test]
async fn cancel_graceful_then_forced() {
    let site = start_site().await;
    let s = Slave::start_with(|c| c.max_proc = 2).await;
    assert_eq!(s.deploy("demo", "1").await["status"], "ok");

    // Graceful: one SIGINT, Scrapy closes with finish_reason "shutdown".
    let endless = format!("{site}/endless/1");
    s.post(
        "/schedule.json",
        &[
            ("project", "demo"),
            ("spider", "endless"),
            ("jobid", "soft"),
            ("url", &endless),
            ("setting", "LOG_LEVEL=DEBUG"),
        ],
    )
    .await;
    s.wait_state("soft", "running", LONG).await;
    let log = s.path("logs/demo/endless/soft.log");
    eventually(LONG, "the crawl to fetch pages", || {
        let log = log.clone();
        async move {
            let text = read_log(&log);
            if text.contains("Crawled (200)") {
                Ok(())
            } else {
                Err(text)
            }
        }
    })
    .await;
    let v = s.post("/cancel.json", &[("project", "demo"), ("job", "soft")]).await;
    assert_eq!(v["prevstate"], "running");
    s.wait_state("soft", "finished", LONG).await;
    let jobs = s.get("/listjobs.json").await;
    let f = &jobs["finished"][0];
    assert_eq!(f["finish_reason"], "shutdown", "{f}");

    // Forced: the first page links to /hang, so the graceful stop waits on a request that never
    // completes; the second cancel forces the stop.
    let hang_first = format!("{site}/hang");
    s.post(
        "/schedule.json",
        &[
            ("project", "demo"),
            ("spider", "endless"),
            ("jobid", "hard"),
            ("url", &hang_first),
            ("setting", "LOG_LEVEL=DEBUG"),
        ],
    )
    .await;
    s.wait_state("hard", "running", LONG).await;
    let log = s.path("logs/demo/endless/hard.log");
    eventually(LONG, "the spider to open", || {
        let log = log.clone();
        async move {
            let text = read_log(&log);
            if text.contains("Spider opened") {
                Ok(())
            } else {
                Err(text)
            }
        }
    })
    .await;
    assert_eq!(s.post("/cancel.json", &[("project", "demo"), ("job", "hard")]).await["prevstate"], "running");
    eventually(LONG, "the graceful shutdown to begin", || {
        let log = log.clone();
        async move {
            let text = read_log(&log);
            if text.contains("shutting down gracefully") {
                Ok(())
            } else {
                Err(text)
            }
        }
    })
    .await;
    assert_eq!(s.get("/status.json?job=hard").await["currstate"], "running");
    assert_eq!(s.post("/cancel.json", &[("project", "demo"), ("job", "hard")]).await["prevstate"], "running");
    s.wait_state("hard", "finished", LONG).await;
    // Unknown and finished jobs: ok with a null prevstate.
    let v: Value = s.post("/cancel.json", &[("project", "demo"), ("job", "hard")]).await;
    assert_eq!(v["prevstate"], Value::Null);
    assert_eq!(v["status"], "ok");
}

#[tokio::test]
async fn cancel_pending_and_signal_forms() {
    let site = start_site().await;
    let s = Slave::start_with(|c| c.max_proc = 1).await;
    assert_eq!(s.deploy("demo", "1").await["status"], "ok");
    let endless = format!("{site}/endless/1");
    s.post("/schedule.json", &[("project", "demo"), ("spider", "endless"), ("jobid", "first"), ("url", &endless)])
        .await;
    s.wait_state("first", "running", LONG).await;
    for id in ["p1", "p1", "p2"] {
        s.post("/schedule.json", &[("project", "demo"), ("spider", "quotes"), ("jobid", id), ("priority", "-5")]).await;
    }
    let v = s.post("/cancel.json", &[("project", "demo"), ("job", "p1"), ("signal", "TERM")]).await;
    assert_eq!(v["prevstate"], "pending");
    let v = s.post("/cancel.json", &[("project", "demo"), ("job", "x"), ("signal", "BOGUS")]).await;
    assert_eq!(v["message"], "ValueError: invalid signal 'BOGUS'");
    let jobs = s.get("/listjobs.json").await;
    let all: Vec<&str> = ["pending", "running", "finished"]
        .iter()
        .flat_map(|k| jobs[*k].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()))
        .collect();
    assert!(!all.contains(&"p1"), "{jobs}");
    assert_eq!(
        s.post("/cancel.json", &[("project", "demo"), ("job", "first"), ("signal", "9")]).await["prevstate"],
        "running"
    );
    s.wait_state("p2", "finished", LONG).await;
}

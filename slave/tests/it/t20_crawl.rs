//! Real crawls: deploy the fixture egg, schedule with args and settings, and find items, logs,
//! listings and outcomes where Scrapyd clients look for them.

use std::time::Duration;

use scrapyd_wire::egg::EggBuilder;
use serde_json::{json, Value};

use crate::support::*;

const LONG: Duration = Duration::from_secs(90);

#[tokio::test]
async fn deploy_schedule_crawl_and_inspect() {
    let site = start_site().await;
    let s = Slave::start().await;
    let v = s.deploy("demo", "1.0").await;
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["spiders"], 3);
    assert_eq!(v["version"], "1.0");
    assert_eq!(s.get("/listversions.json?project=demo").await["versions"], json!(["1_0"]));
    assert_eq!(s.get("/listprojects.json").await["projects"], json!(["demo"]));
    assert_eq!(s.get("/listspiders.json?project=demo").await["spiders"], json!(["crash", "endless", "quotes"]));
    assert_eq!(s.get("/listspiders.json?project=demo&_version=2").await["message"], "version '2' not found");

    let url = format!("{site}/page/1");
    let c = reqwest::Client::new();
    let body = format!(
        "project=demo&spider=quotes&_version=1.0&jobid=job-1&setting=DEMO_SETTING%3Dx%3Dy&setting=LOG_LEVEL%3DDEBUG&tag=t1&url={}",
        url.replace(':', "%3A").replace('/', "%2F")
    );
    let v: Value = c
        .post(format!("{}/schedule.json", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"jobid": "job-1", "status": "ok", "node_name": "test-node"}));
    s.wait_state("job-1", "finished", LONG).await;

    let items = std::fs::read_to_string(s.path("items/demo/quotes/job-1.jl")).unwrap();
    let items: Vec<Value> = items.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(items.len(), 6, "{items:?}");
    assert!(items
        .iter()
        .all(|i| i["job"] == "job-1" && i["tag"] == "t1" && i["setting"] == "x=y" && i["version"] == "1.0"));
    let log = read_log(&s.path("logs/demo/quotes/job-1.log"));
    assert!(log.contains("DEBUG"), "LOG_LEVEL setting not applied");

    let jobs = s.get("/listjobs.json?project=demo").await;
    let f = &jobs["finished"][0];
    assert_eq!(f["id"], "job-1");
    assert_eq!(f["log_url"], "/logs/demo/quotes/job-1.log");
    assert_eq!(f["items_url"], "/items/demo/quotes/job-1.jl");
    assert_eq!(f["outcome"], "success");
    assert_eq!(f["exit_code"], 0);
    assert_eq!(f["finish_reason"], "finished");
    assert_eq!(f["items_scraped"], 6);
    assert_eq!(f["responses_received"], 3);
    assert_eq!(f["args"], json!({"tag": "t1", "url": url}));
    assert_eq!(f["settings"], json!({"DEMO_SETTING": "x=y", "LOG_LEVEL": "DEBUG"}));
    let st = f["start_time"].as_str().unwrap();
    assert_eq!(st.len(), 26, "time with microseconds: {st}");
    let keys: Vec<&String> = f.as_object().unwrap().keys().collect();
    assert!(keys.len() >= 7);
    let status = s.get("/status.json?job=job-1&project=demo").await;
    assert_eq!(status["currstate"], "finished");
    assert_eq!(status["finish_reason"], "finished");
    assert_eq!(s.get("/daemonstatus.json").await["finished"], 1);

    // Logs and items are served, with Range, and listed the way ScrapydWeb parses them.
    let r = c.get(format!("{}/logs/demo/quotes/job-1.log", s.url)).header("range", "bytes=-100").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.headers()["content-range"].to_str().unwrap().starts_with("bytes "));
    assert_eq!(r.bytes().await.unwrap().len(), 100);
    let listing = c.get(format!("{}/logs/demo/quotes/", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(listing.contains("Directory listing for /logs/demo/quotes/"));
    assert!(listing.contains("<tr class=\"odd\">\n    <td><a href=\"job-1.log\">job-1.log</a></td>\n"), "{listing}");
    let r = c.get(format!("{}/logs", s.url)).send().await.unwrap();
    assert!(r.url().path().ends_with("/logs/"));
    let items_page = c.get(format!("{}/items/demo/quotes/job-1.jl", s.url)).send().await.unwrap();
    assert_eq!(items_page.status(), 200);
    assert!(c.get(format!("{}/logs/../dbs/x", s.url)).send().await.unwrap().status() == 404);

    // The HTML pages.
    let home =
        c.get(format!("{}/", s.url)).header("x-forwarded-prefix", "/pre").send().await.unwrap().text().await.unwrap();
    assert!(
        home.contains("\"/pre/jobs\"") && home.contains("\"/pre/logs/\"") && home.contains("\"/pre/items/\""),
        "{home}"
    );
    let prefixed = c
        .get(format!("{}/jobs", s.url))
        .header("x-forwarded-prefix", "/pre")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(prefixed.contains("<a href=\"/pre/logs/demo/quotes/job-1.log\">Log</a>"), "{prefixed}");
    let page = c.get(format!("{}/jobs", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<h1>Jobs</h1>"));
    assert!(page.contains("<th colspan=\"10\">Finished</th>"));
    assert!(
        page.contains("<tr>\n    <td>demo</td>\n    <td>quotes</td>\n    <td>job-1</td>\n    <td></td>\n    <td>"),
        "{page}"
    );
    assert!(page.contains("<a href=\"/logs/demo/quotes/job-1.log\">Log</a>"));
}

#[tokio::test]
async fn urlencoded_egg_versions_and_deletes() {
    let s = Slave::start().await;
    // ScrapydWeb/SpiderKeeper send the egg as a plain urlencoded field.
    let c = reqwest::Client::new();
    let egg = demo_egg().to_vec();
    let mut form = reqwest::multipart::Form::new();
    form = form.text("project", "demo").text("version", "100");
    let _ = form;
    let body: Vec<u8> = {
        let mut b = b"project=demo&version=100&egg=".to_vec();
        for byte in &egg {
            b.extend(format!("%{byte:02X}").as_bytes());
        }
        b
    };
    let v: Value = c
        .post(format!("{}/addversion.json", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["spiders"], 3, "{v}");
    assert_eq!(s.deploy("demo", "99").await["status"], "ok");
    assert_eq!(s.deploy("demo", "1000").await["status"], "ok");
    assert_eq!(s.get("/listversions.json?project=demo").await["versions"], json!(["99", "100", "1000"]));
    // A bad upload leaves the stored versions alone.
    let v = deploy_bytes(&s.url, "demo", "2000", b"PK\x03\x04broken".to_vec()).await;
    assert_eq!(v["status"], "error");
    assert_eq!(s.get("/listversions.json?project=demo").await["versions"], json!(["99", "100", "1000"]));
    assert_eq!(s.post("/delversion.json", &[("project", "demo"), ("version", "1000")]).await["status"], "ok");
    assert_eq!(s.get("/listversions.json?project=demo").await["versions"], json!(["99", "100"]));
    assert_eq!(
        s.post("/schedule.json", &[("project", "demo"), ("spider", "nope")]).await["message"],
        "spider 'nope' not found"
    );
    assert_eq!(
        s.post("/schedule.json", &[("project", "demo"), ("spider", "quotes"), ("_version", "7")]).await["message"],
        "version '7' not found"
    );
    assert_eq!(
        s.post("/schedule.json", &[("project", "demo"), ("spider", "quotes"), ("setting", "NOEQUALS")]).await
            ["message"],
        "ValueError: dictionary update sequence element #0 has length 1; 2 is required"
    );
    assert_eq!(s.post("/delproject.json", &[("project", "demo")]).await["status"], "ok");
    assert_eq!(s.get("/listprojects.json").await["projects"], json!([]));
}

#[tokio::test]
async fn crash_at_start_finishes_with_outcome_and_log() {
    let s = Slave::start().await;
    assert_eq!(s.deploy("demo", "1").await["status"], "ok");
    let v = s.post("/schedule.json", &[("project", "demo"), ("spider", "crash"), ("jobid", "boom")]).await;
    assert_eq!(v["jobid"], "boom");
    s.wait_state("boom", "finished", LONG).await;
    let jobs = s.get("/listjobs.json").await;
    let f = &jobs["finished"][0];
    assert_eq!(f["outcome"], "failure", "{f}");
    assert_ne!(f["exit_code"], 0);
    assert!(f["errors"].as_u64().unwrap() >= 1, "{f}");
    let log = read_log(&s.path("logs/demo/crash/boom.log"));
    assert!(log.contains("demo_module_that_does_not_exist"), "{log}");
    let ex = s.get("/exceptions.json?job=boom").await;
    assert!(!ex["exceptions"].as_array().unwrap().is_empty(), "{ex}");
    let next = ex["next_offset"].as_u64().unwrap();
    let again = s.get(&format!("/exceptions.json?job=boom&offset={next}")).await;
    assert_eq!(again["exceptions"], json!([]));
}

#[tokio::test]
async fn fair_slots_across_projects() {
    let site = start_site().await;
    let s = Slave::start_with(|c| c.max_proc = 2).await;
    assert_eq!(s.deploy("big", "1").await["status"], "ok");
    assert_eq!(s.deploy("small", "1").await["status"], "ok");
    let endless = format!("{site}/endless/1");
    for i in 0..3 {
        let id = format!("big{i}");
        s.post("/schedule.json", &[("project", "big"), ("spider", "endless"), ("jobid", &id), ("url", &endless)]).await;
    }
    s.wait_state("big0", "running", LONG).await;
    s.wait_state("big1", "running", LONG).await;
    s.post("/schedule.json", &[("project", "small"), ("spider", "endless"), ("jobid", "small0"), ("url", &endless)])
        .await;
    let jobs = s.get("/listjobs.json").await;
    let pending: Vec<&str> = jobs["pending"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(pending, ["big2", "small0"]);
    assert_eq!(
        s.post("/cancel.json", &[("project", "big"), ("job", "big0"), ("signal", "KILL")]).await["prevstate"],
        "running"
    );
    // Scrapyd would start big2 (first project, first in queue); we start the project with
    // fewer running jobs (Scrapyd #187).
    s.wait_state("small0", "running", LONG).await;
    assert_eq!(s.get("/status.json?job=big2").await["currstate"], "pending");
    assert_eq!(s.post("/cancel.json", &[("project", "big"), ("job", "big2")]).await["prevstate"], "pending");
    for (p, j) in [("small", "small0"), ("big", "big1")] {
        s.post("/cancel.json", &[("project", p), ("job", j), ("signal", "KILL")]).await;
    }
    s.wait_state("small0", "finished", LONG).await;
    s.wait_state("big1", "finished", LONG).await;
    let f = s.get("/listjobs.json?project=big").await;
    let killed = f["finished"].as_array().unwrap().iter().find(|j| j["id"] == "big0").unwrap().clone();
    assert_eq!(killed["outcome"], "signalled");
    assert_eq!(killed["signal"], 9);
}

#[tokio::test]
async fn jobs_to_keep_prunes_old_logs() {
    let s = Slave::start_with(|c| {
        c.max_proc = 1;
        c.jobs_to_keep = 2;
    })
    .await;
    assert_eq!(s.deploy("demo", "1").await["status"], "ok");
    for id in ["k1", "k2", "k3", "k4"] {
        s.post("/schedule.json", &[("project", "demo"), ("spider", "quotes"), ("jobid", id)]).await;
        s.wait_state(id, "finished", LONG).await;
    }
    let mut logs: Vec<String> = std::fs::read_dir(s.path("logs/demo/quotes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    logs.sort();
    // Like Scrapyd: when a job starts, all but the newest `jobs_to_keep` files go.
    assert_eq!(logs, ["k2.log", "k3.log", "k4.log"]);
    let jobs = s.get("/listjobs.json").await;
    let k1 = jobs["finished"].as_array().unwrap().iter().find(|j| j["id"] == "k1").unwrap().clone();
    assert_eq!(k1["log_url"], Value::Null);
}

#[tokio::test]
async fn runner_error_keeps_the_egg() {
    let s = Slave::start().await;
    let egg = EggBuilder::scrapy("broken", "nosuchmodule_xyz.settings").build().unwrap();
    let v = deploy_bytes(&s.url, "broken", "1", egg).await;
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("RunnerError: ") && msg.contains("nosuchmodule_xyz"), "{v}");
    // As in Scrapyd, the egg stays stored and the project exists.
    assert_eq!(s.get("/listprojects.json").await["projects"], json!(["broken"]));
    assert_eq!(s.get("/listversions.json?project=broken").await["versions"], json!(["1"]));
    let v = s.post("/schedule.json", &[("project", "broken"), ("spider", "x")]).await;
    assert!(v["message"].as_str().unwrap_or_default().starts_with("RunnerError: "), "{v}");
}

//! `/api/v1/schedules` on a 3-master cluster: writes through a follower readable everywhere,
//! next fire times, every bad input refused with the field and nothing stored, optimistic
//! versions, pause/resume, run-now into the fire history, delete, auth.

use std::time::Duration;

use serde_json::json;
use serde_json::Value;

use crate::fixtures::*;

/// A minimal Scrapy egg (a ZIP with a settings entry point).
fn egg() -> Vec<u8> {
    scrapyd_wire::egg::EggBuilder::scrapy("demo", "demo.settings").build().expect("egg")
}

/// A cluster with project `demo` (version `1`) and a slave tagged `eu`, added through the
/// leader; returns it with the base URL of a follower.
async fn cluster_with_project() -> (TestCluster, String) {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let base = format!("{}/api/v1", c.url(c.follower(leader)));
    let lead = format!("{}/api/v1", c.url(leader));
    let form = reqwest::multipart::Form::new()
        .text("version", "1")
        .part("egg", reqwest::multipart::Part::bytes(egg()).file_name("demo.egg"));
    let (s, v) = call(c.http.post(format!("{lead}/projects/demo/versions")).multipart(form)).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        c.http.post(format!("{lead}/nodes")).json(&json!({"id": "n1", "url": "http://127.0.0.1:9", "tags": ["eu"]})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    (c, base)
}

fn good() -> Value {
    json!({
        "project": "demo", "spider": "quotes", "args": {"city": "Berlin"}, "settings": {"DOWNLOAD_DELAY": "1"},
        "priority": 5, "node_selector": ["eu"],
        "trigger": {"kind": "cron", "expr": "0 9 * * *", "timezone": "Europe/Berlin"},
        "misfire": {"kind": "fire_all", "cap": 3}, "overlap": "forbid"
    })
}

async fn ids(c: &TestCluster, base: &str) -> Vec<String> {
    let (s, v) = call(c.http.get(format!("{base}/schedules?consistency=linearizable"))).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().expect("list").iter().filter_map(|s| s["id"].as_str().map(String::from)).collect()
}

/// `good()` with the value at `path` replaced.
fn with(path: &[&str], value: Value) -> Value {
    let mut b = good();
    let mut at = &mut b;
    for p in path {
        at = &mut at[*p];
    }
    *at = value;
    b
}

fn without(field: &str) -> Value {
    let mut b = good();
    b.as_object_mut().expect("object").remove(field);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schedules_lifecycle_through_a_follower() {
    let (c, base) = cluster_with_project().await;
    let before = now_ms();
    let (s, v) = call(c.http.post(format!("{base}/schedules")).json(&good())).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!((v["version"].as_u64(), v["paused"].as_bool()), (Some(1), Some(false)), "{v}");
    assert_eq!(v["spec"]["misfire"], json!({"kind": "fire_all", "cap": 3}));

    // Next fires: five 09:00 Berlin wall times, the first within a day, in order.
    let next = v["next_fires"].as_array().expect("next_fires").clone();
    assert_eq!(next.len(), 5, "{v}");
    let mut prev = before;
    for n in &next {
        let at = n["at"].as_str().expect("at");
        let at_ms = n["at_ms"].as_i64().expect("at_ms");
        assert!(at.contains("T09:00:00+01:00") || at.contains("T09:00:00+02:00"), "{at}");
        assert_eq!(chrono::DateTime::parse_from_rfc3339(at).expect("rfc3339").timestamp_millis(), at_ms);
        assert!(at_ms > prev, "{next:?}");
        prev = at_ms;
    }
    assert!(next[0]["at_ms"].as_i64().expect("ms") <= before + 86_400_000);

    // Readable linearizably on every master.
    for m in c.running_ids() {
        let (s, got) = call(c.http.get(format!("{}/api/v1/schedules/{id}?consistency=linearizable", c.url(m)))).await;
        assert_eq!((s, got["spec"].clone()), (200, v["spec"].clone()), "master {m}");
    }
    let (_, list) = call(c.http.get(format!("{base}/schedules?project=demo"))).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let (_, list) = call(c.http.get(format!("{base}/schedules?project=other"))).await;
    assert_eq!(list, json!([]));

    // PATCH: a stale expected_version is 409 and changes nothing; without one it merges.
    let url = format!("{base}/schedules/{id}");
    let (s, e) = call(c.http.patch(&url).json(&json!({"expected_version": 7, "priority": 1}))).await;
    assert_eq!(s, 409, "{e}");
    let (s, p) = call(c.http.patch(&url).json(&json!({"expected_version": 1, "priority": 9}))).await;
    assert_eq!((s, p["version"].as_u64(), p["spec"]["priority"].as_i64()), (200, Some(2), Some(9)), "{p}");
    assert_eq!(p["spec"]["spider"], "quotes", "untouched fields are kept");
    let (s, p) = call(c.http.patch(&url).json(&json!({"trigger": {"kind": "cron", "expr": "30 6 * * 1-5"}}))).await;
    assert_eq!((s, p["version"].as_u64()), (200, Some(3)), "{p}");
    assert_eq!(p["spec"]["trigger"]["timezone"], "UTC");
    assert!(p["next_fires"][0]["at"].as_str().is_some_and(|a| a.contains("T06:30:00+00:00")), "{p}");
    let (s, e) = call(c.http.patch(&url).json(&json!({"trigger": {"kind": "cron", "expr": "nope"}}))).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("trigger.expr")), "{e}");

    // Pause: no next fires, and run-now is refused; resume brings them back.
    let (s, p) = call(c.http.post(format!("{url}/pause"))).await;
    assert_eq!((s, p["paused"].as_bool(), p["next_fires"].clone()), (200, Some(true), json!([])), "{p}");
    let (s, e) = call(c.http.post(format!("{url}/run"))).await;
    assert_eq!(s, 409, "{e}");
    let (s, p) = call(c.http.post(format!("{url}/resume"))).await;
    assert_eq!((s, p["paused"].as_bool()), (200, Some(false)), "{p}");
    assert_eq!(p["next_fires"].as_array().map(Vec::len), Some(5), "{p}");
    let version = p["version"].as_u64().expect("version");

    // Run now: 202 with the job id, then the fire is in the history on every master.
    let t0 = now_ms();
    let (s, r) = call(c.http.post(format!("{url}/run"))).await;
    assert_eq!(s, 202, "{r}");
    let job = r["job_id"].as_str().expect("job id").to_string();
    let tick = r["tick_ms"].as_i64().expect("tick");
    assert!(tick >= t0 - 1000 && job == format!("{id}-t{tick}"), "{r}");
    for m in c.running_ids() {
        let fires_url = format!("{}/api/v1/schedules/{id}/fires?consistency=linearizable", c.url(m));
        let (s, h) = call(c.http.get(&fires_url)).await;
        assert_eq!(s, 200, "{h}");
        assert_eq!(h[0]["job_id"], job.as_str(), "master {m}: {h}");
        assert_eq!((h[0]["tick_ms"].as_i64(), h[0]["schedule_version"].as_u64()), (Some(tick), Some(version)));
        assert!(matches!(h[0]["outcome"]["kind"].as_str(), Some("fired" | "dispatched" | "dispatch_failed")), "{h}");
    }
    let (_, v) = call(c.http.get(format!("{url}?consistency=linearizable"))).await;
    assert_eq!(v["last_decided_tick"].as_i64(), Some(tick));
    // A second run gets a later tick; paging with `before` walks back.
    let (s, r2) = eventually("a second run now", Duration::from_secs(5), || async {
        let (s, r) = call(c.http.post(format!("{url}/run"))).await;
        if s == 202 {
            Ok((s, r))
        } else {
            Err(format!("{s} {r}"))
        }
    })
    .await;
    assert_eq!(s, 202);
    let (_, h) = call(c.http.get(format!("{url}/fires?limit=1&consistency=linearizable"))).await;
    assert_eq!(h.as_array().map(Vec::len), Some(1));
    assert_eq!(h[0]["job_id"], r2["job_id"], "newest first: {h}");
    let (_, h) = call(c.http.get(format!("{url}/fires?limit=5&before={}", r2["tick_ms"]))).await;
    assert_eq!((h.as_array().map(Vec::len), h[0]["job_id"].as_str()), (Some(1), Some(job.as_str())), "{h}");
    assert_eq!(call(c.http.get(format!("{url}/fires?limit=0"))).await.0, 400);
    assert_eq!(call(c.http.get(format!("{url}/fires?limit=1001"))).await.0, 400);

    // Created paused: no next fires.
    let mut paused = good();
    paused["paused"] = json!(true);
    let (s, p) = call(c.http.post(format!("{base}/schedules")).json(&paused)).await;
    assert_eq!((s, p["paused"].as_bool(), p["next_fires"].clone()), (201, Some(true), json!([])), "{p}");

    // Delete: 204, then 404 everywhere.
    let (s, _) = call(c.http.delete(&url)).await;
    assert_eq!(s, 204);
    for m in c.running_ids() {
        let (s, _) = call(c.http.get(format!("{}/api/v1/schedules/{id}?consistency=linearizable", c.url(m)))).await;
        assert_eq!(s, 404, "master {m}");
    }
    for (m, path) in [
        (reqwest::Method::PATCH, url.clone()),
        (reqwest::Method::DELETE, url.clone()),
        (reqwest::Method::POST, format!("{url}/pause")),
        (reqwest::Method::POST, format!("{url}/run")),
        (reqwest::Method::GET, format!("{base}/schedules/sch-999999/fires")),
    ] {
        let mut r = c.http.request(m.clone(), &path);
        if m == reqwest::Method::PATCH {
            r = r.json(&json!({"priority": 1}));
        }
        assert_eq!(call(r).await.0, 404, "{m} {path}");
    }

    // No token, or a wrong one: 401.
    for r in [c.http.get(format!("{base}/schedules")), c.http.post(format!("{base}/schedules")).json(&good())] {
        assert_eq!(r.send().await.expect("send").status(), 401);
    }
    let r = c.http.get(format!("{base}/schedules")).bearer_auth("wrong").send().await.expect("send");
    assert_eq!(r.status(), 401);
    let doc: Value = c.http.get(format!("{base}/openapi.json")).send().await.expect("doc").json().await.expect("json");
    for path in ["/api/v1/schedules", "/api/v1/schedules/{id}", "/api/v1/schedules/{id}/fires"] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_schedules_are_refused_naming_the_field_and_store_nothing() {
    let (c, base) = cluster_with_project().await;
    let (s, v) = call(c.http.post(format!("{base}/schedules")).json(&good())).await;
    assert_eq!(s, 201, "{v}");
    let kept = ids(&c, &base).await;

    let past = now_ms() - 3_600_000;
    let cases: Vec<(Value, &str)> = vec![
        (with(&["trigger", "expr"], json!("61 * * * *")), "trigger.expr"),
        (with(&["trigger", "expr"], json!("* * *")), "trigger.expr"),
        (with(&["trigger", "expr"], json!("0 12 * * 8")), "trigger.expr"),
        (with(&["trigger", "timezone"], json!("Mars/Olympus")), "trigger.timezone"),
        (with(&["trigger"], json!({"kind": "once", "at_ms": past})), "trigger.at_ms"),
        (with(&["project"], json!("nope")), "project"),
        (with(&["project"], json!("../etc")), "project"),
        (with(&["spider"], json!("a b")), "spider"),
        (with(&["egg_version"], json!("9")), "egg_version"),
        (with(&["node_selector"], json!(["eu", "mars"])), "node_selector"),
        (with(&["priority"], json!(5000)), "priority"),
        (with(&["misfire"], json!({"kind": "fire_all", "cap": 0})), "misfire.cap"),
        (with(&["misfire"], json!({"kind": "fire_all", "cap": 1001})), "misfire.cap"),
        (
            with(&["misfire"], json!({"kind": "fire_once", "starting_deadline_ms": 86_400_001u64})),
            "misfire.starting_deadline_ms",
        ),
        (with(&["args"], json!({"jobid": "x"})), "args"),
        (with(&["colour"], json!("blue")), "colour"),
        (with(&["trigger", "every"], json!(5)), "trigger.every"),
        (without("spider"), "spider"),
        (without("trigger"), "trigger"),
    ];
    for (body, field) in cases {
        let (s, v) = call(c.http.post(format!("{base}/schedules")).json(&body)).await;
        assert_eq!((s, v["field"].as_str()), (400, Some(field)), "{body}: {v}");
        assert_eq!(v["error"], "bad_request", "JSON error body: {v}");
    }
    let (s, v) = call(c.http.post(format!("{base}/schedules")).json(&with(&["priority"], json!("high")))).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("bad_request")), "{v}");
    let (s, v) = call(
        c.http
            .post(format!("{base}/schedules"))
            .header("content-type", "application/json")
            .body("{\"project\": \"demo\","),
    )
    .await;
    assert_eq!((s, v["field"].as_str()), (400, Some("body")), "malformed JSON: {v}");
    let (s, v) = call(c.http.post(format!("{base}/schedules")).body("project=demo")).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("body")), "not JSON: {v}");
    let (s, v) = call(c.http.get(format!("{base}/schedules?consistency=eventual"))).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("consistency")), "{v}");

    // A PATCH with bad input changes nothing either.
    let id = &kept[0];
    let (s, v) = call(c.http.patch(format!("{base}/schedules/{id}")).json(&json!({"node_selector": ["mars"]}))).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("node_selector")), "{v}");
    let (s, v) = call(c.http.patch(format!("{base}/schedules/{id}")).json(&json!({"paused": true}))).await;
    assert_eq!((s, v["field"].as_str()), (400, Some("paused")), "{v}");

    assert_eq!(ids(&c, &base).await, kept, "no schedule was stored");
    let (_, v) = call(c.http.get(format!("{base}/schedules/{id}?consistency=linearizable"))).await;
    assert_eq!(v["version"].as_u64(), Some(1), "{v}");
    c.shutdown().await;
}

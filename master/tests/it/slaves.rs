//! Slaves driven by the cluster: registration, health transitions, egg distribution to a real
//! spider-slave and a real Scrapyd, job collection and cancel, metrics polling.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use serde_json::Value;

use crate::fixtures::*;
use crate::workers::*;

const WAIT: Duration = Duration::from_secs(60);

async fn get(c: &TestCluster, id: u64, path: &str) -> Value {
    let (s, v) = api(c, id, reqwest::Method::GET, path, None).await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

async fn upload(c: &TestCluster, id: u64, project: &str, version: &str, egg: Vec<u8>, query: &str) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("version", version.to_string())
        .part("egg", reqwest::multipart::Part::bytes(egg).file_name("x.egg"));
    let r = c
        .http
        .post(format!("{}/api/v1/projects/{project}/versions{query}", c.url(id)))
        .bearer_auth(ADMIN)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn node_status(c: &TestCluster, id: u64, node: &str) -> String {
    let v = get(c, id, &format!("/nodes/{node}")).await;
    v["status"]["kind"].as_str().unwrap_or("?").to_string()
}

async fn wait_status(c: &TestCluster, id: u64, node: &str, want: &str) {
    eventually(&format!("{node} {want}"), WAIT, || async {
        let s = node_status(c, id, node).await;
        if s == want {
            Ok(())
        } else {
            Err(s)
        }
    })
    .await
}

fn deployed_spiders(projects: &Value, project: &str, version: &str, node: &str) -> Option<Vec<String>> {
    let p = projects.as_array()?.iter().find(|p| p["name"] == project)?;
    let v = p["versions"].as_array()?.iter().find(|v| v["version"] == version)?;
    let d = &v["deployments"][node];
    (d["kind"] == "deployed").then(|| {
        d["spiders"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
            .unwrap_or_default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_egg_uploaded_to_a_follower_reaches_spider_slave_and_scrapyd() {
    let c = TestCluster::start(3, |_| {}).await;
    let f = c.follower(c.leader().await);
    let ours = InProcessSlave::start("ours").await;
    let scrapyd = Scrapyd::start().await;
    for (id, url) in [("ours", &ours.url), ("scrapyd", &scrapyd.url)] {
        let (s, v) =
            api(&c, f, reqwest::Method::POST, "/nodes", Some(json!({"id": id, "url": url, "tags": ["t"]}))).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["id"], id);
    }
    wait_status(&c, f, "ours", "up").await;
    wait_status(&c, f, "scrapyd", "up").await;

    let (s, v) = upload(&c, f, "demo", "1_0", demo_egg().to_vec(), "").await;
    assert_eq!(s, 201, "{v}");
    // The leader's deployer puts it on both and records their spiders.
    for node in ["ours", "scrapyd"] {
        let spiders = eventually(&format!("demo 1_0 deployed on {node}"), WAIT, || async {
            let p = get(&c, f, "/projects").await;
            deployed_spiders(&p, "demo", "1_0", node).ok_or_else(|| p.to_string())
        })
        .await;
        assert_eq!(spiders, ["crash", "endless", "quotes"], "spiders on {node}");
    }
    // The slaves themselves say so.
    for url in [&ours.url, &scrapyd.url] {
        let v: Value = c
            .http
            .get(format!("{url}/listspiders.json?project=demo"))
            .send()
            .await
            .expect("ls")
            .json()
            .await
            .expect("json");
        assert_eq!(v["spiders"], json!(["crash", "endless", "quotes"]), "{url}: {v}");
        let v: Value = c
            .http
            .get(format!("{url}/listversions.json?project=demo"))
            .send()
            .await
            .expect("lv")
            .json()
            .await
            .expect("json");
        assert_eq!(v["versions"], json!(["1_0"]), "{url}: {v}");
    }
    // The same egg again is a no-op; other bytes for the same version are a conflict.
    assert_eq!(upload(&c, f, "demo", "1_0", demo_egg().to_vec(), "").await.0, 200);
    let mut other = demo_egg().to_vec();
    other.extend_from_slice(b"\0");
    let (s, v) = upload(&c, f, "demo", "1_0", other, "").await;
    assert_eq!((s, v["error"].as_str()), (409, Some("conflict")), "{v}");

    // A version deleted in the cluster disappears from the slaves.
    assert_eq!(upload(&c, f, "demo", "2_0", demo_egg().to_vec(), "").await.0, 201);
    eventually("2_0 on both", WAIT, || async {
        let p = get(&c, f, "/projects").await;
        let both = ["ours", "scrapyd"].iter().all(|n| deployed_spiders(&p, "demo", "2_0", n).is_some());
        if both {
            Ok(())
        } else {
            Err(p.to_string())
        }
    })
    .await;
    let (s, _) = api(&c, f, reqwest::Method::DELETE, "/projects/demo/versions/1_0", None).await;
    assert_eq!(s, 204);
    for url in [&ours.url, &scrapyd.url] {
        eventually(&format!("1_0 deleted on {url}"), WAIT, || async {
            let v: Value = c
                .http
                .get(format!("{url}/listversions.json?project=demo"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if v["versions"] == json!(["2_0"]) {
                Ok(())
            } else {
                Err(v.to_string())
            }
        })
        .await;
    }

    // Metrics: every master polls spider-slave; Scrapyd has none and that is not an error.
    for id in c.running_ids() {
        eventually("metrics samples of ours", WAIT, || async {
            let m = get(&c, id, "/nodes/ours/metrics").await;
            if m["samples"].as_array().is_some_and(|a| !a.is_empty()) {
                Ok(())
            } else {
                Err(m.to_string())
            }
        })
        .await;
        let m = eventually("scrapyd seen without metrics", WAIT, || async {
            let m = get(&c, id, "/nodes/scrapyd/metrics").await;
            if m["unsupported"] == true {
                Ok(m)
            } else {
                Err(m.to_string())
            }
        })
        .await;
        assert_eq!(m["last_error"], Value::Null);
    }
    let mut ours = ours;
    ours.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slave_going_down_and_up_is_committed_once_each_way() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let mut s = InProcessSlave::start("s1").await;
    let (st, v) = api(&c, leader, reqwest::Method::POST, "/nodes", Some(json!({"id": "s1", "url": s.url}))).await;
    assert_eq!(st, 201, "{v}");
    wait_status(&c, leader, "s1", "up").await;

    // A steady cluster writes nothing: several health rounds pass with no new log entry.
    assert_quiet(&c, leader, "up").await;

    s.stop().await;
    wait_status(&c, leader, "s1", "down").await;
    let reason = get(&c, leader, "/nodes/s1").await["status"]["reason"].clone();
    assert!(reason.as_str().is_some_and(|r| r.contains("unreachable")), "{reason}");
    assert_quiet(&c, leader, "down").await;

    s.restart("s1").await;
    wait_status(&c, leader, "s1", "up").await;
    // Every master sees the same committed status.
    for id in c.running_ids() {
        assert_eq!(node_status(&c, id, "s1").await, "up");
    }
    s.stop().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_on_a_slave_are_collected_and_can_be_cancelled() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let f = c.follower(leader);
    let mut s = InProcessSlave::start("s1").await;
    assert_eq!(api(&c, f, reqwest::Method::POST, "/nodes", Some(json!({"id": "s1", "url": s.url}))).await.0, 201);
    wait_status(&c, f, "s1", "up").await;
    assert_eq!(upload(&c, f, "demo", "1", demo_egg().to_vec(), "").await.0, 201);
    eventually("deployed", WAIT, || async {
        let p = get(&c, f, "/projects").await;
        deployed_spiders(&p, "demo", "1", "s1").ok_or_else(|| p.to_string())
    })
    .await;

    // A crawl started on the slave directly (any Scrapyd client) shows up with its outcome.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/", l.local_addr().expect("addr"))
    };
    let form = [("project", "demo"), ("spider", "quotes"), ("jobid", "direct-1"), ("url", refused.as_str())];
    let v: Value = c
        .http
        .post(format!("{}/schedule.json", s.url))
        .form(&form)
        .send()
        .await
        .expect("schedule")
        .json()
        .await
        .expect("json");
    assert_eq!(v["jobid"], "direct-1", "{v}");
    let job = eventually("direct-1 finished in the job table", Duration::from_secs(120), || async {
        let (st, j) = api(&c, f, reqwest::Method::GET, "/jobs/direct-1", None).await;
        if st == 200 && j["state"] == "finished" && !j["outcome"].is_null() {
            Ok(j)
        } else {
            Err(format!("{st} {j}"))
        }
    })
    .await;
    assert_eq!(job["node_id"], "s1");
    assert_eq!(job["spider"], "quotes");
    assert_eq!(job["outcome"]["finish_reason"], "finished", "{job}");
    assert_eq!(job["outcome"]["exit_code"], 0, "{job}");

    // A crawl that hangs is cancelled through the API.
    let hang = hanging_site().await;
    let form = [("project", "demo"), ("spider", "quotes"), ("jobid", "hang-1"), ("url", hang.as_str())];
    let v: Value = c
        .http
        .post(format!("{}/schedule.json", s.url))
        .form(&form)
        .send()
        .await
        .expect("schedule")
        .json()
        .await
        .expect("json");
    assert_eq!(v["status"], "ok", "{v}");
    eventually("hang-1 running in the job table", Duration::from_secs(60), || async {
        let (st, j) = api(&c, f, reqwest::Method::GET, "/jobs/hang-1", None).await;
        if st == 200 && j["state"] == "running" {
            Ok(())
        } else {
            Err(format!("{st} {j}"))
        }
    })
    .await;
    let (st, v) = api(&c, f, reqwest::Method::POST, "/jobs/hang-1/cancel", None).await;
    assert_eq!((st, v["prevstate"].as_str()), (200, Some("running")), "{v}");
    let j = eventually("hang-1 finished after cancel", Duration::from_secs(60), || async {
        let (st, j) = api(&c, f, reqwest::Method::GET, "/jobs/hang-1", None).await;
        if st == 200 && j["state"] == "finished" {
            Ok(j)
        } else {
            Err(format!("{st} {j}"))
        }
    })
    .await;
    assert_ne!(j["outcome"]["finish_reason"], "finished", "a cancelled crawl does not finish normally: {j}");
    // Cancelling an ended job is a conflict; an unknown job is 404.
    assert_eq!(api(&c, f, reqwest::Method::POST, "/jobs/hang-1/cancel", None).await.0, 409);
    assert_eq!(api(&c, f, reqwest::Method::POST, "/jobs/nope/cancel", None).await.0, 404);
    let list = get(&c, f, "/jobs?state=finished&node=s1").await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(api(&c, f, reqwest::Method::GET, "/jobs?state=bogus", None).await.0, 400);
    s.stop().await;
    c.shutdown().await;
}

/// The leader's applied index and health-round count.
fn quiet_point(c: &TestCluster, leader: u64) -> (Option<u64>, u64) {
    let n = &c.node(leader).node;
    (n.state.last_applied().map(|l| l.index()), n.health_rounds.load(Ordering::Relaxed))
}

/// Five more health rounds pass on the leader without the log growing.
async fn assert_quiet(c: &TestCluster, leader: u64, what: &str) {
    let (index, rounds) = quiet_point(c, leader);
    eventually("five more health rounds", WAIT, || async {
        let (i, r) = quiet_point(c, leader);
        assert_eq!(i, index, "{what}: the log grew while nothing changed");
        if r >= rounds + 5 {
            Ok(())
        } else {
            Err(format!("{r} rounds"))
        }
    })
    .await
}

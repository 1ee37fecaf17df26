//! Restarts of the real binary: the queue, the history and a still-running crawl survive; a
//! crawl whose process vanished while the slave was down is recorded as `lost`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const LONG: Duration = Duration::from_secs(90);

fn write_conf(dir: &Path) {
    let conf = format!(
        "[scrapyd]\nbind_address = 127.0.0.1\nhttp_port = 0\nmax_proc = 1\nnode_name = restart-node\npython = {}\nitems_dir = items\n",
        python().display()
    );
    std::fs::write(dir.join("scrapyd.conf"), conf).unwrap();
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

async fn post(url: &str, form: &[(&str, &str)]) -> Value {
    reqwest::Client::new().post(url).form(form).send().await.unwrap().json().await.unwrap()
}

async fn wait_state(base: &str, job: &str, state: &str) -> Value {
    let base = base.to_string();
    eventually(LONG, &format!("{job} {state}"), || {
        let base = base.clone();
        async move {
            let v = get(&format!("{base}/status.json?job={job}")).await;
            if v["currstate"] == state {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        }
    })
    .await
}

/// Waits until `job` runs with a pid (a job is listed as running just before its spawn).
async fn running_pid(base: &str, job: &str) -> u64 {
    let base = base.to_string();
    eventually(LONG, &format!("{job} running with a pid"), || {
        let base = base.clone();
        async move {
            let v = get(&format!("{base}/listjobs.json")).await;
            let pid =
                v["running"].as_array().into_iter().flatten().find(|j| j["id"] == job).and_then(|j| j["pid"].as_u64());
            pid.ok_or_else(|| v.to_string())
        }
    })
    .await
}

#[tokio::test]
async fn restart_keeps_queue_history_and_running_crawl() {
    let site = start_site().await;
    let dir = tempfile::tempdir().unwrap();
    write_conf(dir.path());
    let slave = SlaveProcess::start(dir.path());
    let base = slave.url.clone();
    let v = deploy_bytes(&base, "demo", "1", demo_egg().to_vec()).await;
    assert_eq!(v["status"], "ok", "{v}");
    let page = format!("{site}/page/1");
    let endless = format!("{site}/endless/1");
    post(
        &format!("{base}/schedule.json"),
        &[("project", "demo"), ("spider", "quotes"), ("jobid", "done"), ("url", &page)],
    )
    .await;
    wait_state(&base, "done", "finished").await;
    post(
        &format!("{base}/schedule.json"),
        &[("project", "demo"), ("spider", "endless"), ("jobid", "long"), ("url", &endless)],
    )
    .await;
    post(
        &format!("{base}/schedule.json"),
        &[("project", "demo"), ("spider", "quotes"), ("jobid", "queued"), ("url", &page)],
    )
    .await;
    let pid = running_pid(&base, "long").await;
    let before = get(&format!("{base}/listjobs.json")).await;
    assert_eq!(before["pending"][0]["id"], "queued");
    slave.stop();

    // The crawl outlives the slave.
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let slave = SlaveProcess::start(dir.path());
    let base = slave.url.clone();
    let after = get(&format!("{base}/listjobs.json")).await;
    assert_eq!(after["running"][0]["id"], "long", "{after}");
    assert_eq!(after["running"][0]["pid"].as_u64(), Some(pid));
    assert_eq!(after["pending"][0]["id"], "queued");
    assert_eq!(after["finished"][0]["id"], "done");
    // The re-adopted crawl is cancelled like any other; the queued job then runs.
    assert_eq!(
        post(&format!("{base}/cancel.json"), &[("project", "demo"), ("job", "long"), ("signal", "KILL")]).await
            ["prevstate"],
        "running"
    );
    let done = wait_state(&base, "long", "finished").await;
    assert_eq!(done["outcome"], "exited");
    wait_state(&base, "queued", "finished").await;

    // A crawl that dies while the slave is down is recorded as lost, not left as a ghost.
    post(
        &format!("{base}/schedule.json"),
        &[("project", "demo"), ("spider", "endless"), ("jobid", "ghost"), ("url", &endless)],
    )
    .await;
    let pid = running_pid(&base, "ghost").await;
    slave.stop();
    unsafe_kill(pid as u32, 9);
    eventually(LONG, "the orphan crawl to die", || async move {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z ") {
            Ok(())
        } else {
            Err(stat)
        }
    })
    .await;
    let slave = SlaveProcess::start(dir.path());
    let v = wait_state(&slave.url, "ghost", "finished").await;
    assert_eq!(v["outcome"], "lost");
    slave.stop();
}

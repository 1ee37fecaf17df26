//! Beyond Scrapyd: idempotent scheduling, metrics endpoints, configuration sources.

use serde_json::Value;

use crate::support::*;

async fn schedule_with_key(url: &str, key: Option<&str>, jobid: &str) -> Value {
    let mut rb = reqwest::Client::new().post(format!("{url}/schedule.json")).form(&[
        ("project", "demo"),
        ("spider", "quotes"),
        ("jobid", jobid),
    ]);
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    rb.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn idempotency_key_survives_restart() {
    let mut s = Slave::start_with(|c| c.max_proc = 1).await;
    assert_eq!(s.deploy("demo", "1").await["status"], "ok");
    // Keep the slot busy so the jobs stay pending and countable.
    s.post(
        "/schedule.json",
        &[("project", "demo"), ("spider", "endless"), ("jobid", "blocker"), ("url", "http://127.0.0.1:9/")],
    )
    .await;
    let a = schedule_with_key(&s.url, Some("k-1"), "first").await;
    assert_eq!(a["jobid"], "first");
    let b = schedule_with_key(&s.url, Some("k-1"), "second").await;
    assert_eq!(b["jobid"], "first");
    let c = schedule_with_key(&s.url, None, "first").await;
    assert_eq!(c["jobid"], "first");
    let d = schedule_with_key(&s.url, None, "first").await;
    assert_eq!(d["jobid"], "first");
    let count = |v: &Value| {
        ["pending", "running", "finished"]
            .iter()
            .map(|k| v[*k].as_array().unwrap().iter().filter(|j| j["id"] == "first").count())
            .sum::<usize>()
    };
    assert_eq!(count(&s.get("/listjobs.json").await), 3);
    // Restart in the same directory: the key is remembered.
    s.stop().await;
    let dir = s.dir.path().to_path_buf();
    let app = slave::build_app(config_in(&dir), tokio_util::sync::CancellationToken::new()).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let token = app.shutdown.clone();
    let task = tokio::spawn(slave::serve(app, Some(l), std::future::pending::<()>()));
    let e = schedule_with_key(&url, Some("k-1"), "third").await;
    assert_eq!(e["jobid"], "first");
    token.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn metrics_json_and_prometheus() {
    let s = Slave::start().await;
    let v = s.get("/metrics.json").await;
    assert_eq!(v["status"], "ok");
    assert!(v["memory"]["total_bytes"].as_u64().unwrap() > 0, "{v}");
    assert!(v["cpu_count"].as_u64().unwrap() >= 1);
    assert!(v["disk"]["total_bytes"].is_u64());
    assert!(v["network"]["rx_bytes_per_s"].is_number());
    assert_eq!(v["load_average"].as_array().unwrap().len(), 3);
    let text = reqwest::get(format!("{}/metrics", s.url)).await.unwrap().text().await.unwrap();
    assert!(text.contains("# TYPE spider_slave_jobs_pending gauge"));
    assert!(text.contains("spider_host_memory_total_bytes "));
}

#[tokio::test]
async fn two_slaves_cannot_share_dbs_dir() {
    let s = Slave::start().await;
    let err = slave::build_app(config_in(s.dir.path()), tokio_util::sync::CancellationToken::new()).unwrap_err();
    assert!(err.to_string().contains("another spider-slave is using"), "{err}");
}

#[tokio::test]
async fn unix_socket_is_served_too() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("slave.sock");
    let sock2 = sock.clone();
    let s = Slave::start_with(move |c| c.unix_socket_path = Some(sock2)).await;
    let sock3 = sock.clone();
    eventually(std::time::Duration::from_secs(10), "the socket to appear", || {
        let p = sock3.clone();
        async move {
            if p.exists() {
                Ok(())
            } else {
                Err("absent".to_string())
            }
        }
    })
    .await;
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o660);
    let out = tokio::process::Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(&sock)
        .arg("http://localhost/daemonstatus.json")
        .output()
        .await
        .expect("curl is needed for this test");
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.ends_with("\"node_name\": \"test-node\"}\n"), "{body}");
    drop(s);
}

#[test]
fn config_files_and_env_override() {
    let mut c = slave::Config::default();
    assert_eq!(c.bind_address, "127.0.0.1");
    assert_eq!(c.http_port, 6800);
    c.apply_ini(&slave::config::parse_ini("[scrapyd]\nhttp_port = 6900\nusername = a:b\npassword = p\n")).unwrap();
    assert_eq!(c.http_port, 6900);
    assert!(c.validate().is_err(), "a ':' in the username is a startup error");
    c.apply_env(&[("SCRAPYD_USERNAME".into(), "ok".into())]).unwrap();
    assert!(c.validate().is_ok());
}

//! Real clients against the slave: scrapyd-deploy (scrapyd-client) and python-scrapyd-api.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn scrapyd_deploy_uploads_the_project() {
    let s = Slave::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("demo");
    copy_fixture(&proj);
    let cfg = proj.join("scrapy.cfg");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("\n[deploy]\nurl = {}/\nproject = demo\n", s.url));
    std::fs::write(&cfg, text).unwrap();
    let url = s.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(venv_bin("scrapyd-deploy")).args(["-v", "2.0"]).current_dir(&proj).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scrapyd-deploy failed: {stdout}\n{stderr}");
    assert!(stdout.contains("\"status\": \"ok\"") || stderr.contains("\"status\": \"ok\""), "{stdout}\n{stderr}");
    let v: Value = reqwest::get(format!("{url}/listversions.json?project=demo")).await.unwrap().json().await.unwrap();
    assert_eq!(v["versions"], json!(["2_0"]));
    // `_version=2.0` resolves to the sanitised egg.
    let v = s.post("/schedule.json", &[("project", "demo"), ("spider", "quotes"), ("_version", "2.0")]).await;
    assert_eq!(v["status"], "ok", "{v}");
}

const SCRIPT: &str = r#"
import json, sys
from scrapyd_api import ScrapydAPI
api = ScrapydAPI(sys.argv[1])
with open(sys.argv[2], "rb") as egg:
    spiders = api.add_version("demo", "3", egg)
jobid = api.schedule("demo", "quotes", settings={"DEMO_SETTING": "z"}, url=sys.argv[3], tag="api")
out = {
    "spiders": spiders,
    "projects": api.list_projects(),
    "versions": api.list_versions("demo"),
    "list_spiders": api.list_spiders("demo"),
    "jobid": jobid,
    "jobs": api.list_jobs("demo"),
}
print(json.dumps(out))
"#;

const SCRIPT2: &str = r#"
import json, sys
from scrapyd_api import ScrapydAPI
api = ScrapydAPI(sys.argv[1])
out = {
    "status": api.job_status("demo", sys.argv[2]),
    "cancel": api.cancel("demo", sys.argv[2]),
    "delversion": api.delete_version("demo", "3"),
    "projects": api.list_projects(),
}
print(json.dumps(out))
"#;

#[tokio::test]
async fn python_scrapyd_api_round_trip() {
    let site = start_site().await;
    let s = Slave::start().await;
    let dir = tempfile::tempdir().unwrap();
    let egg = dir.path().join("demo.egg");
    std::fs::write(&egg, demo_egg()).unwrap();
    let url = s.url.clone();
    let page = format!("{site}/page/1");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg("-c").arg(SCRIPT).arg(&url).arg(&egg).arg(&page).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["spiders"], 3);
    assert_eq!(v["projects"], json!(["demo"]));
    assert_eq!(v["versions"], json!(["3"]));
    assert_eq!(v["list_spiders"], json!(["crash", "endless", "quotes"]));
    let jobid = v["jobid"].as_str().unwrap().to_string();
    assert_eq!(jobid.len(), 32);
    s.wait_state(&jobid, "finished", Duration::from_secs(90)).await;
    let items = std::fs::read_to_string(s.path(&format!("items/demo/quotes/{jobid}.jl"))).unwrap();
    assert!(items.contains("\"setting\": \"z\"") && items.contains("\"tag\": \"api\""), "{items}");
    let url = s.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python()).arg("-c").arg(SCRIPT2).arg(&url).arg(&jobid).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "finished");
    assert_eq!(v["delversion"], true);
    assert_eq!(v["projects"], json!([]));
}

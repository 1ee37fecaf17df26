//! Honesty: the suite must be able to fail. The harness's own stand-in records a second start
//! of a job that already started (a duplicate dispatch); the verdict must be `invalid`, and the
//! duplicate checker must name that job. Needs root, like the smoke set.

use std::time::Duration;

use jepsen_tests::scenario::RunConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_injected_duplicate_start_makes_the_verdict_invalid() {
    assert!(
        std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false),
        "the fault-injection suite needs root (network namespaces, iptables): run scripts/test.sh"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let mut cfg = RunConfig::new("honesty", vec![], 7, Duration::from_secs(10), out.path());
    cfg.recover_ms = (3_000, 3_000);
    cfg.inject_duplicate = true;
    let results = jepsen_tests::scenario::run(&cfg).await.expect("run");
    assert_eq!(results["valid"], false, "{results:#}");
    let dup = &results["checkers"]["no_duplicate_start"];
    assert_eq!(dup["valid"], false, "{results:#}");
    let history = std::fs::read_to_string(out.path().join("history.jsonl")).expect("history");
    let injected = history
        .lines()
        .filter(|l| l.contains("\"peer\":\"harness\""))
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["job_id"].as_str().map(str::to_string))
        .expect("the injected start is in the history");
    assert!(dup["details"].as_str().unwrap_or("").contains(&injected), "{dup:#} does not name {injected}");
}

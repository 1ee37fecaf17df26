//! Honesty: the suite must be able to fail. The harness's own stand-in records a second start
//! of a job that already started (a duplicate dispatch); the verdict must be `invalid`, and the
//! duplicate checker must name that job. And after a leader kill, the harness delivers the
//! failover mail to the SMTP sink twice more: a third copy of one `Message-ID` is beyond the
//! one resend the alerter's window allows, so the alert checker must say `invalid` and name it.
//! Needs root, like the smoke set.

use std::time::Duration;

use jepsen_tests::fault::Fault;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_injected_third_copy_of_a_failover_mail_makes_the_verdict_invalid() {
    assert!(
        std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false),
        "the fault-injection suite needs root (network namespaces, iptables): run scripts/test.sh"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let mut cfg = RunConfig::new("honesty-mail", vec![Fault::KillLeader], 7, Duration::from_secs(12), out.path());
    cfg.recover_ms = (4_000, 4_000);
    cfg.hold_ms = (2_000, 2_000);
    cfg.inject_duplicate_mail = 2;
    let results = jepsen_tests::scenario::run(&cfg).await.expect("run");
    assert_eq!(results["valid"], false, "{results:#}");
    let alerts = &results["checkers"]["alerts"];
    assert_eq!(alerts["valid"], false, "{results:#}");
    let history = std::fs::read_to_string(out.path().join("history.jsonl")).expect("history");
    let injected = history
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "mail_injected")
        .and_then(|v| v["message_id"].as_str().map(str::to_string))
        .expect("the injected copies are in the history");
    let details = alerts["details"].as_str().unwrap_or("");
    assert!(details.contains(&format!("{injected} arrived 3 times")), "{alerts:#} does not name {injected}");
    assert_eq!(results["alerts"]["duplicates"], 1, "{results:#}");
}

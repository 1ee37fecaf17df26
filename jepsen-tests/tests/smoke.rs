//! The smoke set, as part of the README's test command (run as root).

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn smoke_scenarios_are_valid() {
    assert!(
        std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false),
        "the fault-injection suite needs root (network namespaces, iptables): run scripts/test.sh"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let results = jepsen_tests::scenario::smoke(out.path()).await.expect("smoke run");
    assert_eq!(results["valid"], true, "{results:#}");
    assert_eq!(results["faults_injected"], 3);
    assert!(results["fires_checked"].as_u64().unwrap_or(0) > 0, "{results:#}");
    assert!(out.path().join("results.json").is_file());
    assert!(out.path().join("report.html").is_file());
    for s in ["kill-leader", "pause-leader", "leader-minority"] {
        assert!(out.path().join(s).join("history.jsonl").is_file(), "{s} wrote no history");
        // Each of the three deposes a leader: its new leader owes one failover mail.
        let alerts = &results["checkers"][format!("{s}/alerts")];
        assert_eq!(alerts["valid"], true, "{s}: {alerts:#}");
        let run = results["scenarios"].as_array().and_then(|a| a.iter().find(|r| r["scenario"] == s));
        let judged = run.and_then(|r| r["alerts"]["failovers_judged"].as_u64()).unwrap_or(0);
        assert!(judged >= 1, "{s}: no failover judged: {alerts:#}");
        eprintln!("smoke {s}: alerts {}", alerts["details"]);
    }
}

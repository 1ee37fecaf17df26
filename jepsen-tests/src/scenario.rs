//! Scenarios: each builds fresh hosts and a fresh cluster, observes it, injects one fault on
//! the leader, heals, waits for convergence, and checks the history.

use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use crate::checker;
use crate::cluster::Cluster;
use crate::history::Event;
use crate::history::History;
use crate::net::Net;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    LeaderKill,
    LeaderPause,
    LeaderMinority,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::LeaderKill => "leader-kill",
            Fault::LeaderPause => "leader-pause",
            Fault::LeaderMinority => "leader-minority",
        }
    }
}

/// Polls every master's `/healthz` into the history until stopped.
async fn observe(
    net: Arc<Vec<(u8, String)>>,
    history: Arc<Mutex<History>>,
    start: Instant,
    stop: Arc<tokio::sync::Notify>,
) {
    let http = match reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(300)).build() {
        Ok(c) => c,
        Err(_) => return,
    };
    loop {
        for (i, url) in net.iter() {
            if let Ok(r) = http.get(format!("{url}/healthz")).send().await {
                if let Ok(v) = r.json::<serde_json::Value>().await {
                    let e = Event::Observed {
                        at_ms: start.elapsed().as_millis() as u64,
                        node: *i,
                        state: v["state"].as_str().unwrap_or_default().to_string(),
                        term: v["term"].as_u64().unwrap_or(0),
                        leader: v["leader_id"].as_u64(),
                        applied: v["last_applied"].as_u64(),
                    };
                    if let Ok(mut h) = history.lock() {
                        h.events.push(e);
                    }
                }
            }
        }
        tokio::select! {
            _ = stop.notified() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// Waits until `f` over the history holds, or fails with `what`.
async fn wait_for(
    history: &Arc<Mutex<History>>,
    what: &str,
    timeout: Duration,
    f: impl Fn(&History) -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if history.lock().map(|h| f(&h)).unwrap_or(false) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The newest observation of each node since `since_ms`.
fn latest(h: &History, since_ms: u64) -> std::collections::BTreeMap<u8, (String, u64, Option<u64>)> {
    let mut m = std::collections::BTreeMap::new();
    for e in &h.events {
        if let Event::Observed { at_ms, node, state, term, leader, .. } = e {
            if *at_ms >= since_ms {
                m.insert(*node, (state.clone(), *term, *leader));
            }
        }
    }
    m
}

fn now_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// Runs one scenario; writes its history into `out` and returns the checker verdicts.
pub async fn run(fault: Fault, out: &Path) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(out)?;
    let net = Net::create(3)?;
    let mut cluster = Cluster::start(&net, out)?;
    let urls: Arc<Vec<(u8, String)>> =
        Arc::new(net.hosts.iter().map(|h| (h.index, Cluster::url(&net, h.index))).collect());
    let history = Arc::new(Mutex::new(History::default()));
    let start = Instant::now();
    let stop = Arc::new(tokio::sync::Notify::new());
    let observer = tokio::spawn(observe(urls, history.clone(), start, stop.clone()));

    let result = async {
        wait_for(&history, "a leader", Duration::from_secs(30), |h| latest(h, 0).values().any(|(s, ..)| s == "Leader"))
            .await?;
        let leader = history
            .lock()
            .ok()
            .and_then(|h| latest(&h, 0).into_iter().find(|(_, (s, ..))| s == "Leader").map(|(i, _)| i))
            .ok_or_else(|| anyhow::anyhow!("leader vanished"))?;
        let installed = match fault {
            Fault::LeaderKill => cluster.kill(leader).is_ok(),
            Fault::LeaderPause => cluster.pause(leader).is_ok(),
            Fault::LeaderMinority => net.isolate(leader).is_ok(),
        };
        let at = now_ms(start);
        if let Ok(mut h) = history.lock() {
            h.events.push(Event::Fault { at_ms: at, kind: fault.name().into(), target: leader, installed });
        }
        wait_for(&history, "a new leader", Duration::from_secs(20), |h| {
            latest(h, at).iter().any(|(i, (s, ..))| *i != leader && s == "Leader")
        })
        .await?;
        match fault {
            Fault::LeaderKill => cluster.launch(&net, leader)?,
            Fault::LeaderPause => cluster.resume(leader)?,
            Fault::LeaderMinority => net.heal()?,
        }
        let healed = now_ms(start);
        if let Ok(mut h) = history.lock() {
            h.events.push(Event::Healed { at_ms: healed, kind: fault.name().into(), target: leader });
        }
        // Converged: every master, observed after the heal, follows one leader in one term.
        wait_for(&history, "convergence after heal", Duration::from_secs(30), |h| {
            let l = latest(h, healed);
            l.len() == 3 && {
                let first = l.values().next().map(|(_, t, ld)| (*t, *ld));
                first.is_some_and(|(_, ld)| ld.is_some()) && l.values().all(|(_, t, ld)| Some((*t, *ld)) == first)
            }
        })
        .await?;
        anyhow::Ok(())
    }
    .await;
    stop.notify_one();
    let _ = observer.await;
    drop(cluster);
    drop(net);

    let h = history.lock().map(|h| h.clone()).unwrap_or_default();
    let lines: String = h.events.iter().filter_map(|e| serde_json::to_string(e).ok()).map(|l| l + "\n").collect();
    std::fs::write(out.join("history.jsonl"), lines)?;
    let safety = checker::election_safety(&h);
    let (failover, times) = checker::failover(&h);
    let converged = match &result {
        Ok(()) => checker::Verdict { valid: Some(true), details: "one leader, one term on every master".into() },
        Err(e) => checker::Verdict { valid: Some(false), details: e.to_string() },
    };
    let faults = h.events.iter().filter(|e| matches!(e, Event::Fault { installed: true, .. })).count();
    Ok(json!({
        "scenario": fault.name(),
        "faults_injected": faults,
        "time_to_new_leader_ms": times,
        "checkers": { "election_safety": safety, "failover": failover, "convergence": converged },
    }))
}

/// Runs the smoke set and writes `out/results.json` and `out/report.html`.
pub async fn smoke(out: &Path) -> anyhow::Result<serde_json::Value> {
    let mut scenarios = Vec::new();
    for f in [Fault::LeaderKill, Fault::LeaderPause, Fault::LeaderMinority] {
        scenarios.push(run(f, &out.join(f.name())).await?);
    }
    let mut valid: Option<bool> = Some(true);
    let mut anomalies = 0;
    let mut checkers = serde_json::Map::new();
    for s in &scenarios {
        for (name, v) in s["checkers"].as_object().into_iter().flatten() {
            match v["valid"].as_bool() {
                Some(true) => {}
                Some(false) => {
                    valid = Some(false);
                    anomalies += 1;
                }
                None => {
                    if valid == Some(true) {
                        valid = None;
                    }
                }
            }
            checkers.insert(format!("{}/{name}", s["scenario"].as_str().unwrap_or("?")), v.clone());
        }
    }
    let faults: u64 = scenarios.iter().map(|s| s["faults_injected"].as_u64().unwrap_or(0)).sum();
    let results = json!({
        "valid": match valid { Some(v) => json!(v), None => json!("unknown") },
        "faults_injected": faults,
        "fires_checked": 0,
        "anomalies": anomalies,
        "checkers": checkers,
        "seed": 0,
        "scenarios": scenarios,
    });
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(out.join("report.html"), report_html(&results))?;
    Ok(results)
}

fn report_html(results: &serde_json::Value) -> String {
    let mut rows = String::new();
    for (name, v) in results["checkers"].as_object().into_iter().flatten() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html_escape(name),
            html_escape(&v["valid"].to_string()),
            html_escape(v["details"].as_str().unwrap_or(""))
        ));
    }
    format!(
        "<!doctype html><meta charset=utf-8><title>jepsen-tests report</title>\n<h1>valid: {}</h1>\n\
         <p>faults injected: {}, anomalies: {}</p>\n<table border=1><tr><th>checker</th><th>valid</th><th>details</th></tr>\n{rows}</table>\n",
        html_escape(&results["valid"].to_string()),
        results["faults_injected"],
        results["anomalies"]
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

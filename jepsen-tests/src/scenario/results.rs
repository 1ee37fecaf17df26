//! A run's verdict files: the checkers run over the history, `results.json` (one run, or the
//! smoke set [`combine`]d) and `report.html` written beside `history.jsonl`; and
//! [`recheck`], which judges a stored history again.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use serde_json::Value;

use super::plan::RunConfig;
use crate::checker;
use crate::checker::alerts;
use crate::checker::Checked;
use crate::history::Event;
use crate::history::History;

/// `results.json` of one run.
pub fn results_json(checked: &Checked, cfg: &RunConfig) -> Value {
    let valid = checked.valid();
    json!({
        "valid": match valid { Some(v) => json!(v), None => json!("unknown") },
        "faults_injected": checked.faults_injected,
        "fires_checked": checked.fires_checked,
        "anomalies": checked.anomalies(),
        "checkers": checked.verdicts,
        "seed": cfg.seed,
        "scenario": cfg.scenario,
        "time_s": cfg.time.as_secs(),
        "time_to_new_leader_ms": checked.time_to_new_leader_ms,
        "lateness_ms": {"steady": checked.lateness.steady, "in_fault_windows": checked.lateness.after_faults},
        "per_fault": checked.per_fault,
        "by_kind": checked.by_kind,
        "alerts": checked.alerts,
        "bounds": cfg.bounds,
    })
}

/// Judges `h` (and the mail the run's SMTP sink stored in `dir/mail`) and writes
/// `results.json` and `report.html` into `dir`; returns the results.
pub fn judge(h: &History, cfg: &RunConfig, dir: &Path) -> anyhow::Result<Value> {
    let checked = checker::check_all(h, &cfg.bounds, &alerts::read_mailbox(&dir.join("mail")));
    let results = results_json(&checked, cfg);
    std::fs::write(dir.join("results.json"), serde_json::to_vec_pretty(&results)?)?;
    std::fs::write(dir.join("report.html"), crate::report::html(&results, h, &checked))?;
    Ok(results)
}

/// Judges a stored run again (`history.jsonl` in `dir`), rewriting its results and report:
/// for checker changes, and to look at a run's verdicts without rerunning it.
pub fn recheck(dir: &Path) -> anyhow::Result<Value> {
    let h = History::from_jsonl(&std::fs::read_to_string(dir.join("history.jsonl"))?)?;
    let (seed, scenario) = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::Start { seed, scenario, .. } => Some((*seed, scenario.clone())),
            _ => None,
        })
        .unwrap_or((0, "?".into()));
    let end = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::WorkloadEnd { at_ms } => Some(*at_ms),
            _ => None,
        })
        .next();
    let cfg = RunConfig::new(&scenario, vec![], seed, Duration::from_millis(end.unwrap_or(0)), dir);
    judge(&h, &cfg, dir)
}

/// One results object over several runs: checkers named `<scenario>/<checker>`.
pub fn combine(scenarios: &[Value]) -> Value {
    let mut checkers = serde_json::Map::new();
    let mut verdicts = Vec::new();
    for s in scenarios {
        for (name, v) in s["checkers"].as_object().into_iter().flatten() {
            checkers.insert(format!("{}/{name}", s["scenario"].as_str().unwrap_or("?")), v.clone());
            verdicts.push(checker::Verdict {
                valid: v["valid"].as_bool(),
                details: v["details"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    let sum = |k: &str| scenarios.iter().map(|s| s[k].as_u64().unwrap_or(0)).sum::<u64>();
    let alert_sum = |k: &str| scenarios.iter().map(|s| s["alerts"][k].as_u64().unwrap_or(0)).sum::<u64>();
    json!({
        "valid": match checker::overall(&verdicts) { Some(v) => json!(v), None => json!("unknown") },
        "faults_injected": sum("faults_injected"),
        "fires_checked": sum("fires_checked"),
        "anomalies": sum("anomalies"),
        "alerts": {"failovers_judged": alert_sum("failovers_judged"), "mails": alert_sum("mails"),
                   "duplicates": alert_sum("duplicates")},
        "checkers": checkers,
        "seed": scenarios.first().map(|s| s["seed"].clone()).unwrap_or(json!(0)),
        "scenarios": scenarios,
    })
}

/// Writes the smoke set's `results.json` and summary `report.html` into `out`.
pub fn write_combined(out: &Path, results: &Value) -> anyhow::Result<()> {
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(results)?)?;
    std::fs::write(out.join("report.html"), crate::report::summary_html(results))?;
    Ok(())
}

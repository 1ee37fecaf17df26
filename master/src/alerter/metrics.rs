//! Metric thresholds over the metrics this master already polls (`slaves::metrics`): a value at
//! or above `at_least` for `for_ms` fires (*pending* before that, so a spike is no alert); a
//! firing one resolves only after `keep_firing_ms` below (against flapping). Pure: samples and
//! the ledger's firing alerts in, events out.

use alerts::event::AlertEvent;
use alerts::event::AlertStatus;
use alerts::event::Metric;
use alerts::event::MetricEvent;
use raft_store::state::State;
use serde_json::Value;

use crate::config::MetricThreshold;
use crate::slaves::metrics::Sample;

/// The metric a threshold names; `None` for an unknown name (refused at start-up).
pub fn metric_of(name: &str) -> Option<Metric> {
    match name {
        "cpu" => Some(Metric::Cpu),
        "memory" => Some(Metric::Memory),
        "disk" => Some(Metric::Disk),
        "load" => Some(Metric::Load),
        _ => None,
    }
}

/// One metric's value in a spider-slave `/metrics.json` sample (percent; load: 1-minute average).
pub fn value_of(metric: Metric, m: &Value) -> Option<f64> {
    let pct = |used: f64, total: f64| (total > 0.0).then(|| 100.0 * used / total);
    match metric {
        Metric::Cpu => m.get("cpu_percent")?.as_f64(),
        Metric::Memory => pct(m["memory"]["used_bytes"].as_f64()?, m["memory"]["total_bytes"].as_f64()?),
        Metric::Disk => {
            let total = m["disk"]["total_bytes"].as_f64()?;
            pct(total - m["disk"]["available_bytes"].as_f64()?, total)
        }
        Metric::Load => m.get("load_average")?.get(0)?.as_f64(),
    }
}

/// The events of one node's series under one threshold: a breach that lasted `for_ms` and is
/// not in the ledger yet; or the end of a firing breach after `keep_firing_ms` below.
pub fn events(state: &State, node: &str, samples: &[Sample], t: &MetricThreshold) -> Vec<AlertEvent> {
    let Some(metric) = metric_of(&t.metric) else { return vec![] };
    let values: Vec<(u64, f64)> =
        samples.iter().filter_map(|s| value_of(metric, &s.metrics).map(|v| (s.at_ms, v))).collect();
    let Some(&(last_ms, last_value)) = values.last() else { return vec![] };
    let firing = state.alerts.values().find_map(|a| match (&a.event, a.status) {
        (AlertEvent::MetricThreshold(e), AlertStatus::Firing) if e.node == node && e.metric == metric => {
            Some(e.clone())
        }
        _ => None,
    });
    // The current run of samples at or above the threshold (since when), if the last one is.
    let over_since = values.iter().rev().take_while(|(_, v)| *v >= t.at_least).last().map(|(at, _)| *at);
    let under_since = values.iter().rev().take_while(|(_, v)| *v < t.at_least).last().map(|(at, _)| *at);
    let mut out = Vec::new();
    match (firing, over_since, under_since) {
        (None, Some(since), _) if last_ms.saturating_sub(since) >= t.for_ms => {
            let ev = AlertEvent::MetricThreshold(MetricEvent {
                node: node.to_string(),
                metric,
                value: last_value,
                threshold: t.at_least,
                duration_ms: last_ms - since,
                since_ms: since,
            });
            if !state.alerts.contains(&ev.alert_id().0) {
                out.push(ev);
            }
        }
        (Some(f), _, Some(since)) if last_ms.saturating_sub(since) >= t.keep_firing_ms => {
            out.push(AlertEvent::MetricRecovered(MetricEvent {
                value: last_value,
                duration_ms: since.saturating_sub(f.since_ms),
                ..f
            }));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn series(values: &[(u64, f64)]) -> Vec<Sample> {
        values.iter().map(|(at, v)| Sample { at_ms: *at, metrics: json!({"cpu_percent": v}) }).collect()
    }

    fn cpu(for_ms: u64) -> MetricThreshold {
        MetricThreshold { metric: "cpu".into(), at_least: 90.0, for_ms, keep_firing_ms: 2_000 }
    }

    #[test]
    fn a_spike_is_pending_and_a_lasting_breach_fires_from_its_start() {
        let s = State::default();
        let spike = series(&[(0, 10.0), (1_000, 95.0), (2_000, 96.0)]);
        assert!(events(&s, "n1", &spike, &cpu(5_000)).is_empty(), "pending: only 1 s over");
        let lasting = series(&[(0, 10.0), (1_000, 95.0), (4_000, 99.0), (7_000, 97.0)]);
        let evs = events(&s, "n1", &lasting, &cpu(5_000));
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].alert_id().0, "metric:n1:cpu:1000");
        let AlertEvent::MetricThreshold(e) = &evs[0] else { panic!("{:?}", evs[0]) };
        assert_eq!((e.duration_ms, e.value), (6_000, 97.0));
        assert!(events(&s, "n1", &lasting, &cpu(5_000)).len() == 1, "pure: the same input, the same event");
    }

    #[test]
    fn memory_and_disk_are_percentages_of_the_totals() {
        let m = json!({"memory": {"total_bytes": 200, "used_bytes": 50}, "disk": {"total_bytes": 100, "available_bytes": 5}});
        assert_eq!(value_of(Metric::Memory, &m), Some(25.0));
        assert_eq!(value_of(Metric::Disk, &m), Some(95.0));
        assert_eq!(value_of(Metric::Load, &json!({"load_average": [1.5, 1.0, 0.5]})), Some(1.5));
        assert_eq!(value_of(Metric::Cpu, &json!({})), None);
    }
}

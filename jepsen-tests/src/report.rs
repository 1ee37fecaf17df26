//! `report.html`: one self-contained page (no scripts, no network) per run — the verdicts, a
//! timeline of the masters' roles with fault windows shaded, the fires as points (tick against
//! lateness), and the time to a new leader per fault, all as inline SVG.

use std::fmt::Write as _;

use serde_json::Value;

use crate::checker::Checked;
use crate::history::Event;
use crate::history::History;

const W: f64 = 960.0;
const PAD: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn verdict_cell(v: &Value) -> String {
    let (text, colour) = match v.as_bool() {
        Some(true) => ("valid", "#2a7"),
        Some(false) => ("INVALID", "#c33"),
        None => ("unknown", "#c90"),
    };
    format!("<td style=\"color:{colour};font-weight:bold\">{text}</td>")
}

fn checker_table(results: &Value) -> String {
    let mut rows = String::new();
    for (name, v) in results["checkers"].as_object().into_iter().flatten() {
        let _ = writeln!(
            rows,
            "<tr><td>{}</td>{}<td>{}</td></tr>",
            esc(name),
            verdict_cell(&v["valid"]),
            esc(v["details"].as_str().unwrap_or(""))
        );
    }
    format!("<table><tr><th>checker</th><th>verdict</th><th>details</th></tr>\n{rows}</table>\n")
}

fn head(title: &str, results: &Value) -> String {
    let valid = match &results["valid"] {
        Value::Bool(true) => "valid",
        Value::Bool(false) => "INVALID",
        _ => "unknown",
    };
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title><style>\
         body{{font-family:sans-serif;margin:1.5em;max-width:1000px}} table{{border-collapse:collapse}} \
         td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top;font-size:13px}} \
         svg{{background:#fafafa;border:1px solid #ddd}}</style></head><body>\n\
         <h1>{t}: {valid}</h1>\n<p>seed {seed}, faults injected {f}, fires checked {fc}, anomalies {a}</p>\n",
        t = esc(title),
        seed = results["seed"],
        f = results["faults_injected"],
        fc = results["fires_checked"],
        a = results["anomalies"],
    )
}

/// A page over several runs (the smoke set): verdicts, and links to each run's own page.
pub fn summary_html(results: &Value) -> String {
    let mut s = head("jepsen-tests smoke", results);
    for sc in results["scenarios"].as_array().into_iter().flatten() {
        let name = sc["scenario"].as_str().unwrap_or("?");
        let _ = writeln!(s, "<p><a href=\"{n}/report.html\">{n}</a></p>", n = esc(name));
    }
    let a = &results["alerts"];
    let _ = writeln!(
        s,
        "<p>alerts: {} failover(s) judged, {} mail(s) at the SMTP sink, {} duplicate Message-ID(s)</p>",
        a["failovers_judged"], a["mails"], a["duplicates"]
    );
    s.push_str(&checker_table(results));
    s.push_str("</body></html>\n");
    s
}

/// The page of one run.
pub fn html(results: &Value, h: &History, c: &Checked) -> String {
    let end = h.events.iter().map(Event::at_ms).max().unwrap_or(1).max(1) as f64;
    let x = |ms: f64| PAD + ms / end * (W - 2.0 * PAD);
    let mut s = head(&format!("jepsen-tests {}", results["scenario"].as_str().unwrap_or("run")), results);
    let _ = writeln!(
        s,
        "<p>lateness steady p50/p99/max {}/{}/{} ms (n={}); in fault windows {}/{}/{} ms (n={}); time to new leader {:?} ms</p>",
        c.lateness.steady.p50,
        c.lateness.steady.p99,
        c.lateness.steady.max,
        c.lateness.steady.n,
        c.lateness.after_faults.p50,
        c.lateness.after_faults.p99,
        c.lateness.after_faults.max,
        c.lateness.after_faults.n,
        c.time_to_new_leader_ms
    );
    let a = &c.alerts;
    let _ = writeln!(
        s,
        "<p>alerts: {} failover(s) judged (terms {:?}), {} mail(s) at the SMTP sink, {} duplicate Message-ID(s), \
         missing terms {:?}, mail for terms not observed led {:?}</p>",
        a.failovers_judged, a.terms_judged, a.mails, a.duplicates, a.missing, a.unobserved_terms
    );
    s.push_str(&checker_table(results));
    if !c.by_kind.is_empty() {
        s.push_str("<h2>Fault kinds</h2><table><tr><th>kind</th><th>faults</th><th>cost the leader</th><th>new leader after p50/p99/max (ms)</th><th>fires</th><th>lateness p50/p99/max (ms)</th></tr>\n");
        for (kind, k) in &c.by_kind {
            let t = &k.time_to_new_leader_ms;
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}/{}</td></tr>",
                esc(kind),
                k.faults,
                k.lost_leader,
                if t.n == 0 { "-".into() } else { format!("{}/{}/{}", t.p50, t.p99, t.max) },
                k.lateness.n,
                k.lateness.p50,
                k.lateness.p99,
                k.lateness.max
            );
        }
        s.push_str("</table>\n");
    }
    if !c.per_fault.is_empty() {
        s.push_str("<h2>Faults</h2><table><tr><th>fault</th><th>target</th><th>at (s)</th><th>healed (s)</th><th>cost the leader</th><th>new leader after (ms)</th><th>fires</th><th>lateness p50/p99/max (ms)</th></tr>\n");
        for f in &c.per_fault {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}/{}</td></tr>",
                esc(&f.kind.to_string()),
                f.target,
                f.at_ms as f64 / 1000.0,
                f.healed_at_ms.map_or("-".into(), |t| format!("{:.1}", t as f64 / 1000.0)),
                if f.lost_leader { "yes" } else { "no" },
                f.time_to_new_leader_ms.map_or("-".into(), |t| t.to_string()),
                f.lateness.n,
                f.lateness.p50,
                f.lateness.p99,
                f.lateness.max
            );
        }
        s.push_str("</table>\n");
    }

    // Shaded fault windows and fault labels, shared by both plots.
    let shade = |height: f64| {
        let mut out = String::new();
        for (a, b) in &c.fault_windows {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{height}\" fill=\"#f4c7c3\" opacity=\"0.6\"/>",
                x(*a as f64),
                (x(*b as f64) - x(*a as f64)).max(1.0)
            );
        }
        for e in &h.events {
            if let Event::Fault { at_ms, kind, target, installed } = e {
                let _ = write!(
                    out,
                    "<text x=\"{:.1}\" y=\"12\" font-size=\"10\">{}{} → {target}</text>",
                    x(*at_ms as f64),
                    esc(&kind.to_string()),
                    if *installed { "" } else { " (skipped)" }
                );
            }
        }
        out
    };

    // Timeline: one lane per master, a mark per observation coloured by role.
    let lanes = 3.0;
    let th = 30.0 + lanes * 24.0;
    let _ =
        write!(s, "<h2>Timeline (s since start; faults shaded)</h2><svg width=\"{W}\" height=\"{th}\">{}", shade(th));
    // One bar per stretch of equal role (observations come every 50 ms: thousands of them).
    let mut stretches: Vec<(u8, u64, u64, &str)> = Vec::new();
    let mut open: std::collections::BTreeMap<u8, usize> = std::collections::BTreeMap::new();
    for e in &h.events {
        if let Event::Observed { at_ms, node, state, .. } = e {
            match open.get(node).and_then(|i| stretches.get_mut(*i)) {
                Some(st) if st.3 == state.as_str() && *at_ms <= st.2 + 1000 => st.2 = *at_ms,
                _ => {
                    open.insert(*node, stretches.len());
                    stretches.push((*node, *at_ms, *at_ms, state.as_str()));
                }
            }
        }
    }
    for (node, from, to, state) in stretches {
        let colour = match state {
            "Leader" => "#2a7",
            "Candidate" => "#c90",
            _ => "#9ab",
        };
        let y = 20.0 + (node as f64 - 1.0) * 24.0;
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"18\" fill=\"{colour}\"/>",
            x(from as f64),
            (x(to as f64) - x(from as f64)).max(2.0)
        );
    }
    for n in 1..=3 {
        let _ = write!(s, "<text x=\"4\" y=\"{}\" font-size=\"11\">n{n}</text>", 33.0 + (n as f64 - 1.0) * 24.0);
    }
    for t in (0..=(end as u64 / 1000)).step_by(((end as u64 / 1000) / 10).max(1) as usize) {
        let _ = write!(s, "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{t}</text>", x(t as f64 * 1000.0), th - 2.0);
    }
    s.push_str("</svg><p>green: leader, amber: candidate, grey: follower; gaps: no answer</p>\n");

    // Fires: tick against lateness (log-ish scale capped at the largest lateness).
    let ph = 260.0;
    let start = h.start_unix_ms();
    let max_late = c.lateness.points.iter().map(|p| p.lateness_ms).max().unwrap_or(1).max(100) as f64;
    let y = |late: f64| ph - 20.0 - (late.max(1.0).ln() / max_late.ln()) * (ph - 40.0);
    let _ = write!(
        s,
        "<h2>Fires: tick (x) against lateness (y, log scale)</h2><svg width=\"{W}\" height=\"{ph}\">{}",
        shade(ph)
    );
    for l in [10.0, 100.0, 1000.0, 10000.0].into_iter().filter(|l| *l <= max_late * 1.01) {
        let _ = write!(
            s,
            "<line x1=\"{PAD}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"2\" y=\"{yy:.1}\" font-size=\"10\">{l} ms</text>",
            W - PAD,
            yy = y(l)
        );
    }
    for p in &c.lateness.points {
        let colour = if p.in_fault { "#c33" } else { "#36c" };
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{colour}\"/>",
            x(p.tick_ms.saturating_sub(start) as f64),
            y(p.lateness_ms as f64)
        );
    }
    s.push_str("</svg><p>blue: steady, red: tick inside a fault window</p>\n");

    // Failover: time to a new leader per master fault.
    let times = &c.time_to_new_leader_ms;
    if !times.is_empty() {
        let fh = 40.0 + times.len() as f64 * 22.0;
        let max = times.iter().copied().max().unwrap_or(1).max(1) as f64;
        let _ = write!(s, "<h2>Time to a new leader per fault</h2><svg width=\"{W}\" height=\"{fh}\">");
        for (i, t) in times.iter().enumerate() {
            let yy = 10.0 + i as f64 * 22.0;
            let w = *t as f64 / max * (W - 3.0 * PAD);
            let _ = write!(
                s,
                "<rect x=\"{PAD}\" y=\"{yy}\" width=\"{w:.1}\" height=\"16\" fill=\"#36c\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{t} ms</text>",
                PAD + w + 4.0,
                yy + 12.0
            );
        }
        s.push_str("</svg>\n");
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::check_all;
    use crate::checker::Bounds;
    use crate::fault::Fault;

    #[test]
    fn the_page_is_self_contained_svg() {
        let h = History {
            events: vec![
                Event::Start { unix_ms: 1_000, seed: 3, scenario: "t".into(), requested: vec![] },
                Event::Observed { at_ms: 10, node: 1, state: "Leader".into(), term: 1, leader: Some(1), applied: None },
                Event::Fault { at_ms: 20, kind: Fault::KillLeader, target: 1, installed: true },
                Event::Healed { at_ms: 40, kind: Fault::KillLeader, target: 1 },
            ],
        };
        let c = check_all(&h, &Bounds::default(), &Ok(vec![]));
        let results = serde_json::json!({"valid": false, "seed": 3, "checkers": c.verdicts, "scenario": "t<x>"});
        let page = html(&results, &h, &c);
        assert!(page.contains("<svg") && page.contains("t&lt;x&gt;") && page.contains("INVALID"));
        assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("<script"));
    }
}

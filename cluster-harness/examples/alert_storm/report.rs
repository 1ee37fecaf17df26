//! The alert-storm bench's figures: the mails read back from the sink, the ledger's and the
//! engine's view of the storm, and the printed tables.

use std::collections::BTreeSet;
use std::collections::HashMap;

use alerts::event::AlertEvent;
use alerts::route::GroupTimers;
use cluster_harness::bench::pcts;
use cluster_harness::bench::Span;
use cluster_harness::Mail;
use raft_store::state::alerts::RouteOutcome;
use raft_store::state::JobState;
use raft_store::state::State;

use super::Args;
use super::Lateness;
use super::PhaseA;
use super::PhaseB;
use super::RULE;

/// One mail at the sink, as the bench reads it.
pub struct MailFig {
    pub at_ms: i64,
    subject: String,
    /// Alerts the subject counts (`N alerts`; 1 for a single-alert mail).
    total: usize,
    /// Alerts the text body lists, and the `... and N more not listed`.
    listed: usize,
    omitted: usize,
    bytes: u64,
}

pub fn mail_fig(m: &Mail) -> MailFig {
    let name = m.path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let at_ms = name.split('-').next().and_then(|t| t.parse().ok()).unwrap_or(0);
    let words: Vec<&str> = m.subject.split_whitespace().collect();
    let total = words.windows(2).find(|w| w[1] == "alerts").and_then(|w| w[0].parse().ok()).unwrap_or(1);
    let listed = m.text_body.lines().filter(|l| l.starts_with("- [")).count();
    let omitted = m
        .text_body
        .lines()
        .find_map(|l| l.strip_prefix("... and ")?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let bytes = std::fs::metadata(&m.path).map(|md| md.len()).unwrap_or(0);
    MailFig { at_ms, subject: m.subject.clone(), total, listed, omitted, bytes }
}

/// What the leader's state says about the storm: job records, the ledger, the engine.
pub fn ledger(s: &State, fail_at: &HashMap<String, i64>) -> String {
    let fed = fail_at.len();
    let left = fail_at.keys().filter(|j| s.jobs.get(*j).is_some_and(|r| r.state == JobState::Finished)).count();
    let mut linked = 0;
    let (mut in_ledger, mut notified, mut pending, mut suppressed, mut others) = (0, 0, 0, 0, 0);
    let mut recorded_after = Vec::new();
    for a in s.alerts.values() {
        let AlertEvent::SpiderError(e) = &a.event else { continue };
        let Some(failed) = fail_at.get(&e.job_id) else {
            others += 1;
            continue;
        };
        in_ledger += 1;
        linked += usize::from(e.schedule_id.is_some());
        recorded_after.push((a.first_seen_ms as i64 - failed) as f64);
        match a.routes.get(RULE) {
            Some(RouteOutcome::Notified { .. }) => notified += 1,
            Some(RouteOutcome::Pending) => pending += 1,
            Some(RouteOutcome::Suppressed { .. }) => suppressed += 1,
            None => {}
        }
    }
    let engine = s.alert_engine();
    let recorded = engine.map(|e| e.alerts_recorded).unwrap_or(0);
    let deliveries = engine.map(|e| e.state.deliveries.items.len()).unwrap_or(0);
    let held: usize =
        engine.map(|e| e.state.deliveries.items.values().map(|d| d.notification.alerts.len()).sum()).unwrap_or(0);
    let groups: BTreeSet<String> = engine
        .map(|e| e.state.deliveries.items.values().map(|d| d.notification.group_key.clone()).collect())
        .unwrap_or_default();
    let lag = pcts(recorded_after);
    format!(
        "storm alerts in the ledger: {in_ledger} of {fed} failing jobs, {linked} naming their storm schedule (rule {RULE}: notified {notified}, pending \
         {pending}, suppressed {suppressed}); other spider_error alerts {others}; engine alerts_recorded \
         {recorded}; ledger size {} (kept ≤ {})\n\
         storm job records still in the job table: {left} of {fed} (kept ≤ {}, oldest finished pruned first)\n\
         failure (stand-in lists it) → alert in the ledger: p50 {:.1} s, p99 {:.1} s, max {:.1} s\n\
         engine: {deliveries} deliveries retained, holding {held} alerts' events; notification groups {groups:?}",
        s.alerts.len(),
        raft_store::state::alerts::ALERTS_KEPT,
        raft_store::state::jobs::JOBS_KEPT,
        lag.p50 / 1000.0,
        lag.p99 / 1000.0,
        lag.max / 1000.0,
    )
}

fn span_line(name: &str, s: &Span) -> String {
    let disk = s.disk_mb.map(|d| format!("{d:>9.1}")).unwrap_or_else(|| format!("{:>9}", "n/a"));
    format!(
        "{name:<26} {:>6.1} {:>8.2} {:>7.3} {:>8} {:>8.1} {disk} {:>6} {:>6.2}",
        s.secs,
        s.cpu_s,
        s.cpu_s / s.secs,
        s.log_entries,
        s.log_entries as f64 / s.secs,
        s.snapshots,
        s.load
    )
}

fn late_line(name: &str, l: &Lateness) -> String {
    format!(
        "{name:<26} {:>8} {:>8} {:>8.0} {:>8.0} {:>8.0} {:>5}",
        l.expected, l.received, l.p.p50, l.p.p99, l.p.max, l.duplicates
    )
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// The most mails of `at` (sorted ms) inside any window of `width` ms.
fn max_in_window(at: &[i64], width: i64) -> usize {
    (0..at.len()).map(|i| at[i..].iter().take_while(|t| **t < at[i] + width).count()).max().unwrap_or(0)
}

/// Prints every figure of both phases.
pub fn print(args: &Args, timers: &GroupTimers, a: &PhaseA, b: &PhaseB, mails_a: usize, mails: &[MailFig]) {
    println!();
    println!(
        "Alert storm (issue 16): {} schedules; storm {} failing jobs of {} schedules over {} s; {} stand-ins; \
         rule {RULE}: spider_error, group wait {} s, interval {} s, grouped by kind, project",
        args.schedules,
        b.fed,
        args.storm_schedules,
        args.seconds,
        args.slaves,
        timers.group_wait_ms / 1000,
        timers.group_interval_ms / 1000
    );
    println!(
        "Storm jobs: fires of their storm schedules delivered before the window, so each job record carries its \
         schedule_id (alerts grouped by kind+project, the default; failure conditions per schedule). The stand-ins \
         list them running, then finished with exit_code 1 / finish_reason shutdown spread evenly over the window; \
         the masters' collector commits the ReportJobs. The stand-ins serve no logs: the alerter's log fetch fails \
         fast (404), so alerts carry the job record's facts only. Bench jobs are listed finished, exit code 0."
    );
    println!("Schedule creation: A {:.1} s, B {:.1} s", a.create_s, b.create_s);
    println!();
    println!("Mails at the sink during the storm and one group interval after it (A sent {mails_a}):");
    for m in mails {
        println!(
            "  +{:>6.1} s  {:>5} alerts (body lists {}, + {} not listed)  {:>7.1} KB  {}",
            (m.at_ms - b.t0) as f64 / 1000.0,
            m.total,
            m.listed,
            m.omitted,
            m.bytes as f64 / 1e3,
            m.subject
        );
    }
    let counted: usize = mails.iter().map(|m| m.total).sum();
    let at: Vec<i64> = mails.iter().map(|m| m.at_ms).collect();
    let per_interval = max_in_window(&at, timers.group_interval_ms as i64);
    println!("  {} mails counting {counted} alerts, for {} failing jobs fed", mails.len(), b.fed);
    println!(
        "  digests per rule per group interval: {per_interval} at most in any {} s (goal ≤ 1: {})",
        timers.group_interval_ms / 1000,
        verdict(per_interval <= 1)
    );
    println!();
    println!("Ledger (leader, at the end):");
    for l in b.ledger.lines() {
        println!("  {l}");
    }
    println!(
        "  engine row (JSON as stored): {:.0} KB at the storm's end, {:.0} KB at the end",
        b.engine_kb.0, b.engine_kb.1
    );
    println!();
    println!("Process cost (3 masters in this process; the SMTP sink is a separate process, not counted):");
    println!(
        "{:<26} {:>6} {:>8} {:>7} {:>8} {:>8} {:>9} {:>6} {:>6}",
        "", "s", "CPU s", "cores", "log +", "log/s", "disk MB", "snaps", "load"
    );
    println!("{}", span_line("A window", &a.window));
    println!("{}", span_line("B window (storm)", &b.window));
    println!("{}", span_line("B after (group interval)", &b.after));
    let cost = b.window.cpu_s - a.window.cpu_s * b.window.secs / a.window.secs;
    println!(
        "  alerting cost (B window − A window, same length): {cost:.2} CPU s ({:.1} % of a core), {} more log entries",
        100.0 * cost / b.window.secs,
        b.window.log_entries as i64 - a.window.log_entries as i64
    );
    println!();
    println!("Fire lateness of the {} bench schedules (stand-in received − tick):", args.schedules);
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>8} {:>8} {:>5}",
        "", "expected", "received", "p50 ms", "p99 ms", "max ms", "dups"
    );
    println!("{}", late_line("A window", &a.late));
    println!("{}", late_line("B window (storm)", &b.late));
    println!("{}", late_line("B after (group interval)", &b.late_after));
    let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
    let r99 = ratio(b.late.p.p99, a.late.p.p99);
    println!(
        "  B/A: p50 {:.2}, p99 {r99:.2}, max {:.2}; goal p99 B/A < 1.10: {}",
        ratio(b.late.p.p50, a.late.p.p50),
        ratio(b.late.p.max, a.late.p.max),
        verdict(r99 < 1.10)
    );
    let missed = |l: &Lateness| l.expected.saturating_sub(l.received);
    if missed(&a.late) + missed(&b.late) + missed(&b.late_after) > 0 {
        println!(
            "  ticks missed: A {}, B window {}, B after {}",
            missed(&a.late),
            missed(&b.late),
            missed(&b.late_after)
        );
    }
}

//! The fault-injection harness (issue 6): real `spider-master` processes in their own network
//! namespaces, real faults (SIGKILL, SIGSTOP, iptables partitions, misbehaving slaves), a
//! recorded history, and checkers that judge the history.
//!
//! - [`net`]: test hosts (namespaces, veth, bridge) and partitions.
//! - [`cluster`]: launching, killing, pausing masters.
//! - [`fault`]: the one vocabulary of faults (master and slave), named and parsed once.
//! - [`nemesis`], [`proxy`]: installing every master fault (process, partition shapes, per-link
//!   proxy, clock, membership).
//! - [`standin`]: the recording Scrapyd stand-in slaves, with fault modes.
//! - [`realslave`]: a real `spider-slave` running real Scrapy crawls beside them.
//! - [`mailsink`]: the SMTP sink the masters' alert mail goes to; [`python`]: finding the
//!   Python the real slave and the sink run with.
//! - [`client`]: the HTTP client for the masters' API, and the history recorder.
//! - [`workload`]: the cron workload (steady and churn schedules, client tasks, final reads).
//! - [`history`]: what was observed, done and injected.
//! - [`checker`]: verdicts over a history.
//! - [`scenario`]: runs (plan, environment, fault windows, results), the smoke set, `results.json`.
//! - [`report`]: `report.html` with inline SVG plots.

pub mod checker;
pub mod client;
pub mod cluster;
pub mod fault;
pub mod history;
pub mod mailsink;
pub mod nemesis;
pub mod net;
pub mod proxy;
pub mod python;
pub mod realslave;
pub mod report;
pub mod scenario;
pub mod standin;
pub mod workload;

/// Parses a duration like `90s`, `5m`, `30m`, `1h`, `1500ms`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: expected a number followed by ms, s, m or h"))?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n * 1000,
        "m" | "min" => n * 60_000,
        "h" => n * 3_600_000,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use ms, s, m or h)")),
    };
    Ok(std::time::Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("m").is_err());
    }
}

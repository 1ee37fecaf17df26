//! Reading a Scrapy log: ERROR/CRITICAL line count, the last N lines, and the final stats dict.
//!
//! This module owns the text format Scrapy writes (`2024-01-02 03:04:05 [logger] LEVEL: message`, and the
//! `Dumping Scrapy stats:` block that `scrapy.statscollectors` prints as a Python dict repr at close). It
//! is a best-effort parser of *untrusted* text: it never panics and never fails; what it cannot read it
//! skips (a stats value it cannot type is kept as its raw text). It does not fetch logs or decide anything.

use std::collections::BTreeMap;

use serde::Deserialize;

use serde::Serialize;

/// One value of the Scrapy stats dict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatValue {
    Int(i64),
    Float(f64),
    /// A quoted string (unquoted), or the raw repr of anything else (`datetime.datetime(...)`, `None`).
    Text(String),
}

impl StatValue {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            StatValue::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            StatValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// What a log says about its job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSummary {
    /// Log records at level ERROR or CRITICAL (a traceback under one record counts once).
    pub error_lines: u64,
    /// The last lines of the log, oldest first.
    pub last_lines: Vec<String>,
    /// The last `Dumping Scrapy stats:` dict in the log, empty if the job died before printing it.
    pub stats: BTreeMap<String, StatValue>,
}

impl LogSummary {
    /// `finish_reason` from the stats, e.g. `finished`, `shutdown`, `closespider_timeout`.
    pub fn finish_reason(&self) -> Option<&str> {
        self.stats.get("finish_reason").and_then(StatValue::as_str)
    }

    /// `item_scraped_count` from the stats; a finished job that scraped nothing has no such key, so a
    /// present stats dict without it means 0.
    pub fn item_count(&self) -> Option<u64> {
        match self.stats.get("item_scraped_count") {
            Some(v) => v.as_u64(),
            None if !self.stats.is_empty() => Some(0),
            None => None,
        }
    }
}

const STATS_MARKER: &str = "Dumping Scrapy stats:";

/// Parse a Scrapy log text, keeping its last `tail` lines.
pub fn parse_log(text: &str, tail: usize) -> LogSummary {
    let lines: Vec<&str> = text.lines().collect();
    let error_lines =
        lines.iter().filter(|l| record_level(l).is_some_and(|lvl| lvl == "ERROR" || lvl == "CRITICAL")).count();
    let start = lines.len().saturating_sub(tail);
    let last_lines = lines[start..].iter().map(|l| l.to_string()).collect();
    let stats = match text.rfind(STATS_MARKER) {
        Some(pos) => parse_stats_dict(&text[pos + STATS_MARKER.len()..]),
        None => BTreeMap::new(),
    };
    LogSummary { error_lines: error_lines as u64, last_lines, stats }
}

/// The level of a log record line `YYYY-MM-DD HH:MM:SS [logger] LEVEL: msg`, or `None` for continuation
/// lines (tracebacks, dict reprs).
fn record_level(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    // "2024-01-02 03:04:05 [" : digits at fixed places.
    if b.len() < 22 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[19] != b' ' || b[20] != b'['
    {
        return None;
    }
    if !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let rest = line.get(21..)?;
    let close = rest.find("] ")?;
    let after = &rest[close + 2..];
    let colon = after.find(':')?;
    let level = &after[..colon];
    if !level.is_empty() && level.bytes().all(|c| c.is_ascii_uppercase()) {
        Some(level)
    } else {
        None
    }
}

/// Parse the Python dict repr that follows the stats marker: `{'key': value,\n 'key2': value2}`.
fn parse_stats_dict(after_marker: &str) -> BTreeMap<String, StatValue> {
    let mut out = BTreeMap::new();
    let Some(open) = after_marker.find('{') else { return out };
    let body = &after_marker[open + 1..];
    let Some(body) = top_level_until_close(body) else { return out };
    for entry in split_top_level(body) {
        let entry = entry.trim();
        let Some((key, value)) = split_key_value(entry) else { continue };
        out.insert(key, typed_value(value.trim()));
    }
    out
}

/// The text up to the `}` that closes the dict, honouring quotes and nesting.
fn top_level_until_close(s: &str) -> Option<&str> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' => depth -= 1,
            '}' if depth == 0 => return Some(&s[..i]),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Split on commas that are outside quotes and brackets.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `'key': value` → (key, value).
fn split_key_value(entry: &str) -> Option<(String, &str)> {
    let q = entry.chars().next()?;
    if q != '\'' && q != '"' {
        return None;
    }
    let end = entry[1..].find(q)? + 1;
    let key = entry[1..end].to_string();
    let rest = entry[end + 1..].trim_start();
    let value = rest.strip_prefix(':')?;
    Some((key, value))
}

fn typed_value(v: &str) -> StatValue {
    if let Ok(i) = v.parse::<i64>() {
        return StatValue::Int(i);
    }
    if let Ok(f) = v.parse::<f64>() {
        if f.is_finite() {
            return StatValue::Float(f);
        }
    }
    let bytes = v.as_bytes();
    if bytes.len() >= 2 && (bytes[0] == b'\'' || bytes[0] == b'"') && bytes[bytes.len() - 1] == bytes[0] {
        return StatValue::Text(v[1..v.len() - 1].to_string());
    }
    StatValue::Text(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/scrapy_spider_error.log");

    #[test]
    fn real_log_counts_error_records_not_traceback_lines() {
        let s = parse_log(FIXTURE, 5);
        // One `Spider error processing` record (with a multi-line traceback) and one `self.logger.error`.
        assert_eq!(s.error_lines, 2);
        assert_eq!(s.last_lines.len(), 5);
        assert!(s.last_lines[4].ends_with("Spider closed (finished)"), "{:?}", s.last_lines);
    }

    #[test]
    fn real_log_stats_are_typed() {
        let s = parse_log(FIXTURE, 0);
        assert_eq!(s.finish_reason(), Some("finished"));
        assert_eq!(s.item_count(), Some(2));
        assert_eq!(s.stats.get("log_count/ERROR"), Some(&StatValue::Int(2)));
        assert_eq!(s.stats.get("spider_exceptions/ValueError"), Some(&StatValue::Int(1)));
        assert!(matches!(s.stats.get("elapsed_time_seconds"), Some(StatValue::Float(f)) if *f > 0.0));
        assert!(
            matches!(s.stats.get("finish_time"), Some(StatValue::Text(t)) if t.starts_with("datetime.datetime(2026")),
            "{:?}",
            s.stats.get("finish_time")
        );
        assert_eq!(s.stats.get("items_per_minute"), Some(&StatValue::Text("None".into())));
        // The versions dict at the top of the log is not mistaken for stats.
        assert!(!s.stats.contains_key("lxml"));
    }

    #[test]
    fn log_without_stats_has_no_item_count() {
        let text = "2024-01-02 03:04:05 [scrapy.core.engine] CRITICAL: Unhandled error\nTraceback (most recent call last):\n  boom\n";
        let s = parse_log(text, 10);
        assert_eq!(s.error_lines, 1);
        assert_eq!(s.item_count(), None);
        assert_eq!(s.finish_reason(), None);
        assert_eq!(s.last_lines.len(), 3);
    }

    #[test]
    fn stats_without_item_key_means_zero_items() {
        let text = "2024-01-02 03:04:05 [scrapy.statscollectors] INFO: Dumping Scrapy stats:\n{'finish_reason': 'shutdown',\n 'x': \"a, b}\"}\n";
        let s = parse_log(text, 1);
        assert_eq!(s.item_count(), Some(0));
        assert_eq!(s.finish_reason(), Some("shutdown"));
        assert_eq!(s.stats.get("x"), Some(&StatValue::Text("a, b}".into())));
    }

    #[test]
    fn a_message_that_mentions_error_is_not_an_error_record() {
        let text = "2024-01-02 03:04:05 [books] INFO: ERROR: not really\n2024-01-02 03:04:05 [books] WARNING: x\n";
        assert_eq!(parse_log(text, 0).error_lines, 0);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC*", tail in 0usize..20) {
            let _ = parse_log(&s, tail);
            let _ = parse_log(&format!("{STATS_MARKER}{s}"), tail);
        }
    }
}

//! Compiling and evaluating a schedule's [`Trigger`]: cron expressions in IANA time zones, and
//! one-off times. Owns the meaning of a stored expression; `raft_store` only keeps the strings.
//!
//! **Syntax.** 5 fields (`min hour dom month dow`, fires at second 0), 6 fields (seconds first)
//! or 7 fields (seconds first, year last), plus `@yearly`, `@annually`, `@monthly`, `@weekly`,
//! `@daily`, `@midnight`, `@hourly`. Parsing is the `cron` crate's; two things are translated
//! to the Unix/Vixie cron meaning users expect:
//!
//! - **Day-of-week numbers** are 0–7 with 0 and 7 both Sunday (the `cron` crate counts 1–7 from
//!   Sunday). The field is expanded here to an explicit day list; names (`MON-FRI`) work too.
//! - **Day-of-month OR day-of-week.** When both fields are restricted (neither starts with `*`
//!   or `?`), a day matches if EITHER matches (Vixie), not both (the `cron` crate's AND). We
//!   compile one schedule per field and take the earlier next time.
//!
//! **Time zones and DST.** Expressions are matched against wall-clock time in the trigger's zone,
//! then mapped to instants:
//!
//! - a wall time that occurs twice (the repeated hour when clocks fall back) fires ONCE, at its
//!   first occurrence; the second pass through that hour fires nothing;
//! - a wall time that does not exist (the gap when clocks spring forward) fires ONCE, at the
//!   first instant after the gap (e.g. 02:30 on a Berlin spring-forward day fires at 03:00
//!   CEST); several such wall times in one gap collapse into that single fire.
//!
//! [`CronTicks`] is the scheduler's [`plan::Ticks`]: a cache of compiled triggers keyed by
//! (schedule id, version), so a stored expression is parsed once per version.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::Mutex;

use chrono::DateTime;
use chrono::Duration;
use chrono::NaiveDateTime;
use chrono::Offset;
use chrono::TimeZone;
use chrono::Timelike;
use chrono::Utc;
use chrono_tz::Tz;
use raft_store::state::Schedule;
use raft_store::state::Trigger;

use super::plan;

/// A `Once` trigger may be this far in the past when validated (request latency).
pub const ONCE_PAST_TOLERANCE_MS: i64 = 1000;

/// Bound on wall-clock candidates examined for one `next_after` (a per-second expression walks
/// through at most 3600 already-passed wall times in a repeated hour).
const MAX_CANDIDATES: usize = 100_000;

/// Why a trigger is not usable; `field` is the JSON path of the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TriggerError {
    /// `trigger.expr`, `trigger.timezone` or `trigger.at_ms`.
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> TriggerError {
    TriggerError { field, message: message.into() }
}

/// A trigger ready to evaluate.
#[derive(Debug, Clone)]
pub enum CompiledTrigger {
    Cron(CronExpr),
    Once { at_ms: i64 },
}

/// A compiled cron expression in its time zone.
#[derive(Debug, Clone)]
pub struct CronExpr {
    /// One schedule, or two (day-of-month only, day-of-week only) under the Vixie OR rule.
    parts: Vec<cron::Schedule>,
    tz: Tz,
}

/// Compiles `trigger` and checks it is still able to fire after `now_ms`.
pub fn validate(trigger: &Trigger, now_ms: i64) -> Result<CompiledTrigger, TriggerError> {
    let compiled = compile(trigger)?;
    match trigger {
        Trigger::Once { at_ms } if *at_ms < now_ms.saturating_sub(ONCE_PAST_TOLERANCE_MS) => {
            Err(err("trigger.at_ms", format!("{at_ms} is in the past (now is {now_ms})")))
        }
        Trigger::Once { .. } => Ok(compiled),
        Trigger::Cron { expr, .. } => match compiled.next_after(now_ms) {
            Some(_) => Ok(compiled),
            None => Err(err("trigger.expr", format!("{expr:?} never fires after now"))),
        },
    }
}

/// Compiles `trigger` without looking at the clock (for stored schedules).
pub fn compile(trigger: &Trigger) -> Result<CompiledTrigger, TriggerError> {
    match trigger {
        Trigger::Once { at_ms } => {
            if DateTime::from_timestamp_millis(*at_ms).is_none() {
                return Err(err("trigger.at_ms", format!("{at_ms} is not a representable time")));
            }
            Ok(CompiledTrigger::Once { at_ms: *at_ms })
        }
        Trigger::Cron { expr, timezone } => {
            let tz = Tz::from_str(timezone.trim())
                .map_err(|_| err("trigger.timezone", format!("{timezone:?} is not an IANA time zone name")))?;
            Ok(CompiledTrigger::Cron(CronExpr { parts: parse_expr(expr)?, tz }))
        }
    }
}

/// The `@` shortcuts, as 5-field expressions.
fn expand_shortcut(expr: &str) -> Option<&'static str> {
    Some(match expr.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

/// Parses an expression into the `cron` crate's form (seconds first, Sunday = 1), splitting it
/// in two when the Vixie OR rule applies.
fn parse_expr(expr: &str) -> Result<Vec<cron::Schedule>, TriggerError> {
    let trimmed = expr.trim();
    let text = if trimmed.starts_with('@') {
        expand_shortcut(trimmed).ok_or_else(|| err("trigger.expr", format!("unknown shortcut {trimmed:?}")))?
    } else {
        trimmed
    };
    let mut fields: Vec<&str> = text.split_whitespace().collect();
    match fields.len() {
        5 => fields.insert(0, "0"),
        6 | 7 => {}
        n => {
            return Err(err(
                "trigger.expr",
                format!(
                    "{expr:?} has {n} fields; expected 5 (min hour dom month dow), 6 (with seconds) or 7 (and year)"
                ),
            ))
        }
    }
    let dow = expand_dow(fields[5])?;
    let dom_restricted = !is_star(fields[3]);
    let dow_restricted = !is_star(fields[5]);
    let build = |dom: &str, dow: &str| -> Result<cron::Schedule, TriggerError> {
        let mut f: Vec<&str> = fields.clone();
        f[3] = dom;
        f[5] = dow;
        cron::Schedule::from_str(&f.join(" ")).map_err(|e| err("trigger.expr", format!("{expr:?}: {e}")))
    };
    if dom_restricted && dow_restricted {
        Ok(vec![build(fields[3], "*")?, build("*", &dow)?])
    } else {
        Ok(vec![build(fields[3], &dow)?])
    }
}

/// Vixie's test for an unrestricted day field: it starts with `*` (or Quartz's `?`).
fn is_star(field: &str) -> bool {
    field.starts_with('*') || field.starts_with('?')
}

fn dow_value(s: &str) -> Result<u32, TriggerError> {
    const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const FULL: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
    if let Ok(n) = s.parse::<u32>() {
        return if n <= 7 {
            Ok(n)
        } else {
            Err(err("trigger.expr", format!("day of week {n} is out of range 0-7 (0 and 7 are Sunday)")))
        };
    }
    let lower = s.to_ascii_lowercase();
    (0..7u32)
        .find(|i| lower == NAMES[*i as usize] || lower == FULL[*i as usize])
        .ok_or_else(|| err("trigger.expr", format!("{s:?} is not a day of week (0-7 or SUN-SAT)")))
}

/// Expands a Unix day-of-week field (0–7, 0 and 7 Sunday, names, ranges, steps) into the `cron`
/// crate's numbering (1–7 from Sunday) as an explicit list, or `*`.
fn expand_dow(field: &str) -> Result<String, TriggerError> {
    if field == "*" || field == "?" {
        return Ok("*".into());
    }
    let mut days = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => {
                let step =
                    s.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| {
                        err("trigger.expr", format!("day-of-week step {s:?} must be a positive number"))
                    })?;
                (b, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = match base {
            "*" | "?" => (0, 6),
            _ => match base.split_once('-') {
                Some((a, b)) => (dow_value(a)?, dow_value(b)?),
                None if item.contains('/') => (dow_value(base)?, 6),
                None => {
                    let v = dow_value(base)?;
                    (v, v)
                }
            },
        };
        if lo > hi {
            return Err(err("trigger.expr", format!("day-of-week range {base:?} runs backwards")));
        }
        for d in (lo..=hi).step_by(step as usize) {
            days[(d % 7) as usize] = true;
        }
    }
    let list: Vec<String> = (0..7).filter(|d| days[*d]).map(|d| (d + 1).to_string()).collect();
    if list.is_empty() {
        return Err(err("trigger.expr", format!("day-of-week field {field:?} selects no day")));
    }
    Ok(list.join(","))
}

impl CompiledTrigger {
    /// The first fire time strictly after `after_ms` (Unix ms), if any.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            CompiledTrigger::Once { at_ms } => (*at_ms > after_ms).then_some(*at_ms),
            CompiledTrigger::Cron(c) => c.next_after(after_ms),
        }
    }

    /// The next `n` fire times after `after_ms`, earliest first.
    pub fn upcoming(&self, after_ms: i64, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        let mut at = after_ms;
        while out.len() < n {
            match self.next_after(at) {
                Some(t) if t > at => {
                    out.push(t);
                    at = t;
                }
                _ => break,
            }
        }
        out
    }

    /// The zone fire times are shown in (UTC for a one-off trigger).
    pub fn timezone(&self) -> Tz {
        match self {
            CompiledTrigger::Cron(c) => c.tz,
            CompiledTrigger::Once { .. } => Tz::UTC,
        }
    }

    /// `ms` as RFC 3339 in the trigger's zone.
    pub fn format(&self, ms: i64) -> Option<String> {
        let utc = DateTime::from_timestamp_millis(ms)?;
        Some(utc.with_timezone(&self.timezone()).to_rfc3339())
    }
}

impl CronExpr {
    /// The next matching wall time strictly after `wall` (whole seconds), over all parts.
    fn next_wall(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        let as_utc = Utc.from_utc_datetime(&wall);
        self.parts.iter().filter_map(|p| p.after(&as_utc).next()).map(|d| d.naive_utc()).min()
    }

    fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = DateTime::from_timestamp_millis(after_ms)?;
        // Whole seconds: cron matches at second precision, and `> after` is checked below.
        let mut wall = after.with_timezone(&self.tz).naive_local().with_nanosecond(0)?;
        for _ in 0..MAX_CANDIDATES {
            wall = self.next_wall(wall)?;
            let instant = match self.tz.from_local_datetime(&wall) {
                chrono::LocalResult::Single(t) => t,
                // The repeated hour: the first occurrence only.
                chrono::LocalResult::Ambiguous(first, _) => first,
                // The gap: the first instant after it.
                chrono::LocalResult::None => gap_end(&self.tz, wall)?,
            };
            let ms = instant.timestamp_millis();
            if ms > after_ms {
                return Some(ms);
            }
        }
        tracing::warn!(after_ms, "cron evaluation gave up after {MAX_CANDIDATES} candidates");
        None
    }
}

/// The UTC offset (seconds) in force at Unix second `t`.
fn offset_at(tz: &Tz, t: i64) -> Option<i64> {
    let utc = DateTime::from_timestamp(t, 0)?;
    Some(i64::from(tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc()))
}

/// The first instant whose wall time is later than `wall`, a wall time inside a DST gap.
fn gap_end(tz: &Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    let w = wall.and_utc().timestamp();
    let local_after = |t: i64| offset_at(tz, t).is_some_and(|off| t + off > w);
    // Read with the offset after the gap, `wall` is an instant before it; with the offset
    // before the gap, one after it. Binary search between them.
    let (before, after) = (offset_at(tz, w - 86_400)?, offset_at(tz, w + 86_400)?);
    let (mut lo, mut hi) = (w - after, w - before);
    if lo < hi && !local_after(lo) && local_after(hi) {
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if local_after(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        return DateTime::from_timestamp(hi, 0).map(|d| d.with_timezone(tz));
    }
    // Transitions too close together for the bracket: walk forward to the first wall time
    // that exists.
    let mut probe = wall;
    for _ in 0..(2 * 24 * 60) {
        probe = probe.checked_add_signed(Duration::minutes(1))?;
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return Some(t);
        }
    }
    None
}

/// Compiled triggers of stored schedules, keyed by (id, version): the scheduler's
/// [`plan::Ticks`]. A stored expression that does not compile (it passed validation on an
/// older build) yields no ticks and is logged once per version.
#[derive(Debug, Default)]
pub struct CronTicks {
    cache: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug)]
struct Cached {
    version: u64,
    /// `None`: the stored trigger does not compile (already logged).
    compiled: Option<Arc<CompiledTrigger>>,
}

impl CronTicks {
    pub fn new() -> Self {
        Self::default()
    }

    /// The compiled trigger of `s` at its current version.
    pub fn compiled(&self, s: &Schedule) -> Option<Arc<CompiledTrigger>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(&s.id).filter(|c| c.version == s.version) {
            return c.compiled.clone();
        }
        let compiled = match compile(&s.spec.trigger) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::warn!(schedule = %s.id, version = s.version, cause = %e, "stored trigger does not compile; it will not fire");
                None
            }
        };
        cache.insert(s.id.clone(), Cached { version: s.version, compiled: compiled.clone() });
        compiled
    }

    /// Drops the entries of schedules for which `keep` is false (deleted ones).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).retain(|id, _| keep(id));
    }
}

impl plan::Ticks for CronTicks {
    fn next_after(&self, schedule: &Schedule, after_ms: i64) -> Option<i64> {
        self.compiled(schedule)?.next_after(after_ms)
    }
}

#[cfg(test)]
#[path = "cron_test.rs"]
mod cron_test;

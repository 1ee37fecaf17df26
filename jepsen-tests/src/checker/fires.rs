//! Fires as the history shows them (job ids, the schedules the workload created, every start
//! on a stand-in or the real slave), and the safety checks over them that need no fault
//! window: no duplicate start, no fire after an acknowledged pause or delete, no overlap where
//! it is forbidden. Lost ticks are judged in [`super::windows`], lateness in
//! [`super::lateness`].
//!
//! A fire is the first *start* of a job id on any stand-in; job ids are `<schedule>-t<tick>`
//! (raft-store's `job_id_for`). Times are Unix ms throughout (ticks are Unix ms; harness events
//! are converted with the run's start time; harness and masters share the machine's clock).

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use crate::history::Event;
use crate::history::History;
use crate::history::OpKind;
use crate::history::Phase;
use crate::standin::Delivery;

use super::verdict::list;
use super::verdict::Verdict;

/// The deterministic job id of a schedule's tick (mirrors raft-store's `job_id_for`).
pub fn job_id_for(schedule: &str, tick_ms: u64) -> String {
    format!("{schedule}-t{tick_ms}")
}

/// Splits a job id into (schedule, tick).
pub fn split_job_id(job: &str) -> Option<(&str, u64)> {
    let (s, t) = job.rsplit_once("-t")?;
    Some((s, t.parse().ok()?))
}

/// A schedule the workload created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDef {
    pub id: String,
    pub period_ms: u64,
    pub misfire: String,
    pub overlap: String,
    pub created_at_ms: u64,
    pub steady: bool,
}

pub fn schedules(h: &History) -> BTreeMap<String, ScheduleDef> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Schedule { id, period_ms, misfire, overlap, created_at_ms, steady, .. } => Some((
                id.clone(),
                ScheduleDef {
                    id: id.clone(),
                    period_ms: *period_ms,
                    misfire: misfire.clone(),
                    overlap: overlap.clone(),
                    created_at_ms: *created_at_ms,
                    steady: *steady,
                },
            )),
            _ => None,
        })
        .collect()
}

/// Every delivery that started a run, oldest first.
pub fn starts(h: &History) -> Vec<&Delivery> {
    let mut v: Vec<&Delivery> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Delivery { d, .. } if d.started => Some(d),
            _ => None,
        })
        .collect();
    v.sort_by_key(|d| d.unix_ms);
    v
}

/// Job id → Unix ms of its first start.
pub fn first_starts(h: &History) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for d in starts(h) {
        m.entry(d.job_id.clone()).or_insert(d.unix_ms);
    }
    m
}

/// No (schedule, tick) started twice on any stand-in.
pub fn no_duplicate_start(h: &History) -> Verdict {
    let mut by_job: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for d in starts(h) {
        by_job.entry(&d.job_id).or_default().push(d);
    }
    let repeats = h.events.iter().filter(|e| matches!(e, Event::Delivery { d, .. } if !d.started)).count();
    let dups: Vec<String> = by_job
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(j, v)| {
            format!("{j} started {} times (on {})", v.len(), list(&v.iter().map(|d| &d.slave).collect::<Vec<_>>()))
        })
        .collect();
    if !dups.is_empty() {
        return Verdict::invalid(format!("{} job(s) started more than once: {}", dups.len(), list(&dups)));
    }
    if by_job.is_empty() {
        return Verdict::unknown("no fire was received");
    }
    Verdict::valid(format!("{} fires, each started once; {repeats} deliveries did not start a run", by_job.len()))
}

/// One operation on a key: kind, process, invoke time, and (phase, completion time) once done.
type KeyOp = (OpKind, u32, u64, Option<(Phase, u64)>);

/// When an acknowledged pause or delete of `key` stops ticks: (tick floor, receipt ceiling).
/// A start of a tick later than the floor, received before the ceiling, is a violation.
fn stop_intervals(h: &History, key: &str) -> Vec<(String, u64, u64)> {
    let mut ops: Vec<KeyOp> = Vec::new();
    for e in &h.events {
        let Event::Op { at_ms, process, phase, f, key: Some(k), .. } = e else { continue };
        if k != key {
            continue;
        }
        match phase {
            Phase::Invoke => ops.push((*f, *process, h.unix(*at_ms), None)),
            done => {
                if let Some(o) = ops.iter_mut().rev().find(|o| o.1 == *process && o.0 == *f && o.3.is_none()) {
                    o.3 = Some((*done, h.unix(*at_ms)));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (f, _, invoked, done) in &ops {
        let Some((Phase::Ok, acked)) = done else { continue };
        match f {
            OpKind::Delete => out.push((format!("delete acknowledged at {acked}"), *acked, u64::MAX)),
            OpKind::Pause => {
                // The schedule is paused from the ack until a resume that could take effect
                // after this pause (one not refused, still open when the pause was invoked).
                let resumed = ops
                    .iter()
                    .filter(|(g, _, _, d)| {
                        *g == OpKind::Resume
                            && match d {
                                Some((Phase::Fail, _)) => false,
                                Some((_, t)) => t > invoked,
                                None => true,
                            }
                    })
                    .map(|(_, _, inv, _)| *inv)
                    .min()
                    .unwrap_or(u64::MAX);
                out.push((format!("pause acknowledged at {acked}"), *acked, resumed));
            }
            _ => {}
        }
    }
    out
}

/// No fire for a tick later than an acknowledged pause (until a resume) or delete, and none
/// for a tick before the schedule was created.
pub fn no_fire_after_pause_or_delete(h: &History) -> Verdict {
    let defs = schedules(h);
    let mut by_schedule: BTreeMap<&str, Vec<(&str, u64, u64)>> = BTreeMap::new();
    let firsts = first_starts(h);
    for (job, at) in &firsts {
        if let Some((s, tick)) = split_job_id(job) {
            by_schedule.entry(s).or_default().push((job.as_str(), tick, *at));
        }
    }
    let mut bad = Vec::new();
    let mut stops = 0;
    let mut catch_up = 0;
    for def in defs.values() {
        let intervals = stop_intervals(h, &def.id);
        stops += intervals.len();
        for (job, tick, at) in by_schedule.get(def.id.as_str()).into_iter().flatten() {
            let (tick, at) = (*tick, at);
            if tick < def.created_at_ms {
                bad.push(format!("{job}: tick before the schedule's creation at {}", def.created_at_ms));
            }
            for (what, floor, ceiling) in &intervals {
                if tick > *floor && *at < *ceiling {
                    bad.push(format!("{job} started at {at}, after the {what}"));
                } else if tick > *floor && *ceiling < u64::MAX && tick < *ceiling {
                    catch_up += 1;
                }
            }
        }
    }
    if !bad.is_empty() {
        return Verdict::invalid(format!("{} fire(s) after a stop: {}", bad.len(), list(&bad)));
    }
    if stops == 0 {
        return Verdict::unknown("no pause or delete was acknowledged");
    }
    Verdict::valid(format!(
        "{stops} acknowledged pauses/deletes, no later tick fired while stopped; \
         {catch_up} ticks of paused time fired after a resume (misfire policy)"
    ))
}

/// Overlap `forbid`: no run of a schedule started while another of its runs was running
/// (each run lasts `job_ms` on the stand-ins).
pub fn no_overlap_when_forbidden(h: &History, job_ms: u64) -> Verdict {
    let defs = schedules(h);
    let forbid: BTreeSet<&str> = defs.values().filter(|d| d.overlap == "forbid").map(|d| d.id.as_str()).collect();
    if forbid.is_empty() {
        return Verdict::unknown("no schedule forbids overlap");
    }
    let mut last: BTreeMap<&str, (u64, &str)> = BTreeMap::new();
    let mut bad = Vec::new();
    let mut runs = 0;
    for (job, at) in sorted_firsts(h) {
        let Some((s, _)) = split_job_id(job) else { continue };
        let Some(s) = forbid.get(s) else { continue };
        runs += 1;
        if let Some((prev_at, prev)) = last.get(s) {
            if at < prev_at + job_ms {
                bad.push(format!("{job} started at {at} while {prev} (started {prev_at}) ran"));
            }
        }
        last.insert(s, (at, job));
    }
    if !bad.is_empty() {
        return Verdict::invalid(format!("{} overlapping run(s): {}", bad.len(), list(&bad)));
    }
    Verdict::valid(format!("{runs} runs of {} forbid-overlap schedules, none overlapped", forbid.len()))
}

fn sorted_firsts(h: &History) -> Vec<(&str, u64)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for d in starts(h) {
        if seen.insert(d.job_id.as_str()) {
            out.push((d.job_id.as_str(), d.unix_ms));
        }
    }
    out
}

/// Starts on the real slave (real Scrapy processes, see `realslave`).
pub fn real_starts(h: &History) -> Vec<&Delivery> {
    starts(h).into_iter().filter(|d| d.slave == crate::realslave::NAME).collect()
}

//! Checkers over fires: what the stand-ins received, judged against the schedules the workload
//! created, the client operations acknowledged, and the fault windows.
//!
//! A fire is the first *start* of a job id on any stand-in; job ids are `<schedule>-t<tick>`
//! (raft-store's `job_id_for`). Times are Unix ms throughout (ticks are Unix ms; harness events
//! are converted with the run's start time; harness and masters share the machine's clock).

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use serde::Serialize;

use super::Verdict;
use crate::history::Event;
use crate::history::History;
use crate::history::OpKind;
use crate::history::Phase;
use crate::standin::Delivery;

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

/// How long before a fault a tick may still be in flight (planned, not yet committed or
/// dispatched), so that the fault legitimately delays or, under `skip`/`fire_once`, drops it.
pub const IN_FLIGHT_MS: u64 = 1_000;

/// Intervals (Unix ms) where late ticks are excused: from [`IN_FLIGHT_MS`] before each
/// installed fault to a new leader (or the heal) plus `bound_ms`, and from each heal plus
/// `bound_ms`.
pub fn fault_windows(h: &History, bound_ms: u64) -> Vec<(u64, u64)> {
    windows(h, bound_ms, false)
}

/// Where missed ticks may be excused: the windows of master faults that cost the cluster its
/// leader ([`cost_the_leader`]). Any other fault leaves a leader with its quorum and a healthy
/// slave, so it may delay a tick but never lose one.
pub fn leader_loss_windows(h: &History, bound_ms: u64) -> Vec<(u64, u64)> {
    windows(h, bound_ms, true)
}

/// The leader (node, term) last observed at or before `at_ms` (ms since the start).
fn leader_at(h: &History, at_ms: u64) -> Option<(u8, u64)> {
    h.events
        .iter()
        .filter_map(|e| match e {
            Event::Observed { at_ms: t, node, state, term, .. } if *t <= at_ms && state == "Leader" => {
                Some((*t, *node, *term))
            }
            _ => None,
        })
        .max_by_key(|(t, _, term)| (*term, *t))
        .map(|(_, node, term)| (node, term))
}

/// Whether a master fault (installed at `at_ms`, healed at `heal`, ms since the start) cost the
/// cluster its leader, so that ticks may be missed as the misfire policy says:
/// - a kind that always does: every master killed, the leader killed, paused or cut off from
///   the majority ([`super::deposes_leader`]), what the leader sends dropped (`one-way`), every
///   connection of the leader cut short (`proxy-drop-after`: it may stay leader without
///   committing), or the leader removed from the membership (`membership-re-add:leader`);
/// - a clock fault on the leader (it plans nothing while its clock is distrusted);
/// - any other fault during which, or within `bound_ms` of its heal, a term above the leader's
///   was observed (an election happened), or when no leader was known at all.
///
/// A follower killed, paused, cut off or wiped and re-added, a ring, a bridge or a slow link
/// leave the leader its quorum: missed ticks there are lost ticks.
pub fn cost_the_leader(h: &History, at_ms: u64, kind: &str, target: u8, heal: u64, bound_ms: u64) -> bool {
    let base = kind.split(':').next().unwrap_or(kind);
    if super::deposes_leader(kind)
        || matches!(base, "kill-all" | "one-way" | "proxy-drop-after")
        || kind == "membership-re-add:leader"
    {
        return true;
    }
    let Some((leader, term)) = leader_at(h, at_ms) else { return true };
    if base.starts_with("clock-") && target == leader {
        return true;
    }
    h.events.iter().any(|e| {
        matches!(e, Event::Observed { at_ms: t, term: later, .. }
            if *t > at_ms && *t <= heal.saturating_add(bound_ms) && *later > term)
    })
}

/// When (ms since the start) a master first led a term above the one led at a master fault's
/// install (`at_ms`): the new leader, if the fault cost the old one its role. `None` for slave
/// faults and when no election followed.
fn new_leader_after(h: &History, kind: &str, at_ms: u64) -> Option<u64> {
    if super::is_slave_fault(kind) {
        return None;
    }
    let before = leader_at(h, at_ms).map_or(0, |(_, term)| term);
    h.events.iter().find_map(|e| match e {
        Event::Observed { at_ms: t, state, term, .. } if *t > at_ms && state == "Leader" && *term > before => Some(*t),
        _ => None,
    })
}

fn windows(h: &History, bound_ms: u64, for_misses: bool) -> Vec<(u64, u64)> {
    let end = h.events.iter().map(Event::at_ms).max().unwrap_or(0);
    let mut out = Vec::new();
    for (i, e) in h.events.iter().enumerate() {
        let Event::Fault { at_ms, kind, target, installed: true } = e else { continue };
        if for_misses && super::is_slave_fault(kind) {
            continue;
        }
        let heal = h.events[i..]
            .iter()
            .find_map(|x| match x {
                Event::Healed { at_ms: t, kind: k, target: g } if k == kind && g == target => Some(*t),
                _ => None,
            })
            .unwrap_or(end);
        if for_misses && !cost_the_leader(h, *at_ms, kind, *target, heal, bound_ms) {
            continue;
        }
        let new_leader = new_leader_after(h, kind, *at_ms).filter(|t| *t < heal);
        match new_leader {
            Some(nl) => {
                out.push((h.unix(*at_ms).saturating_sub(IN_FLIGHT_MS), h.unix(nl) + bound_ms));
                out.push((h.unix(heal), h.unix(heal) + bound_ms));
            }
            None => out.push((h.unix(*at_ms).saturating_sub(IN_FLIGHT_MS), h.unix(heal) + bound_ms)),
        }
    }
    out
}

fn in_windows(w: &[(u64, u64)], t: u64) -> bool {
    w.iter().any(|(a, b)| *a <= t && t <= *b)
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    let shown: Vec<String> = v.iter().take(8).map(|x| x.to_string()).collect();
    let more = if v.len() > 8 { format!(" and {} more", v.len() - 8) } else { String::new() };
    format!("{}{more}", shown.join(", "))
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

/// No tick lost: for steady schedules with overlap `allow`, every tick after creation up to the
/// workload's end (less `bound_ms`) started, except that in the windows of faults that cost the
/// leader ([`leader_loss_windows`]) `skip` and `fire_once` may miss ticks — `fire_once` only if
/// a later tick fired after the gap (the newest missed tick runs on recovery). `fire_all` may
/// miss none; slave faults and faults that leave the leader its quorum excuse none.
pub fn no_lost_tick(h: &History, bound_ms: u64) -> (Verdict, usize) {
    let Some(end_at) = h.events.iter().find_map(|e| match e {
        Event::WorkloadEnd { at_ms } => Some(*at_ms),
        _ => None,
    }) else {
        return (Verdict::unknown("the workload never ended"), 0);
    };
    let until = h.unix(end_at).saturating_sub(bound_ms);
    let windows = leader_loss_windows(h, bound_ms);
    let firsts = first_starts(h);
    let mut judged = 0;
    let mut excused = 0;
    let mut bad = Vec::new();
    for def in schedules(h).values().filter(|d| d.steady && d.overlap == "allow" && d.period_ms > 0) {
        let mut t = (def.created_at_ms / def.period_ms + 1) * def.period_ms;
        let mut gap: Vec<u64> = Vec::new();
        while t <= until {
            judged += 1;
            if firsts.contains_key(&job_id_for(&def.id, t)) {
                gap.clear();
            } else if def.misfire != "fire_all" && in_windows(&windows, t) {
                excused += 1;
                gap.push(t);
            } else {
                bad.push(format!("{} ({}) tick {t}", def.id, def.misfire));
            }
            t += def.period_ms;
        }
        if def.misfire == "fire_once" {
            if let Some(last) = gap.last() {
                bad.push(format!("{} (fire_once): no tick fired after the missed tick {last}", def.id));
            }
        }
    }
    if !bad.is_empty() {
        return (Verdict::invalid(format!("{} tick(s) lost: {}", bad.len(), list(&bad))), judged);
    }
    if judged == 0 {
        return (Verdict::unknown("no steady tick to judge"), 0);
    }
    (
        Verdict::valid(format!("{judged} ticks judged, {excused} missed inside fault windows as the policy allows")),
        judged,
    )
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

/// Lateness percentiles (ms).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pcts {
    pub n: usize,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

pub fn pcts(mut v: Vec<u64>) -> Pcts {
    if v.is_empty() {
        return Pcts::default();
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Pcts { n: v.len(), p50: at(0.5), p99: at(0.99), max: at(1.0) }
}

/// One fire on the report's plots: tick and lateness, and whether it fell in a fault window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirePoint {
    pub tick_ms: u64,
    pub lateness_ms: u64,
    pub in_fault: bool,
}

/// Lateness (first start − tick) of steady schedules' fires.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lateness {
    pub steady: Pcts,
    pub after_faults: Pcts,
    pub points: Vec<FirePoint>,
}

/// Lateness bounds: steady p99 ≤ `steady_p99_ms`; a fire in a fault window starts at most
/// `bound_ms` after the window ends (the window already includes one bound).
pub fn lateness(h: &History, bound_ms: u64, steady_p99_ms: u64) -> (Verdict, Lateness) {
    let defs = schedules(h);
    let windows = fault_windows(h, bound_ms);
    let mut points = Vec::new();
    let mut bad = Vec::new();
    let real: BTreeSet<&str> = real_starts(h).iter().map(|d| d.job_id.as_str()).collect();
    for (job, at) in first_starts(h) {
        let Some((s, tick)) = split_job_id(&job) else { continue };
        if !defs.get(s).is_some_and(|d| d.steady) || real.contains(job.as_str()) {
            continue;
        }
        let late = at.saturating_sub(tick);
        let window = windows.iter().find(|(a, b)| *a <= tick && tick <= *b);
        if let Some((_, end)) = window {
            if at > end + bound_ms {
                bad.push(format!("{job} started {late} ms late, {} ms after its fault window", at - end));
            }
        }
        points.push(FirePoint { tick_ms: tick, lateness_ms: late, in_fault: window.is_some() });
    }
    let steady = pcts(points.iter().filter(|p| !p.in_fault).map(|p| p.lateness_ms).collect());
    let after_faults = pcts(points.iter().filter(|p| p.in_fault).map(|p| p.lateness_ms).collect());
    let l = Lateness { steady: steady.clone(), after_faults: after_faults.clone(), points };
    let summary = format!(
        "steady p50/p99/max {}/{}/{} ms over {}; in fault windows p50/p99/max {}/{}/{} ms over {}",
        steady.p50,
        steady.p99,
        steady.max,
        steady.n,
        after_faults.p50,
        after_faults.p99,
        after_faults.max,
        after_faults.n
    );
    if steady.n == 0 {
        return (Verdict::unknown(format!("no steady fire; {summary}")), l);
    }
    if steady.p99 > steady_p99_ms {
        bad.push(format!("steady p99 {} ms exceeds {steady_p99_ms} ms", steady.p99));
    }
    if !bad.is_empty() {
        return (Verdict::invalid(format!("{}; {summary}", list(&bad))), l);
    }
    (Verdict::valid(summary), l)
}

/// Starts on the real slave (real Scrapy processes, see `realslave`).
fn real_starts(h: &History) -> Vec<&Delivery> {
    starts(h).into_iter().filter(|d| d.slave == crate::realslave::NAME).collect()
}

/// The real slave ran real crawls: at least one, each job id once (duplicates across all
/// slaves are [`no_duplicate_start`]'s). Its lateness (tick to the spider's start, Scrapy's
/// start-up included) is reported here, apart from the stand-ins'.
pub fn real_slave(h: &History) -> Verdict {
    let runs = real_starts(h);
    if runs.is_empty() {
        return Verdict::unknown("no crawl ran on a real spider-slave (SPIDER_PYTHON unset, or it never started)");
    }
    let late =
        pcts(runs.iter().filter_map(|d| split_job_id(&d.job_id).map(|(_, t)| d.unix_ms.saturating_sub(t))).collect());
    let ids: BTreeSet<&str> = runs.iter().map(|d| d.job_id.as_str()).collect();
    if ids.len() != runs.len() {
        return Verdict::invalid(format!("{} crawls on the real slave for {} job ids", runs.len(), ids.len()));
    }
    Verdict::valid(format!(
        "{} real Scrapy crawls, one per job id; tick to spider start p50/p99/max {}/{}/{} ms",
        runs.len(),
        late.p50,
        late.p99,
        late.max
    ))
}

/// One fault's effect: time to a new leader (master faults) and the lateness of the steady
/// fires whose ticks fell between the fault and its heal plus the bound.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultStat {
    pub kind: String,
    pub target: u8,
    pub at_ms: u64,
    pub healed_at_ms: Option<u64>,
    pub time_to_new_leader_ms: Option<u64>,
    /// Whether it cost the cluster its leader ([`cost_the_leader`]): only then may ticks be
    /// missed in its window.
    pub lost_leader: bool,
    pub lateness: Pcts,
}

/// The faults of one kind (parameters dropped) in a run, summed up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindStat {
    /// Installs (a fault on every master, like `kill-all`, is one install of several targets).
    pub faults: usize,
    /// How many cost the leader.
    pub lost_leader: usize,
    pub time_to_new_leader_ms: Pcts,
    /// Lateness of the steady fires in these faults' windows (fault to heal plus the bound).
    pub lateness: Pcts,
}

/// [`per_fault`] summed up per kind, so each kind's effect (a clock strobe's, a partition's)
/// reads apart from the others in a composed run.
pub fn by_kind(h: &History, bound_ms: u64, faults: &[FaultStat], points: &[FirePoint]) -> BTreeMap<String, KindStat> {
    let mut groups: BTreeMap<String, Vec<&FaultStat>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    // One install on several targets (`kill-all`) counts once.
    for f in faults.iter().filter(|f| seen.insert((f.kind.as_str(), f.at_ms))) {
        groups.entry(f.kind.split(':').next().unwrap_or(&f.kind).to_string()).or_default().push(f);
    }
    groups
        .into_iter()
        .map(|(kind, fs)| {
            let spans: Vec<(u64, u64)> = fs
                .iter()
                .map(|f| (h.unix(f.at_ms), h.unix(f.healed_at_ms.unwrap_or(u64::MAX / 4)) + bound_ms))
                .collect();
            let late = points.iter().filter(|p| in_windows(&spans, p.tick_ms)).map(|p| p.lateness_ms).collect();
            let stat = KindStat {
                faults: fs.len(),
                lost_leader: fs.iter().filter(|f| f.lost_leader).count(),
                time_to_new_leader_ms: pcts(fs.iter().filter_map(|f| f.time_to_new_leader_ms).collect()),
                lateness: pcts(late),
            };
            (kind, stat)
        })
        .collect()
}

pub fn per_fault(h: &History, bound_ms: u64, points: &[FirePoint]) -> Vec<FaultStat> {
    let mut out = Vec::new();
    for (i, e) in h.events.iter().enumerate() {
        let Event::Fault { at_ms, kind, target, installed: true } = e else { continue };
        let healed = h.events[i..].iter().find_map(|x| match x {
            Event::Healed { at_ms: t, kind: k, target: g } if k == kind && g == target => Some(*t),
            _ => None,
        });
        let healed_or_end = healed.unwrap_or_else(|| h.events.iter().map(Event::at_ms).max().unwrap_or(0));
        let new_leader =
            new_leader_after(h, kind, *at_ms).filter(|t| *t <= healed_or_end + bound_ms).map(|t| t - *at_ms);
        let lost_leader =
            !super::is_slave_fault(kind) && cost_the_leader(h, *at_ms, kind, *target, healed_or_end, bound_ms);
        let (from, to) = (h.unix(*at_ms), h.unix(healed.unwrap_or(u64::MAX / 4)) + bound_ms);
        let late = points.iter().filter(|p| p.tick_ms >= from && p.tick_ms <= to).map(|p| p.lateness_ms).collect();
        out.push(FaultStat {
            kind: kind.clone(),
            target: *target,
            at_ms: *at_ms,
            healed_at_ms: healed,
            time_to_new_leader_ms: new_leader,
            lost_leader,
            lateness: pcts(late),
        });
    }
    out
}

#[cfg(test)]
#[path = "fires_test.rs"]
mod fires_test;

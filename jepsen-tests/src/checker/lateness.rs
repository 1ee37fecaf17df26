//! Lateness statistics: how late each steady fire started (first start − tick), judged against
//! the steady bound and the fault windows ([`super::windows`]); the real slave's crawls, timed
//! apart; and each fault's effect, per install ([`per_fault`]) and per kind ([`by_kind`]).

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use serde::Serialize;

use crate::fault::Fault;
use crate::history::Event;
use crate::history::History;

use super::fires::first_starts;
use super::fires::real_starts;
use super::fires::schedules;
use super::fires::split_job_id;
use super::verdict::list;
use super::verdict::Verdict;
use super::windows::cost_the_leader;
use super::windows::fault_windows;
use super::windows::healed_at;
use super::windows::in_windows;
use super::windows::new_leader_after;

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

/// The real slave ran real crawls: at least one, each job id once (duplicates across all
/// slaves are [`super::fires::no_duplicate_start`]'s). Its lateness (tick to the spider's
/// start, Scrapy's start-up included) is reported here, apart from the stand-ins'. Without a
/// crawl the verdict is unknown, with the reason the run recorded ([`Event::NoRealSlave`]).
pub fn real_slave(h: &History) -> Verdict {
    let runs = real_starts(h);
    if runs.is_empty() {
        let why = h.events.iter().find_map(|e| match e {
            Event::NoRealSlave { why, .. } => Some(why.as_str()),
            _ => None,
        });
        return Verdict::unknown(match why {
            Some(why) => format!("no crawl ran on a real spider-slave: {why}"),
            None => "no crawl ran on a real spider-slave (no Python with Scrapy, or it never started)".to_string(),
        });
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
    pub kind: Fault,
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

/// [`per_fault`] summed up per kind ([`Fault::name`]: parameters dropped), so each kind's
/// effect (a clock strobe's, a partition's) reads apart from the others in a composed run.
pub fn by_kind(
    h: &History,
    bound_ms: u64,
    faults: &[FaultStat],
    points: &[FirePoint],
) -> BTreeMap<&'static str, KindStat> {
    let mut groups: BTreeMap<&'static str, Vec<&FaultStat>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    // One install on several targets (`kill-all`) counts once.
    for f in faults.iter().filter(|f| seen.insert((f.kind, f.at_ms))) {
        groups.entry(f.kind.name()).or_default().push(f);
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

/// One [`FaultStat`] per installed fault and target, in history order.
pub fn per_fault(h: &History, bound_ms: u64, points: &[FirePoint]) -> Vec<FaultStat> {
    let mut out = Vec::new();
    for (i, e) in h.events.iter().enumerate() {
        let Event::Fault { at_ms, kind, target, installed: true } = e else { continue };
        let healed = healed_at(h, i, kind, *target);
        let healed_or_end = healed.unwrap_or_else(|| h.events.iter().map(Event::at_ms).max().unwrap_or(0));
        let new_leader =
            new_leader_after(h, kind, *at_ms).filter(|t| *t <= healed_or_end + bound_ms).map(|t| t - *at_ms);
        let lost_leader = !kind.is_slave() && cost_the_leader(h, *at_ms, kind, *target, healed_or_end, bound_ms);
        let (from, to) = (h.unix(*at_ms), h.unix(healed.unwrap_or(u64::MAX / 4)) + bound_ms);
        let late = points.iter().filter(|p| p.tick_ms >= from && p.tick_ms <= to).map(|p| p.lateness_ms).collect();
        out.push(FaultStat {
            kind: *kind,
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

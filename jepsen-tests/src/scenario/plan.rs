//! What a run is made of: its [`RunConfig`], the scenario names the CLI accepts (one fault, a
//! family, `mixed`, `mixed-basic`, `none`) parsed into faults once ([`Scenario`]), the seeded
//! shuffled rounds faults are drawn from ([`Rounds`]), and the smoke set ([`smoke_runs`]).

use std::path::Path;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::checker::Bounds;
use crate::fault::Fault;
use crate::workload::Rng;

/// Scenario families: the kinds of one nemesis, injected in seeded shuffled rounds, for long
/// runs per family (`run --scenario partition`).
pub const FAMILIES: [(&str, &[Fault]); 6] = [
    ("process", &[Fault::KillLeader, Fault::KillRandom, Fault::KillAll, Fault::PauseLeader, Fault::PauseRandom]),
    (
        "partition",
        &[
            Fault::IsolateLeader,
            Fault::LeaderMinority,
            Fault::LeaderMajority,
            Fault::MajorityRing,
            Fault::Bridge,
            Fault::OneWay,
        ],
    ),
    ("proxy", &[Fault::ProxyDelay { ms: 200 }, Fault::ProxyStall, Fault::ProxyDropAfter { bytes: 4096 }]),
    ("clock", &[Fault::ClockBump { ms: None }, Fault::ClockStrobe { ms: 30_000, flips: 6, period_ms: 400 }]),
    ("membership", &[Fault::MembershipReAdd { leader: false }, Fault::MembershipReAdd { leader: true }]),
    ("slave", &[Fault::Slave5xx, Fault::SlaveSlow, Fault::SlaveAmbiguous]),
];

/// `mixed-basic`: the first six kinds the harness had (leader kill, pause and minority, and
/// the three slave faults).
pub const BASIC: [Fault; 6] = [
    Fault::KillLeader,
    Fault::PauseLeader,
    Fault::LeaderMinority,
    Fault::Slave5xx,
    Fault::SlaveSlow,
    Fault::SlaveAmbiguous,
];

/// A scenario as named on the command line, and the faults it stands for: one fault by its
/// name (parameters allowed, e.g. `proxy-delay:200`), a family of [`FAMILIES`], `mixed` (every
/// kind), `mixed-basic` ([`BASIC`]), or `none` (no faults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// As given: recorded in the history and `results.json`.
    pub name: String,
    pub faults: Vec<Fault>,
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let faults = match name {
            "none" => vec![],
            "mixed" => Fault::ALL.to_vec(),
            "mixed-basic" => BASIC.to_vec(),
            _ => match FAMILIES.iter().find(|(family, _)| *family == name) {
                Some((_, kinds)) => kinds.to_vec(),
                None => vec![name.parse::<Fault>().map_err(|e| {
                    let families: Vec<&str> = FAMILIES.iter().map(|(f, _)| *f).collect();
                    format!(
                        "unknown scenario ({e}): name a fault, a family ({}), mixed, mixed-basic or none",
                        families.join(", ")
                    )
                })?],
            },
        };
        Ok(Scenario { name: name.to_string(), faults })
    }
}

/// Fault kinds in seeded shuffled rounds: every kind is drawn once per round.
#[derive(Debug, Clone)]
pub struct Rounds {
    kinds: Vec<Fault>,
    queue: Vec<Fault>,
}

impl Rounds {
    pub fn new(kinds: Vec<Fault>) -> Self {
        Rounds { kinds, queue: Vec::new() }
    }

    /// The next kind (`None` when there are none), shuffling a new round with `rng` when the
    /// last one is used up.
    pub fn next(&mut self, rng: &mut Rng) -> Option<Fault> {
        if self.queue.is_empty() {
            self.queue = self.kinds.clone();
            for i in (1..self.queue.len()).rev() {
                self.queue.swap(i, rng.range(0, i as u64) as usize);
            }
        }
        self.queue.pop()
    }
}

/// What a run is made of.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub scenario: String,
    pub seed: u64,
    /// How long the workload runs (fault windows included).
    pub time: Duration,
    pub out: PathBuf,
    pub faults: Vec<Fault>,
    /// Time before the first fault and after each heal, ms (seeded range).
    pub recover_ms: (u64, u64),
    /// How long each fault is held, ms (seeded range; at least the fault's
    /// [`Fault::min_hold`]).
    pub hold_ms: (u64, u64),
    pub slaves: usize,
    pub clients: usize,
    pub bounds: Bounds,
    /// The honesty self-test: the harness records a duplicate start of its own.
    pub inject_duplicate: bool,
    /// The alerts honesty self-test: before judging, the harness delivers the first stored
    /// failover mail to the SMTP sink this many more times.
    pub inject_duplicate_mail: usize,
    /// The Python the real slave runs Scrapy with; `None`: looked for when the run starts
    /// ([`crate::realslave::find_python`]). The SMTP sink uses it too when it has aiosmtpd.
    pub python: Option<PathBuf>,
}

impl RunConfig {
    pub fn new(scenario: &str, faults: Vec<Fault>, seed: u64, time: Duration, out: &Path) -> Self {
        RunConfig {
            scenario: scenario.to_string(),
            seed,
            time,
            out: out.to_path_buf(),
            faults,
            recover_ms: (6_000, 10_000),
            hold_ms: (2_000, 6_000),
            slaves: 2,
            clients: 3,
            bounds: Bounds::default(),
            inject_duplicate: false,
            inject_duplicate_mail: 0,
            python: None,
        }
    }
}

/// The smoke set: leader kill, leader pause, leader-in-minority, each a short run with one
/// fault window, its files in `out/<scenario>/`.
pub fn smoke_runs(out: &Path) -> Vec<RunConfig> {
    [Fault::KillLeader, Fault::PauseLeader, Fault::LeaderMinority]
        .into_iter()
        .map(|f| {
            let mut cfg = RunConfig::new(f.name(), vec![f], 1, Duration::from_secs(24), &out.join(f.name()));
            cfg.recover_ms = (8_000, 8_000);
            cfg.hold_ms = (4_000, 4_000);
            cfg
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn faults(name: &str) -> Option<Vec<Fault>> {
        name.parse::<Scenario>().ok().map(|s| s.faults)
    }

    #[test]
    fn scenario_names_cover_every_fault_kind_once() {
        let all = faults("mixed").unwrap_or_default();
        assert_eq!(
            all.len(),
            6 + 17 - 3,
            "the basic six and the nemesis's seventeen share kill-leader, pause-leader, leader-minority"
        );
        let labels: BTreeSet<String> = all.iter().map(|k| k.to_string()).collect();
        assert_eq!(labels.len(), all.len(), "no kind twice: {labels:?}");
        assert_eq!(faults("kill-leader"), Some(vec![Fault::KillLeader]));
        assert_eq!(faults("proxy-delay:150"), Some(vec![Fault::ProxyDelay { ms: 150 }]));
        assert!(faults("proxy-delay:150").is_some_and(|k| k[0].needs_proxies()));
        assert_eq!(faults("mixed-basic").map(|k| k.len()), Some(6));
        assert_eq!(faults("none"), Some(vec![]));
        assert_eq!(faults("earthquake"), None);
        let e = "earthquake".parse::<Scenario>().expect_err("unknown");
        assert!(e.contains("unknown fault") && e.contains("partition"), "{e}");
    }

    #[test]
    fn the_families_split_every_kind_between_them() {
        let mut labels = BTreeSet::new();
        for (family, kinds) in FAMILIES {
            let got = faults(family);
            assert_eq!(got.as_ref().map(Vec::len), Some(kinds.len()), "{family}");
            for k in got.into_iter().flatten() {
                assert!(labels.insert(k.to_string()), "{k} in two families");
            }
        }
        let all: BTreeSet<String> = faults("mixed").unwrap_or_default().iter().map(|k| k.to_string()).collect();
        assert!(all.is_subset(&labels), "kinds in no family: {:?}", all.difference(&labels).collect::<Vec<_>>());
    }

    #[test]
    fn rounds_draw_every_kind_once_per_round() {
        let kinds = FAMILIES[0].1.to_vec();
        let mut rounds = Rounds::new(kinds.clone());
        let mut rng = Rng::new(7);
        for _ in 0..3 {
            let round: BTreeSet<Fault> = (0..kinds.len()).filter_map(|_| rounds.next(&mut rng)).collect();
            assert_eq!(round, kinds.iter().copied().collect());
        }
        assert_eq!(Rounds::new(vec![]).next(&mut rng), None);
    }
}

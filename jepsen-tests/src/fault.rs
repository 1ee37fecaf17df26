//! The one vocabulary of faults: the closed list of what a run can inject, on masters (the
//! [`crate::nemesis`] installs those) and on slaves (the scenario switches a stand-in's
//! [`crate::standin::FaultMode`]), and what an install or a heal reports ([`Installed`],
//! [`Healed`]).
//!
//! Names are kebab case, with optional parameters after colons: `kill-leader`,
//! `proxy-delay:200`, `clock-bump:-90000`, `clock-strobe:30000:6:400`,
//! `membership-re-add:leader`, `slave-5xx`. [`Fault`]'s `Display` writes the canonical form,
//! which parses back; it is also the form written to `history.jsonl` and `results.json` (serde
//! goes through `Display`/`FromStr`), so a name is parsed once, where it enters: the CLI, or a
//! stored history read back.
//!
//! This module says what a fault *is* (its name, parameters, whether it needs the leader or the
//! proxies, how long to hold it); the checkers decide what a fault excuses
//! (`checker::windows`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::Serialize;

/// A fault a run can install (and later heal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// SIGKILL the leader; heal restarts it from its data dir.
    KillLeader,
    /// SIGKILL one running master chosen at random.
    KillRandom,
    /// SIGKILL every master (total outage); heal restarts them all.
    KillAll,
    /// SIGSTOP the leader; heal sends SIGCONT. Hold it longer than the election timeout.
    PauseLeader,
    /// SIGSTOP one running master chosen at random.
    PauseRandom,
    /// Cut the leader from every other master (both directions).
    IsolateLeader,
    /// The leader on the minority side of a two-way split (3 masters: the same grudge as
    /// `isolate-leader`; 5: the leader and one follower).
    LeaderMinority,
    /// The leader on the majority side (3 masters: one follower cut from both others).
    LeaderMajority,
    /// Every master sees a majority, no two the same majority. 3 masters: the two followers
    /// are cut from each other, the leader sees both. ≥ 5: a random ring, links kept only
    /// between near neighbours.
    MajorityRing,
    /// Two halves joined by one master that sees both. 3 masters: the leader and one random
    /// follower are cut from each other, the other follower is the bridge.
    Bridge,
    /// Drop only what the leader sends to the others (it still hears them).
    OneWay,
    /// Every proxied link delays each chunk by `ms`.
    ProxyDelay { ms: u64 },
    /// The leader → one random follower link holds its bytes (connections stay open).
    ProxyStall,
    /// Every connection to or from the leader is closed after `bytes` more bytes.
    ProxyDropAfter { bytes: u64 },
    /// Shift one master's scheduler clock (the leader, else a random master) by `ms`; `None`
    /// picks ±1 s…5 min at install.
    ClockBump { ms: Option<i64> },
    /// Flip one master's clock offset between `ms` and 0, `flips` times, every `period_ms`.
    ClockStrobe { ms: i64, flips: u32, period_ms: u64 },
    /// Remove a member (a random follower, or the leader), wipe and restart it; heal re-adds it
    /// and waits for every master to be a voter again.
    MembershipReAdd { leader: bool },
    /// One stand-in answers `schedule.json` with 503, starting nothing.
    Slave5xx,
    /// One stand-in starts the job and answers after the master's dispatch timeout.
    SlaveSlow,
    /// One stand-in starts the job and drops the connection (an ambiguous dispatch).
    SlaveAmbiguous,
}

impl Fault {
    /// Every kind, with default parameters: the masters' seventeen, then the slaves' three.
    pub const ALL: [Fault; 20] = [
        Fault::KillLeader,
        Fault::KillRandom,
        Fault::KillAll,
        Fault::PauseLeader,
        Fault::PauseRandom,
        Fault::IsolateLeader,
        Fault::LeaderMinority,
        Fault::LeaderMajority,
        Fault::MajorityRing,
        Fault::Bridge,
        Fault::OneWay,
        Fault::ProxyDelay { ms: 200 },
        Fault::ProxyStall,
        Fault::ProxyDropAfter { bytes: 4096 },
        Fault::ClockBump { ms: None },
        Fault::ClockStrobe { ms: 30_000, flips: 6, period_ms: 400 },
        Fault::MembershipReAdd { leader: false },
        Fault::Slave5xx,
        Fault::SlaveSlow,
        Fault::SlaveAmbiguous,
    ];

    /// The kind, without parameters.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::KillLeader => "kill-leader",
            Fault::KillRandom => "kill-random",
            Fault::KillAll => "kill-all",
            Fault::PauseLeader => "pause-leader",
            Fault::PauseRandom => "pause-random",
            Fault::IsolateLeader => "isolate-leader",
            Fault::LeaderMinority => "leader-minority",
            Fault::LeaderMajority => "leader-majority",
            Fault::MajorityRing => "majority-ring",
            Fault::Bridge => "bridge",
            Fault::OneWay => "one-way",
            Fault::ProxyDelay { .. } => "proxy-delay",
            Fault::ProxyStall => "proxy-stall",
            Fault::ProxyDropAfter { .. } => "proxy-drop-after",
            Fault::ClockBump { .. } => "clock-bump",
            Fault::ClockStrobe { .. } => "clock-strobe",
            Fault::MembershipReAdd { .. } => "membership-re-add",
            Fault::Slave5xx => "slave-5xx",
            Fault::SlaveSlow => "slave-slow",
            Fault::SlaveAmbiguous => "slave-ambiguous",
        }
    }

    /// Whether it hits a slave (a stand-in, targeted by its index), not a master.
    pub fn is_slave(&self) -> bool {
        matches!(self, Fault::Slave5xx | Fault::SlaveSlow | Fault::SlaveAmbiguous)
    }

    /// Whether installing it needs the per-link proxies ([`crate::nemesis::Nemesis::with_proxies`]).
    pub fn needs_proxies(&self) -> bool {
        matches!(self, Fault::ProxyDelay { .. } | Fault::ProxyStall | Fault::ProxyDropAfter { .. })
    }

    /// Whether installing needs to know the leader (otherwise it is refused, not guessed).
    pub fn needs_leader(&self) -> bool {
        matches!(
            self,
            Fault::KillLeader
                | Fault::PauseLeader
                | Fault::IsolateLeader
                | Fault::LeaderMinority
                | Fault::LeaderMajority
                | Fault::Bridge
                | Fault::OneWay
                | Fault::ProxyStall
                | Fault::ProxyDropAfter { .. }
                | Fault::MembershipReAdd { .. }
        )
    }

    /// How long a runner should hold the fault before healing for it to bite: past the
    /// election timeout (1 s in the harness config) for faults that should cost the leader
    /// its role; nothing for slave faults (the next fire meets them).
    pub fn min_hold(&self) -> Duration {
        match self {
            Fault::ClockStrobe { flips, period_ms, .. } => Duration::from_millis(u64::from(*flips) * period_ms),
            Fault::ClockBump { .. } | Fault::MembershipReAdd { .. } => Duration::ZERO,
            Fault::Slave5xx | Fault::SlaveSlow | Fault::SlaveAmbiguous => Duration::ZERO,
            _ => Duration::from_millis(2_000),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            Fault::ProxyDelay { ms } => write!(f, ":{ms}"),
            Fault::ProxyDropAfter { bytes } => write!(f, ":{bytes}"),
            Fault::ClockBump { ms: Some(ms) } => write!(f, ":{ms}"),
            Fault::ClockStrobe { ms, flips, period_ms } => write!(f, ":{ms}:{flips}:{period_ms}"),
            Fault::MembershipReAdd { leader: true } => f.write_str(":leader"),
            _ => Ok(()),
        }
    }
}

/// Why a fault name did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFaultError(pub String);

impl fmt::Display for ParseFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseFaultError {}

impl FromStr for Fault {
    type Err = ParseFaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.trim().split(':');
        let kind = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let bad = |why: &str| ParseFaultError(format!("{s:?}: {why}"));
        let num = |i: usize, default: i64| -> Result<i64, ParseFaultError> {
            match args.get(i) {
                None => Ok(default),
                Some(a) => a.parse().map_err(|_| bad(&format!("parameter {a:?} is not an integer"))),
            }
        };
        let unsigned = |i: usize, default: i64| -> Result<u64, ParseFaultError> {
            u64::try_from(num(i, default)?).map_err(|_| bad("parameter must not be negative"))
        };
        let max_args = match kind {
            "proxy-delay" | "proxy-drop-after" | "clock-bump" | "membership-re-add" => 1,
            "clock-strobe" => 3,
            _ => 0,
        };
        if args.len() > max_args {
            return Err(bad(&format!("{kind} takes at most {max_args} parameter(s)")));
        }
        let fault = match kind {
            "kill-leader" => Fault::KillLeader,
            "kill-random" => Fault::KillRandom,
            "kill-all" => Fault::KillAll,
            "pause-leader" => Fault::PauseLeader,
            "pause-random" => Fault::PauseRandom,
            "isolate-leader" => Fault::IsolateLeader,
            "leader-minority" => Fault::LeaderMinority,
            "leader-majority" => Fault::LeaderMajority,
            "majority-ring" => Fault::MajorityRing,
            "bridge" => Fault::Bridge,
            "one-way" => Fault::OneWay,
            "proxy-delay" => Fault::ProxyDelay { ms: unsigned(0, 200)? },
            "proxy-stall" => Fault::ProxyStall,
            "proxy-drop-after" => Fault::ProxyDropAfter { bytes: unsigned(0, 4096)? },
            "clock-bump" => Fault::ClockBump { ms: if args.is_empty() { None } else { Some(num(0, 0)?) } },
            "clock-strobe" => Fault::ClockStrobe {
                ms: num(0, 30_000)?,
                flips: u32::try_from(unsigned(1, 6)?).map_err(|_| bad("too many flips"))?,
                period_ms: unsigned(2, 400)?,
            },
            "membership-re-add" => match args.first() {
                None | Some(&"follower") => Fault::MembershipReAdd { leader: false },
                Some(&"leader") => Fault::MembershipReAdd { leader: true },
                Some(other) => return Err(bad(&format!("{other:?}: expected leader or follower"))),
            },
            "slave-5xx" => Fault::Slave5xx,
            "slave-slow" => Fault::SlaveSlow,
            "slave-ambiguous" => Fault::SlaveAmbiguous,
            _ => return Err(bad("unknown fault")),
        };
        Ok(fault)
    }
}

/// Written as its canonical name (`Display`), as `history.jsonl` always had it.
impl Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Read back from its name: a stored history's faults are parsed once, here.
impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// What an install did: whether the fault is in place, on which targets, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    pub fault: Fault,
    /// The masters it targets (the ones killed, paused, cut off, …), or for a slave fault the
    /// stand-in's index. Empty when it was refused before a target was chosen.
    pub targets: Vec<u8>,
    pub installed: bool,
    /// The shape or values chosen, or why it was not installed.
    pub detail: String,
}

/// What a heal did for one installed fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Healed {
    pub fault: Fault,
    pub targets: Vec<u8>,
    pub healed: bool,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for f in Fault::ALL {
            assert_eq!(f.to_string().parse::<Fault>(), Ok(f), "{f}");
            assert!(f.to_string().starts_with(f.name()));
        }
        for f in [
            Fault::ClockBump { ms: Some(-90_000) },
            Fault::MembershipReAdd { leader: true },
            Fault::ProxyDelay { ms: 5 },
        ] {
            assert_eq!(f.to_string().parse::<Fault>(), Ok(f), "{f}");
        }
    }

    #[test]
    fn parameters_and_defaults() {
        assert_eq!("proxy-delay".parse(), Ok(Fault::ProxyDelay { ms: 200 }));
        assert_eq!("clock-bump:-5000".parse(), Ok(Fault::ClockBump { ms: Some(-5000) }));
        assert_eq!("clock-bump".parse(), Ok(Fault::ClockBump { ms: None }));
        assert_eq!("clock-strobe:1000".parse(), Ok(Fault::ClockStrobe { ms: 1000, flips: 6, period_ms: 400 }));
        assert_eq!(" membership-re-add:follower ".parse(), Ok(Fault::MembershipReAdd { leader: false }));
    }

    #[test]
    fn bad_names_are_refused() {
        for s in ["", "kill", "kill-leader:1", "proxy-delay:-1", "proxy-delay:x", "membership-re-add:all", "a:b:c:d:e"]
        {
            assert!(s.parse::<Fault>().is_err(), "{s:?} parsed");
        }
        assert!("slave-5xx:1".parse::<Fault>().is_err());
    }

    #[test]
    fn serde_writes_and_reads_the_canonical_name() {
        for f in Fault::ALL.into_iter().chain([Fault::ClockBump { ms: Some(-90_000) }]) {
            let json = serde_json::to_string(&f).unwrap_or_default();
            assert_eq!(json, format!("\"{f}\""));
            assert_eq!(serde_json::from_str::<Fault>(&json).ok(), Some(f), "{json}");
        }
        assert!(serde_json::from_str::<Fault>("\"earthquake\"").is_err());
        let slaves: Vec<Fault> = Fault::ALL.into_iter().filter(Fault::is_slave).collect();
        assert_eq!(slaves, [Fault::Slave5xx, Fault::SlaveSlow, Fault::SlaveAmbiguous]);
        assert!(slaves.iter().all(|f| f.name().starts_with("slave-")));
    }
}

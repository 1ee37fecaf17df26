//! What the harness observed and did, as one list of events written as JSON lines
//! (`history.jsonl`). `at_ms` is milliseconds since the run started; [`Event::Start`] gives the
//! start's Unix time, so cron ticks (Unix ms) and events can be put on one axis.

use serde::Deserialize;
use serde::Serialize;

use crate::fault::Fault;
use crate::standin::Delivery;

/// A client operation's phase (Jepsen's `:invoke`, `:ok`, `:fail`, `:info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Invoke,
    /// Acknowledged: it happened.
    Ok,
    /// Definitely did not happen (a 4xx answer).
    Fail,
    /// Unknown: timeout, connection error, 5xx. It may or may not have happened.
    Info,
}

/// What a client operation does to a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    Pause,
    Resume,
    Delete,
    /// `GET /schedules/{id}?consistency=linearizable`.
    Read,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run began. `requested`: the fault kinds the run is asked to inject (each must be
    /// installed at least once, or the run proves nothing about it).
    Start {
        unix_ms: u64,
        seed: u64,
        scenario: String,
        #[serde(default)]
        requested: Vec<Fault>,
    },
    /// A master answered `/healthz`.
    Observed { at_ms: u64, node: u8, state: String, term: u64, leader: Option<u64>, applied: Option<u64> },
    /// A fault was installed (`installed: true`) or could not be (`false`), one event per
    /// target (0: none was chosen). Slave faults ([`Fault::is_slave`]) target the stand-in's index.
    Fault { at_ms: u64, kind: Fault, target: u8, installed: bool },
    /// A fault was removed.
    Healed { at_ms: u64, kind: Fault, target: u8 },
    /// A client operation: one `invoke`, then one of `ok`/`fail`/`info` with the same
    /// `process` and `f`. `key` is the schedule id (absent on a create's invoke). `version` and
    /// `paused` are what the answer showed (a read of a missing schedule: `ok` without them).
    Op {
        at_ms: u64,
        process: u32,
        phase: Phase,
        f: OpKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        node: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paused: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A schedule the workload created: its cron period, policies, and creation stamp (Unix
    /// ms, from the master). `steady` schedules are never paused or deleted by the workload.
    Schedule {
        at_ms: u64,
        id: String,
        period_ms: u64,
        misfire: String,
        overlap: String,
        created_at_ms: u64,
        steady: bool,
    },
    /// A `schedule.json` a stand-in received.
    Delivery {
        at_ms: u64,
        #[serde(flatten)]
        d: Delivery,
    },
    /// The workload stopped issuing operations (ticks are judged up to here).
    WorkloadEnd { at_ms: u64 },
    /// Everything was healed and the masters agreed on a leader: the final reads begin.
    FinalReads { at_ms: u64 },
    /// A master's final state after the heal: applied index and a digest of its schedules.
    Final { at_ms: u64, node: u8, applied: Option<u64>, digest: String, schedules: usize },
    /// The run has no real spider-slave beside the stand-ins, and why (no Python with Scrapy
    /// found, no binary): the `real_slave` checker cannot judge, and says this.
    NoRealSlave { at_ms: u64, why: String },
    /// The SMTP sink the masters' alert mail goes to listens at `addr` (`HOST:PORT` on the
    /// bridge); what it accepts is stored in the run's `mail/` directory.
    MailSink { at_ms: u64, addr: String },
    /// The run has no SMTP sink, and why (no Python with aiosmtpd found, or it did not start):
    /// the `alerts` checker cannot judge, and says this.
    NoMailSink { at_ms: u64, why: String },
    /// Alerting was configured through the API: a mail channel to the sink and a rule routing
    /// failovers to it. Failovers of leaders elected before this are not judged.
    AlertsConfigured { at_ms: u64 },
    /// The honesty self-test: the harness itself delivered the stored message with
    /// `message_id` to the sink `copies` more times.
    MailInjected { at_ms: u64, message_id: String, copies: usize },
    /// A `panicked at` line in a master's log.
    Panic { node: u8, line: String },
    /// The run stopped early (no leader, setup failed…): what is left is judged, and the run
    /// is invalid.
    RunError { at_ms: u64, message: String },
}

impl Event {
    pub fn at_ms(&self) -> u64 {
        match self {
            Event::Start { .. } | Event::Panic { .. } => 0,
            Event::Observed { at_ms, .. }
            | Event::Fault { at_ms, .. }
            | Event::Healed { at_ms, .. }
            | Event::Op { at_ms, .. }
            | Event::Schedule { at_ms, .. }
            | Event::Delivery { at_ms, .. }
            | Event::WorkloadEnd { at_ms }
            | Event::RunError { at_ms, .. }
            | Event::NoRealSlave { at_ms, .. }
            | Event::MailSink { at_ms, .. }
            | Event::NoMailSink { at_ms, .. }
            | Event::AlertsConfigured { at_ms }
            | Event::MailInjected { at_ms, .. }
            | Event::FinalReads { at_ms }
            | Event::Final { at_ms, .. } => *at_ms,
        }
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// Unix ms of the run's start (0 if the history has no `Start`).
    pub fn start_unix_ms(&self) -> u64 {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Start { unix_ms, .. } => Some(*unix_ms),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Unix ms of an event time.
    pub fn unix(&self, at_ms: u64) -> u64 {
        self.start_unix_ms() + at_ms
    }

    /// Reads `history.jsonl` back.
    pub fn from_jsonl(text: &str) -> Result<Self, serde_json::Error> {
        let events =
            text.lines().filter(|l| !l.trim().is_empty()).map(serde_json::from_str).collect::<Result<_, _>>()?;
        Ok(History { events })
    }

    /// The events as JSON lines.
    pub fn to_jsonl(&self) -> String {
        self.events.iter().filter_map(|e| serde_json::to_string(e).ok()).map(|l| l + "\n").collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as `history.jsonl` has always written them: fault kinds are their names.
    const STORED: &str = r#"{"type":"start","unix_ms":1000,"seed":7,"scenario":"mixed","requested":["kill-leader","proxy-delay:200","slave-5xx"]}
{"type":"fault","at_ms":20,"kind":"clock-strobe:30000:6:400","target":2,"installed":true}
{"type":"healed","at_ms":40,"kind":"clock-strobe:30000:6:400","target":2}
{"type":"fault","at_ms":50,"kind":"membership-re-add:leader","target":0,"installed":false}
"#;

    #[test]
    fn a_stored_history_reads_back_with_its_faults_parsed() {
        let h = History::from_jsonl(STORED).expect("the stored format parses");
        let requested = vec![Fault::KillLeader, Fault::ProxyDelay { ms: 200 }, Fault::Slave5xx];
        assert_eq!(h.events[0], Event::Start { unix_ms: 1000, seed: 7, scenario: "mixed".into(), requested });
        let strobe = Fault::ClockStrobe { ms: 30_000, flips: 6, period_ms: 400 };
        assert_eq!(h.events[1], Event::Fault { at_ms: 20, kind: strobe, target: 2, installed: true });
        assert_eq!(h.events[2], Event::Healed { at_ms: 40, kind: strobe, target: 2 });
        assert_eq!(h.to_jsonl(), STORED, "written back unchanged");
        let unknown = STORED.replace("slave-5xx", "earthquake");
        assert!(History::from_jsonl(&unknown).is_err(), "an unknown fault is refused where it is read");
    }
}

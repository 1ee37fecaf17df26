//! The system under test and the harness around it, for one run: hosts, masters, nemesis,
//! stand-ins, the real slave and the SMTP sink when there can be one, the recorder and the
//! `/healthz` observer.
//! [`Env::start`] brings it all up; [`Env::finish`] records what the slaves saw, tears it
//! down in order and scans the masters' logs. The leader as observed ([`leader_since`],
//! [`wait_stable`]) is read from the recorded history, like the checkers read it.

use std::path::Path;
use std::time::Duration;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::plan::RunConfig;
use crate::client::Api;
use crate::client::Recorder;
use crate::cluster::Cluster;
use crate::history::Event;
use crate::mailsink;
use crate::mailsink::MailSink;
use crate::nemesis::Nemesis;
use crate::net::Net;
use crate::python;
use crate::realslave;
use crate::realslave::RealSlave;
use crate::standin::StandIn;
use crate::workload;

/// The system under test and the harness around it.
pub struct Env {
    pub net: Net,
    pub cluster: Cluster,
    pub nemesis: Nemesis,
    /// The nemesis's random choices (targets, clock offsets), seeded from the run's seed.
    pub nemesis_rng: rand::rngs::StdRng,
    pub standins: Vec<StandIn>,
    /// A real spider-slave, when one could be started (see [`crate::realslave`]).
    pub real: Option<RealSlave>,
    /// The SMTP sink alert mail goes to, when one could be started (see [`crate::mailsink`]).
    pub mail: Option<MailSink>,
    pub rec: Recorder,
    pub api: Api,
    /// Stops the observer; its task.
    observer: (watch::Sender<bool>, JoinHandle<()>),
}

impl Env {
    /// Starts the hosts, the proxies (only when a fault needs them: they add a hop to every
    /// Raft message), the masters, the stand-ins and the real slave, then the recorder and the
    /// observer. Without a real slave or an SMTP sink, the history says why
    /// ([`Event::NoRealSlave`], [`Event::NoMailSink`]).
    pub async fn start(cfg: &RunConfig) -> anyhow::Result<Env> {
        std::fs::create_dir_all(&cfg.out)?;
        let net = Net::create(3)?;
        let nemesis = if cfg.faults.iter().any(|f| f.needs_proxies()) {
            Nemesis::with_proxies(&net).await?
        } else {
            Nemesis::new()
        };
        let cluster = Cluster::start(&net, &cfg.out)?;
        let mut standins = Vec::new();
        for i in 1..=cfg.slaves {
            standins.push(StandIn::start(&format!("s{i}"), &net.bridge_ip, cfg.bounds.job_ms).await?);
        }
        let python = match &cfg.python {
            Some(p) => Ok(p.clone()),
            None => realslave::find_python(),
        };
        let (real, no_real) = match python.and_then(|p| realslave::binary(&cluster.bin).map(|bin| (bin, p))) {
            Ok((bin, python)) => {
                (Some(RealSlave::start(&bin, &python, &net.bridge_ip, &cfg.out.join("real-slave"))?), None)
            }
            Err(why) => (None, Some(why)),
        };
        let mail_python = match cfg.python.as_ref().filter(|p| python::imports(p, mailsink::MODULE).is_ok()) {
            Some(p) => Ok(p.clone()),
            None => python::find(mailsink::MODULE, "the SMTP sink"),
        };
        let mail = match mail_python {
            Ok(p) => MailSink::start(&p, &net.bridge_ip, &cfg.out).await.map_err(|e| format!("{e:#}")),
            Err(why) => Err(why),
        };
        let masters: Vec<(u8, String)> = net.hosts.iter().map(|h| (h.index, Cluster::url(&net, h.index))).collect();
        let api = Api::new(masters, Duration::from_secs(3))?;
        let rec = Recorder::new(cfg.seed, &cfg.scenario, cfg.faults.clone());
        if let Some(why) = no_real {
            rec.push(Event::NoRealSlave { at_ms: rec.now(), why });
        }
        let mail = match mail {
            Ok(m) => {
                rec.push(Event::MailSink { at_ms: rec.now(), addr: m.addr() });
                Some(m)
            }
            Err(why) => {
                rec.push(Event::NoMailSink { at_ms: rec.now(), why });
                None
            }
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let observer =
            tokio::spawn(observe(Api::new(api.masters.clone(), Duration::from_millis(300))?, rec.clone(), stop_rx));
        let nemesis_rng = rand::SeedableRng::seed_from_u64(cfg.seed ^ 0x006e_656d_6573_6973);
        Ok(Env { net, cluster, nemesis, nemesis_rng, standins, real, mail, rec, api, observer: (stop_tx, observer) })
    }

    /// Stops the observer, records every delivery the stand-ins and the real slave saw, stops
    /// the real slave, the SMTP sink, the masters, the proxies and the hosts (in that order),
    /// and appends the
    /// `panicked at` lines of the masters' logs in `out`. Returns the recorder.
    pub async fn finish(self, out: &Path) -> Recorder {
        let Env { net, cluster, nemesis, standins, real, mail, rec, observer: (stop_tx, observer), .. } = self;
        let _ = stop_tx.send(true);
        let _ = observer.await;
        let start_unix = rec.read(|h| h.start_unix_ms());
        for s in &standins {
            for d in s.deliveries() {
                rec.push(Event::Delivery { at_ms: d.unix_ms.saturating_sub(start_unix), d });
            }
        }
        if let Some(r) = &real {
            match r.runs(workload::PROJECT, workload::SPIDER) {
                Ok(runs) => {
                    for d in runs {
                        rec.push(Event::Delivery { at_ms: d.unix_ms.saturating_sub(start_unix), d });
                    }
                }
                Err(e) => {
                    rec.push(Event::RunError { at_ms: rec.now(), message: format!("the real slave's run log: {e:#}") })
                }
            }
        }
        drop(real);
        drop(mail);
        drop(cluster);
        drop(nemesis);
        drop(net);
        scan_logs(out, 3, &rec);
        rec
    }
}

/// Polls every master's `/healthz` into the history until `stop` turns true.
async fn observe(api: Api, rec: Recorder, mut stop: watch::Receiver<bool>) {
    loop {
        for (i, _) in &api.masters {
            if let Some(v) = api.health(*i).await {
                rec.push(Event::Observed {
                    at_ms: rec.now(),
                    node: *i,
                    state: v["state"].as_str().unwrap_or_default().to_string(),
                    term: v["term"].as_u64().unwrap_or(0),
                    leader: v["leader_id"].as_u64(),
                    applied: v["last_applied"].as_u64(),
                });
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// The leader of the highest term among observations since `since_ms`.
pub fn leader_since(rec: &Recorder, since_ms: u64) -> Option<u8> {
    rec.read(|h| {
        h.events
            .iter()
            .filter_map(|e| match e {
                Event::Observed { at_ms, node, state, term, .. } if *at_ms >= since_ms && state == "Leader" => {
                    Some((*term, *node))
                }
                _ => None,
            })
            .max()
            .map(|(_, n)| n)
    })
}

/// Waits until every master, observed after `since_ms`, follows one leader in one term.
pub async fn wait_stable(rec: &Recorder, masters: usize, since_ms: u64, timeout: Duration) -> anyhow::Result<u8> {
    let deadline = Instant::now() + timeout;
    loop {
        let agreed = rec.read(|h| {
            let mut last = std::collections::BTreeMap::new();
            for e in &h.events {
                if let Event::Observed { at_ms, node, term, leader, .. } = e {
                    if *at_ms >= since_ms {
                        last.insert(*node, (*term, *leader));
                    }
                }
            }
            let first = last.values().next().copied();
            (last.len() == masters && last.values().all(|v| Some(*v) == first)).then_some(first).flatten()
        });
        if let Some((_, Some(l))) = agreed {
            return Ok(l as u8);
        }
        anyhow::ensure!(Instant::now() < deadline, "the masters did not agree on a leader within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Appends `panicked at` lines of the masters' logs to the history.
fn scan_logs(out: &Path, masters: u8, rec: &Recorder) {
    for i in 1..=masters {
        let text = std::fs::read_to_string(out.join(format!("n{i}.log"))).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("panicked at")) {
            rec.push(Event::Panic { node: i, line: line.chars().take(300).collect() });
        }
    }
}

//! The nemesis: installs faults on a running cluster and heals them.
//!
//! ```text
//! let mut nemesis = Nemesis::with_proxies(&net).await?;   // before Cluster::start (or Nemesis::new())
//! let mut cluster = Cluster::start(&net, out)?;
//! // … find the leader (e.g. from /healthz) …
//! let i: Installed = nemesis.install(&fault, &net, &mut cluster, leader, &mut rng).await;
//! // record `i` (installed or not, with its reason), hold for at least fault.min_hold() …
//! let h: Vec<Healed> = nemesis.heal(&net, &mut cluster).await;  // one per installed fault
//! ```
//!
//! - [`Nemesis::install`] never panics and never returns an error: a fault that could not be put
//!   in place comes back with `installed: false` and the reason in `detail` (no leader known,
//!   leader not running, no proxies, a refused admin call …). What *was* put in place is always
//!   remembered, so the next [`Nemesis::heal`] undoes it.
//! - Faults compose: several may be installed before one heal. [`Nemesis::heal`] undoes all of
//!   them in a fixed order — SIGCONT, restarts, partition rules, proxies back to pass, clocks
//!   back to 0, membership re-adds last (they need a quorum) — and reports each.
//! - `rng` makes every random choice (targets, shapes, clock offsets); pass a seeded one.
//!
//! What each [`Fault`] does is documented on its variant (the vocabulary is [`crate::fault`]:
//! slave faults are in it too, and [`Nemesis::install`] refuses them — the stand-ins take
//! those); partition shapes are in [`shapes`], link faults in [`crate::proxy`]. Proxied faults need [`Nemesis::with_proxies`] *before* the
//! masters start: the DNAT rules only catch new connections, and Raft keeps its connections.
//!
//! Known product behaviour to keep in mind when choosing parameters: openraft's append RPC
//! timeout is one heartbeat interval, so a `proxy-delay` whose round trip (2 × ms) exceeds
//! `heartbeat_ms` (100 in the harness) stops every write while the leader keeps its role
//! (`tests/nemesis.rs`, ignored reproducer).

mod admin;
pub mod shapes;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::time::Duration;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::Rng;
use tokio::task::JoinHandle;

use self::admin::Admin;
use self::shapes::Drops;
use crate::cluster::Cluster;
use crate::cluster::PORT;
use crate::fault::Fault;
use crate::fault::Healed;
use crate::fault::Installed;
use crate::net::Net;
use crate::proxy::Mode;
use crate::proxy::Proxy;

/// Something to undo at the next heal.
enum Undo {
    Resume { fault: Fault, nodes: Vec<u8> },
    Restart { fault: Fault, nodes: Vec<u8> },
    Partition { fault: Fault, nodes: Vec<u8> },
    Proxies { fault: Fault, nodes: Vec<u8>, links: Vec<(u8, u8)> },
    Clock { fault: Fault, node: u8, strobe: Option<JoinHandle<()>> },
    ReAdd { fault: Fault, node: u8 },
}

impl Undo {
    /// Heal order: processes first, then the network, then clocks, then membership.
    fn rank(&self) -> u8 {
        match self {
            Undo::Resume { .. } => 0,
            Undo::Restart { .. } => 1,
            Undo::Partition { .. } => 2,
            Undo::Proxies { .. } => 3,
            Undo::Clock { .. } => 4,
            Undo::ReAdd { .. } => 5,
        }
    }

    fn fault(&self) -> Fault {
        match self {
            Undo::Resume { fault, .. }
            | Undo::Restart { fault, .. }
            | Undo::Partition { fault, .. }
            | Undo::Proxies { fault, .. }
            | Undo::Clock { fault, .. }
            | Undo::ReAdd { fault, .. } => *fault,
        }
    }
}

/// How long heal waits for a restarted master's clock endpoint or a re-added member.
const HEAL_DEADLINE: Duration = Duration::from_secs(40);

/// Installs and heals faults; owns the per-link proxies.
pub struct Nemesis {
    proxies: BTreeMap<(u8, u8), Proxy>,
    pending: Vec<Undo>,
    admin: Admin,
}

impl Default for Nemesis {
    fn default() -> Self {
        Self::new()
    }
}

/// `Ok((targets, detail))` or `Err((targets, why not))`.
type Outcome = Result<(Vec<u8>, String), (Vec<u8>, String)>;

impl Nemesis {
    /// A nemesis without proxies: proxy faults are refused.
    pub fn new() -> Self {
        Nemesis { proxies: BTreeMap::new(), pending: Vec::new(), admin: Admin::new() }
    }

    /// A nemesis with a proxy on every directed link between masters, in pass mode, and the
    /// DNAT rules that route the masters' Raft traffic through them. Call before
    /// [`Cluster::start`].
    pub async fn with_proxies(net: &Net) -> anyhow::Result<Self> {
        let mut n = Self::new();
        let bridge: IpAddr = net.bridge_ip.parse()?;
        for a in &net.hosts {
            for b in &net.hosts {
                if a.index == b.index {
                    continue;
                }
                let source: IpAddr = net.alias_ip(a.index).parse()?;
                let target = SocketAddr::new(b.ip.parse()?, PORT);
                let proxy = Proxy::start(SocketAddr::new(bridge, 0), Some(source), target).await?;
                net.redirect(a.index, b.index, PORT, proxy.addr())?;
                n.proxies.insert((a.index, b.index), proxy);
            }
        }
        Ok(n)
    }

    /// The proxy on the link `from → to`, if proxies are installed.
    pub fn proxy(&self, from: u8, to: u8) -> Option<&Proxy> {
        self.proxies.get(&(from, to))
    }

    /// The faults installed and not yet healed, in install order.
    pub fn pending(&self) -> Vec<Fault> {
        self.pending.iter().map(Undo::fault).collect()
    }

    /// Installs `f`. `leader` is the runner's latest view of the leader (faults that need one
    /// are refused without it). Slave faults are refused: the stand-ins install those.
    pub async fn install(
        &mut self,
        f: &Fault,
        net: &Net,
        cluster: &mut Cluster,
        leader: Option<u8>,
        rng: &mut impl Rng,
    ) -> Installed {
        let outcome = match (f.needs_leader(), leader) {
            _ if f.is_slave() => Err((vec![], format!("{f} is a slave fault: the stand-ins install it"))),
            (true, None) => Err((vec![], "no leader known".to_string())),
            (true, Some(l)) if !cluster.is_running(l) => Err((vec![l], format!("leader {l} is not running"))),
            _ => self.install_checked(f, net, cluster, leader, rng).await,
        };
        match outcome {
            Ok((targets, detail)) => Installed { fault: *f, targets, installed: true, detail },
            Err((targets, detail)) => Installed { fault: *f, targets, installed: false, detail },
        }
    }

    async fn install_checked(
        &mut self,
        f: &Fault,
        net: &Net,
        cluster: &mut Cluster,
        leader: Option<u8>,
        rng: &mut impl Rng,
    ) -> Outcome {
        let fault = *f;
        let all: Vec<u8> = net.hosts.iter().map(|h| h.index).collect();
        let l = leader.unwrap_or(0);
        let mut others: Vec<u8> = all.iter().copied().filter(|&x| x != l).collect();
        others.shuffle(rng);
        let paused: BTreeSet<u8> = self
            .pending
            .iter()
            .filter_map(|u| match u {
                Undo::Resume { nodes, .. } => Some(nodes.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        let random_running = |rng: &mut dyn rand::RngCore| {
            let live: Vec<u8> = cluster.running().into_iter().filter(|n| !paused.contains(n)).collect();
            live.choose(rng).copied()
        };
        match *f {
            Fault::KillLeader => self.kill(fault, cluster, vec![l]),
            Fault::KillRandom => match random_running(rng) {
                Some(t) => self.kill(fault, cluster, vec![t]),
                None => Err((vec![], "no master running".into())),
            },
            Fault::KillAll => {
                let nodes = cluster.running();
                if nodes.is_empty() {
                    return Err((vec![], "no master running".into()));
                }
                self.kill(fault, cluster, nodes)
            }
            Fault::PauseLeader => self.pause(fault, cluster, l),
            Fault::PauseRandom => match random_running(rng) {
                Some(t) => self.pause(fault, cluster, t),
                None => Err((vec![], "no unpaused master running".into())),
            },
            Fault::IsolateLeader => {
                self.partition(fault, net, vec![l], shapes::isolate(l, &others), format!("{l} alone | {others:?}"))
            }
            Fault::LeaderMinority => {
                let (min, maj, d) = shapes::leader_minority(l, &others);
                self.partition(fault, net, min.clone(), d, format!("minority {min:?} | majority {maj:?}"))
            }
            Fault::LeaderMajority => {
                let (maj, min, d) = shapes::leader_majority(l, &others);
                self.partition(fault, net, min.clone(), d, format!("majority {maj:?} | minority {min:?}"))
            }
            Fault::MajorityRing => {
                let mut ring = all.clone();
                ring.shuffle(rng);
                if let Some(l) = leader {
                    // Leader first: with 3 masters it is the one that sees both others.
                    ring.retain(|&x| x != l);
                    ring.insert(0, l);
                }
                let d = shapes::majority_ring(&ring);
                let cut: BTreeSet<u8> = d.iter().map(|&(a, _)| a).collect();
                let detail = format!("ring {ring:?}, cut {}", describe(&d));
                self.partition(fault, net, cut.into_iter().collect(), d, detail)
            }
            Fault::Bridge => match shapes::bridge(l, &others) {
                Some((b, d)) => {
                    let detail = format!("bridge {b}, cut {}", describe(&d));
                    let targets: BTreeSet<u8> = d.iter().map(|&(a, _)| a).collect();
                    self.partition(fault, net, targets.into_iter().collect(), d, detail)
                }
                None => Err((vec![l], "a bridge needs 3 masters".into())),
            },
            Fault::OneWay => {
                let d = shapes::one_way_out(l, &others);
                let detail = format!("dropped {}", describe(&d));
                self.partition(fault, net, vec![l], d, detail)
            }
            Fault::ProxyDelay { ms } => {
                let links: Vec<(u8, u8)> = self.proxies.keys().copied().collect();
                self.proxy_mode(fault, all, links, Mode::Delay(Duration::from_millis(ms)))
            }
            Fault::ProxyStall => match others.first() {
                Some(&f) => self.proxy_mode(fault, vec![l, f], vec![(l, f)], Mode::Stall),
                None => Err((vec![l], "no follower to stall".into())),
            },
            Fault::ProxyDropAfter { bytes } => {
                let links: Vec<(u8, u8)> = self.proxies.keys().copied().filter(|&(a, b)| a == l || b == l).collect();
                self.proxy_mode(fault, vec![l], links, Mode::DropAfter(bytes))
            }
            Fault::ClockBump { ms } => {
                let Some(t) = leader.filter(|l| !paused.contains(l)).or_else(|| random_running(rng)) else {
                    return Err((vec![], "no master running".into()));
                };
                let ms = ms.unwrap_or_else(|| {
                    let m = rng.gen_range(1_000..=300_000);
                    if rng.gen_bool(0.5) {
                        -m
                    } else {
                        m
                    }
                });
                self.clock(fault, net, t, ms, None).await
            }
            Fault::ClockStrobe { ms, flips, period_ms } => {
                let Some(t) = leader.filter(|l| !paused.contains(l)).or_else(|| random_running(rng)) else {
                    return Err((vec![], "no master running".into()));
                };
                self.clock(fault, net, t, ms, Some((flips, Duration::from_millis(period_ms)))).await
            }
            Fault::MembershipReAdd { leader: of_leader } => {
                let t = if of_leader { Some(l) } else { others.iter().copied().find(|&o| cluster.is_running(o)) };
                match t {
                    Some(t) => self.remove_and_wipe(fault, net, cluster, l, t).await,
                    None => Err((vec![], "no running follower".into())),
                }
            }
            Fault::Slave5xx | Fault::SlaveSlow | Fault::SlaveAmbiguous => Err((vec![], "a slave fault".into())),
        }
    }

    fn kill(&mut self, fault: Fault, cluster: &mut Cluster, nodes: Vec<u8>) -> Outcome {
        let mut killed = Vec::new();
        let mut errors = Vec::new();
        for n in &nodes {
            if !cluster.is_running(*n) {
                errors.push(format!("{n} is not running"));
                continue;
            }
            match cluster.kill(*n) {
                Ok(()) => killed.push(*n),
                Err(e) => errors.push(format!("{n}: {e}")),
            }
        }
        if killed.is_empty() {
            return Err((nodes, errors.join("; ")));
        }
        self.pending.push(Undo::Restart { fault, nodes: killed.clone() });
        let detail = if errors.is_empty() { "SIGKILL".to_string() } else { format!("SIGKILL; {}", errors.join("; ")) };
        Ok((killed, detail))
    }

    fn pause(&mut self, fault: Fault, cluster: &mut Cluster, n: u8) -> Outcome {
        cluster.pause(n).map_err(|e| (vec![n], format!("SIGSTOP: {e}")))?;
        self.pending.push(Undo::Resume { fault, nodes: vec![n] });
        Ok((vec![n], "SIGSTOP".into()))
    }

    fn partition(&mut self, fault: Fault, net: &Net, targets: Vec<u8>, drops: Drops, detail: String) -> Outcome {
        if drops.is_empty() {
            return Err((targets, format!("{detail}: nothing to cut")));
        }
        // Remembered before the rules go in: a half-installed partition is still healed.
        self.pending.push(Undo::Partition { fault, nodes: targets.clone() });
        for &(from, to) in &drops {
            if let Err(e) = net.drop_link(from, to) {
                return Err((targets, format!("{detail}: iptables failed on {from}→{to}: {e}")));
            }
        }
        Ok((targets, detail))
    }

    fn proxy_mode(&mut self, fault: Fault, targets: Vec<u8>, links: Vec<(u8, u8)>, mode: Mode) -> Outcome {
        if self.proxies.is_empty() {
            return Err((
                targets,
                "no proxies: build the nemesis with Nemesis::with_proxies before the cluster".into(),
            ));
        }
        for link in &links {
            if let Some(p) = self.proxies.get(link) {
                p.set_mode(mode);
            }
        }
        let detail =
            format!("{mode:?} on {}", links.iter().map(|(a, b)| format!("{a}→{b}")).collect::<Vec<_>>().join(" "));
        self.pending.push(Undo::Proxies { fault, nodes: targets.clone(), links });
        Ok((targets, detail))
    }

    async fn clock(&mut self, fault: Fault, net: &Net, t: u8, ms: i64, strobe: Option<(u32, Duration)>) -> Outcome {
        let url = Cluster::url(net, t);
        let answered = self.admin.set_clock(&url, ms).await.map_err(|e| (vec![t], format!("debug clock: {e}")))?;
        let task = strobe.map(|(flips, period)| {
            let admin = self.admin.clone();
            let url = url.clone();
            tokio::spawn(async move {
                for k in 1..flips {
                    tokio::time::sleep(period).await;
                    let _ = admin.set_clock(&url, if k % 2 == 0 { ms } else { 0 }).await;
                }
            })
        });
        let detail = match strobe {
            Some((flips, period)) => {
                format!("offset {answered} ms on {t}, flipping with 0 {flips} times every {period:?}")
            }
            None => format!("offset {answered} ms on {t}"),
        };
        self.pending.push(Undo::Clock { fault, node: t, strobe: task });
        Ok((vec![t], detail))
    }

    /// Removes `t` through the leader `via`, kills it, wipes its data dir and starts it blank.
    async fn remove_and_wipe(&mut self, fault: Fault, net: &Net, cluster: &mut Cluster, via: u8, t: u8) -> Outcome {
        let m = self
            .admin
            .remove_member(&Cluster::url(net, via), t)
            .await
            .map_err(|e| (vec![t], format!("remove: {e}")))?;
        // From here on the cluster is one voter short: heal must re-add even if a step fails.
        self.pending.push(Undo::ReAdd { fault, node: t });
        let mut detail = format!("removed {t} (voters now {:?})", m.voters);
        let steps = cluster.kill(t).and_then(|()| cluster.wipe(t)).and_then(|()| cluster.launch(net, t));
        match steps {
            Ok(()) => detail.push_str(", wiped and restarted blank"),
            Err(e) => detail.push_str(&format!(", but kill/wipe/restart failed: {e}")),
        }
        Ok((vec![t], detail))
    }

    /// Undoes every installed fault; one [`Healed`] per fault, in heal order.
    pub async fn heal(&mut self, net: &Net, cluster: &mut Cluster) -> Vec<Healed> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by_key(Undo::rank);
        let mut out = Vec::new();
        for u in pending {
            out.push(self.undo(u, net, cluster).await);
        }
        out
    }

    async fn undo(&mut self, u: Undo, net: &Net, cluster: &mut Cluster) -> Healed {
        let fault = u.fault();
        let (targets, r): (Vec<u8>, Result<String, String>) = match u {
            Undo::Resume { nodes, .. } => {
                let errs: Vec<String> = nodes
                    .iter()
                    .filter(|n| cluster.is_running(**n))
                    .filter_map(|n| cluster.resume(*n).err().map(|e| format!("{n}: {e}")))
                    .collect();
                (nodes, if errs.is_empty() { Ok("SIGCONT".into()) } else { Err(errs.join("; ")) })
            }
            Undo::Restart { nodes, .. } => {
                let mut errs = Vec::new();
                for &n in &nodes {
                    if !cluster.is_running(n) {
                        if let Err(e) = cluster.launch(net, n) {
                            errs.push(format!("{n}: {e}"));
                        }
                    }
                }
                (nodes, if errs.is_empty() { Ok("restarted from the data dir".into()) } else { Err(errs.join("; ")) })
            }
            Undo::Partition { nodes, .. } => {
                (nodes, net.heal().map(|()| "partition rules flushed".into()).map_err(|e| e.to_string()))
            }
            Undo::Proxies { nodes, links, .. } => {
                for link in &links {
                    if let Some(p) = self.proxies.get(link) {
                        p.set_mode(Mode::Pass);
                    }
                }
                (nodes, Ok(format!("{} link(s) back to pass", links.len())))
            }
            Undo::Clock { node, strobe, .. } => {
                if let Some(t) = strobe {
                    t.abort();
                }
                (vec![node], self.reset_clock(net, cluster, node).await)
            }
            Undo::ReAdd { node, .. } => (vec![node], self.re_add(net, cluster, node).await),
        };
        match r {
            Ok(detail) => Healed { fault, targets, healed: true, detail },
            Err(detail) => Healed { fault, targets, healed: false, detail },
        }
    }

    async fn reset_clock(&self, net: &Net, cluster: &Cluster, node: u8) -> Result<String, String> {
        if !cluster.is_running(node) {
            return Ok(format!("{node} is not running (a restart starts at offset 0)"));
        }
        let deadline = Instant::now() + HEAL_DEADLINE;
        loop {
            match self.admin.set_clock(&Cluster::url(net, node), 0).await {
                Ok(0) => return Ok("offset 0".into()),
                Ok(o) => return Err(format!("answered offset {o} after a reset")),
                Err(e) if Instant::now() >= deadline => return Err(format!("reset failed: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Adds `node` back (through any running master) and waits until every master is a voter.
    async fn re_add(&self, net: &Net, cluster: &Cluster, node: u8) -> Result<String, String> {
        let want: BTreeSet<u64> = net.hosts.iter().map(|h| u64::from(h.index)).collect();
        let addr = Cluster::url(net, node);
        let deadline = Instant::now() + HEAL_DEADLINE;
        let mut added = false;
        let mut last = String::from("no running master to ask");
        loop {
            for via in cluster.running() {
                let url = Cluster::url(net, via);
                if !added {
                    match self.admin.add_member(&url, node, &addr).await {
                        Ok(_) => added = true,
                        Err(e) => {
                            last = format!("add via {via}: {e}");
                            continue;
                        }
                    }
                }
                match self.admin.members(&url).await {
                    Ok(m) if m.voters.iter().copied().collect::<BTreeSet<u64>>() == want => {
                        return Ok(format!("re-added {node}; voters {:?}", m.voters));
                    }
                    Ok(m) => last = format!("voters {:?}, learners {:?} (via {via})", m.voters, m.learners),
                    Err(e) => last = format!("membership via {via}: {e}"),
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("{node} not a voter again within {HEAL_DEADLINE:?}: {last}"));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// `1→2 2→1` style.
fn describe(d: &Drops) -> String {
    d.iter().map(|(a, b)| format!("{a}→{b}")).collect::<Vec<_>>().join(" ")
}

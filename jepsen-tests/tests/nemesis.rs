//! Every nemesis fault against one real 3-master cluster (root: namespaces, iptables): each is
//! installed, has the effect it claims, and heals back to one leader in one term.
//! `NEMESIS_KEEP_LOGS=DIR` keeps the masters' logs.

use std::collections::BTreeMap;
use std::time::Duration;
use std::time::Instant;

use jepsen_tests::cluster::Cluster;
use jepsen_tests::cluster::TOKEN;
use jepsen_tests::fault::Fault;
use jepsen_tests::nemesis::Nemesis;
use jepsen_tests::net::Net;
use rand::SeedableRng;

/// One master's `/healthz`.
#[derive(Debug, Clone)]
struct View {
    state: String,
    term: u64,
    leader: Option<u64>,
    applied: u64,
}

struct Probe {
    http: reqwest::Client,
    urls: Vec<(u8, String)>,
}

impl Probe {
    async fn views(&self) -> BTreeMap<u8, View> {
        let mut out = BTreeMap::new();
        for (i, url) in &self.urls {
            let Ok(r) = self.http.get(format!("{url}/healthz")).send().await else { continue };
            let Ok(v) = r.json::<serde_json::Value>().await else { continue };
            out.insert(
                *i,
                View {
                    state: v["state"].as_str().unwrap_or_default().to_string(),
                    term: v["term"].as_u64().unwrap_or(0),
                    leader: v["leader_id"].as_u64(),
                    applied: v["last_applied"].as_u64().unwrap_or(0),
                },
            );
        }
        out
    }

    /// Waits until `f` over the views gives a value.
    async fn wait<T>(&self, what: &str, within: Duration, f: impl Fn(&BTreeMap<u8, View>) -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        loop {
            let v = self.views().await;
            if let Some(t) = f(&v) {
                return t;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; last views {v:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// All three masters follow one leader in one term; returns it.
    async fn converged(&self, what: &str) -> u8 {
        self.wait(&format!("convergence after {what}"), Duration::from_secs(25), |v| {
            let first = v.values().next()?;
            let l = first.leader?;
            (v.len() == 3 && v.values().all(|x| x.leader == Some(l) && x.term == first.term)).then_some(l as u8)
        })
        .await
    }

    /// A leader other than `old`, as its own view says and one more master agrees.
    async fn new_leader(&self, old: u8, what: &str) -> u8 {
        self.wait(&format!("a new leader after {what}"), Duration::from_secs(10), |v| {
            v.iter().find_map(|(i, x)| {
                let agreed = v.values().filter(|y| y.leader == Some(u64::from(*i)) && y.term == x.term).count();
                (*i != old && x.state == "Leader" && agreed >= 2).then_some(*i)
            })
        })
        .await
    }

    /// One committed write (a slave registration) through master `via`.
    async fn write(&self, via: u8, k: u32) -> bool {
        self.try_write(via, k).await.is_ok()
    }

    async fn try_write(&self, via: u8, k: u32) -> Result<(), String> {
        let url = &self.urls[via as usize - 1].1;
        let body = serde_json::json!({ "id": format!("nemesis-{k}"), "url": "http://127.0.0.1:9" });
        let req = self.http.post(format!("{url}/api/v1/nodes")).timeout(Duration::from_secs(5));
        let r = req.bearer_auth(TOKEN).json(&body).send().await.map_err(|e| format!("{e:?}"))?;
        let status = r.status();
        if status.is_success() {
            return Ok(());
        }
        Err(format!("{status}: {}", r.text().await.unwrap_or_default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_is_observable_and_heals() {
    assert!(
        std::process::Command::new("id").arg("-u").output().map(|o| o.stdout == b"0\n").unwrap_or(false),
        "the fault-injection suite needs root (network namespaces, iptables)"
    );
    let started = Instant::now();
    let out = tempfile::tempdir().expect("tempdir");
    let net = Net::create(3).expect("hosts");
    let mut nemesis = Nemesis::with_proxies(&net).await.expect("proxies");
    let mut cluster = Cluster::start(&net, out.path()).expect("cluster");
    let probe = Probe {
        http: reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(500)).build().expect("client"),
        urls: net.hosts.iter().map(|h| (h.index, Cluster::url(&net, h.index))).collect(),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut leader = probe.converged("start").await;
    let mut k = 0u32;

    // Raft traffic really goes through the proxies: the leader's heartbeats to each follower.
    for f in (1..=3).filter(|&f| f != leader) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while nemesis.proxy(leader, f).map(|p| p.bytes_forward()).unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "no bytes through the proxy {leader}→{f}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    macro_rules! install {
        ($f:expr) => {{
            let f: Fault = $f;
            let i = nemesis.install(&f, &net, &mut cluster, Some(leader), &mut rng).await;
            eprintln!("{:>6.1}s install {i:?}", started.elapsed().as_secs_f64());
            assert!(i.installed, "{i:?}");
            i
        }};
    }
    macro_rules! heal {
        ($what:expr) => {{
            let h = nemesis.heal(&net, &mut cluster).await;
            eprintln!("{:>6.1}s heal {h:?}", started.elapsed().as_secs_f64());
            assert!(h.iter().all(|h| h.healed), "{h:?}");
            let before = leader;
            leader = probe.converged($what).await;
            let term = probe.views().await.get(&leader).map(|v| v.term);
            eprintln!("{:>6.1}s converged: leader {before} → {leader}, term {term:?}", started.elapsed().as_secs_f64());
            h
        }};
    }

    // Faults that must cost the leader its role.
    for f in [Fault::IsolateLeader, Fault::OneWay, Fault::PauseLeader, Fault::KillLeader] {
        install!(f);
        probe.new_leader(leader, f.name()).await;
        heal!(f.name());
    }

    // Leader in the majority: the cut-off follower cannot disturb it.
    let i = install!(Fault::LeaderMajority);
    let term = probe.views().await.get(&leader).map(|v| v.term).expect("leader answers");
    let until = Instant::now() + Fault::LeaderMajority.min_hold();
    while Instant::now() < until {
        let v = probe.views().await;
        let l = v.get(&leader).expect("leader answers");
        assert!(l.state == "Leader" && l.term == term, "leader {leader} lost its role in the majority: {v:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Without pre-vote (the masters leave openraft's `enable_pre_vote` unset) the cut-off
    // follower's term grows while it is alone, and it unseats the leader when it rejoins.
    let alone = probe.views().await.get(&i.targets[0]).map(|v| v.term);
    eprintln!("leader-majority: leader term {term}, cut-off follower's term {alone:?} before heal");
    heal!("leader-majority");

    // Shapes whose outcome depends on vote/lease rules: installed, and they heal.
    for f in [Fault::Bridge, Fault::MajorityRing] {
        install!(f);
        tokio::time::sleep(f.min_hold()).await;
        heal!(f.name());
    }

    // A stalled leader→follower link: the follower's applied index falls behind, then catches up.
    let i = install!(Fault::ProxyStall);
    let follower = *i.targets.get(1).expect("stalled follower");
    let before = probe.views().await.get(&follower).map(|v| v.applied).expect("follower answers");
    let lag = probe.wait("the stalled follower to lag", Duration::from_secs(10), |v| {
        let (l, f) = (v.get(&leader)?, v.get(&follower)?);
        assert!(f.applied <= before + 2, "the stalled follower applied {} → {}", before, f.applied);
        (l.applied >= before + 10).then_some(l.applied)
    });
    let writer = async {
        loop {
            k += 1;
            probe.write(leader, k).await;
        }
    };
    let ahead = tokio::select! { a = lag => a, _ = writer => unreachable!() };
    heal!("proxy-stall");
    probe
        .wait("the stalled follower to catch up", Duration::from_secs(15), |v| {
            (v.get(&follower)?.applied >= ahead).then_some(())
        })
        .await;

    // Connections to and from the leader closed after 512 bytes: some really are.
    install!(Fault::ProxyDropAfter { bytes: 512 });
    let deadline = Instant::now() + Duration::from_secs(10);
    while (1..=3).filter(|&o| o != leader).all(|o| nemesis.proxy(leader, o).map(|p| p.dropped()).unwrap_or(0) == 0) {
        assert!(Instant::now() < deadline, "no connection dropped after 512 bytes");
        k += 1;
        probe.write(leader, k).await;
    }
    heal!("proxy-drop-after");

    // Delayed links: a committed write needs a delayed round trip. Kept below half the
    // heartbeat interval: openraft's append RPC timeout is the heartbeat interval (100 ms here),
    // so a round trip longer than that stops every write (see the nemesis report).
    install!(Fault::ProxyDelay { ms: 25 });
    k += 1;
    let t = Instant::now();
    let w = probe.try_write(leader, k).await;
    assert!(w.is_ok(), "write under delay: {w:?} after {:?}; views {:?}", t.elapsed(), probe.views().await);
    assert!(t.elapsed() >= Duration::from_millis(50), "a write took {:?} through 25 ms links", t.elapsed());
    heal!("proxy-delay");

    // The debug clock answers the offset it now uses; heal puts it back to 0.
    let i = install!(Fault::ClockBump { ms: Some(-90_000) });
    assert!(i.detail.contains("offset -90000 ms"), "{i:?}");
    let i = install!(Fault::ClockStrobe { ms: 5_000, flips: 4, period_ms: 100 });
    assert!(i.detail.contains("offset 5000 ms"), "{i:?}");
    let h = heal!("clock");
    assert!(h.iter().all(|h| h.detail == "offset 0"), "{h:?}");

    // A follower removed, wiped and re-added: three voters, and it catches up from nothing.
    let i = install!(Fault::MembershipReAdd { leader: false });
    assert!(i.detail.contains("voters now"), "{i:?}");
    heal!("membership-re-add");
    let applied = probe.views().await.get(&leader).map(|v| v.applied).expect("leader answers");
    let wiped = i.targets[0];
    probe
        .wait("the re-added master to catch up", Duration::from_secs(15), |v| {
            (v.get(&wiped)?.applied >= applied).then_some(())
        })
        .await;

    // The leader removes itself; a new leader re-adds it blank.
    let i = install!(Fault::MembershipReAdd { leader: true });
    let old = i.targets[0];
    probe.new_leader(old, "the leader's removal").await;
    heal!("membership-re-add:leader");

    // Random targets: whatever they hit, the cluster heals.
    for f in [Fault::KillRandom, Fault::PauseRandom, Fault::LeaderMinority] {
        install!(f);
        tokio::time::sleep(f.min_hold()).await;
        heal!(f.name());
    }

    // Total outage, then everyone back from disk.
    install!(Fault::KillAll);
    assert!(probe.views().await.is_empty(), "a master answered during kill-all");
    heal!("kill-all");

    eprintln!("all faults in {:?}; leader at the end {leader}", started.elapsed());
    drop(cluster);
    for i in 1..=3 {
        let log = std::fs::read_to_string(out.path().join(format!("n{i}.log"))).unwrap_or_default();
        if let Some(dir) = std::env::var_os("NEMESIS_KEEP_LOGS") {
            let _ = std::fs::write(std::path::Path::new(&dir).join(format!("n{i}.log")), &log);
        }
        assert!(!log.contains("panicked"), "master {i} panicked:\n{log}");
    }
}

/// Regression test of a product bug this suite found: openraft gives every append RPC a TTL of
/// one heartbeat interval (100 ms in the harness config), and the master used it as the HTTP
/// deadline, so once a round trip exceeded it no write committed — while the leader kept its
/// role (followers still received the late heartbeats). The master now gives every RPC at least
/// `raft.rpc_timeout_ms`. 60 ms each way (120 ms round trip) must commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_commit_over_links_slower_than_the_heartbeat() {
    let out = tempfile::tempdir().expect("tempdir");
    let net = Net::create(3).expect("hosts");
    let mut nemesis = Nemesis::with_proxies(&net).await.expect("proxies");
    let mut cluster = Cluster::start(&net, out.path()).expect("cluster");
    let probe = Probe {
        http: reqwest::Client::builder().no_proxy().timeout(Duration::from_millis(500)).build().expect("client"),
        urls: net.hosts.iter().map(|h| (h.index, Cluster::url(&net, h.index))).collect(),
    };
    let leader = probe.converged("start").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    // `NEMESIS_DELAY_MS` probes the threshold: with heartbeat_ms = 100, 48 passes, 55 fails.
    let ms = std::env::var("NEMESIS_DELAY_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let i = nemesis.install(&Fault::ProxyDelay { ms }, &net, &mut cluster, Some(leader), &mut rng).await;
    assert!(i.installed, "{i:?}");
    let w = probe.try_write(leader, 1).await;
    let views = probe.views().await;
    nemesis.heal(&net, &mut cluster).await;
    assert!(w.is_ok(), "write over {ms} ms links: {w:?}; views {views:?}");
}

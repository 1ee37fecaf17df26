//! Cluster formation, forwarding, failover, restart, membership and snapshots.

use std::collections::BTreeMap;
use std::time::Duration;

use master::propose::ProposeError;
use raft_store::command::Command;
use raft_store::state::*;
use raft_store::Applied;

use crate::fixtures::*;

fn spec() -> ScheduleSpec {
    ScheduleSpec {
        project: "demo".into(),
        spider: "quotes".into(),
        egg_version: None,
        args: BTreeMap::new(),
        settings: BTreeMap::new(),
        priority: 0,
        node_selector: vec![],
        trigger: Trigger::Cron { expr: "*/5 * * * * *".into(), timezone: "UTC".into() },
        misfire: MisfirePolicy::default(),
        overlap: OverlapPolicy::Allow,
    }
}

async fn create_via(c: &TestCluster, id: u64) -> Result<(String, u64), ProposeError> {
    let p = c.node(id).node.proposer.propose(Command::CreateSchedule { spec: spec() }).await?;
    match p.applied {
        Applied::Schedule { id, .. } => Ok((id, p.log_index)),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_masters_form_one_cluster_and_serve_health() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    for id in c.running_ids() {
        let h = c.http.get(format!("{}/healthz", c.url(id))).send().await.expect("healthz");
        // Health needs the blank entry of the new term applied; wait for it.
        let status = eventually("healthz 200", Duration::from_secs(10), || async {
            let r = c.http.get(format!("{}/healthz", c.url(id))).send().await.map_err(|e| e.to_string())?;
            if r.status() == 200 {
                Ok(r.status())
            } else {
                Err(r.status().to_string())
            }
        })
        .await;
        assert_eq!(status, 200, "first answer was {}", h.status());
        let l = c.http.get(format!("{}/leader", c.url(id))).send().await.expect("leader");
        assert_eq!(l.status() == 200, id == leader, "/leader on {id}");
    }
    // The cluster API reports three voters and the leader.
    let info: serde_json::Value = c
        .http
        .get(format!("{}/api/v1/cluster", c.url(c.follower(leader))))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("cluster")
        .json()
        .await
        .expect("json");
    assert_eq!(info["leader_id"], leader);
    assert_eq!(info["members"].as_array().map(|m| m.len()), Some(3));
    assert_eq!(info["state"], "Follower", "{info}");
    for m in info["members"].as_array().into_iter().flatten() {
        assert_eq!(m["role"], "voter", "{info}");
    }
    // Health names the Raft state as before (`Leader`, `Follower`).
    let h: serde_json::Value =
        c.http.get(format!("{}/healthz", c.url(leader))).send().await.expect("healthz").json().await.expect("json");
    assert_eq!((h["state"].as_str(), h["node_id"].as_u64()), (Some("Leader"), Some(leader)), "{h}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_and_raft_refuse_wrong_credentials() {
    let c = TestCluster::start(3, |_| {}).await;
    let url = c.url(1);
    let r = c.http.get(format!("{url}/api/v1/cluster")).send().await.expect("send");
    assert_eq!(r.status(), 401);
    let r = c.http.get(format!("{url}/api/v1/cluster")).bearer_auth("nope").send().await.expect("send");
    assert_eq!(r.status(), 401);
    let r = c.http.get(format!("{url}/raft/hello")).bearer_auth("wrong-secret").send().await.expect("send");
    assert_eq!(r.status(), 401);
    let r = c.http.post(format!("{url}/raft/append")).body("{garbage").bearer_auth(SECRET).send().await.expect("send");
    assert!(r.status().is_client_error(), "malformed RPC: {}", r.status());
    // The node keeps serving.
    let r = c.http.get(format!("{url}/raft/hello")).bearer_auth(SECRET).send().await.expect("send");
    assert_eq!(r.status(), 200);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_a_follower_reach_every_replica() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let follower = c.follower(leader);
    let (id, index) = create_via(&c, follower).await.expect("write via follower");
    let digest = c.converged(index).await;
    for n in c.running_ids() {
        assert!(c.node(n).node.state.read(|s| s.schedules.contains(&id)), "{id} on master {n}");
    }
    // The API shows each master's applied index with the digest of the state it produced.
    let mut answers = Vec::new();
    for n in c.running_ids() {
        let (status, v) = api(&c, n, reqwest::Method::GET, "/cluster/digest", None).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["id"], n);
        answers.push((v["last_applied"].as_u64(), v["digest"].as_str().map(str::to_string)));
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert_eq!(answers[0].1.as_deref(), Some(digest.as_str()));
    // Not without a token.
    let anon = c.http.get(format!("{}/api/v1/cluster/digest", c.url(leader))).send().await.expect("request");
    assert_eq!(anon.status().as_u16(), 401);
    // A linearizable barrier on a follower sees the write.
    c.node(follower).node.proposer.linearizable_barrier().await.expect("barrier");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_takes_over_and_a_restarted_master_catches_up() {
    let mut c = TestCluster::start(3, |_| {}).await;
    let old = c.leader().await;
    let (_, i1) = create_via(&c, old).await.expect("first write");
    c.converged(i1).await;
    c.stop(old).await;
    let new = c.leader().await;
    assert_ne!(new, old);
    let follower = c.follower(new);
    let (id2, i2) = create_via(&c, follower).await.expect("write after failover");
    c.restart(old).await;
    c.converged(i2).await;
    assert!(c.node(old).node.state.read(|s| s.schedules.contains(&id2)), "restarted master caught up");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lagging_master_is_brought_up_by_snapshot() {
    let mut c = TestCluster::start(3, |cfg| {
        cfg.raft.snapshot_after_logs = 20;
        cfg.raft.max_in_snapshot_log_to_keep = 0;
    })
    .await;
    let leader = c.leader().await;
    let lagging = c.follower(leader);
    c.stop(lagging).await;
    // Eggs live in the state: a multi-megabyte egg makes the snapshot multi-megabyte.
    let egg: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let stored = c
        .node(leader)
        .node
        .proposer
        .propose(Command::AddVersion { project: "big".into(), version: "1".into(), egg: egg.clone() })
        .await
        .expect("store egg");
    let Applied::VersionStored { sha256, .. } = stored.applied else { panic!("{:?}", stored.applied) };
    let mut last = 0;
    for _ in 0..60 {
        last = create_via(&c, leader).await.expect("write").1;
    }
    // The leader has purged what the lagging master misses: only a snapshot can bring it up.
    eventually("leader purged its log", Duration::from_secs(20), || async {
        let m = c.node(leader).node.metrics();
        match m.purged {
            Some(p) if p.index() > 1 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    c.restart(lagging).await;
    let digest = c.converged(last).await;
    assert_eq!(c.node(lagging).node.state.digest(), digest);
    let snap = c.node(lagging).node.metrics().snapshot;
    assert!(snap.is_some(), "lagging master installed a snapshot");
    assert_eq!(c.node(lagging).node.state.egg_bytes(&sha256).expect("read egg"), Some(egg), "the egg came with it");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_is_added_and_removed_at_runtime() {
    let c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    // A fourth master, started with no peers: it waits to be added.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(4, addr, BTreeMap::new(), dir.path());
    let fourth = master::start_on(cfg, l).await.expect("start 4th");
    let follower = c.follower(leader);
    let r = c
        .http
        .post(format!("{}/api/v1/cluster/members", c.url(follower)))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"id": 4, "addr": format!("http://{addr}")}))
        .send()
        .await
        .expect("add member");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let (_, index) = create_via(&c, follower).await.expect("write");
    eventually("4th master applied the write", Duration::from_secs(20), || async {
        let a = fourth.node.state.last_applied().map(|l| l.index()).unwrap_or(0);
        if a >= index {
            Ok(())
        } else {
            Err(format!("applied {a}"))
        }
    })
    .await;
    let voters: Vec<u64> = c.node(leader).node.raft.voter_ids().collect();
    assert_eq!(voters, vec![1, 2, 3, 4]);
    let r = c
        .http
        .delete(format!("{}/api/v1/cluster/members/4", c.url(leader)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("remove member");
    assert_eq!(r.status(), 200);
    let voters: Vec<u64> = c.node(leader).node.raft.voter_ids().collect();
    assert_eq!(voters, vec![1, 2, 3]);
    let r = c
        .http
        .delete(format!("{}/api/v1/cluster/members/9", c.url(leader)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("remove unknown");
    assert_eq!(r.status(), 404);
    fourth.shutdown().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_master_is_replaced_by_a_new_one() {
    // The runbook in deploy/README.md: remove the dead voter, start the replacement with an
    // empty data dir and no peers, add it through the API.
    let mut c = TestCluster::start(3, |_| {}).await;
    let leader = c.leader().await;
    let dead = c.follower(leader);
    c.stop(dead).await;
    let r = c
        .http
        .delete(format!("{}/api/v1/cluster/members/{dead}", c.url(leader)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("remove dead");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let replacement = master::start_on(config(7, addr, BTreeMap::new(), dir.path()), l).await.expect("start");
    let r = c
        .http
        .post(format!("{}/api/v1/cluster/members", c.url(leader)))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"id": 7, "addr": format!("http://{addr}")}))
        .send()
        .await
        .expect("add replacement");
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let mut voters: Vec<u64> = c.node(leader).node.raft.voter_ids().collect();
    voters.sort();
    let mut want: Vec<u64> = [1, 2, 3].into_iter().filter(|i| *i != dead).chain([7]).collect();
    want.sort();
    assert_eq!(voters, want);
    // The cluster still commits, and the replacement has everything.
    let (_, index) = create_via(&c, leader).await.expect("write");
    let digest = c.converged(index).await;
    eventually("replacement caught up", Duration::from_secs(20), || async {
        let a = replacement.node.state.last_applied().map(|l| l.index()).unwrap_or(0);
        if a >= index && replacement.node.state.digest() == digest {
            Ok(())
        } else {
            Err(format!("applied {a}"))
        }
    })
    .await;
    replacement.shutdown().await;
    c.shutdown().await;
}

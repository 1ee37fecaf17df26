//! The RocksDB-backed state machine: persistence across reopen and crash images, snapshots.

use std::path::Path;

use openraft::entry::RaftEntry;
use openraft::storage::RaftStateMachine;
use openraft::testing::log_id;
use openraft::RaftSnapshotBuilder;
use proptest::prelude::*;
use raft_store::command::Command;
use raft_store::typ::Entry;
use raft_store::LogEntry;
use raft_store::StateMachineStore;
use raft_store::TypeConfig;

use crate::fixtures::spec;
use crate::fixtures::tick;
use crate::properties;

fn entries(log: &[LogEntry], first_index: u64) -> Vec<Entry> {
    log.iter()
        .enumerate()
        .map(|(i, e)| Entry::new_normal(log_id::<TypeConfig>(1, 1, first_index + i as u64), e.clone()))
        .collect()
}

pub async fn apply_all(sm: &mut StateMachineStore, entries: Vec<Entry>) {
    let stream = futures::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
    sm.apply(stream).await.expect("apply");
}

fn open(dir: &Path) -> StateMachineStore {
    raft_store::open(dir).expect("open store").1
}

/// Copies a live store directory file by file: what a power cut would leave (the WAL is synced
/// before `apply` returns, memtables are not flushed).
fn crash_image(from: &Path, to: &Path) {
    for entry in walk(from) {
        let rel = entry.strip_prefix(from).expect("under root");
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
        if rel.file_name().is_some_and(|n| n == "LOCK") {
            continue;
        }
        std::fs::copy(&entry, &dest).expect("copy");
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

#[test]
fn reopening_keeps_state_and_last_applied_without_replay() {
    rt().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = vec![
            LogEntry::new(10, Command::CreateSchedule { spec: spec("demo") }),
            LogEntry::new(20, Command::Fire(tick("sch-1", 5_000, 1))),
            LogEntry::new(
                30,
                Command::AddVersion { project: "demo".into(), version: "1".into(), egg: b"EGG".to_vec() },
            ),
        ];
        let (digest, sha) = {
            let mut sm = open(dir.path());
            apply_all(&mut sm, entries(&log, 1)).await;
            let h = sm.handle();
            let sha = h.read(|s| s.projects.get(&"demo".to_string()).expect("project").versions["1"].sha256.clone());
            (h.digest(), sha)
        };
        let mut sm = open(dir.path());
        let (applied, _) = sm.applied_state().await.expect("applied_state");
        assert_eq!(applied.map(|l| l.index()), Some(3));
        let h = sm.handle();
        assert_eq!(h.digest(), digest);
        assert_eq!(h.read(|s| s.schedules.get(&"sch-1".to_string()).and_then(|s| s.last_decided_tick)), Some(5_000));
        // The fire index is rebuilt on load.
        assert!(h.read(|s| s.fire_of_job("sch-1-t5000").is_some()));
        assert_eq!(h.egg_bytes(&sha).expect("read blob"), Some(b"EGG".to_vec()));
    });
}

#[test]
fn deleting_the_last_version_deletes_its_blob_on_disk() {
    rt().block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sm = open(dir.path());
        let log = [
            LogEntry::new(1, Command::AddVersion { project: "p".into(), version: "1".into(), egg: b"E1".to_vec() }),
            LogEntry::new(2, Command::DeleteProject { project: "p".into() }),
        ];
        let sha = {
            apply_all(&mut sm, entries(&log[..1], 1)).await;
            sm.handle().read(|s| s.projects.get(&"p".to_string()).expect("p").versions["1"].sha256.clone())
        };
        assert!(sm.handle().egg_bytes(&sha).expect("read").is_some());
        apply_all(&mut sm, entries(&log[1..], 2)).await;
        assert_eq!(sm.handle().egg_bytes(&sha).expect("read"), None);
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever `apply` acknowledged survives a crash image of the directory.
    #[test]
    fn acknowledged_state_survives_a_crash(log in properties::log()) {
        rt().block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let image = tempfile::tempdir().expect("tempdir");
            let mut sm = open(dir.path());
            // Several apply calls, like openraft's batches.
            let all = entries(&log, 1);
            for chunk in all.chunks(7) {
                apply_all(&mut sm, chunk.to_vec()).await;
            }
            let digest = sm.handle().digest();
            let last = sm.handle().last_applied();
            crash_image(dir.path(), image.path());
            let recovered = open(image.path());
            assert_eq!(recovered.handle().digest(), digest);
            assert_eq!(recovered.handle().last_applied(), last);
        });
    }

    /// Installing a snapshot of a prefix and replaying the tail equals replaying everything.
    #[test]
    fn snapshot_plus_tail_equals_full_replay(log in properties::log(), split in 0usize..120) {
        rt().block_on(async {
            let split = split.min(log.len());
            let all = entries(&log, 1);
            let (d1, d2, d3) = (tempfile::tempdir().expect("t"), tempfile::tempdir().expect("t"), tempfile::tempdir().expect("t"));

            let mut full = open(d1.path());
            apply_all(&mut full, all.clone()).await;

            let mut source = open(d2.path());
            apply_all(&mut source, all[..split].to_vec()).await;
            let snap = source.build_snapshot().await.expect("build");

            let mut target = open(d3.path());
            // The target had applied something else before: install must replace it whole.
            apply_all(&mut target, entries(&[LogEntry::new(1, Command::CreateSchedule { spec: spec("junk") })], 1)).await;
            target.install_snapshot(&snap.meta, snap.snapshot.clone()).await.expect("install");
            apply_all(&mut target, all[split..].to_vec()).await;

            assert_eq!(target.handle().digest(), full.handle().digest());
            assert_eq!(target.handle().last_applied(), full.handle().last_applied());
            // Blobs travel with the snapshot.
            let shas: Vec<String> = full.handle().read(|s| {
                s.projects.values().flat_map(|p| p.versions.values().map(|v| v.sha256.clone())).collect()
            });
            for sha in shas {
                assert_eq!(target.handle().egg_bytes(&sha).expect("r"), full.handle().egg_bytes(&sha).expect("r"));
            }
            // And the installed snapshot is the current one, readable after a restart.
            drop(target);
            let mut reopened = open(d3.path());
            let current = reopened.get_current_snapshot().await.expect("read").expect("a snapshot");
            assert_eq!(current.meta, snap.meta);
        });
    }
}

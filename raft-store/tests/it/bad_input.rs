//! Bad on-disk input: a clear error naming the path and cause, never a panic or a reset.

use openraft::storage::RaftStateMachine;
use raft_store::Error;

#[test]
fn a_directory_with_foreign_files_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("db")).expect("mkdir");
    std::fs::write(dir.path().join("db/notes.txt"), "mine").expect("write");
    let err = raft_store::open(dir.path()).expect_err("must refuse");
    assert!(matches!(err, Error::Foreign { .. }), "{err}");
    assert!(err.to_string().contains("db"), "names the path: {err}");
    // Nothing was written over the foreign files.
    assert_eq!(std::fs::read_to_string(dir.path().join("db/notes.txt")).expect("read"), "mine");
}

#[test]
fn a_foreign_rocksdb_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = dir.path().join("db");
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, &db_path).expect("create foreign db");
        db.put(b"k", b"v").expect("put");
    }
    let err = raft_store::open(dir.path()).expect_err("must refuse");
    assert!(matches!(err, Error::Foreign { .. }), "{err}");
    assert!(err.to_string().contains(&db_path.display().to_string()), "{err}");
    // The foreign database is untouched.
    let db = rocksdb::DB::open_default(&db_path).expect("reopen foreign");
    assert_eq!(db.get(b"k").expect("get"), Some(b"v".to_vec()));
}

fn set_format(dir: &std::path::Path, bytes: &[u8]) {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(false);
    let cfs = rocksdb::DB::list_cf(&opts, dir.join("db")).expect("list");
    let db = rocksdb::DB::open_cf(&opts, dir.join("db"), cfs).expect("open raw");
    db.put_cf(db.cf_handle("sm_meta").expect("cf"), "format", bytes).expect("put");
}

#[test]
fn an_unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(raft_store::open(dir.path()).expect("create"));
    set_format(dir.path(), &raft_store::ondisk::encode(&99u32).expect("encode"));
    let err = raft_store::open(dir.path()).expect_err("must refuse");
    assert!(matches!(err, Error::UnknownFormat { found: 99, supported: 4, .. }), "{err}");
}

#[test]
fn formats_1_to_3_are_opened_and_marked_format_4() {
    for old in [1u32, 2, 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(raft_store::open(dir.path()).expect("create"));
        set_format(dir.path(), &raft_store::ondisk::encode(&old).expect("encode"));
        drop(raft_store::open(dir.path()).expect("an older format opens"));
        // Marked 4 now: a build that knows only the older format would refuse it.
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let cfs = rocksdb::DB::list_cf(&opts, dir.path().join("db")).expect("list");
        let db = rocksdb::DB::open_cf(&opts, dir.path().join("db"), cfs).expect("open raw");
        let bytes = db.get_cf(db.cf_handle("sm_meta").expect("cf"), "format").expect("get").expect("format marker");
        assert_eq!(raft_store::ondisk::decode::<u32>(&bytes).expect("decode"), 4, "from format {old}");
    }
}

#[test]
fn a_corrupt_row_is_reported_with_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(raft_store::open(dir.path()).expect("create"));
    {
        let opts = rocksdb::Options::default();
        let cfs = rocksdb::DB::list_cf(&opts, dir.path().join("db")).expect("list");
        let db = rocksdb::DB::open_cf(&opts, dir.path().join("db"), cfs).expect("open raw");
        db.put_cf(db.cf_handle("sm_data").expect("cf"), "schedules/\"sch-1\"", b"\x01{not json").expect("put");
    }
    let err = raft_store::open(dir.path()).expect_err("must refuse");
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("sch-1"), "{err}");
}

#[test]
fn a_damaged_snapshot_is_refused_and_the_state_is_kept() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, mut sm) = raft_store::open(dir.path()).expect("open");
        crate::durability::apply_all(
            &mut sm,
            vec![openraft::entry::RaftEntry::new_normal(
                openraft::testing::log_id::<raft_store::TypeConfig>(1, 1, 1),
                raft_store::LogEntry::new(1, raft_store::Command::CreateSchedule { spec: crate::fixtures::spec("p") }),
            )],
        )
        .await;
        let before = sm.handle().digest();
        let mut snap = openraft::RaftSnapshotBuilder::build_snapshot(&mut sm).await.expect("build");
        // Flip one byte in the middle: the checksum must catch it.
        let mid = snap.snapshot.len() / 2;
        snap.snapshot[mid] ^= 0xff;
        let err = sm.install_snapshot(&snap.meta, snap.snapshot.clone()).await.expect_err("refused");
        assert!(err.to_string().contains("checksum"), "{err}");
        let err = sm.install_snapshot(&snap.meta, b"garbage".to_vec()).await.expect_err("refused");
        assert!(err.to_string().contains("magic"), "{err}");
        assert_eq!(sm.handle().digest(), before);
    });
}

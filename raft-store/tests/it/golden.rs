//! Golden encodings: the JSON of every `Command` variant is pinned in
//! `tests/golden/commands.jsonl`. A change here is an on-disk format change: bump
//! `ondisk::FORMAT_VERSION`, write a migration note, then regenerate with `UPDATE_GOLDEN=1`.

use std::collections::BTreeMap;

use raft_store::command::Command;
use raft_store::LogEntry;

use crate::fixtures::every_command;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/commands.jsonl");

fn encode_all() -> String {
    let mut out = String::new();
    for (name, cmd) in every_command() {
        let entry = LogEntry::new(1_700_000_000_123, cmd);
        let json = serde_json::to_string(&entry).expect("encode");
        out.push_str(&format!("{name}\t{json}\n"));
    }
    out
}

#[test]
fn command_encodings_match_the_golden_file() {
    let actual = encode_all();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &actual).expect("write golden");
    }
    let golden = std::fs::read_to_string(GOLDEN).expect("golden file exists");
    for (g, a) in golden.lines().zip(actual.lines()) {
        assert_eq!(g, a, "encoding changed");
    }
    assert_eq!(golden.lines().count(), actual.lines().count());
}

#[test]
fn golden_lines_decode_to_the_same_commands() {
    let golden = std::fs::read_to_string(GOLDEN).expect("golden file exists");
    let expected: BTreeMap<&str, Command> = every_command().into_iter().collect();
    for line in golden.lines() {
        let (name, json) = line.split_once('\t').expect("name<TAB>json");
        let entry: LogEntry = serde_json::from_str(json).expect("decodes");
        assert_eq!(entry.proposed_at_ms, 1_700_000_000_123);
        assert_eq!(&entry.command, &expected[name], "{name}");
    }
}

#[test]
fn every_variant_has_a_golden_line() {
    // Adding a variant without a golden example fails here: the discriminants seen in the
    // fixture must cover the enum. (Counted by serde tag.)
    let tags: std::collections::BTreeSet<String> = every_command()
        .iter()
        .map(|(_, c)| serde_json::to_value(c).expect("encode")["cmd"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(tags.len(), 40, "one golden example per Command variant: {tags:?}");
}

#[test]
fn egg_bytes_are_base64_and_garbage_is_refused() {
    let cmd = Command::AddVersion { project: "p".into(), version: "1".into(), egg: vec![0, 1, 2, 255] };
    let v = serde_json::to_value(&cmd).expect("encode");
    assert_eq!(v["egg"], "AAEC/w==");
    let bad = r#"{"cmd":"add_version","project":"p","version":"1","egg":"***"}"#;
    assert!(serde_json::from_str::<Command>(bad).is_err());
}

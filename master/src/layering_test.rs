//! The master's layering, checked over its own sources: no import cycle between its modules
//! (one node per file), and the rules that keep it so (ARCHITECTURE.md, "master").
//!
//! A module depends on another when its code (comments and `#[cfg(test)] mod tests` blocks and
//! `*_test.rs` files aside) names a path into it: `crate::a::b`, `super::x` or `self::x`; a
//! `pub use` re-export counts like any import. A path into a module's own submodules does not
//! count (a `mod.rs` facade), nor a path into the crate root (it only declares modules and
//! re-exports `boot::{start, start_on}`).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::path::PathBuf;

/// Module path (`scheduler::dispatch`; `""` for the crate root) of every source file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).expect("under src").with_extension("");
        let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().to_string()).collect();
        let name = parts.last().cloned().unwrap_or_default();
        if name.ends_with("_test") || name == "main" {
            continue;
        }
        let module = match name.as_str() {
            "lib" => String::new(),
            "mod" => parts[..parts.len() - 1].join("::"),
            _ => parts.join("::"),
        };
        out.insert(module, f);
    }
    out
}

/// The code of a file: comment lines and a trailing test module dropped.
fn code(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .filter(|l| {
            let t = l.trim_start();
            !t.starts_with("//")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths named after `prefix` (`crate::`, `super::`, …) in `code`, braces expanded.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let is_path = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        let after = &rest[i + prefix.len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let end = after.find(|c: char| !is_path(c)).unwrap_or(after.len());
        let head: Vec<String> = after[..end].split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        if after[end..].starts_with('{') && after[..end].ends_with("::") {
            let close = after[end..].find('}').map(|j| end + j).unwrap_or(after.len());
            for item in after[end + 1..close].split(',') {
                let mut p = head.clone();
                p.extend(item.trim().split("::").filter(|s| !s.is_empty()).map(|s| s.trim().to_string()));
                out.push(p);
            }
        } else {
            out.push(head);
        }
    }
    out
}

/// The module a path names: its longest prefix that is a module.
fn resolve(mods: &BTreeMap<String, PathBuf>, path: &[String]) -> Option<String> {
    (0..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| mods.contains_key(m))
}

fn parent(m: &str) -> String {
    m.rsplit_once("::").map(|(p, _)| p.to_string()).unwrap_or_default()
}

/// Module → the modules it depends on.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, file) in &mods {
        let code = code(&std::fs::read_to_string(file).expect("read"));
        let here = |rel: &[String], base: &str| {
            let mut p: Vec<String> =
                if base.is_empty() { vec![] } else { base.split("::").map(String::from).collect() };
            p.extend(rel.iter().cloned());
            p
        };
        let mut deps = BTreeSet::new();
        for p in paths_after(&code, "crate::") {
            deps.extend(resolve(&mods, &p));
        }
        // `super` is the parent module (of `a/b.rs` and of `a/b/mod.rs` alike: `a`).
        for p in paths_after(&code, "super::") {
            deps.extend(resolve(&mods, &here(&p, &parent(m))));
        }
        for p in paths_after(&code, "self::") {
            deps.extend(resolve(&mods, &here(&p, m)));
        }
        deps.remove(m);
        deps.remove("");
        // A module naming its own submodules (a `mod.rs` facade re-exporting a child's items)
        // is how modules are built, not a dependency that can close a cycle across modules.
        let own = format!("{m}::");
        deps.retain(|d| m.is_empty() || !d.starts_with(&own));
        g.insert(m.clone(), deps);
    }
    g
}

/// A cycle of `g`, if it has one.
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == d).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(d, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, g, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn master_has_no_import_cycle() {
    let g = graph(&src());
    assert!(g.len() > 30, "the sources were found: {:?}", g.keys().collect::<Vec<_>>());
    if let Some(cycle) = find_cycle(&g) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_layering_rules_hold() {
    let g = graph(&src());
    let deps = |m: &str| g.get(m).cloned().unwrap_or_default();
    let node_may: BTreeSet<String> =
        ["config", "clock", "secrets", "propose", "slaves::client", "slaves::metrics"].map(String::from).into();
    let extra: Vec<String> = deps("node").difference(&node_may).cloned().collect();
    assert!(extra.is_empty(), "node imports {extra:?}: it must stay below every service and front door");
    let front_doors = ["api", "ops", "views", "auth", "scrapyd", "dashboard"];
    let in_door = |d: &str| front_doors.iter().any(|f| d == *f || d.starts_with(&format!("{f}::")));
    let services = g.keys().filter(|m| {
        m.starts_with("scheduler") || m.starts_with("leader") || m.starts_with("alerter") || m.starts_with("slaves")
    });
    for m in services {
        let doors: Vec<String> = deps(m).into_iter().filter(|d| in_door(d)).collect();
        assert!(doors.is_empty(), "{m} imports the front door(s) {doors:?}");
    }
    for m in g.keys().filter(|m| m.starts_with("leader")) {
        let named: Vec<String> = deps(m)
            .into_iter()
            .filter(|d| ["scheduler", "slaves", "alerter"].iter().any(|s| d.starts_with(s)))
            .collect();
        assert!(named.is_empty(), "{m} names the service(s) {named:?}: the table comes from boot");
    }
    for m in g.keys().filter(|m| m.starts_with("raft_net")) {
        let named: Vec<String> = deps(m)
            .into_iter()
            .filter(|d| {
                in_door(d) || ["scheduler", "slaves", "alerter", "cluster", "leader"].iter().any(|s| d.starts_with(s))
            })
            .collect();
        assert!(named.is_empty(), "{m} imports {named:?}");
    }
}

#[test]
fn the_checker_sees_paths_of_every_form() {
    let code = "use crate::a::b::C;\nuse super::x;\nlet v = crate::d::{e, f::G};\n// crate::hidden\n";
    let code = self::code(code);
    assert_eq!(
        paths_after(&code, "crate::"),
        vec![vec!["a", "b", "C"], vec!["d", "e"], vec!["d", "f", "G"]]
            .into_iter()
            .map(|p| p.into_iter().map(String::from).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    assert_eq!(paths_after(&code, "super::"), vec![vec!["x".to_string()]]);
    let mut g = BTreeMap::new();
    g.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    g.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert!(find_cycle(&g).is_some());
    g.insert("b".to_string(), BTreeSet::new());
    assert!(find_cycle(&g).is_none());
}

//! The alert checker (issue 16): every failover gets exactly one delivered failover alert, and
//! no alert id is delivered twice beyond the documented window. It judges two records only:
//! the history (who was observed leading which term, for how long) and the mail the SMTP sink
//! accepted (`<run>/mail/*.eml`, headers parsed here) — never the masters' alert ledger.
//!
//! **Which failovers must have mail.** A term is *held* when its leader was observed leading
//! it, with a quorum of the masters observed following it in that term, continuously for at
//! least [`HELD_MS`] (3 s): consecutive `Leader` observations at most [`GAP_MS`] apart, each
//! backed by followers of that leader and term seen within [`GAP_MS`] before it (a leader cut
//! off in a minority keeps saying `Leader` but cannot commit, so it is not holding anything).
//! A new leader decides its failover alert `failover_settle_ms` after it wins (500 ms in the
//! suite's configs), so a held term's leader had time to decide it; one that died or lost its
//! quorum sooner may have left the decision to the next leader, and is not judged. Not judged
//! either: the first held term (the cluster's first leader: nothing failed over) and terms first
//! led before alerting was configured ([`Event::AlertsConfigured`]). Each judged term needs a
//! mail naming it: its `X-Spider-Alert-Id` — or, without one, its `Message-ID`'s local part,
//! which encodes `failover:term-N` as `failover=3Aterm-N` — is exactly `failover:term-<N>`.
//!
//! **Duplicates.** Mails are grouped by `Message-ID`, and ids received more than once are
//! counted and reported. The documented window (master `alerter`): a leader that died after
//! the SMTP server accepted a message and before the outcome committed causes one resend with
//! the same `Message-ID`, so two copies are allowed. Invalid: a `Message-ID` received more
//! than twice, two different `Message-ID`s naming one term, a `Message-ID` that does not encode
//! the mail's `X-Spider-Alert-Id`, a mail without a `Message-ID`, a judged term without mail.
//!
//! Unknown (never valid): no SMTP sink ([`Event::NoMailSink`]: no Python with aiosmtpd),
//! alerting never configured, an unreadable mail directory, or a run whose faults deposed a
//! leader but that held no failover to judge (it proves nothing about alerts).

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use super::verdict::list;
use super::verdict::Verdict;
use super::windows::deposes_leader;
use crate::history::Event;
use crate::history::History;

/// How long a leader must be seen holding its term for its failover alert to be owed.
pub const HELD_MS: u64 = 3_000;
/// Observations further apart than this do not make a continuous run.
pub const GAP_MS: u64 = 1_000;

/// The headers of one stored message the checker reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mail {
    /// The file's name in the mail directory.
    pub file: String,
    pub message_id: Option<String>,
    /// `X-Spider-Alert-Id`: the notification id.
    pub alert_id: Option<String>,
    pub subject: Option<String>,
}

/// The sink's stored mail, or why it could not be read.
pub type Mailbox = Result<Vec<Mail>, String>;

/// The header section of `raw` (up to the first empty line) as (name, value) pairs, unfolded
/// (RFC 5322 §2.2.3: a line starting with a space or tab continues the one before; the line
/// break goes, the whitespace stays), values trimmed.
pub fn headers(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push_str(line);
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_string(), value.to_string()));
        }
    }
    out.into_iter().map(|(n, v)| (n, v.trim().to_string())).collect()
}

impl Mail {
    /// The headers the checker needs from the stored message `raw` named `file`.
    pub fn parse(file: &str, raw: &[u8]) -> Mail {
        let hs = headers(raw);
        let get = |name: &str| hs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        Mail {
            file: file.to_string(),
            message_id: get("Message-ID"),
            alert_id: get("X-Spider-Alert-Id"),
            subject: get("Subject"),
        }
    }

    /// The notification id the `Message-ID` encodes (its local part, `=XX` decoded).
    pub fn message_id_names(&self) -> Option<String> {
        let id = self.message_id.as_deref()?.trim();
        let id = id.strip_prefix('<').unwrap_or(id);
        let id = id.strip_suffix('>').unwrap_or(id);
        decode_token(id.rsplit_once('@').map_or(id, |(local, _)| local))
    }

    /// The notification id this mail carries: `X-Spider-Alert-Id`, else the `Message-ID`'s.
    pub fn names(&self) -> Option<String> {
        self.alert_id.clone().or_else(|| self.message_id_names())
    }

    /// The failover term this mail announces, if it is one failover's alert.
    pub fn failover_term(&self) -> Option<u64> {
        failover_term(&self.names()?)
    }
}

/// Reverses the master's header token (alphanumerics, `-`, `_` as they are; any other byte as
/// `=XX`). `None` if it is not one.
pub fn decode_token(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `N` of the alert id `failover:term-N` (exactly that; a digest or a reminder is not one).
pub fn failover_term(id: &str) -> Option<u64> {
    let n = id.strip_prefix("failover:term-")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse().ok()).flatten()
}

/// Every stored message in `dir` (`*.eml`, oldest first by name), parsed.
pub fn read_mailbox(dir: &Path) -> Mailbox {
    let what = |e: std::io::Error| format!("the sink's mail directory {}: {e}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(what)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
        .collect();
    names.sort();
    names.iter().map(|n| std::fs::read(dir.join(n)).map(|raw| Mail::parse(n, &raw)).map_err(what)).collect()
}

/// A term as the history saw it led.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LedTerm {
    pub term: u64,
    pub leader: u8,
    /// When it was first observed leading it.
    pub first_at_ms: u64,
    /// Its longest quorum-backed continuous run of observations (see the module doc).
    pub held_ms: u64,
}

/// Every term the history observed with a leader, with how long that leader held it.
pub fn led_terms(h: &History, masters: usize) -> BTreeMap<u64, LedTerm> {
    let need = masters / 2;
    let mut obs: Vec<(u64, u8, bool, u64, Option<u64>)> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Observed { at_ms, node, state, term, leader, .. } => {
                Some((*at_ms, *node, state == "Leader", *term, *leader))
            }
            _ => None,
        })
        .collect();
    obs.sort_by_key(|o| o.0);
    // Each master's last observation; each leader's current run (term, start, last).
    let mut last: BTreeMap<u8, (u64, bool, u64, Option<u64>)> = BTreeMap::new();
    let mut runs: BTreeMap<u8, (u64, u64, u64)> = BTreeMap::new();
    let mut out: BTreeMap<u64, LedTerm> = BTreeMap::new();
    for (at, node, leads, term, leader) in obs {
        last.insert(node, (at, leads, term, leader));
        if !leads {
            runs.remove(&node);
            continue;
        }
        let t = out.entry(term).or_insert(LedTerm { term, leader: node, first_at_ms: at, held_ms: 0 });
        let backers = last
            .iter()
            .filter(|(m, (seen, lead, tm, l))| {
                **m != node && !lead && *tm == term && *l == Some(u64::from(node)) && at - seen <= GAP_MS
            })
            .count();
        if backers < need {
            runs.remove(&node);
            continue;
        }
        let run = match runs.get(&node) {
            Some(&(tm, start, prev)) if tm == term && at - prev <= GAP_MS => (tm, start, at),
            _ => (term, at, at),
        };
        runs.insert(node, run);
        if t.leader == node {
            t.held_ms = t.held_ms.max(run.2 - run.1);
        }
    }
    out
}

fn configured_at(h: &History) -> Option<u64> {
    h.events.iter().find_map(|e| match e {
        Event::AlertsConfigured { at_ms } => Some(*at_ms),
        _ => None,
    })
}

/// The failovers that must have mail (see the module doc), oldest first.
pub fn judged_terms(h: &History, masters: usize) -> Vec<u64> {
    let Some(configured) = configured_at(h) else { return vec![] };
    let led = led_terms(h, masters);
    let mut held = led.values().filter(|t| t.held_ms >= HELD_MS);
    let _first = held.next();
    held.filter(|t| t.first_at_ms >= configured).map(|t| t.term).collect()
}

/// What the harness waits for before judging: the judged terms so far and the newest led term
/// (the final leader's), unless that one is the cluster's first leader's or predates alerting.
pub fn awaited_terms(h: &History, masters: usize) -> Vec<u64> {
    let mut terms: BTreeSet<u64> = judged_terms(h, masters).into_iter().collect();
    let led = led_terms(h, masters);
    let first_held = led.values().find(|t| t.held_ms >= HELD_MS).map(|t| t.term);
    if let (Some(newest), Some(first), Some(configured)) = (led.values().next_back(), first_held, configured_at(h)) {
        if newest.term > first && newest.first_at_ms >= configured {
            terms.insert(newest.term);
        }
    }
    terms.into_iter().collect()
}

/// What the alert checker counted (`results.json` `alerts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertStats {
    /// The failovers judged: terms that must have mail.
    pub failovers_judged: usize,
    pub terms_judged: Vec<u64>,
    /// Judged terms without mail.
    pub missing: Vec<u64>,
    /// Stored messages.
    pub mails: usize,
    /// `Message-ID`s received more than once, and each one's copies.
    pub duplicates: usize,
    pub duplicate_ids: BTreeMap<String, usize>,
    /// Terms with mail that the history never observed led (fine: reported).
    pub unobserved_terms: Vec<u64>,
    /// Terms with mail that the history observed but does not judge (led briefly, the first).
    pub unjudged_terms: Vec<u64>,
    /// Mails that name no failover term (digests, other alerts).
    pub other_mails: usize,
}

/// The alert checker (see the module doc); `masters`: the cluster's size.
pub fn alerts(h: &History, mail: &Mailbox, masters: usize) -> (Verdict, AlertStats) {
    let mut stats = AlertStats::default();
    let why_no_sink = h.events.iter().find_map(|e| match e {
        Event::NoMailSink { why, .. } => Some(why.clone()),
        _ => None,
    });
    if let Some(why) = why_no_sink {
        return (Verdict::unknown(format!("the run had no SMTP sink: {why}")), stats);
    }
    if !h.events.iter().any(|e| matches!(e, Event::MailSink { .. })) {
        return (Verdict::unknown("the run had no SMTP sink (recorded before the alert checker?)"), stats);
    }
    if configured_at(h).is_none() {
        return (Verdict::unknown("alerting was never configured (the run stopped before its setup)"), stats);
    }
    let mails = match mail {
        Ok(m) => m,
        Err(e) => return (Verdict::unknown(e.clone()), stats),
    };
    let led = led_terms(h, masters);
    let judged = judged_terms(h, masters);
    stats.mails = mails.len();
    stats.failovers_judged = judged.len();
    stats.terms_judged = judged.clone();
    let mut problems = Vec::new();

    let without: Vec<&str> = mails.iter().filter(|m| m.message_id.is_none()).map(|m| m.file.as_str()).collect();
    if !without.is_empty() {
        problems.push(format!("{} mail(s) without a Message-ID: {}", without.len(), list(&without)));
    }
    let mismatched: Vec<String> = mails
        .iter()
        .filter_map(|m| {
            let (Some(alert), Some(encoded)) = (m.alert_id.as_deref(), m.message_id_names()) else { return None };
            (alert != encoded).then(|| format!("{} (X-Spider-Alert-Id {alert}, Message-ID names {encoded})", m.file))
        })
        .collect();
    if !mismatched.is_empty() {
        problems.push(format!("Message-ID not derived from the alert id: {}", list(&mismatched)));
    }

    let mut by_id: BTreeMap<&str, usize> = BTreeMap::new();
    for m in mails {
        if let Some(id) = m.message_id.as_deref() {
            *by_id.entry(id).or_default() += 1;
        }
    }
    for (id, copies) in &by_id {
        if *copies > 1 {
            stats.duplicates += 1;
            stats.duplicate_ids.insert(id.to_string(), *copies);
        }
    }
    let over: Vec<String> =
        by_id.iter().filter(|(_, c)| **c > 2).map(|(id, c)| format!("{id} arrived {c} times")).collect();
    if !over.is_empty() {
        problems.push(format!("beyond the one resend the failover window allows: {}", list(&over)));
    }

    let mut by_term: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for m in mails {
        match m.failover_term() {
            Some(t) => {
                by_term.entry(t).or_default().insert(m.message_id.as_deref().unwrap_or("(none)"));
            }
            None => stats.other_mails += 1,
        }
    }
    let split: Vec<String> = by_term
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(t, ids)| format!("term {t} by {}", ids.iter().copied().collect::<Vec<_>>().join(" and ")))
        .collect();
    if !split.is_empty() {
        problems.push(format!("one failover announced under different Message-IDs: {}", list(&split)));
    }
    stats.missing = judged.iter().copied().filter(|t| !by_term.contains_key(t)).collect();
    if !stats.missing.is_empty() {
        let shown: Vec<String> = stats
            .missing
            .iter()
            .filter_map(|t| led.get(t))
            .map(|t| format!("term {} (master {}, held {} ms)", t.term, t.leader, t.held_ms))
            .collect();
        problems.push(format!("no failover alert was delivered for {}", list(&shown)));
    }
    stats.unobserved_terms = by_term.keys().copied().filter(|t| !led.contains_key(t)).collect();
    stats.unjudged_terms = by_term.keys().copied().filter(|t| led.contains_key(t) && !judged.contains(t)).collect();

    let summary = format!(
        "{} failover(s) judged (terms {}), {} mail(s), {} duplicate Message-ID(s){}; mail for terms not observed \
         led: [{}], observed but not judged: [{}]; {} mail(s) naming no failover",
        stats.failovers_judged,
        list(&judged),
        stats.mails,
        stats.duplicates,
        if stats.duplicate_ids.is_empty() {
            String::new()
        } else {
            let d: Vec<String> = stats.duplicate_ids.iter().map(|(id, c)| format!("{id} ×{c}")).collect();
            format!(" ({})", list(&d))
        },
        list(&stats.unobserved_terms),
        list(&stats.unjudged_terms),
        stats.other_mails,
    );
    if !problems.is_empty() {
        return (Verdict::invalid(format!("{}; {summary}", problems.join("; "))), stats);
    }
    let deposed =
        h.events.iter().any(|e| matches!(e, Event::Fault { kind, installed: true, .. } if deposes_leader(kind)));
    if judged.is_empty() && deposed {
        let seen: Vec<String> =
            led.values().map(|t| format!("term {} by {} for {} ms", t.term, t.leader, t.held_ms)).collect();
        return (
            Verdict::unknown(format!(
                "a fault deposed the leader, yet no failover held its term {HELD_MS} ms to be judged ({}); {summary}",
                list(&seen)
            )),
            stats,
        );
    }
    (Verdict::valid(summary), stats)
}

#[cfg(test)]
#[path = "alerts_test.rs"]
mod alerts_test;

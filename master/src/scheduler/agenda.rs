//! The runtime's agenda: when each schedule is next due, kept incrementally, so that a round
//! plans only the schedules with a due tick instead of evaluating every cron expression.
//!
//! A schedule's next due time is its first tick after its cursor (the last decided tick, or its
//! creation) — not after "now": ticks between the cursor and now are due (late), and the planner
//! applies the misfire policy to them. The time depends only on replicated data (spec, version,
//! pause flag, cursor), so a clock jump changes which entries are due, never the entries.
//!
//! [`Agenda::sync`] compares its copy of each schedule's (version, paused, cursor, creation) with
//! the replicated row and recomputes only the entries that differ. It looks only at the rows the
//! table's journal ([`raft_store::state::table::Table::changed_since`]) names as changed since its last
//! sync — a round's fired schedules, not all of them — comparing every row only when the
//! journal cannot tell (the first sync, a snapshot installed); and it does nothing at all while
//! the table's [`raft_store::state::table::Table::generation`] stamp is unchanged, which is the common
//! case (every delivery outcome commits an entry, none of which touches the schedules table).

use std::collections::BTreeSet;
use std::collections::HashMap;

use raft_store::state::Schedule;
use raft_store::state::State;

use super::plan;
use super::plan::Ticks;

/// What an entry was computed from: when it differs from the replicated row, recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    version: u64,
    paused: bool,
    cursor: i64,
}

impl Stamp {
    fn of(s: &Schedule) -> Self {
        Stamp { version: s.version, paused: s.paused, cursor: plan::cursor(s) }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    stamp: Stamp,
    /// Unix ms of the next due tick; `None`: paused or no tick left.
    next: Option<i64>,
}

/// Next due tick of every schedule, ordered by time.
#[derive(Debug, Default)]
pub struct Agenda {
    synced: Option<u64>,
    entries: HashMap<String, Entry>,
    queue: BTreeSet<(i64, String)>,
}

impl Agenda {
    pub fn new() -> Self {
        Self::default()
    }

    /// Brings the agenda up to date with the replicated schedules.
    pub fn sync(&mut self, s: &State, ticks: &impl Ticks) {
        let generation = s.schedules.generation();
        if self.synced == Some(generation) {
            return;
        }
        // Only the rows changed since the last sync, when the table can tell (a round changes
        // its fired schedules' cursors: hundreds of rows of perhaps 100k).
        if let Some(changed) = self.synced.and_then(|g| s.schedules.changed_since(g)) {
            let ids: BTreeSet<&String> = changed.collect();
            for id in ids {
                self.refresh(id, s.schedules.get(id), ticks);
            }
        } else {
            self.full_sync(s, ticks);
        }
        self.synced = Some(generation);
    }

    /// Recomputes the entry of `id` from its row (`None`: deleted) if the row changed.
    fn refresh(&mut self, id: &str, row: Option<&Schedule>, ticks: &impl Ticks) {
        let Some(sch) = row else {
            self.set(id, None);
            return;
        };
        let stamp = Stamp::of(sch);
        if self.entries.get(id).is_some_and(|e| e.stamp == stamp) {
            return;
        }
        let next = if sch.paused { None } else { ticks.next_after(sch, stamp.cursor) };
        self.set(id, Some(Entry { stamp, next }));
    }

    /// Compares every row (first sync, or the table could not say what changed).
    fn full_sync(&mut self, s: &State, ticks: &impl Ticks) {
        let known_before = self.entries.len();
        let mut still_there = 0;
        for sch in s.schedules.values() {
            if self.entries.contains_key(&sch.id) {
                still_there += 1;
            }
            self.refresh(&sch.id, Some(sch), ticks);
        }
        // Some tracked schedule is no longer in the table: deleted.
        if still_there < known_before {
            let gone: Vec<String> = self.entries.keys().filter(|id| !s.schedules.contains(*id)).cloned().collect();
            for id in gone {
                self.set(&id, None);
            }
        }
    }

    fn set(&mut self, id: &str, entry: Option<Entry>) {
        if let Some(old) = self.entries.remove(id) {
            if let Some(at) = old.next {
                self.queue.remove(&(at, id.to_string()));
            }
        }
        if let Some(e) = entry {
            if let Some(at) = e.next {
                self.queue.insert((at, id.to_string()));
            }
            self.entries.insert(id.to_string(), e);
        }
    }

    /// Ids of the schedules with a tick due at `now_ms`, earliest first.
    pub fn due(&self, now_ms: i64) -> Vec<String> {
        self.queue.iter().take_while(|(at, _)| *at <= now_ms).map(|(_, id)| id.clone()).collect()
    }

    /// The earliest next tick over all schedules.
    pub fn next_wakeup(&self) -> Option<i64> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// The stamps of `ids` as the agenda has them now.
    pub fn stamps(&self, ids: &[String]) -> Vec<(String, Stamp)> {
        ids.iter().filter_map(|id| self.entries.get(id).map(|e| (id.clone(), e.stamp))).collect()
    }

    /// Postpones `id` to `at_ms` if it is still due at `now_ms` with the same row (`stamp`) as
    /// before its round: the round decided nothing for it and nothing changed since (a lost
    /// commit). A schedule whose row changed meanwhile (a concurrent update refused the fire as
    /// stale) is planned again at once: waiting would make its tick late or pass it over.
    pub fn postpone_if_unchanged(&mut self, id: &str, stamp: Stamp, now_ms: i64, at_ms: i64) {
        let stuck = self.entries.get(id).is_some_and(|e| e.stamp == stamp && e.next.is_some_and(|n| n <= now_ms));
        if stuck {
            self.postpone(id, at_ms);
        }
    }

    /// Puts `id` back no earlier than `at_ms`: a due schedule whose round decided nothing (its
    /// commit was refused or lost) is retried later instead of in a tight loop. Any change of its
    /// row recomputes it at once.
    pub fn postpone(&mut self, id: &str, at_ms: i64) {
        if let Some(e) = self.entries.get(id).cloned() {
            if e.next.is_some_and(|n| n < at_ms) {
                self.set(id, Some(Entry { next: Some(at_ms), ..e }));
            }
        }
    }

    /// Schedules tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plan::OnceTicks;
    use raft_store::state::MisfirePolicy;
    use raft_store::state::OverlapPolicy;
    use raft_store::state::ScheduleSpec;
    use raft_store::state::Trigger;

    /// Ticks every `every` ms from 0.
    struct Every(i64);
    impl Ticks for Every {
        fn next_after(&self, _: &Schedule, after_ms: i64) -> Option<i64> {
            Some((after_ms.div_euclid(self.0) + 1) * self.0)
        }
    }

    fn schedule(id: &str, created: u64) -> Schedule {
        Schedule {
            id: id.into(),
            spec: ScheduleSpec {
                project: "p".into(),
                spider: "s".into(),
                egg_version: None,
                args: Default::default(),
                settings: Default::default(),
                priority: 0,
                node_selector: vec![],
                trigger: Trigger::Once { at_ms: 0 },
                misfire: MisfirePolicy::Skip,
                overlap: OverlapPolicy::Allow,
            },
            version: 1,
            paused: false,
            created_at_ms: created,
            updated_at_ms: created,
            last_decided_tick: None,
        }
    }

    fn state_with(schedules: Vec<Schedule>) -> State {
        let mut s = State::default();
        for sch in schedules {
            s.schedules.insert(sch.id.clone(), sch);
        }
        s
    }

    #[test]
    fn only_due_schedules_are_listed_and_cursor_moves_reschedule() {
        let mut s = state_with(vec![schedule("a", 1), schedule("b", 500)]);
        let mut agenda = Agenda::new();
        agenda.sync(&s, &Every(1000));
        assert_eq!(agenda.len(), 2);
        assert_eq!(agenda.due(999), Vec::<String>::new());
        assert_eq!(agenda.due(1000), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(agenda.next_wakeup(), Some(1000));
        // Deciding a's tick moves its cursor: a is due next at 2000, b is still due.
        s.schedules.get_mut(&"a".to_string()).expect("a").last_decided_tick = Some(1000);
        agenda.sync(&s, &Every(1000));
        assert_eq!(agenda.due(1500), vec!["b".to_string()]);
        assert_eq!(agenda.due(2000), vec!["b".to_string(), "a".to_string()]);
    }

    #[test]
    fn paused_deleted_and_edited_schedules_follow_the_table() {
        let mut s = state_with(vec![schedule("a", 1), schedule("b", 1)]);
        let mut agenda = Agenda::new();
        agenda.sync(&s, &Every(1000));
        s.schedules.get_mut(&"a".to_string()).expect("a").paused = true;
        s.schedules.remove(&"b".to_string());
        agenda.sync(&s, &Every(1000));
        assert_eq!(agenda.due(10_000), Vec::<String>::new());
        assert_eq!(agenda.next_wakeup(), None);
        assert_eq!(agenda.len(), 1);
        let a = s.schedules.get_mut(&"a".to_string()).expect("a");
        a.paused = false;
        a.version = 2;
        agenda.sync(&s, &Every(1000));
        assert_eq!(agenda.due(1000), vec!["a".to_string()]);
    }

    #[test]
    fn unchanged_table_is_not_rescanned_and_postpone_defers() {
        let mut s = state_with(vec![schedule("a", 0)]);
        s.schedules.get_mut(&"a".to_string()).expect("a").spec.trigger = Trigger::Once { at_ms: 5 };
        let mut agenda = Agenda::new();
        agenda.sync(&s, &OnceTicks);
        assert_eq!(agenda.due(5), vec!["a".to_string()]);
        agenda.postpone("a", 1005);
        agenda.sync(&s, &OnceTicks);
        assert_eq!(agenda.due(1004), Vec::<String>::new(), "same generation: the postponement holds");
        assert_eq!(agenda.due(1005), vec!["a".to_string()]);
        s.schedules.get_mut(&"a".to_string()).expect("a").last_decided_tick = Some(5);
        agenda.sync(&s, &OnceTicks);
        assert_eq!(agenda.next_wakeup(), None, "a one-off has no tick after its decided one");
    }

    /// What a fresh agenda (a full comparison) makes of `s`.
    fn fresh(s: &State) -> Vec<(i64, String)> {
        let mut a = Agenda::new();
        a.sync(s, &Every(1000));
        a.queue.into_iter().collect()
    }

    #[test]
    fn an_incremental_sync_ends_where_a_full_comparison_does() {
        // A small journal, so the run also crosses its overflow (then every row is compared).
        for capacity in [3, 1 << 16] {
            let mut s = State::default();
            s.schedules = raft_store::state::table::Table::with_journal("schedules", capacity);
            let mut agenda = Agenda::new();
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = move |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % n
            };
            for step in 0..400 {
                // One to four changes between syncs: insert, move a cursor, pause, delete.
                for _ in 0..=next(4) {
                    let id = format!("s{}", next(12));
                    match next(4) {
                        0 => s.schedules.insert(id.clone(), schedule(&id, step)),
                        1 => {
                            if let Some(sch) = s.schedules.get_mut(&id) {
                                sch.last_decided_tick = Some(next(20) as i64 * 1000);
                            }
                        }
                        2 => {
                            if let Some(sch) = s.schedules.get_mut(&id) {
                                sch.paused = !sch.paused;
                            }
                        }
                        _ => {
                            s.schedules.remove(&id);
                        }
                    }
                }
                agenda.sync(&s, &Every(1000));
                let got: Vec<(i64, String)> = agenda.queue.iter().cloned().collect();
                assert_eq!(got, fresh(&s), "capacity {capacity}, step {step}");
                assert_eq!(agenda.len(), s.schedules.len(), "capacity {capacity}, step {step}");
            }
        }
    }

    #[test]
    fn only_an_unchanged_stuck_schedule_is_postponed() {
        let mut s = state_with(vec![schedule("a", 1), schedule("b", 1)]);
        let mut agenda = Agenda::new();
        agenda.sync(&s, &Every(1000));
        let due = agenda.stamps(&agenda.due(1000));
        assert_eq!(due.len(), 2);
        // The round's fires were refused: a's row is as it was, b was updated meanwhile.
        s.schedules.get_mut(&"b".to_string()).expect("b").version = 2;
        agenda.sync(&s, &Every(1000));
        for (id, stamp) in due {
            agenda.postpone_if_unchanged(&id, stamp, 1000, 2000);
        }
        assert_eq!(agenda.due(1000), vec!["b".to_string()], "b is planned again at once, a waits");
        assert_eq!(agenda.due(2000), vec!["b".to_string(), "a".to_string()]);
    }
}

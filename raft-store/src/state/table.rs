//! `Table`: an ordered in-memory map that remembers which keys changed since the last flush.
//!
//! `apply` mutates tables; the state-machine store then drains the changed keys into one RocksDB
//! `WriteBatch` together with the last-applied log id, so the disk always holds a state that
//! some prefix of the log produced.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A named table of `K → V`, with change tracking.
#[derive(Debug, Clone)]
pub struct Table<K: Ord, V> {
    name: &'static str,
    rows: BTreeMap<K, V>,
    dirty: BTreeSet<K>,
    generation: u64,
    journal: Option<Journal<K>>,
}

/// The keys of the most recent mutations, for readers that follow a big table incrementally
/// ([`Table::changed_since`]). Not state, like the generation.
#[derive(Debug, Clone)]
struct Journal<K> {
    capacity: usize,
    /// (generation of the mutation, key), oldest first.
    recent: VecDeque<(u64, K)>,
    /// Every mutation with a generation above this one is in `recent`.
    complete_after: u64,
}

/// Source of [`Table::generation`] stamps: unique within the process, never reused.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

/// A row change to persist: the new value, or `None` for a deletion.
pub type RowChange<'a, K, V> = (&'a K, Option<&'a V>);

impl<K, V> Table<K, V>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    pub fn new(name: &'static str) -> Self {
        Self { name, rows: BTreeMap::new(), dirty: BTreeSet::new(), generation: next_generation(), journal: None }
    }

    /// A table that also remembers the keys of its last `capacity` mutations, so a reader can
    /// ask what changed since a generation it saw instead of comparing every row.
    pub fn with_journal(name: &'static str, capacity: usize) -> Self {
        let mut t = Self::new(name);
        t.journal = Some(Journal { capacity: capacity.max(1), recent: VecDeque::new(), complete_after: t.generation });
        t
    }

    /// Keys mutated since `generation` (a stamp this reader got from [`Table::generation`]),
    /// possibly repeated, oldest first; `None` when the table cannot tell (no journal, the
    /// journal no longer reaches back that far, or the rows were loaded since): then compare
    /// every row.
    pub fn changed_since(&self, generation: u64) -> Option<impl Iterator<Item = &K>> {
        let j = self.journal.as_ref()?;
        // Older than the journal reaches, or newer than this table: a stamp of another table
        // instance (a state replaced wholesale is built by `load`, which resets the journal).
        if generation < j.complete_after || generation > self.generation {
            return None;
        }
        // Generations only grow, so the entries after `generation` are a suffix.
        let from = j.recent.partition_point(|(g, _)| *g <= generation);
        Some(j.recent.range(from..).map(|(_, k)| k))
    }

    fn touched(&mut self, key: &K) {
        self.dirty.insert(key.clone());
        self.generation = next_generation();
        if let Some(j) = self.journal.as_mut() {
            if j.recent.len() == j.capacity {
                if let Some((g, _)) = j.recent.pop_front() {
                    j.complete_after = g;
                }
            }
            j.recent.push_back((self.generation, key.clone()));
        }
    }

    /// A stamp that changes with every mutation of this table (and differs between any two
    /// tables of this process), for readers that cache what they derived from it: equal stamps
    /// mean the rows did not change in between. Not state: not persisted, compared or digested.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.rows.get(key)
    }

    pub fn contains(&self, key: &K) -> bool {
        self.rows.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.rows.iter()
    }

    pub fn range<R: std::ops::RangeBounds<K>>(&self, range: R) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.rows.range(range)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.rows.values()
    }

    /// Mutable access to a row; the row is marked changed even if the caller changes nothing,
    /// so call it only on a path that does change it.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        if !self.rows.contains_key(key) {
            return None;
        }
        self.touched(key);
        self.rows.get_mut(key)
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.touched(&key);
        self.rows.insert(key, value);
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let old = self.rows.remove(key);
        if old.is_some() {
            self.touched(key);
        }
        old
    }

    /// Loads a persisted row without marking it changed (used when opening the store).
    pub(crate) fn load(&mut self, key: K, value: V) {
        self.rows.insert(key, value);
        self.generation = next_generation();
        // Not journaled: a reader from before must compare every row.
        if let Some(j) = self.journal.as_mut() {
            j.recent.clear();
            j.complete_after = self.generation;
        }
    }

    /// Rows changed since the last call, with their current value (`None` = deleted).
    pub(crate) fn take_changes(&mut self) -> Vec<(K, Option<&V>)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .map(|k| {
                let v = self.rows.get(&k);
                (k, v)
            })
            .collect()
    }
}

impl<K: Ord, V: PartialEq> PartialEq for Table<K, V> {
    /// Tables are equal when their rows are; pending change marks do not count.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.rows == other.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(it: Option<impl Iterator<Item = &'a String>>) -> Option<Vec<String>> {
        it.map(|i| i.cloned().collect())
    }

    #[test]
    fn a_journal_names_the_keys_changed_since_a_generation_while_it_reaches_back() {
        let mut t: Table<String, u32> = Table::with_journal("t", 3);
        let g0 = t.generation();
        t.insert("a".into(), 1);
        let g1 = t.generation();
        t.insert("b".into(), 2);
        if let Some(v) = t.get_mut(&"a".into()) {
            *v += 1;
        }
        assert_eq!(keys(t.changed_since(g0)), Some(vec!["a".into(), "b".into(), "a".into()]));
        assert_eq!(keys(t.changed_since(g1)), Some(vec!["b".into(), "a".into()]));
        assert_eq!(keys(t.changed_since(t.generation())), Some(vec![]));
        // A missing row is not touched; removing one is a change.
        assert!(t.get_mut(&"zz".into()).is_none());
        assert_eq!(t.remove(&"zz".into()), None);
        let g3 = t.generation();
        t.remove(&"b".into());
        assert_eq!(keys(t.changed_since(g3)), Some(vec!["b".into()]));
        // The fourth change pushed the first out: g0 is too old to answer, g1 still fine.
        assert_eq!(keys(t.changed_since(g0)), None);
        assert_eq!(keys(t.changed_since(g1)), Some(vec!["b".into(), "a".into(), "b".into()]));
        // Loaded rows are not journaled: nobody from before can be answered.
        let g4 = t.generation();
        t.load("c".into(), 3);
        assert_eq!(keys(t.changed_since(g4)), None);
        assert_eq!(keys(t.changed_since(t.generation())), Some(vec![]));
        // A stamp newer than the table is another table's: no answer.
        let other: Table<String, u32> = Table::with_journal("t", 3);
        assert_eq!(keys(t.changed_since(other.generation())), None);
    }

    #[test]
    fn a_table_without_a_journal_cannot_say_what_changed() {
        let mut t: Table<String, u32> = Table::new("t");
        let g = t.generation();
        t.insert("a".into(), 1);
        assert!(t.changed_since(g).is_none());
    }
}

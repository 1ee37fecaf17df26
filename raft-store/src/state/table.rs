//! `Table`: an ordered in-memory map that remembers which keys changed since the last flush.
//!
//! `apply` mutates tables; the state-machine store then drains the changed keys into one RocksDB
//! `WriteBatch` together with the last-applied log id, so the disk always holds a state that
//! some prefix of the log produced.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
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
        Self { name, rows: BTreeMap::new(), dirty: BTreeSet::new(), generation: next_generation() }
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
        let row = self.rows.get_mut(key)?;
        self.dirty.insert(key.clone());
        self.generation = next_generation();
        Some(row)
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.dirty.insert(key.clone());
        self.generation = next_generation();
        self.rows.insert(key, value);
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let old = self.rows.remove(key);
        if old.is_some() {
            self.dirty.insert(key.clone());
            self.generation = next_generation();
        }
        old
    }

    /// Loads a persisted row without marking it changed (used when opening the store).
    pub(crate) fn load(&mut self, key: K, value: V) {
        self.rows.insert(key, value);
        self.generation = next_generation();
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

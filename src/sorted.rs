//! A map and a set on a sorted `Vec`, for the few entries the machine (armed timers,
//! subscriptions) and the browser driver (sockets, timers, probes, listeners, requests) keep:
//! the same order as a B-tree (so commands come out deterministically), without a B-tree's or
//! a hash table's code in the .wasm for each key type (about 7 KiB a B-tree, 1–2 KiB a hash
//! map, measured).

use std::borrow::Borrow;

/// Keys in order, each with a value.
#[derive(Debug, Clone)]
pub(crate) struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub(crate) fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// The value of `key`, inserted with `V::default()` when there was none.
    // Only the browser driver's listeners use it.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn get_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (key, V::default()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub(crate) fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The keys, in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The entries, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order, emptying the map.
    pub(crate) fn into_keys(self) -> impl Iterator<Item = K> {
        self.entries.into_iter().map(|(k, _)| k)
    }
}

/// Distinct values in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct SortedSet<T> {
    items: Vec<T>,
}

impl<T: Ord> SortedSet<T> {
    /// Adds `item`; `false` if it was there already.
    pub(crate) fn insert(&mut self, item: T) -> bool {
        match self.items.binary_search(&item) {
            Ok(_) => false,
            Err(i) => {
                self.items.insert(i, item);
                true
            }
        }
    }

    /// Takes `item` out; `false` if it was not there.
    pub(crate) fn remove<Q>(&mut self, item: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self.items.binary_search_by(|t| t.borrow().cmp(item)) {
            Ok(i) => {
                self.items.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_keeps_key_order_and_replaces() {
        let mut m = SortedMap::default();
        assert_eq!(m.insert(3, "c"), None);
        assert_eq!(m.insert(1, "a"), None);
        assert_eq!(m.insert(2, "b"), None);
        assert_eq!(m.insert(2, "B"), Some("b"));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(m.get(&2), Some(&"B"));
        assert!(m.contains_key(&3) && !m.contains_key(&4));
        assert_eq!(m.remove(&1), Some("a"));
        assert_eq!(m.remove(&1), None);
        assert_eq!(
            m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(),
            [(2, "B"), (3, "c")]
        );
        assert_eq!(m.into_keys().collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn string_keys_are_found_by_str_and_filled_by_default() {
        let mut m: SortedMap<String, Vec<u8>> = SortedMap::default();
        m.get_or_default("b".to_owned()).push(1);
        m.get_or_default("a".to_owned()).push(2);
        m.get_or_default("b".to_owned()).push(3);
        assert_eq!(m.get("b"), Some(&vec![1, 3]));
        assert_eq!(m.keys().cloned().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.remove("a"), Some(vec![2]));
        assert_eq!(m.get("a"), None);
    }

    #[test]
    fn the_set_keeps_one_of_each_in_order() {
        let mut s = SortedSet::default();
        assert!(s.insert("b".to_owned()));
        assert!(s.insert("a".to_owned()));
        assert!(!s.insert("b".to_owned()));
        assert_eq!(s.iter().cloned().collect::<Vec<_>>(), ["a", "b"]);
        assert!(s.remove("a"));
        assert!(!s.remove("a"));
        assert!(!s.is_empty());
        assert!(s.remove("b"));
        assert!(s.is_empty());
    }
}

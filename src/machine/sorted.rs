//! A map and a set on a sorted `Vec`, for the machine's few armed timers and subscriptions: the
//! same order as a B-tree (so commands come out deterministically), without a B-tree's code in
//! the .wasm for each key type (about 7 KiB each, measured).

/// Keys in order, each with a value.
#[derive(Debug, Clone)]
pub(super) struct SortedMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord + Copy, V> SortedMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    pub(super) fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub(super) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The keys, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The entries, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys, in order, emptying the map.
    pub(super) fn into_keys(self) -> impl Iterator<Item = K> {
        self.entries.into_iter().map(|(k, _)| k)
    }
}

/// Distinct values in order.
#[derive(Debug, Clone, Default)]
pub(super) struct SortedSet<T> {
    items: Vec<T>,
}

impl<T: Ord> SortedSet<T> {
    /// Adds `item`; `false` if it was there already.
    pub(super) fn insert(&mut self, item: T) -> bool {
        match self.items.binary_search(&item) {
            Ok(_) => false,
            Err(i) => {
                self.items.insert(i, item);
                true
            }
        }
    }

    /// Takes `item` out; `false` if it was not there.
    pub(super) fn remove<Q>(&mut self, item: &Q) -> bool
    where
        T: std::borrow::Borrow<Q>,
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

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
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

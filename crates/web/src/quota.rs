//! Things held at once, counted per key and in all — connections per address, live streams
//! per person — each given back when its permit is dropped (the connection closed, the
//! console went away). Per instance: a resource guard, not a rule anything else rests on.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct Quota<K: Eq + Hash> {
    held: Mutex<Held<K>>,
}

#[derive(Debug)]
struct Held<K> {
    per_key: HashMap<K, usize>,
    total: usize,
}

impl<K: Eq + Hash> Default for Quota<K> {
    fn default() -> Self {
        Quota {
            held: Mutex::new(Held {
                per_key: HashMap::new(),
                total: 0,
            }),
        }
    }
}

/// One place taken, counted until it is dropped.
#[derive(Debug)]
pub struct Permit<K: Eq + Hash + Clone> {
    quota: Arc<Quota<K>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Quota<K> {
    /// Takes a place for `key` unless it already holds `per_key` (0: no cap per key) or all
    /// together hold `total`.
    pub fn take(self: &Arc<Self>, key: K, per_key: usize, total: usize) -> Option<Permit<K>> {
        let mut h = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let mine = h.per_key.get(&key).copied().unwrap_or(0);
        if h.total >= total || (per_key > 0 && mine >= per_key) {
            return None;
        }
        h.total += 1;
        h.per_key.insert(key.clone(), mine + 1);
        Some(Permit {
            quota: self.clone(),
            key,
        })
    }
}

impl<K: Eq + Hash + Clone> Drop for Permit<K> {
    fn drop(&mut self) {
        let mut h = self.quota.held.lock().unwrap_or_else(|e| e.into_inner());
        h.total -= 1;
        if let Some(n) = h.per_key.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                h.per_key.remove(&self.key);
            }
        }
    }
}

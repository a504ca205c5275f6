//! De-duplication of `event_id`s over a bounded window: the last `capacity/2` to
//! `capacity` ids seen are remembered as 64-bit fingerprints in two generations, so
//! memory is fixed whatever the input.

use rustc_hash::FxHashSet;
use xxhash_rust::xxh3::xxh3_64;

/// Remembers recent event ids. A fingerprint collision (probability about
/// `capacity² / 2⁶⁵`, ~3·10⁻⁸ at one million ids) would drop one real event as a duplicate.
#[derive(Debug)]
pub struct Dedup {
    current: FxHashSet<u64>,
    previous: FxHashSet<u64>,
    generation: usize,
}

impl Dedup {
    /// Remembers at least `capacity / 2` and at most `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        let generation = (capacity / 2).max(1);
        Dedup {
            current: FxHashSet::default(),
            previous: FxHashSet::default(),
            generation,
        }
    }

    /// `true` when `id` is new (and remembers it); `false` when it is a duplicate.
    pub fn insert(&mut self, id: &str) -> bool {
        let h = xxh3_64(id.as_bytes());
        // Rotate first, so that the look-up in `current` and the insert are one probe
        // (`insert` says whether it was there); ids of the full generation are now in
        // `previous` and still found.
        if self.current.len() >= self.generation {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.clear();
        }
        !self.previous.contains(&h) && self.current.insert(h)
    }

    /// Number of ids remembered now.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_id_is_a_duplicate() {
        let mut d = Dedup::new(10);
        assert!(d.insert("a"));
        assert!(d.insert("b"));
        assert!(!d.insert("a"));
        assert!(!d.insert("b"));
        assert!(d.insert("c"));
    }

    #[test]
    fn memory_is_bounded_and_recent_ids_are_kept() {
        let cap = 1000;
        let mut d = Dedup::new(cap);
        for i in 0..100_000 {
            assert!(d.insert(&format!("id-{i}")));
            assert!(d.len() <= cap);
        }
        // The most recent capacity/2 ids are always remembered.
        for i in (100_000 - cap / 2)..100_000 {
            assert!(!d.insert(&format!("id-{i}")), "id-{i} forgotten too early");
        }
        // Ids far outside the window are forgotten (accepted again).
        assert!(d.insert("id-0"));
    }
}

//! De-duplication of `event_id`s over a bounded window: the last `2/3 · capacity` to
//! `capacity` ids seen are remembered as 64-bit fingerprints in three generations, so
//! memory is fixed whatever the input.

use rustc_hash::FxHashSet;
use xxhash_rust::xxh3::xxh3_64;

/// Generations the remembered ids are split into. A hash table rounds its slots up to
/// a power of two: two generations of half a million ids took two tables of 2^20 slots
/// (18.9 MB for the default capacity), three of a third of a million take three of
/// 2^19 (14.2 MB) and remember two thirds of the capacity instead of half.
const GENERATIONS: usize = 3;

/// Remembers recent event ids. A fingerprint collision (probability about
/// `capacity² / 2⁶⁵`, ~3·10⁻⁸ at one million ids) would drop one real event as a duplicate.
#[derive(Debug)]
pub struct Dedup {
    /// `gens[current]` takes new ids; the others hold the previous generations.
    gens: [FxHashSet<u64>; GENERATIONS],
    current: usize,
    generation: usize,
}

impl Dedup {
    /// Remembers at least `2/3 · capacity` (rounded down, at least one) and at most
    /// `capacity` ids.
    pub fn new(capacity: usize) -> Self {
        let generation = (capacity / GENERATIONS).max(1);
        Dedup {
            gens: Default::default(),
            current: 0,
            generation,
        }
    }

    /// `true` when `id` is new (and remembers it); `false` when it is a duplicate.
    pub fn insert(&mut self, id: &str) -> bool {
        let h = xxh3_64(id.as_bytes());
        // Rotate first, so that the look-up in the current generation and the insert are
        // one probe (`insert` says whether it was there); the ids of the full generation
        // are now in a previous one and still found.
        if self.gens[self.current].len() >= self.generation {
            self.current = (self.current + 1) % GENERATIONS;
            self.gens[self.current].clear();
        }
        let c = self.current;
        !(1..GENERATIONS).any(|k| self.gens[(c + k) % GENERATIONS].contains(&h))
            && self.gens[c].insert(h)
    }

    /// Number of ids remembered now.
    pub fn len(&self) -> usize {
        self.gens.iter().map(FxHashSet::len).sum()
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
        // The most recent two thirds of the capacity are always remembered.
        for i in (100_000 - 2 * cap / 3)..100_000 {
            assert!(!d.insert(&format!("id-{i}")), "id-{i} forgotten too early");
        }
        // Ids far outside the window are forgotten (accepted again).
        assert!(d.insert("id-0"));
    }
}

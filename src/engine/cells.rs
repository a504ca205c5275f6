//! Plain metric cells the engine writes and the exporters read: an `f64` and a counter,
//! each an atomic with one writer. The engine knows no exposition format; `export`
//! names and encodes the cells from the catalogue.

use std::sync::atomic::{AtomicU64, Ordering};

/// An `f64` cell with one writer.
#[derive(Debug, Default)]
pub struct F64Cell(AtomicU64);

impl F64Cell {
    pub fn new(v: f64) -> Self {
        F64Cell(AtomicU64::new(v.to_bits()))
    }
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A counter with one writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

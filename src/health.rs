//! Readiness shared between the Kafka source (which knows) and `/readyz` (which tells).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Whether the service can do its job right now.
#[derive(Debug, Default)]
pub struct Health {
    connected: AtomicBool,
    settled: AtomicBool,
    partitions: AtomicI64,
    stopped: AtomicBool,
}

impl Health {
    pub fn set_connected(&self, v: bool) {
        self.connected.store(v, Ordering::Relaxed);
    }
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
    /// The group assigned this instance its partitions (possibly none).
    pub fn set_assignment(&self, partitions: i64) {
        self.partitions.store(partitions, Ordering::Relaxed);
        self.settled.store(true, Ordering::Relaxed);
    }
    /// Partitions were revoked; not settled until the next assignment.
    pub fn set_revoked(&self) {
        self.settled.store(false, Ordering::Relaxed);
    }
    pub fn partitions(&self) -> i64 {
        self.partitions.load(Ordering::Relaxed)
    }
    /// The source stopped (shutdown or fatal error).
    pub fn set_stopped(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
    /// `Ok` when ready, else why not.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.stopped.load(Ordering::Relaxed) {
            Err("the consumer has stopped")
        } else if !self.connected() {
            Err("not connected to the Kafka brokers")
        } else if !self.settled.load(Ordering::Relaxed) {
            Err("waiting for the consumer group to assign partitions")
        } else {
            Ok(())
        }
    }
}

//! Which assigned partitions still have messages waiting, for the pipeline's event
//! time: a pending partition holds every checkpoint's watermark at its own event time
//! (`lanes::clock`), a caught-up one holds nothing back.
//!
//! librdkafka reports each partition's high watermark in its statistics (every
//! `source.statistics_interval`); the consume loop knows the next offset it will read.
//! A partition is pending from its assignment until it is known to be read up to its
//! high watermark, and again whenever a statistics report shows it behind. A pending
//! partition that delivers nothing for `windows.idle_timeout` (its leader unreachable,
//! say) stops holding the others back, as Flink's split idleness does.

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::engine::pipeline::Observer;
use crate::engine::pipeline::Pipeline;

#[derive(Debug)]
struct Track {
    /// The next offset the consume loop will read (`None` before its first message).
    next: Option<i64>,
    /// The newest high watermark librdkafka reported (`None` until known).
    hi: Option<i64>,
    pending: bool,
    /// Pending but silent for the idle timeout: not pending again before its next
    /// message.
    expired: bool,
    /// When the partition last delivered a message or became pending.
    progress: Instant,
}

/// Split states of the assigned partitions.
#[derive(Debug)]
pub struct Splits {
    tracks: FxHashMap<i32, Track>,
    idle: Duration,
}

fn split_id(partition: i32) -> u32 {
    u32::try_from(partition).unwrap_or(0)
}

impl Splits {
    pub fn new(idle: Duration) -> Self {
        Splits {
            tracks: FxHashMap::default(),
            idle,
        }
    }

    fn set<O: Observer>(t: &mut Track, p: i32, pending: bool, pipeline: &mut Pipeline<O>) {
        if t.pending != pending {
            t.pending = pending;
            if pending {
                t.progress = Instant::now();
            }
            pipeline.set_split_pending(split_id(p), pending);
        }
    }

    /// Partitions assigned (`true`) or revoked (`false`) by a rebalance.
    pub fn assignment<O: Observer>(&mut self, changes: &[(i32, bool)], pipeline: &mut Pipeline<O>) {
        for &(p, assigned) in changes {
            if assigned {
                let t = self.tracks.entry(p).or_insert(Track {
                    next: None,
                    hi: None,
                    pending: false,
                    expired: false,
                    progress: Instant::now(),
                });
                t.next = None;
                t.expired = false;
                Self::set(t, p, true, pipeline);
            } else if let Some(mut t) = self.tracks.remove(&p) {
                Self::set(&mut t, p, false, pipeline);
                pipeline.revoke_split(split_id(p));
            }
        }
    }

    /// A message of `partition` at `offset` was applied.
    #[inline]
    pub fn consumed<O: Observer>(
        &mut self,
        partition: i32,
        offset: i64,
        pipeline: &mut Pipeline<O>,
    ) {
        let Some(t) = self.tracks.get_mut(&partition) else {
            return;
        };
        t.next = Some(offset + 1);
        t.expired = false;
        if t.pending {
            t.progress = Instant::now();
            if t.hi.is_some_and(|hi| offset + 1 >= hi) {
                Self::set(t, partition, false, pipeline);
            }
        }
    }

    /// A statistics report: `(partition, high watermark, consumer lag)`, `-1` unknown.
    pub fn statistics<O: Observer>(
        &mut self,
        partitions: &[(i32, i64, i64)],
        pipeline: &mut Pipeline<O>,
    ) {
        tracing::trace!(?partitions, "split statistics");
        for &(p, hi, lag) in partitions {
            let Some(t) = self.tracks.get_mut(&p) else {
                continue;
            };
            if hi >= 0 {
                t.hi = Some(hi);
            }
            if t.expired {
                continue;
            }
            let pending = match (t.next, t.hi) {
                (Some(next), Some(hi)) => next < hi,
                // Nothing read since the assignment: the lag from the committed offset.
                (None, Some(_)) if lag >= 0 => lag > 0,
                _ => true,
            };
            Self::set(t, p, pending, pipeline);
        }
    }

    /// Pending partitions that delivered nothing for the idle timeout stop holding
    /// the watermark back.
    pub fn expire<O: Observer>(&mut self, pipeline: &mut Pipeline<O>) {
        for (&p, t) in &mut self.tracks {
            if t.pending && t.progress.elapsed() >= self.idle {
                tracing::debug!(
                    partition = p,
                    "partition idle: no message for the idle timeout; it no longer holds the watermark"
                );
                t.expired = true;
                Self::set(t, p, false, pipeline);
            }
        }
    }
}

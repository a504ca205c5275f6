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
//!
//! While a backlog drains, the partitions are also kept aligned in event time (Flink's
//! watermark alignment): a pending partition whose time runs more than
//! `source.max_partition_drift` ahead of the slowest pending one is paused, and resumed
//! once that one has come within half the drift. librdkafka tends to hand over a
//! backlog one partition after another; unaligned, every window stayed open until the
//! last partition was reached (the open windows' samples grew with the backlog: 205 MiB
//! of RSS for 10 M events), aligned they span the drift. A paused partition is silent
//! by choice, so it never counts as idle. Caught-up partitions are never paused: live
//! lanes stay fresh while another partition catches up.

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
    /// When the partition last delivered a message, became pending or was resumed.
    progress: Instant,
    /// Paused by [`Splits::align`].
    paused: bool,
}

/// What [`Splits::align`] (and a rebalance) ask of the consumer: partitions to pause
/// and to resume.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Alignment {
    pub pause: Vec<i32>,
    pub resume: Vec<i32>,
}

/// Split states of the assigned partitions.
#[derive(Debug)]
pub struct Splits {
    tracks: FxHashMap<i32, Track>,
    idle: Duration,
    /// `source.max_partition_drift` in ms.
    drift_ms: i64,
}

fn split_id(partition: i32) -> u32 {
    u32::try_from(partition).unwrap_or(0)
}

impl Splits {
    pub fn new(idle: Duration, drift: Duration) -> Self {
        Splits {
            tracks: FxHashMap::default(),
            idle,
            drift_ms: i64::try_from(drift.as_millis()).unwrap_or(i64::MAX),
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

    /// Partitions assigned (`true`) or revoked (`false`) by a rebalance. A revoked
    /// partition that was paused goes to `out.resume`: librdkafka keeps the
    /// application's pause across a rebalance, and a later assignment must fetch it.
    pub fn assignment<O: Observer>(
        &mut self,
        changes: &[(i32, bool)],
        pipeline: &mut Pipeline<O>,
        out: &mut Alignment,
    ) {
        out.pause.clear();
        out.resume.clear();
        for &(p, assigned) in changes {
            if assigned {
                let t = self.tracks.entry(p).or_insert(Track {
                    next: None,
                    hi: None,
                    pending: false,
                    expired: false,
                    progress: Instant::now(),
                    paused: false,
                });
                t.next = None;
                t.expired = false;
                Self::set(t, p, true, pipeline);
            } else if let Some(mut t) = self.tracks.remove(&p) {
                Self::set(&mut t, p, false, pipeline);
                pipeline.revoke_split(split_id(p));
                if t.paused {
                    out.resume.push(p);
                }
            }
        }
    }

    /// Watermark alignment (see the module): which pending partitions to pause because
    /// they run more than the drift ahead of the slowest pending one, and which paused
    /// ones to resume (within half the drift, caught up, or nothing pending left).
    /// Partitions are compared by the time the watermark reads
    /// ([`Pipeline::split_reference`]); one that has delivered nothing yet is ahead of
    /// none and paces none.
    pub fn align<O: Observer>(&mut self, pipeline: &Pipeline<O>, out: &mut Alignment) {
        out.pause.clear();
        out.resume.clear();
        let time = |p: i32| pipeline.split_reference(split_id(p));
        let slowest = self
            .tracks
            .iter()
            .filter(|(_, t)| t.pending && !t.expired)
            .map(|(&p, _)| time(p))
            .filter(|&ms| ms != i64::MIN)
            .min();
        for (&p, t) in &mut self.tracks {
            let ms = time(p);
            let ahead = match slowest {
                Some(s) if t.pending && !t.expired && ms != i64::MIN => ms.saturating_sub(s),
                _ => i64::MIN,
            };
            if !t.paused && ahead > self.drift_ms {
                t.paused = true;
                out.pause.push(p);
            } else if t.paused && ahead <= self.drift_ms / 2 {
                t.paused = false;
                t.progress = Instant::now();
                out.resume.push(p);
            }
        }
        out.pause.sort_unstable();
        out.resume.sort_unstable();
    }

    /// Partitions paused now.
    #[cfg(test)]
    fn paused(&self) -> usize {
        self.tracks.values().filter(|t| t.paused).count()
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
            if t.pending && !t.paused && t.progress.elapsed() >= self.idle {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Registry};

    const MIN: i64 = 60_000;

    /// An event of lane `lane` departing at `departed_ms`, read from `split`.
    fn feed(p: &mut Pipeline<()>, split: u32, lane: usize, departed_ms: i64) {
        let t = jiff::Timestamp::from_millisecond(departed_ms).unwrap();
        let ev = format!(
            r#"{{"event_id":"e{split}-{lane}-{departed_ms}","checkpoint":"c","direction":"inbound","lane":"{lane:02}","arrived_at":"{a}","departed_at":"{t}"}}"#,
            a = t - jiff::SignedDuration::from_secs(30),
        );
        p.apply_from(ev.as_bytes(), split, None);
    }

    fn setup(parts: i32) -> (Splits, Pipeline<()>) {
        let mut p = Pipeline::new(&Config::with_registry(Registry::default()));
        let mut s = Splits::new(Duration::from_secs(3600), Duration::from_secs(60));
        let changes: Vec<(i32, bool)> = (0..parts).map(|i| (i, true)).collect();
        s.assignment(&changes, &mut p, &mut Alignment::default());
        (s, p)
    }

    #[test]
    fn a_pending_partition_more_than_the_drift_ahead_is_paused_until_the_slowest_comes_within_half()
    {
        let (mut s, mut p) = setup(3);
        let t0 = 1_764_115_200_000;
        feed(&mut p, 0, 1, t0);
        feed(&mut p, 1, 2, t0 + 45_000);
        feed(&mut p, 2, 3, t0 + 61_000);
        let mut a = Alignment::default();
        s.align(&p, &mut a);
        assert_eq!(
            a,
            Alignment {
                pause: vec![2],
                resume: vec![]
            }
        );
        assert_eq!(s.paused(), 1);
        // Still more than half the drift behind: stays paused.
        feed(&mut p, 0, 1, t0 + 30_000);
        s.align(&p, &mut a);
        assert_eq!(a, Alignment::default());
        feed(&mut p, 0, 1, t0 + 31_000);
        s.align(&p, &mut a);
        assert_eq!(
            a,
            Alignment {
                pause: vec![],
                resume: vec![2]
            }
        );
        assert_eq!(s.paused(), 0);
    }

    #[test]
    fn caught_up_partitions_are_never_paused_and_a_paused_one_resumes_when_nothing_else_is_pending()
    {
        let (mut s, mut p) = setup(2);
        let t0 = 1_764_115_200_000;
        feed(&mut p, 0, 1, t0);
        feed(&mut p, 1, 2, t0 + 10 * MIN);
        // Partition 1 is ahead but caught up (read to its high watermark): live lanes
        // stay fresh.
        s.consumed(1, 9, &mut p);
        s.statistics(&[(0, 100, 90), (1, 10, 0)], &mut p);
        let mut a = Alignment::default();
        s.align(&p, &mut a);
        assert_eq!(a, Alignment::default());
        // Behind again: paused; then partition 0 catches up, nothing paces it any more.
        s.statistics(&[(1, 50, 40)], &mut p);
        s.align(&p, &mut a);
        assert_eq!(a.pause, vec![1]);
        s.consumed(0, 99, &mut p);
        s.align(&p, &mut a);
        assert_eq!(
            a,
            Alignment {
                pause: vec![],
                resume: vec![1]
            }
        );
    }

    #[test]
    fn a_paused_partition_never_expires_and_is_resumed_when_revoked() {
        let (mut s, mut p) = setup(2);
        s.idle = Duration::ZERO;
        let t0 = 1_764_115_200_000;
        feed(&mut p, 0, 1, t0);
        feed(&mut p, 1, 2, t0 + 10 * MIN);
        s.consumed(0, 0, &mut p);
        let mut a = Alignment::default();
        s.align(&p, &mut a);
        assert_eq!(a.pause, vec![1]);
        s.expire(&mut p);
        assert!(s.tracks[&1].pending, "a paused partition expired as idle");
        assert!(
            !s.tracks[&0].pending,
            "the silent unpaused one did not expire"
        );
        s.assignment(&[(1, false)], &mut p, &mut a);
        assert_eq!(
            a,
            Alignment {
                pause: vec![],
                resume: vec![1]
            }
        );
    }
}

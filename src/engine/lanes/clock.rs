//! Event time: the stream time of every lane per source split, the state of the
//! splits themselves, and the watermark that closes a checkpoint's windows.
//!
//! The design follows the stream processors (Flink's per-split watermarks with
//! idleness, Kafka Streams' per-partition stream time with a grace period), at the
//! granularity producers guarantee order: one lane in one partition.
//!
//! - A **split** is one source partition (a file is one split); its time is the newest
//!   departure read from it, and its *reference* time the same, never later than the
//!   wall clock in live mode: a sensor clock running fast cannot drag it ahead and
//!   make the accurate lanes look idle. (Live, this makes the design independent of
//!   `events.max_clock_skew`; a replay has no wall clock, and there a sensor running
//!   more than `lane_idle_timeout` ahead would still leave only itself live.)
//! - A **stream** is one lane as read from one split; its time is the newest departure
//!   seen on it. A stream is **live** while its time is within `lane_idle_timeout` of
//!   its split's reference time, else **idle** (a lane closed for the night).
//! - An event is **late** when it departs more than `allowed_lateness` before its
//!   stream's time (out of order on its own lane), or — on a stream that is idle or
//!   new — more than `allowed_lateness + lane_idle_timeout` before its split's
//!   reference time, or when its window is already closed. The first two tests read
//!   only the event's own split, and the watermark never closes a window such an
//!   event could still enter while its split is pending: so a backlog drained from
//!   many partitions gives the same late events however the partitions interleave,
//!   and the same as reading them in departure order.
//! - A checkpoint's **watermark** is the smallest of: the times of its live streams,
//!   and `lane_idle_timeout` before the reference time of each split that carries the
//!   checkpoint but none of its live streams, and of every *pending* split (one the
//!   source knows has messages not yet read: a backlog, a partition not fetched yet)
//!   — minus the lateness. It only moves forward, at window boundaries. One partition
//!   ahead of the others, or one sensor clock running fast, cannot close windows for
//!   the rest; an idle lane or a caught-up partition holds nothing back.
//! - Live mode, once caught up, a checkpoint whose newest departure is older than
//!   `idle_timeout` by the wall clock is silent: its watermark follows the wall clock.
//!
//! The watermark is recomputed (a pass over the checkpoint's streams) only when it
//! could cross the next window boundary and what held it back has moved.

/// One lane as read from one split.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    pub split: u32,
    /// Newest departure seen on this stream (event time, ms).
    pub time_ms: i64,
}

/// One source split (Kafka partition).
#[derive(Debug, Clone, Copy)]
struct Split {
    /// Newest departure read from the split (`i64::MIN` before the first).
    time_ms: i64,
    /// The source has messages of this split not yet read.
    pending: bool,
}

/// What held a checkpoint's watermark back at its last computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocker {
    None,
    /// A live stream: (lane id, split).
    Stream(u32, u32),
    /// A split's reference time.
    Split(u32),
}

/// Event-time state of one checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointClock {
    /// Newest departure of the checkpoint (`i64::MIN` before the first event).
    pub reference_ms: i64,
    /// The watermark (never decreases; `i64::MIN` before windows can close).
    pub watermark_ms: i64,
    /// The next window boundary at which the lanes' windows are swept.
    pub next_sweep_ms: i64,
    blocker: Blocker,
    /// The time of the stream or split that held the watermark back.
    blocked_at_ms: i64,
    /// The split epoch of the last computation.
    epoch: u64,
    /// Scratch of [`Clock::recompute`] (splits carrying the checkpoint), kept so that
    /// a recomputation, which may follow every event, allocates nothing.
    carried: Vec<(u32, bool)>,
}

impl Default for CheckpointClock {
    fn default() -> Self {
        CheckpointClock {
            reference_ms: i64::MIN,
            watermark_ms: i64::MIN,
            next_sweep_ms: i64::MIN,
            blocker: Blocker::None,
            blocked_at_ms: i64::MIN,
            epoch: u64::MAX,
            carried: Vec::new(),
        }
    }
}

impl CheckpointClock {
    /// The watermark crossed a window boundary: windows ending at or before `wm` are
    /// closed now (`smallest_ms`: the smallest window size).
    pub fn close_to(&mut self, wm: i64, smallest_ms: i64) {
        self.watermark_ms = self.watermark_ms.max(wm);
        self.next_sweep_ms = super::window::window_start(wm, smallest_ms) + smallest_ms;
    }
}

/// The splits of the source and the event-time parameters.
#[derive(Debug)]
pub struct Clock {
    pub lateness_ms: i64,
    pub lane_idle_ms: i64,
    splits: Vec<Split>,
    /// Bumped whenever a split starts or stops being pending.
    epoch: u64,
    /// The wall clock of the newest event in live mode (`None` in replay).
    now_ms: Option<i64>,
    /// The newest departure read from any split.
    max_split_ms: i64,
}

/// Splits beyond this id are folded onto it (a Kafka topic has far fewer partitions;
/// this only bounds memory against a hostile source).
const MAX_SPLIT: u32 = 4095;

fn split_index(split: u32) -> usize {
    split.min(MAX_SPLIT) as usize
}

impl Clock {
    pub fn new(lateness_ms: i64, lane_idle_ms: i64) -> Self {
        Clock {
            lateness_ms,
            lane_idle_ms,
            splits: Vec::new(),
            epoch: 0,
            now_ms: None,
            max_split_ms: i64::MIN,
        }
    }

    fn split_mut(&mut self, split: u32) -> &mut Split {
        let i = split_index(split);
        if self.splits.len() <= i {
            self.splits.resize(
                i + 1,
                Split {
                    time_ms: i64::MIN,
                    pending: false,
                },
            );
        }
        &mut self.splits[i]
    }

    /// The source knows whether `split` has messages not yet read. Returns whether
    /// that changed.
    pub fn set_pending(&mut self, split: u32, pending: bool) -> bool {
        let s = self.split_mut(split);
        if s.pending == pending {
            return false;
        }
        s.pending = pending;
        self.epoch += 1;
        true
    }

    /// Whether `split` is pending.
    #[inline]
    fn is_pending(&self, split: u32) -> bool {
        self.splits
            .get(split_index(split))
            .is_some_and(|s| s.pending)
    }

    /// Whether any split is pending (a backlog is being read).
    pub fn any_pending(&self) -> bool {
        self.splits.iter().any(|s| s.pending)
    }

    /// The newest departure read from `split` (`i64::MIN` before the first).
    #[inline]
    pub fn split_time(&self, split: u32) -> i64 {
        self.splits
            .get(split_index(split))
            .map_or(i64::MIN, |s| s.time_ms)
    }

    /// A split's time, never later than the wall clock in live mode.
    #[inline]
    pub fn split_reference(&self, split: u32) -> i64 {
        let t = self.split_time(split);
        self.now_ms.map_or(t, |n| t.min(n))
    }

    /// Whether a stream of `split` whose time is `stream_ms` is live.
    #[inline]
    pub fn is_live(&self, split: u32, stream_ms: i64) -> bool {
        stream_ms
            >= self
                .split_reference(split)
                .saturating_sub(self.lane_idle_ms)
    }

    /// An event of `split` departing at `departed_ms` was read at wall clock `now_ms`
    /// (`None` in replay).
    #[inline]
    pub fn observe(&mut self, split: u32, departed_ms: i64, now_ms: Option<i64>) {
        self.now_ms = now_ms;
        self.max_split_ms = self.max_split_ms.max(departed_ms);
        let s = self.split_mut(split);
        if departed_ms > s.time_ms {
            s.time_ms = departed_ms;
        }
    }

    /// Whether an event departing at `departed_ms` from `split` is late, given its
    /// stream's time (`i64::MIN` for the stream's first event) and its checkpoint's
    /// clock.
    #[inline]
    pub fn is_late(
        &self,
        cp: &CheckpointClock,
        split: u32,
        stream_ms: i64,
        departed_ms: i64,
    ) -> bool {
        departed_ms < stream_ms.saturating_sub(self.lateness_ms)
            || departed_ms < cp.watermark_ms
            || (!self.is_live(split, stream_ms)
                && departed_ms
                    < self
                        .split_reference(split)
                        .saturating_sub(self.lateness_ms + self.lane_idle_ms))
    }

    /// Whether the checkpoint's watermark could reach its next window boundary: it is
    /// at most the newest of the checkpoint's streams or of the splits' reference
    /// times.
    #[inline]
    pub fn could_close(&self, cp: &CheckpointClock) -> bool {
        let newest_split = self
            .now_ms
            .map_or(self.max_split_ms, |n| self.max_split_ms.min(n));
        cp.next_sweep_ms != i64::MIN
            && cp
                .reference_ms
                .max(newest_split)
                .saturating_sub(self.lateness_ms)
                >= cp.next_sweep_ms
    }

    /// After an event of lane `lane` read from `split`: whether the checkpoint's
    /// watermark should be recomputed (it could cross the next window boundary, and
    /// what held it back has moved).
    #[inline]
    pub fn needs_recompute(&self, cp: &CheckpointClock, lane: u32, split: u32) -> bool {
        if !self.could_close(cp) {
            return false;
        }
        if cp.epoch != self.epoch {
            return true;
        }
        match cp.blocker {
            Blocker::None => true,
            Blocker::Stream(l, s) => {
                (l == lane && s == split) || !self.is_live(s, cp.blocked_at_ms)
            }
            Blocker::Split(s) => {
                let bound = self.split_reference(s).saturating_sub(self.lane_idle_ms);
                bound > cp.blocked_at_ms
                    && ((s == split && !self.is_pending(s))
                        // While `s` is pending, or has no live stream of the checkpoint
                        // (an event of another split cannot give it one), the
                        // watermark stays at or below `bound − lateness`: computing
                        // it before that crosses the next boundary changes nothing
                        // (a replay's one split is pending: this was every event).
                        || bound.saturating_sub(self.lateness_ms) >= cp.next_sweep_ms)
            }
        }
    }

    /// The watermark a checkpoint's streams (`(lane id, stream)`) allow now, at least
    /// `floor_ms` (silent checkpoints; `i64::MIN` otherwise), noting what holds it
    /// back. The checkpoint's `watermark_ms` moves to it only when it crosses a window
    /// boundary ([`CheckpointClock::close_to`]).
    pub fn recompute(
        &self,
        cp: &mut CheckpointClock,
        streams: impl Iterator<Item = (u32, Stream)>,
        floor_ms: i64,
    ) -> i64 {
        let mut min = i64::MAX;
        let mut blocker = Blocker::None;
        // Splits carrying the checkpoint: bit 0 "seen", bit 1 "has a live stream".
        let mut carried = std::mem::take(&mut cp.carried);
        carried.clear();
        for (lane, s) in streams {
            let live = self.is_live(s.split, s.time_ms);
            match carried.iter_mut().find(|c| c.0 == s.split) {
                Some(c) => c.1 |= live,
                None => carried.push((s.split, live)),
            }
            if live && s.time_ms < min {
                min = s.time_ms;
                blocker = Blocker::Stream(lane, s.split);
            }
        }
        // What a split's idle or new streams may still bring.
        let consider = |split: u32, min: &mut i64, blocker: &mut Blocker| {
            let r = self
                .split_reference(split)
                .saturating_sub(self.lane_idle_ms);
            if r < *min {
                *min = r;
                *blocker = Blocker::Split(split);
            }
        };
        for &(split, live) in &carried {
            if !live {
                consider(split, &mut min, &mut blocker);
            }
        }
        for (i, s) in self.splits.iter().enumerate() {
            if s.pending {
                consider(i as u32, &mut min, &mut blocker);
            }
        }
        cp.carried = carried;
        cp.blocker = blocker;
        cp.blocked_at_ms = min;
        cp.epoch = self.epoch;
        let candidate = if min == i64::MAX {
            i64::MIN
        } else {
            min.saturating_sub(self.lateness_ms)
        };
        candidate.max(floor_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(v: &[(u32, u32, i64)]) -> impl Iterator<Item = (u32, Stream)> + '_ {
        v.iter()
            .map(|&(lane, split, t)| (lane, Stream { split, time_ms: t }))
    }

    #[test]
    fn the_slowest_live_stream_holds_the_watermark_and_idle_ones_do_not() {
        let mut c = Clock::new(120_000, 300_000);
        let mut cp = CheckpointClock::default();
        c.observe(0, 1_000_000, None);
        // Lane 1 is 4 minutes behind its split: still live, it holds the watermark.
        let w = c.recompute(
            &mut cp,
            streams(&[(0, 0, 1_000_000), (1, 0, 760_000)]),
            i64::MIN,
        );
        assert_eq!(w, 760_000 - 120_000);
        assert_eq!(cp.blocker, Blocker::Stream(1, 0));
        // 6 minutes behind: idle, left out.
        c.observe(0, 1_120_000, None);
        let w = c.recompute(
            &mut cp,
            streams(&[(0, 0, 1_120_000), (1, 0, 760_000)]),
            i64::MIN,
        );
        assert_eq!(w, 1_000_000);
        // Once windows closed up to it, the watermark never goes back.
        cp.close_to(w, 60_000);
        assert_eq!((cp.watermark_ms, cp.next_sweep_ms), (1_000_000, 1_020_000));
        cp.close_to(900_000, 60_000);
        assert_eq!(cp.watermark_ms, 1_000_000);
    }

    #[test]
    fn a_pending_split_holds_every_checkpoint_until_it_is_read() {
        let mut c = Clock::new(0, 300_000);
        c.set_pending(3, true);
        c.observe(0, 900_000, None);
        let mut cp = CheckpointClock::default();
        // Split 3 has not delivered anything: nothing may close.
        let s = [(0, 0, 900_000)];
        assert_eq!(c.recompute(&mut cp, streams(&s), i64::MIN), i64::MIN);
        // It holds the watermark where its idle or new streams could still be.
        c.observe(3, 800_000, None);
        assert_eq!(c.recompute(&mut cp, streams(&s), i64::MIN), 500_000);
        assert_eq!(cp.blocker, Blocker::Split(3));
        c.set_pending(3, false);
        assert_eq!(c.recompute(&mut cp, streams(&s), i64::MIN), 900_000);
    }

    #[test]
    fn a_pending_split_asks_for_a_recompute_only_once_its_bound_could_close_a_window() {
        // A replay's file is one pending split: the watermark is at most its time minus
        // the idle timeout and the lateness, whatever the streams.
        let mut c = Clock::new(120_000, 300_000);
        c.set_pending(0, true);
        c.observe(0, 1_000_000, None);
        let mut cp = CheckpointClock::default();
        let s = [(0, 0, 1_000_000)];
        let w = c.recompute(&mut cp, streams(&s), i64::MIN);
        assert_eq!((w, cp.blocker), (580_000, Blocker::Split(0)));
        cp.close_to(w, 60_000);
        assert_eq!(cp.next_sweep_ms, 600_000);
        cp.reference_ms = 1_000_000;
        // The split moves on, but its bound stays short of the next boundary.
        c.observe(0, 1_019_999, None);
        assert!(!c.needs_recompute(&cp, 0, 0));
        // Once it could reach it, it is recomputed and the windows close.
        c.observe(0, 1_020_000, None);
        assert!(c.needs_recompute(&cp, 0, 0));
        let s = [(0, 0, 1_020_000)];
        assert_eq!(c.recompute(&mut cp, streams(&s), i64::MIN), 600_000);
        cp.close_to(600_000, 60_000);
        // Not pending, the split's first live stream could lift the bound: recomputed.
        c.set_pending(0, false);
        let s = [(0, 0, 100_000)];
        c.recompute(&mut cp, streams(&s), i64::MIN);
        assert_eq!(cp.blocker, Blocker::Split(0));
        c.observe(0, 1_020_001, None);
        assert!(c.needs_recompute(&cp, 0, 0));
        assert!(!c.needs_recompute(&cp, 1, 1), "another split's event");
    }

    #[test]
    fn a_split_whose_streams_of_the_checkpoint_are_all_idle_holds_below_its_own_time() {
        let mut c = Clock::new(0, 300_000);
        c.observe(0, 2_000_000, None);
        c.observe(1, 1_000_000, None);
        let mut cp = CheckpointClock::default();
        // The checkpoint's only stream in split 0 is idle there; split 1 is behind.
        let s = [(0, 0, 100_000), (1, 1, 1_000_000)];
        assert_eq!(c.recompute(&mut cp, streams(&s), i64::MIN), 1_000_000);
        let s = [(0, 0, 100_000)];
        assert_eq!(c.recompute(&mut cp, streams(&s), i64::MIN), 1_700_000);
    }

    #[test]
    fn late_is_judged_against_the_stream_the_split_and_the_closed_windows() {
        let mut c = Clock::new(120_000, 300_000);
        c.observe(0, 1_800_000, None);
        let cp = CheckpointClock {
            watermark_ms: 1_000_000,
            ..Default::default()
        };
        assert!(c.is_late(&cp, 0, 1_700_000, 999_999), "window closed");
        assert!(!c.is_late(&cp, 0, 1_700_000, 1_580_000), "within lateness");
        assert!(
            c.is_late(&cp, 0, 1_700_000, 1_579_999),
            "out of order on its stream"
        );
        // A new or idle stream: up to lateness + lane idle behind its split.
        assert!(!c.is_late(&cp, 0, i64::MIN, 1_380_000));
        assert!(c.is_late(&cp, 0, i64::MIN, 1_379_999));
        assert!(!c.is_late(&cp, 0, 1_000_000, 1_380_000));
    }

    #[test]
    fn the_wall_clock_caps_a_split_dragged_ahead_by_a_fast_sensor() {
        let mut c = Clock::new(120_000, 300_000);
        c.observe(0, 10_000_000 + 240_000, Some(10_000_000));
        assert_eq!(c.split_reference(0), 10_000_000);
        assert!(c.is_live(0, 9_800_000));
    }
}

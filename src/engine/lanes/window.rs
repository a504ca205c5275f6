//! Event-time tumbling windows of one lane: passage-time samples kept once, in slices
//! shared by every window size, closed by the checkpoint's watermark into exact
//! quantiles and a count per window.

use std::collections::VecDeque;

use super::{LaneKey, LaneStats};
use crate::engine::event::Direction;

/// A closed window of one lane and one window size.
#[derive(Debug, Clone)]
pub struct ClosedWindow<'a> {
    /// The lane, its series and the dense id of its checkpoint.
    pub key: &'a LaneKey,
    pub stats: &'a LaneStats,
    pub checkpoint: u32,
    pub direction: Direction,
    /// Index into the configured window sizes.
    pub size_idx: usize,
    pub start_ms: i64,
    pub size_ms: i64,
    /// Passages whose departure falls in the window.
    pub count: u64,
    /// Passage-time quantiles in seconds, one per configured quantile; empty when
    /// `count == 0`.
    pub quantiles: &'a [f64],
    /// What the window held (passage-time samples in ms, inspection sums).
    pub data: &'a WindowData,
    /// The newest departure of the checkpoint direction when the window closed: when a
    /// live service reading in departure order would have published it.
    pub known_at_ms: i64,
}

impl ClosedWindow<'_> {
    /// Departures per minute over the window.
    pub fn throughput_per_minute(&self) -> f64 {
        self.count as f64 * 60_000.0 / self.size_ms as f64
    }
}

/// The contents of one window of one lane.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct WindowData {
    /// Passage times in ms, in arrival order.
    pub samples: Vec<u32>,
    /// Sum and count of inspection times (events that carry `inspection_started_at`).
    pub inspection_sum_ms: i64,
    pub inspection_n: u32,
}

impl WindowData {
    pub const EMPTY: WindowData = WindowData {
        samples: Vec::new(),
        inspection_sum_ms: 0,
        inspection_n: 0,
    };

    fn clear(&mut self) {
        self.samples.clear();
        self.inspection_sum_ms = 0;
        self.inspection_n = 0;
    }

    /// Mean passage time in seconds (`None` when empty).
    pub fn mean_passage_s(&self) -> Option<f64> {
        (!self.samples.is_empty()).then(|| {
            self.samples.iter().map(|&s| f64::from(s)).sum::<f64>()
                / self.samples.len() as f64
                / 1000.0
        })
    }

    /// Mean inspection time in seconds (`None` when no event carried it).
    pub fn mean_inspection_s(&self) -> Option<f64> {
        (self.inspection_n > 0)
            .then(|| self.inspection_sum_ms as f64 / f64::from(self.inspection_n) / 1000.0)
    }
}

#[derive(Debug)]
struct Slot {
    start: i64,
    data: WindowData,
}

/// Open windows of every configured size for one lane. Samples are kept once, in
/// slices as long as the sizes' greatest common divisor (one minute for 1m, 5m and
/// 15m): a window closes as the union of the slices it spans, and a slice is dropped
/// once every window it belongs to has closed. (One set of samples per size kept each
/// passage three times: most of a thousand-lane backlog drain's memory.)
#[derive(Debug)]
pub struct WindowStore {
    slice_ms: i64,
    /// Slices holding samples, ascending by start.
    open: VecDeque<Slot>,
    spare: Vec<WindowData>,
    /// Per window size: start of the newest window reported (closed), to report each
    /// window once.
    last_reported: Vec<i64>,
}

/// Start of the window of `size_ms` holding `t_ms` (aligned to the Unix epoch).
pub fn window_start(t_ms: i64, size_ms: i64) -> i64 {
    t_ms.div_euclid(size_ms) * size_ms
}

/// The slice length for windows of `sizes_ms`: their greatest common divisor.
pub fn slice_ms(sizes_ms: &[i64]) -> i64 {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    sizes_ms.iter().fold(0, |g, &s| gcd(s, g)).max(1)
}

impl WindowStore {
    /// Windows of `sizes` sizes, kept in slices of `slice_ms` (see [`slice_ms`]).
    pub fn new(slice_ms: i64, sizes: usize) -> Self {
        WindowStore {
            slice_ms,
            open: VecDeque::new(),
            spare: Vec::new(),
            last_reported: vec![i64::MIN; sizes],
        }
    }

    /// Give the memory back (an expired lane).
    pub fn release(&mut self) {
        self.open = VecDeque::new();
        self.spare = Vec::new();
    }

    /// Add a passage (departure time, passage time, inspection time in ms) to its slice.
    pub fn add(&mut self, departed_ms: i64, passage_ms: i64, inspection_ms: Option<i64>) {
        let sample = passage_ms.clamp(0, u32::MAX as i64) as u32;
        let size = self.slice_ms;
        // Almost always the newest slice: check it without a division first.
        let d = match self.open.back_mut() {
            Some(b) if departed_ms >= b.start && departed_ms - b.start < size => &mut b.data,
            _ => self.slot(window_start(departed_ms, size)),
        };
        d.samples.push(sample);
        if let Some(insp) = inspection_ms {
            d.inspection_sum_ms += insp;
            d.inspection_n += 1;
        }
    }

    /// The data of the slice starting at `start`, opened if needed.
    fn slot(&mut self, start: i64) -> &mut WindowData {
        let pos = self.open.iter().rposition(|s| s.start <= start);
        let i = match pos {
            Some(i) if self.open[i].start == start => i,
            _ => {
                let at = pos.map_or(0, |i| i + 1);
                let data = self.spare.pop().unwrap_or_default();
                self.open.insert(at, Slot { start, data });
                at
            }
        };
        &mut self.open[i].data
    }

    /// Close every window of each size in `sizes_ms` (the sizes this store was made
    /// for) that ends at or before `watermark_ms`, calling `emit` with the size's index,
    /// the window's start and its data (`union` holds a window of several slices). For
    /// each size, windows close in time order; when no window with events closed at
    /// the newest boundary, `emit` is called once with an empty window for it, so that
    /// gauges of an idle lane drop to zero instead of repeating the last busy window.
    pub fn close_until(
        &mut self,
        sizes_ms: &[i64],
        watermark_ms: i64,
        union: &mut WindowData,
        mut emit: impl FnMut(usize, i64, &WindowData),
    ) {
        for (i, &size) in sizes_ms.iter().enumerate() {
            let mut k = 0;
            while k < self.open.len() {
                let start = window_start(self.open[k].start, size);
                if start + size > watermark_ms {
                    break;
                }
                let mut end = k + 1;
                while end < self.open.len() && self.open[end].start < start + size {
                    end += 1;
                }
                if start > self.last_reported[i] {
                    if end == k + 1 {
                        emit(i, start, &self.open[k].data);
                    } else {
                        union.clear();
                        for s in self.open.range(k..end) {
                            union.samples.extend_from_slice(&s.data.samples);
                            union.inspection_sum_ms += s.data.inspection_sum_ms;
                            union.inspection_n += s.data.inspection_n;
                        }
                        emit(i, start, union);
                    }
                    self.last_reported[i] = start;
                }
                k = end;
            }
            let newest_closed = window_start(watermark_ms, size) - size;
            if self.last_reported[i] < newest_closed {
                emit(i, newest_closed, &WindowData::EMPTY);
                self.last_reported[i] = newest_closed;
            }
        }
        // Slices are ascending, and so are the ends of their windows of each size.
        while let Some(front) = self.open.front() {
            let start = front.start;
            if sizes_ms
                .iter()
                .any(|&size| window_start(start, size) + size > watermark_ms)
            {
                break;
            }
            let mut slot = self.open.pop_front().expect("front exists");
            slot.data.clear();
            self.spare.push(slot.data);
        }
    }

    /// Whether a passage departing at `departed_ms` still has open windows, given that
    /// windows ending at or before `watermark_ms` are closed.
    pub fn accepts(&self, departed_ms: i64, watermark_ms: i64) -> bool {
        window_start(departed_ms, self.slice_ms) + self.slice_ms > watermark_ms
    }

    /// Samples held in open slices (memory accounting and tests).
    pub fn open_samples(&self) -> usize {
        self.open.iter().map(|s| s.data.samples.len()).sum()
    }
}

/// Exact nearest-rank quantiles of a window's samples. (An HdrHistogram per window
/// would cost a 90 KB reset at every close: 1.8 million closes when a day of 1,000
/// lanes is replayed. The samples of a window are few, so sorting them is cheaper and
/// exact; a replay's whole-range quantiles sort each lane's values once, at the end.)
#[derive(Debug, Default)]
pub struct QuantileScratch {
    sorted: Vec<u32>,
    out: Vec<f64>,
}

/// The nearest-rank `q` quantile of ascending `sorted`: the smallest value such that at
/// least `q` of the samples are less than or equal to it.
pub fn nearest_rank(sorted: &[u32], q: f64) -> u32 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

impl QuantileScratch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Nearest-rank quantiles (seconds) of `samples_ms`; empty for no samples.
    pub fn quantiles(&mut self, samples_ms: &[u32], qs: &[f64]) -> &[f64] {
        self.out.clear();
        if samples_ms.is_empty() {
            return &self.out;
        }
        self.sorted.clear();
        self.sorted.extend_from_slice(samples_ms);
        self.sorted.sort_unstable();
        for &q in qs {
            self.out
                .push(f64::from(nearest_rank(&self.sorted, q)) / 1000.0);
        }
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_definition() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 0.5), 50);
        assert_eq!(nearest_rank(&v, 0.95), 95);
        assert_eq!(nearest_rank(&v, 0.999), 100);
        assert_eq!(nearest_rank(&[7], 0.01), 7);
        // Brute force: smallest x with count(<= x) >= q*n.
        let v = [3u32, 3, 9, 12, 40, 41, 41, 100];
        for q in [0.1, 0.25, 0.5, 0.75, 0.9, 0.99] {
            let want = *v
                .iter()
                .find(|&&x| v.iter().filter(|&&y| y <= x).count() as f64 >= q * v.len() as f64)
                .unwrap();
            assert_eq!(nearest_rank(&v, q), want, "q={q}");
        }
    }

    #[test]
    fn windows_close_in_order_and_report_idle_boundaries() {
        let sizes = [60_000];
        let mut w = WindowStore::new(slice_ms(&sizes), 1);
        let mut union = WindowData::default();
        w.add(59_999, 1000, None); // window 0
        w.add(60_000, 2000, Some(500)); // window 60000
        w.add(30_000, 3000, None); // window 0, out of order
        let mut got = Vec::new();
        w.close_until(&sizes, 60_000, &mut union, |_, s, v| {
            got.push((s, v.samples.clone()))
        });
        assert_eq!(got, vec![(0, vec![1000, 3000])]);
        got.clear();
        // Nothing between 120000 and 240000: the newest closed boundary is reported empty.
        w.close_until(&sizes, 240_000, &mut union, |_, s, v| {
            got.push((s, v.samples.clone()))
        });
        assert_eq!(got, vec![(60_000, vec![2000]), (180_000, vec![])]);
        assert!(!w.accepts(179_999, 240_000));
        assert!(w.accepts(240_000, 240_000));
        assert_eq!(w.open_samples(), 0);
    }

    /// One set of samples serves every size: each window of each size holds exactly
    /// the passages departing in it (a reference that keeps them per size, from the
    /// definition), every window with passages is reported once, and nothing is kept
    /// once the largest window closed.
    #[test]
    fn every_size_gets_the_passages_of_its_windows_from_one_set_of_slices() {
        let sizes = [60_000, 300_000, 900_000];
        assert_eq!(slice_ms(&sizes), 60_000);
        assert_eq!(slice_ms(&[60_000, 90_000]), 30_000);
        let mut w = WindowStore::new(slice_ms(&sizes), sizes.len());
        let mut union = WindowData::default();
        let mut got: std::collections::BTreeMap<(usize, i64), (Vec<u32>, i64, u32)> =
            Default::default();
        let mut want = got.clone();
        let mut x = 7u64;
        let mut watermark = 0;
        for n in 0..5_000i64 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            // Mostly in order, some up to two minutes late, never behind the watermark.
            let t = (n * 1_000 - (x >> 40) as i64 % 120_000).max(watermark);
            let passage = (x >> 20) as i64 % 600_000;
            let insp = (n % 3 == 0).then_some(passage / 2);
            w.add(t, passage, insp);
            for (i, &size) in sizes.iter().enumerate() {
                let e = want.entry((i, window_start(t, size))).or_default();
                e.0.push(passage as u32);
                e.1 += insp.unwrap_or(0);
                e.2 += u32::from(insp.is_some());
            }
            if n % 97 == 0 {
                watermark = window_start(t - 120_000, 60_000).max(watermark);
                w.close_until(&sizes, watermark, &mut union, |i, s, d| {
                    if d.samples.is_empty() {
                        return;
                    }
                    let mut v = d.samples.clone();
                    v.sort_unstable();
                    let old = got.insert((i, s), (v, d.inspection_sum_ms, d.inspection_n));
                    assert!(old.is_none(), "window {i}/{s} reported twice");
                });
            }
        }
        w.close_until(&sizes, i64::MAX / 2, &mut union, |i, s, d| {
            if !d.samples.is_empty() {
                let mut v = d.samples.clone();
                v.sort_unstable();
                got.insert((i, s), (v, d.inspection_sum_ms, d.inspection_n));
            }
        });
        for v in want.values_mut() {
            v.0.sort_unstable();
        }
        assert_eq!(got, want);
        assert_eq!(w.open_samples(), 0);
    }
}

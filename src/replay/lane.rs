//! What a replay keeps of one lane over the whole range: its closed windows, their
//! histogram buckets (OpenMetrics), departures per minute and per 15-second slot, and
//! its whole-range statistics; filled by `observer`, read by the report. What grows
//! with the range is kept in [`spill`](super::spill) streams: memory per lane is a few
//! chunks whatever the range.

use std::collections::{BTreeMap, VecDeque};
use std::io;

use super::dist::Dist;
use super::spill::{Reader, Spill, Stream, put_f64, put_i64, put_u64};

/// One closed window of a lane, as the pipeline reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStat {
    pub count: u64,
    /// p50, p90, p95, p99 in seconds (the replay's quantiles); empty for no passages.
    pub quantiles: Vec<f64>,
    /// The lane's queue length (Little's law) as the congestion analysis set it.
    pub queue_length: f64,
    /// The lane's level of service (1–6, NaN before the first) as the analysis set it.
    pub level_of_service: f64,
    /// When a live service would have published the window (see `ClosedWindow`).
    pub known_at_ms: i64,
}

/// Passage-time histogram buckets of one lane over one window (OpenMetrics backfill),
/// and the same for inspection times (events that carry them), queue waits and
/// headways. The four histograms' counts share one allocation of `u32`s (a lane
/// passes far fewer than 4·10⁹ vehicles in a window).
#[derive(Debug, Clone)]
pub struct BucketWindow {
    pub start_ms: i64,
    pub sum_ms: i64,
    pub inspection_sum_ms: i64,
    pub queue_sum_ms: i64,
    /// Of the departure headways ending in the window (as live: in event-time order,
    /// out-of-order departures give none).
    pub headway_sum_ms: i64,
    /// Non-cumulative counts per bucket bound, the last of each histogram `+Inf`:
    /// passage, inspection, queue wait, headway, one after the other.
    counts: Box<[u32]>,
    /// Where each histogram's counts end in `counts`.
    ends: [u16; 4],
}

impl BucketWindow {
    /// An empty window starting at `start_ms`, with `sizes` buckets (`+Inf` included)
    /// for passage, inspection, queue wait and headway.
    pub(super) fn new(start_ms: i64, sizes: [usize; 4]) -> Self {
        let mut ends = [0u16; 4];
        let mut at = 0usize;
        for (e, n) in ends.iter_mut().zip(sizes) {
            at += n;
            *e = u16::try_from(at).expect("at most 65,535 buckets (config limits them)");
        }
        BucketWindow {
            start_ms,
            sum_ms: 0,
            inspection_sum_ms: 0,
            queue_sum_ms: 0,
            headway_sum_ms: 0,
            counts: vec![0; at].into_boxed_slice(),
            ends,
        }
    }

    fn range(&self, k: usize) -> std::ops::Range<usize> {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        start..self.ends[k] as usize
    }

    /// Passages in the window (the counts are the record's only copy of them).
    pub fn count(&self) -> u64 {
        self.buckets().iter().map(|&n| u64::from(n)).sum()
    }
    pub fn inspection_count(&self) -> u64 {
        self.inspection_buckets()
            .iter()
            .map(|&n| u64::from(n))
            .sum()
    }
    pub fn queue_count(&self) -> u64 {
        self.queue_buckets().iter().map(|&n| u64::from(n)).sum()
    }
    pub fn headway_count(&self) -> u64 {
        self.headway_buckets().iter().map(|&n| u64::from(n)).sum()
    }

    /// Passage-time counts per bucket.
    pub fn buckets(&self) -> &[u32] {
        &self.counts[self.range(0)]
    }
    pub fn inspection_buckets(&self) -> &[u32] {
        &self.counts[self.range(1)]
    }
    pub fn queue_buckets(&self) -> &[u32] {
        &self.counts[self.range(2)]
    }
    pub fn headway_buckets(&self) -> &[u32] {
        &self.counts[self.range(3)]
    }

    pub(super) fn add(&mut self, histogram: usize, bucket: usize) {
        let i = self.range(histogram).start + bucket;
        self.counts[i] += 1;
    }
}

/// The scrape interval the backfill reproduces for the newest-departure gauges (the
/// deploy's Prometheus scrapes every 15 s).
pub const SLOT_MS: i64 = 15_000;

/// The 15-second slot of a departure (Unix ms / [`SLOT_MS`]).
#[inline]
pub fn slot_of(t_ms: i64) -> i64 {
    t_ms.div_euclid(SLOT_MS)
}

/// A record of a lane's range-long series, kept in time order by its key.
pub(super) trait Entry: Sized + Clone {
    fn key(&self) -> i64;
    /// Encode after a record with key `prev`.
    fn encode(&self, prev: i64, out: &mut Vec<u8>);
    /// Decode after a record with key `prev`; `sizes`: the bucket counts (buckets only).
    fn decode(r: &mut Reader<'_>, prev: i64, sizes: [usize; 4]) -> Self;
    /// Fold in another record of the same key (a late event's).
    fn combine(&mut self, other: Self);
}

impl Entry for BucketWindow {
    fn key(&self) -> i64 {
        self.start_ms
    }
    fn encode(&self, prev: i64, out: &mut Vec<u8>) {
        put_i64(out, self.start_ms.wrapping_sub(prev));
        for s in [
            self.sum_ms,
            self.inspection_sum_ms,
            self.queue_sum_ms,
            self.headway_sum_ms,
        ] {
            put_i64(out, s);
        }
        for &c in self.counts.iter() {
            put_u64(out, u64::from(c));
        }
    }
    fn decode(r: &mut Reader<'_>, prev: i64, sizes: [usize; 4]) -> Self {
        let mut b = BucketWindow::new(prev.wrapping_add(r.i64()), sizes);
        b.sum_ms = r.i64();
        b.inspection_sum_ms = r.i64();
        b.queue_sum_ms = r.i64();
        b.headway_sum_ms = r.i64();
        for c in b.counts.iter_mut() {
            *c = r.u64() as u32;
        }
        b
    }
    fn combine(&mut self, other: Self) {
        self.sum_ms += other.sum_ms;
        self.inspection_sum_ms += other.inspection_sum_ms;
        self.queue_sum_ms += other.queue_sum_ms;
        self.headway_sum_ms += other.headway_sum_ms;
        for (c, o) in self.counts.iter_mut().zip(other.counts.iter()) {
            *c += o;
        }
    }
}

/// Departures in one Unix minute.
impl Entry for (i64, u32) {
    fn key(&self) -> i64 {
        self.0
    }
    fn encode(&self, prev: i64, out: &mut Vec<u8>) {
        put_i64(out, self.0.wrapping_sub(prev));
        put_u64(out, u64::from(self.1));
    }
    fn decode(r: &mut Reader<'_>, prev: i64, _: [usize; 4]) -> Self {
        (prev.wrapping_add(r.i64()), r.u64() as u32)
    }
    fn combine(&mut self, other: Self) {
        self.1 += other.1;
    }
}

/// The newest departure (ms) of a 15-second slot.
#[derive(Debug, Clone, Copy)]
pub(super) struct Newest(pub i64);

impl Entry for Newest {
    fn key(&self) -> i64 {
        slot_of(self.0)
    }
    fn encode(&self, prev: i64, out: &mut Vec<u8>) {
        // The key is the slot of the value: the value is the record.
        put_i64(out, self.0.wrapping_sub(prev.wrapping_mul(SLOT_MS)));
    }
    fn decode(r: &mut Reader<'_>, prev: i64, _: [usize; 4]) -> Self {
        Newest(prev.wrapping_mul(SLOT_MS).wrapping_add(r.i64()))
    }
    fn combine(&mut self, other: Self) {
        self.0 = self.0.max(other.0);
    }
}

/// A range-long series of a lane: the records older than a horizon behind the newest
/// in a [`Stream`], the newer ones here (events arrive a little out of order), and the
/// records of events older than that (input far out of time order) apart in
/// O(log n), folded in when read.
#[derive(Debug)]
pub(super) struct Series<T> {
    /// Ascending by key, all newer than `spilled_key`.
    recent: VecDeque<T>,
    stream: Stream,
    /// Key of the newest record in `stream`.
    spilled_key: Option<i64>,
    late: BTreeMap<i64, T>,
}

impl<T> Default for Series<T> {
    fn default() -> Self {
        Series {
            recent: VecDeque::new(),
            stream: Stream::default(),
            spilled_key: None,
            late: BTreeMap::new(),
        }
    }
}

impl<T: Entry> Series<T> {
    /// The record of `key`, made by `fresh` if there is none; records more than
    /// `horizon` (in keys) behind the newest go to the stream.
    #[inline]
    pub(super) fn entry(
        &mut self,
        key: i64,
        horizon: i64,
        spill: &mut Spill,
        fresh: impl FnOnce() -> T,
    ) -> &mut T {
        // Almost every event is in its lane's newest record: no search for it.
        let newest = self.recent.back().map(Entry::key);
        if newest == Some(key) {
            return self.recent.back_mut().expect("not empty");
        }
        if newest.is_none_or(|n| key > n) {
            if self.spilled_key.is_none_or(|s| key > s) {
                self.spill_before(key.saturating_sub(horizon), spill);
                self.recent.push_back(fresh());
                return self.recent.back_mut().expect("just pushed");
            }
        } else if self.spilled_key.is_none_or(|s| key > s)
            && newest.is_some_and(|n| key >= n.saturating_sub(horizon))
        {
            let i = match self.recent.binary_search_by_key(&key, Entry::key) {
                Ok(i) => i,
                Err(i) => {
                    self.recent.insert(i, fresh());
                    i
                }
            };
            return &mut self.recent[i];
        }
        self.late.entry(key).or_insert_with(fresh)
    }

    /// Move the records with keys below `key` to the stream.
    fn spill_before(&mut self, key: i64, spill: &mut Spill) {
        while self.recent.front().is_some_and(|e| e.key() < key) {
            let e = self.recent.pop_front().expect("not empty");
            let prev = self.spilled_key.unwrap_or(0);
            self.stream.push(spill, |b| e.encode(prev, b));
            self.spilled_key = Some(e.key());
        }
    }

    /// Move every record to the stream (the end of the replay).
    pub(super) fn finish(&mut self, spill: &mut Spill) {
        self.spill_before(i64::MAX, spill);
        self.recent.shrink_to_fit();
    }

    /// Every record, ascending, the late ones folded in.
    pub(super) fn load(&self, spill: &Spill, sizes: [usize; 4]) -> io::Result<Vec<T>> {
        let bytes = self.stream.load(spill)?;
        let mut r = Reader::new(&bytes);
        let mut kept = Vec::with_capacity(self.stream.len() + self.recent.len());
        let mut prev = 0;
        while !r.is_empty() {
            let e = T::decode(&mut r, prev, sizes);
            prev = e.key();
            kept.push(e);
        }
        kept.extend(self.recent.iter().cloned());
        if self.late.is_empty() {
            return Ok(kept);
        }
        // Merge two ascending lists, folding records of one key together.
        let mut out: Vec<T> = Vec::with_capacity(kept.len() + self.late.len());
        let mut late = self.late.values().cloned().peekable();
        for e in kept {
            while let Some(l) = late.next_if(|l| l.key() < e.key()) {
                out.push(l);
            }
            let mut e = e;
            if let Some(l) = late.next_if(|l| l.key() == e.key()) {
                e.combine(l);
            }
            out.push(e);
        }
        out.extend(late);
        Ok(out)
    }
}

/// How far behind a lane's newest record its records stay in memory (30 minutes, in
/// each series' keys): events older than that are folded in when read.
pub(super) const OPEN_MS: i64 = 30 * 60_000;

/// Everything collected for one lane.
#[derive(Debug)]
pub struct LaneData {
    pub passages: u64,
    pub passage: Dist,
    pub queue_wait: Option<Dist>,
    pub inspection: Option<Dist>,
    /// Closed windows by start, ascending (they close in order, each once).
    windows: Stream,
    /// Start of the newest window in `windows`.
    newest_window_ms: i64,
    /// Histogram buckets per window, by start.
    pub(super) buckets: Series<BucketWindow>,
    /// Departures per Unix minute (the peak hour).
    pub(super) minutes: Series<(i64, u32)>,
    /// Newest departure (ms) of each 15-second slot with departures: the last
    /// departure as a 15-second scrape would have seen it (OpenMetrics backfill).
    pub(super) slots: Series<Newest>,
    /// The lane's passed-over time (seconds, NaN when unset) at the end of each
    /// 15-second slot it changed in (in the order events were read), ascending: the
    /// newest here, the older ones in the stream.
    passed_over: Stream,
    passed_over_key: i64,
    newest_passed_over: Option<(i64, f64)>,
    /// Newest departure so far (headways are taken in event-time order).
    pub newest_departure_ms: Option<i64>,
}

impl LaneData {
    pub(super) fn new() -> Self {
        LaneData {
            passages: 0,
            passage: Dist::new(),
            queue_wait: None,
            inspection: None,
            windows: Stream::default(),
            newest_window_ms: 0,
            buckets: Series::default(),
            minutes: Series::default(),
            slots: Series::default(),
            passed_over: Stream::default(),
            passed_over_key: 0,
            newest_passed_over: None,
            newest_departure_ms: None,
        }
    }

    /// Append a closed window (they close in order).
    pub(super) fn push_window(&mut self, start_ms: i64, w: &WindowStat, spill: &mut Spill) {
        let prev = self.newest_window_ms;
        self.windows.push(spill, |b| {
            put_i64(b, start_ms.wrapping_sub(prev));
            put_u64(b, w.count);
            put_u64(b, w.quantiles.len() as u64);
            for &q in &w.quantiles {
                put_f64(b, q);
            }
            put_f64(b, w.queue_length);
            put_f64(b, w.level_of_service);
            put_i64(b, w.known_at_ms.wrapping_sub(start_ms));
        });
        self.newest_window_ms = start_ms;
    }

    /// The closed windows, ascending by start.
    pub fn windows(&self, spill: &Spill) -> io::Result<Vec<(i64, WindowStat)>> {
        let bytes = self.windows.load(spill)?;
        let mut r = Reader::new(&bytes);
        let mut out = Vec::with_capacity(self.windows.len());
        let mut prev = 0i64;
        while !r.is_empty() {
            let start = prev.wrapping_add(r.i64());
            let count = r.u64();
            let n = r.u64().min(64) as usize;
            let quantiles = (0..n).map(|_| r.f64()).collect();
            let queue_length = r.f64();
            let level_of_service = r.f64();
            let known_at_ms = start.wrapping_add(r.i64());
            out.push((
                start,
                WindowStat {
                    count,
                    quantiles,
                    queue_length,
                    level_of_service,
                    known_at_ms,
                },
            ));
            prev = start;
        }
        Ok(out)
    }

    /// Record the lane's passed-over time at the end of 15-second slot `slot`: read
    /// order wins (an out-of-order departure updates the newest slot).
    pub(super) fn set_passed_over(&mut self, slot: i64, since: f64, spill: &mut Spill) {
        if let Some((s, v)) = &mut self.newest_passed_over
            && *s >= slot
        {
            *v = since;
            return;
        }
        if let Some((s, v)) = self.newest_passed_over.replace((slot, since)) {
            self.push_passed_over(s, v, spill);
        }
    }

    fn push_passed_over(&mut self, slot: i64, v: f64, spill: &mut Spill) {
        let prev = self.passed_over_key;
        self.passed_over.push(spill, |b| {
            put_i64(b, slot.wrapping_sub(prev));
            put_f64(b, v);
        });
        self.passed_over_key = slot;
    }

    /// The passed-over times, `(slot, seconds)` ascending.
    pub fn passed_over(&self, spill: &Spill) -> io::Result<Vec<(i64, f64)>> {
        let bytes = self.passed_over.load(spill)?;
        let mut r = Reader::new(&bytes);
        let mut out = Vec::with_capacity(self.passed_over.len() + 1);
        let mut prev = 0i64;
        while !r.is_empty() {
            prev = prev.wrapping_add(r.i64());
            out.push((prev, r.f64()));
        }
        out.extend(self.newest_passed_over);
        Ok(out)
    }

    /// Move what is still in memory to the spill (the end of the replay).
    pub(super) fn finish(&mut self, spill: &mut Spill) {
        self.buckets.finish(spill);
        self.minutes.finish(spill);
        self.slots.finish(spill);
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// A series gives back, in key order, every record pushed, whatever the disorder:
    /// records near the newest, records spilled to the file, and records of keys far
    /// behind (folded into spilled ones of the same key, or new).
    #[test]
    fn a_series_folds_every_record_in_whatever_the_disorder() {
        for seed in 0..20u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut spill = Spill::default();
            let mut series: Series<(i64, u32)> = Series::default();
            let mut want: BTreeMap<i64, u32> = BTreeMap::new();
            let horizon = 30;
            let mut newest = 0i64;
            for _ in 0..20_000 {
                newest += rng.random_range(0..3);
                let key = match rng.random_range(0..100) {
                    0 => newest - rng.random_range(0..newest.max(1)), // far behind
                    1..=20 => newest - rng.random_range(0..horizon),  // a little behind
                    _ => newest,
                };
                let n = rng.random_range(1..4);
                series.entry(key, horizon, &mut spill, || (key, 0)).1 += n;
                *want.entry(key).or_default() += n;
            }
            series.finish(&mut spill);
            spill.check().unwrap();
            assert!(
                !series.late.is_empty(),
                "seed {seed}: some records far behind"
            );
            assert!(spill.bytes() > 4096, "seed {seed}: chunks written");
            let got = series.load(&spill, [0; 4]).unwrap();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "seed {seed}");
        }
    }
}
